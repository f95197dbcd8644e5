//! `kamlog verify FILE.jsonl` (SPEC 7 v2): checks an export without a store — every hash,
//! every `prev_hash` link and gap-free versions per account, and gap-free positions from 1
//! when the file holds more than one account (a whole export) — and gives each account's chain
//! head, so that a copy can be compared with the store or the feed it came from.

use super::verify::check_link;
use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub events: u64,
    /// Each account's chain head: (version, hash) of its last event.
    pub heads: BTreeMap<String, (u64, String)>,
    /// The first break: (line, what).
    pub first_break: Option<(usize, String)>,
}

/// Checks an exported JSONL stream.
pub fn verify_export(input: impl BufRead, name: &str) -> Result<ExportReport> {
    let mut heads: HashMap<String, (u64, String)> = HashMap::new();
    let mut positions: Vec<(usize, u64)> = Vec::new();
    let mut events = 0;
    let mut first_break = None;
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| Error::Io(format!("cannot read {name}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(Value::Object(mut env)) = serde_json::from_str::<Value>(&line) else {
            first_break = Some((n, "not a JSON object".to_string()));
            break;
        };
        let event = env
            .get("event_id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let Some(Value::String(hash)) = env.remove("hash") else {
            first_break = Some((
                n,
                format!("event {event}: no hash (not an exported, stored event)"),
            ));
            break;
        };
        if let Err(problem) = check_link(&env, &hash, &heads) {
            first_break = Some((n, format!("event {event}: {problem}")));
            break;
        }
        let Some(position) = env.get("position").and_then(Value::as_u64) else {
            first_break = Some((n, format!("event {event}: no position")));
            break;
        };
        if let Some((_, last)) = positions.last() {
            if position <= *last {
                first_break = Some((
                    n,
                    format!("event {event}: position {position} does not follow position {last}"),
                ));
                break;
            }
        }
        positions.push((n, position));
        let account = env
            .get("account_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let version = env.get("version").and_then(Value::as_u64).unwrap_or(0);
        heads.insert(account, (version, hash));
        events += 1;
    }
    if first_break.is_none() && heads.len() > 1 {
        // A whole export: every position from 1 on.
        for (expected, (line, p)) in (1u64..).zip(&positions) {
            if *p != expected {
                first_break = Some((
                    *line,
                    format!("position {expected} is missing (this line holds position {p}); a whole export has every position from 1"),
                ));
                break;
            }
        }
    }
    Ok(ExportReport {
        events,
        heads: heads.into_iter().collect(),
        first_break,
    })
}
