//! The README's event catalog is generated from the catalog (`kamlog::event::catalog`) and the
//! replays (the first event of each type found under `replays/` is its example, so every
//! example is a real, valid event), and this test keeps it in sync: the block between the
//! `<!-- catalog:start -->` and `<!-- catalog:end -->` markers must be exactly what the
//! generator writes. `KAMLOG_BLESS=1 cargo test --test catalog_doc` rewrites it.

use kamlog::event::catalog::{example_data, Kind, EVENT_TYPES};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn kind_text(k: Kind) -> String {
    match k {
        Kind::Text => "text".into(),
        Kind::Id => "id".into(),
        Kind::Enum(options) => format!("one of {}", options.join(", ")),
        Kind::Int(lo, hi) => format!("integer {lo} to {hi}"),
        Kind::PositiveDecimal => "decimal string > 0".into(),
        Kind::Decimal => "decimal string".into(),
        Kind::Date => "date YYYY-MM-DD".into(),
        Kind::Period => "period YYYY-MM or YYYY-Qn".into(),
        Kind::Currency => "currency code (ISO 4217)".into(),
        Kind::IdList(0) => "list of ids".into(),
        Kind::IdList(n) => format!("list of ids (at least {n})"),
        Kind::RoleList => "list of DMU roles".into(),
        Kind::TextList => "list of texts".into(),
        Kind::Criteria => "object: criterion → integer 0 to 100".into(),
        Kind::Uuid => "UUID".into(),
    }
}

/// The first event of each type in the replays, in a stable order of folders.
fn examples(root: &Path) -> BTreeMap<String, String> {
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("replays"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let mut out = BTreeMap::new();
    for d in dirs {
        let Ok(text) = std::fs::read_to_string(d.join("events.jsonl")) else {
            continue;
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap();
            let t = v["type"].as_str().unwrap().to_string();
            out.entry(t).or_insert_with(|| line.to_string());
        }
    }
    out
}

fn generate(root: &Path) -> String {
    let examples = examples(root);
    let mut s = String::from(
        "Every event type of SPEC 2.2, with its `data` fields and an example (taken from the\nreplays under `replays/`). Envelope fields of every event: `event_id` (UUID),\n`account_id`, `type`, `occurred_at` (RFC 3339 UTC), optional `actor`, optional\n`schema_version` (1). The JSON Schema of each is `schemas/<type>.schema.json`.\n",
    );
    for et in EVENT_TYPES {
        s += &format!("\n### `{}`\n\n| field | | kind |\n|---|---|---|\n", et.name);
        for f in et.fields {
            let req = if f.required { "required" } else { "optional" };
            s += &format!("| `{}` | {req} | {} |\n", f.name, kind_text(f.kind));
        }
        let example = match examples.get(et.name) {
            Some(line) => line.clone(),
            None => serde_json::json!({
                "event_id": "00000000-0000-4000-8000-000000000001",
                "account_id": "acme",
                "type": et.name,
                "occurred_at": "2024-02-29T09:00:00Z",
                "data": example_data(et),
            })
            .to_string(),
        };
        s += &format!("\n```json\n{example}\n```\n");
    }
    s
}

#[test]
fn the_readme_catalog_is_generated_from_the_catalog() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (start, end) = ("<!-- catalog:start -->\n", "<!-- catalog:end -->");
    let a = readme
        .find(start)
        .expect("README has the catalog start marker")
        + start.len();
    let b = readme.find(end).expect("README has the catalog end marker");
    let want = generate(root);
    if std::env::var_os("KAMLOG_BLESS").is_some() {
        let text = format!("{}{want}{}", &readme[..a], &readme[b..]);
        std::fs::write(&readme_path, text).unwrap();
        return;
    }
    assert_eq!(
        &readme[a..b],
        want,
        "the README's event catalog is out of date: KAMLOG_BLESS=1 cargo test --test catalog_doc"
    );
    // Every example is a valid event.
    for block in want.split("```json\n").skip(1) {
        let line = block.split("\n```").next().unwrap();
        if let Err((_, e)) = kamlog::event::validate::parse_line(line) {
            panic!("{line}: {e:?}");
        }
    }
}
