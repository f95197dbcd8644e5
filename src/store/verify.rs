//! `verify`: recheck every hash, version and position of the log and its indexes, and report
//! the first break exactly.

use super::*;
use crate::event::json::envelope_hash;
use serde_json::Value;
use std::collections::HashMap;

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub accounts: usize,
    /// The first break, with its position, or `None` when the store is intact.
    pub first_break: Option<Break>,
}

/// One break in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The global position concerned (0 when the break is in an index, not an event).
    pub position: u64,
    pub problem: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.position > 0 {
            write!(f, "position {}: {}", self.position, self.problem)
        } else {
            write!(f, "{}", self.problem)
        }
    }
}

fn brk(position: u64, problem: impl Into<String>) -> Option<Break> {
    Some(Break {
        position,
        problem: problem.into(),
    })
}

impl Store {
    /// Rechecks the whole store.
    pub fn verify(&self) -> Result<VerifyReport> {
        let log = self.log_tree();
        let mut heads: HashMap<String, (u64, String)> = HashMap::new();
        let mut expected = 1u64;
        let mut report = VerifyReport {
            events: 0,
            accounts: 0,
            first_break: None,
        };
        let check = |report: &mut VerifyReport, b: Option<Break>| -> bool {
            if b.is_some() {
                report.first_break = b;
                true
            } else {
                false
            }
        };
        for r in log.scan_prefix([b'e']) {
            let (k, v) = r.map_err(storage)?;
            let Ok(position) = be_u64(&k[1..]) else {
                check(&mut report, brk(0, "an event key of the wrong length"));
                return Ok(report);
            };
            if position != expected {
                let b = if position > expected {
                    brk(expected, format!("missing (the log jumps from {} to {position})", expected - 1))
                } else {
                    brk(position, "out of order")
                };
                check(&mut report, b);
                return Ok(report);
            }
            expected += 1;
            report.events += 1;
            let b = check_event(position, &v, &mut heads, log)?;
            if check(&mut report, b) {
                return Ok(report);
            }
        }
        // Every head must match the last event of its stream, and no stream may be longer.
        let stored_heads = match self.heads() {
            Ok(h) => h,
            Err(e) => {
                check(&mut report, brk(0, e.to_string()));
                return Ok(report);
            }
        };
        report.accounts = heads.len();
        for h in &stored_heads {
            match heads.get(&h.account_id) {
                Some((v, hash)) if *v == h.version && *hash == h.hash => {}
                _ => {
                    check(
                        &mut report,
                        brk(h.position, format!(
                            "the head of account {} (version {}) does not match its last stored event",
                            h.account_id, h.version
                        )),
                    );
                    return Ok(report);
                }
            }
        }
        if stored_heads.len() != heads.len() {
            let missing = heads
                .keys()
                .find(|a| !stored_heads.iter().any(|h| &h.account_id == *a))
                .cloned()
                .unwrap_or_default();
            check(&mut report, brk(0, format!("account {missing} has events but no head")));
            return Ok(report);
        }
        let index_entries = log.scan_prefix([b's']).count() as u64;
        if index_entries != report.events {
            let b = brk(0, format!(
                "the stream index has {index_entries} entries for {} events",
                report.events
            ));
            check(&mut report, b);
        }
        Ok(report)
    }
}

fn check_event(
    position: u64,
    bytes: &[u8],
    heads: &mut HashMap<String, (u64, String)>,
    log: &sled::Tree,
) -> Result<Option<Break>> {
    let Ok(Value::Object(mut env)) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(brk(position, "the stored envelope is not valid JSON"));
    };
    let Some(Value::String(hash)) = env.remove("hash") else {
        return Ok(brk(position, "the stored envelope has no hash"));
    };
    let computed = envelope_hash(&env);
    if computed != hash {
        return Ok(brk(position, format!(
            "hash mismatch: stored {hash}, computed {computed} (the event was altered)"
        )));
    }
    if env.get("position").and_then(Value::as_u64) != Some(position) {
        return Ok(brk(position, "the envelope's position field differs from its place in the log"));
    }
    let account = env.get("account_id").and_then(Value::as_str).unwrap_or("");
    let event_id = env.get("event_id").and_then(Value::as_str).unwrap_or("");
    let version = env.get("version").and_then(Value::as_u64).unwrap_or(0);
    let prev = env.get("prev_hash").and_then(Value::as_str).unwrap_or("");
    let (last_version, last_hash) = heads
        .get(account)
        .cloned()
        .unwrap_or((0, GENESIS.to_string()));
    if version != last_version + 1 {
        return Ok(brk(position, format!(
            "account {account}: version {version} follows version {last_version}"
        )));
    }
    if prev != last_hash {
        return Ok(brk(position, format!(
            "account {account} version {version}: prev_hash does not match the previous event's hash"
        )));
    }
    match log.get(stream_key(account, version)).map_err(storage)? {
        Some(p) if p.as_ref() == position.to_be_bytes() => {}
        _ => {
            return Ok(brk(position, format!(
                "the stream index entry of account {account} version {version} is missing or wrong"
            )))
        }
    }
    match log.get(id_key(event_id)).map_err(storage)? {
        Some(p) if p.as_ref() == position.to_be_bytes() => {}
        _ => {
            return Ok(brk(position, format!(
                "the event id index entry of {event_id} is missing or wrong"
            )))
        }
    }
    heads.insert(account.to_string(), (version, hash));
    Ok(None)
}
