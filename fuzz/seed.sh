#!/usr/bin/env bash
# Seeds the fuzz corpora from replays/: each scenario's whole events.jsonl, and each of its
# lines on its own (a line is also a JSON document for canonical_json).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/jsonl_events corpus/canonical_json
for f in ../replays/*/events.jsonl; do
  name=$(basename "$(dirname "$f")")
  cp "$f" "corpus/jsonl_events/$name.jsonl"
  i=0
  while IFS= read -r line; do
    i=$((i + 1))
    printf '%s\n' "$line" > "corpus/jsonl_events/$name-$i"
    printf '%s' "$line" > "corpus/canonical_json/$name-$i"
  done < "$f"
done
echo "seeded: $(ls corpus/jsonl_events | wc -l) jsonl_events, $(ls corpus/canonical_json | wc -l) canonical_json"
