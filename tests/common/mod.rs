//! Helpers shared by the integration tests: building event lines and reading a store back.
#![allow(dead_code)]

pub mod cluster;
pub mod feed;
pub mod nats;
pub mod streams;
pub mod web;

use kamlog::event::jsonl::JsonlReader;
use kamlog::{Error, Store};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Every view `kamlog view` knows (SPEC 8).
pub const VIEWS: [&str; 8] = [
    "coverage",
    "stage",
    "value",
    "classification",
    "economics",
    "relationships",
    "map",
    "contracts",
];

/// A fresh, unique event id.
pub fn new_id() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// One event as a JSON value.
pub fn ev(account: &str, t: &str, at: &str, data: Value) -> Value {
    json!({"event_id": new_id(), "account_id": account, "type": t, "occurred_at": at, "data": data})
}

/// Events as JSONL text.
pub fn jsonl(events: &[Value]) -> String {
    events.iter().map(|e| e.to_string() + "\n").collect()
}

/// Parses JSONL and appends it as one batch, adding line numbers to errors.
pub fn append(store: &Store, events: &[Value]) -> Result<kamlog::store::AppendOutcome, Error> {
    append_expecting(store, events, None)
}

pub fn append_expecting(
    store: &Store,
    events: &[Value],
    expected: Option<u64>,
) -> Result<kamlog::store::AppendOutcome, Error> {
    let text = jsonl(events);
    let mut batch = Vec::new();
    let mut lines = Vec::new();
    for (n, r) in JsonlReader::new(text.as_bytes()) {
        batch.push(r?);
        lines.push(n);
    }
    store
        .append(batch, expected)
        .map_err(|e| e.with_lines(&lines))
}

/// Everything stored, as the export bytes.
pub fn dump(store: &Store) -> Vec<Vec<u8>> {
    store.raw_from(1).map(|r| r.unwrap().1.to_vec()).collect()
}

pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("data")).unwrap();
    (dir, store)
}

/// A small valid account: opened, one member m-1, two stakeholders s-1 (key) and s-2.
pub fn base_account(account: &str) -> Vec<Value> {
    vec![
        ev(
            account,
            "account_opened",
            "2024-01-01T00:00:00Z",
            json!({"name": "Acme"}),
        ),
        ev(
            account,
            "team_member_assigned",
            "2024-01-02T00:00:00Z",
            json!({"member_id": "m-1", "name": "Ann", "function": "sales", "team_role": "account_lead"}),
        ),
        ev(
            account,
            "stakeholder_added",
            "2024-01-03T00:00:00Z",
            json!({"stakeholder_id": "s-1", "name": "Sam", "function": "finance", "level": "executive",
                   "dmu_roles": ["economic_buyer"], "influence": 5, "attitude": 0}),
        ),
        ev(
            account,
            "stakeholder_added",
            "2024-01-03T01:00:00Z",
            json!({"stakeholder_id": "s-2", "name": "Sue", "function": "it", "level": "middle",
                   "dmu_roles": [], "influence": 2, "attitude": 1}),
        ),
    ]
}

/// Stored events built directly (no store): positions and versions from 1, recorded at the
/// occurred time, placeholder hashes. For testing views as pure functions.
pub fn stored(events: &[Value]) -> Vec<kamlog::event::StoredEvent> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut e = e.clone();
            e["version"] = json!(i + 1);
            e["position"] = json!(i + 1);
            e["recorded_at"] = e["occurred_at"].clone();
            e["prev_hash"] = json!("0".repeat(64));
            e["hash"] = json!("0".repeat(64));
            kamlog::event::StoredEvent::decode(e.to_string().as_bytes()).unwrap()
        })
        .collect()
}
