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
    /// Rechecks the whole store. A break at or after an append that a power cut interrupted
    /// (found on open, see `tail`) says so: that append was never acknowledged.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = self.verify_log()?;
        if let (Some(b), Some(cut)) = (report.first_break.as_mut(), self.inner.interrupted) {
            if b.position >= cut {
                b.problem.push_str(&format!(
                    " (the append from position {cut} on was interrupted before its pages \
                     reached the disk and was never acknowledged; any other kamlog command \
                     opening the store drops it)"
                ));
            }
        }
        Ok(report)
    }

    fn verify_log(&self) -> Result<VerifyReport> {
        let log = self.log();
        let mut report = VerifyReport {
            events: 0,
            accounts: 0,
            first_break: None,
        };
        let mut seen = Seen::default();
        let mut expected = 1u64;
        for r in pages_from(log, 1) {
            let (first, bytes) = match r {
                Ok(page) => page,
                // A page the segment file does not hold (or a pointer that does not read).
                Err(Error::Corrupt(why)) => {
                    report.first_break = brk(expected, why);
                    return Ok(report);
                }
                Err(e) => return Err(e),
            };
            if first != expected {
                report.first_break = if first > expected {
                    brk(
                        expected,
                        format!("missing (the log jumps from {} to {first})", expected - 1),
                    )
                } else {
                    brk(first, "a page overlaps the one before it")
                };
                return Ok(report);
            }
            let page = match Page::new(first, bytes) {
                Ok(p) => p,
                Err(e) => {
                    report.first_break = brk(first, e.to_string());
                    return Ok(report);
                }
            };
            let ids = log.tree.get(ids_key(first)).map_err(storage)?;
            if ids.as_ref().map(|v| v.len()) != Some(page.len() * 16) {
                report.first_break = brk(
                    first,
                    "the event-id index entry of this page is missing or the wrong size",
                );
                return Ok(report);
            }
            let ids = ids.expect("checked");
            for i in 0..page.len() as u64 {
                let position = first + i;
                report.events += 1;
                let id = &ids[i as usize * 16..i as usize * 16 + 16];
                let bytes = page.get(position).expect("in page");
                let b = check_event(position, bytes, id, &mut seen)?;
                if b.is_some() {
                    report.first_break = b;
                    return Ok(report);
                }
            }
            expected = first + page.len() as u64;
        }
        report.accounts = seen.heads.len();
        report.first_break = check_indexes(self, &log.tree, &seen, expected - 1)?;
        if report.first_break.is_none() {
            report.first_break = check_mark(self)?;
        }
        Ok(report)
    }
}

/// Last: the log must still reach the position the durability mark recorded, with its hash.
fn check_mark(store: &Store) -> Result<Option<Break>> {
    let Some(m) = mark::read(store.dir())? else {
        return Ok(None);
    };
    let file = mark::FILE;
    Ok(match mark::compare(store.log(), &m)? {
        None => None,
        Some(mark::Mismatch::Short { last }) => brk(
            last + 1,
            format!(
                "missing (the log ends at position {last}, but {file} records position {} as durable)",
                m.position
            ),
        ),
        // The walk has checked every event already, so the event reads back; were it not, the
        // hash found is shown empty.
        Some(other) => {
            let found = match other {
                mark::Mismatch::Changed { found } => found,
                _ => String::new(),
            };
            brk(
                m.position,
                format!(
                    "hash {found} differs from the one {file} recorded as durable ({})",
                    m.hash
                ),
            )
        }
    })
}

#[derive(Default)]
struct Seen {
    /// account → (version, hash) of its last event seen
    heads: HashMap<String, (u64, String)>,
    /// account → positions of its events, in version order
    positions: HashMap<String, Vec<u64>>,
}

/// After the walk: the stream index and the heads must match what the log holds.
fn check_indexes(store: &Store, log: &sled::Tree, seen: &Seen, last: u64) -> Result<Option<Break>> {
    let stored_heads = match store.heads() {
        Ok(h) => h,
        Err(e) => return Ok(brk(0, e.to_string())),
    };
    for h in &stored_heads {
        if h.position > last {
            return Ok(brk(last + 1, format!(
                "missing (the log ends at position {last}, but account {} has its head at position {})",
                h.account_id, h.position
            )));
        }
        match seen.heads.get(&h.account_id) {
            Some((v, hash)) if *v == h.version && *hash == h.hash => {}
            _ => {
                return Ok(brk(
                    h.position,
                    format!(
                        "the head of account {} (version {}) does not match its last stored event",
                        h.account_id, h.version
                    ),
                ))
            }
        }
    }
    let mut accounts: Vec<&String> = seen.positions.keys().collect();
    accounts.sort();
    for account in accounts {
        if !stored_heads.iter().any(|h| &h.account_id == account) {
            return Ok(brk(0, format!("account {account} has events but no head")));
        }
        let indexed = match stream_positions(log, account) {
            Ok(p) => p,
            Err(e) => return Ok(brk(0, e.to_string())),
        };
        let actual = &seen.positions[account];
        if &indexed != actual {
            let at = actual
                .iter()
                .zip(indexed.iter())
                .find(|(a, b)| a != b)
                .map(|(a, _)| *a)
                .or_else(|| actual.get(indexed.len()).copied())
                .unwrap_or(0);
            return Ok(brk(
                at,
                format!("the stream index of account {account} is missing or wrong here"),
            ));
        }
    }
    Ok(None)
}

fn check_event(
    position: u64,
    bytes: &[u8],
    indexed_id: &[u8],
    seen: &mut Seen,
) -> Result<Option<Break>> {
    let Ok(Value::Object(mut env)) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(brk(position, "the stored envelope is not valid JSON"));
    };
    let Some(Value::String(hash)) = env.remove("hash") else {
        return Ok(brk(position, "the stored envelope has no hash"));
    };
    if env.get("position").and_then(Value::as_u64) != Some(position) {
        return Ok(brk(
            position,
            "the envelope's position field differs from its place in the log",
        ));
    }
    if let Err(problem) = check_link(&env, &hash, &seen.heads) {
        return Ok(brk(position, problem));
    }
    let account = env.get("account_id").and_then(Value::as_str).unwrap_or("");
    let event_id = env.get("event_id").and_then(Value::as_str).unwrap_or("");
    let version = env.get("version").and_then(Value::as_u64).unwrap_or(0);
    if indexed_id != id_bytes(event_id).to_be_bytes() {
        return Ok(brk(
            position,
            format!("the event-id index entry of {event_id} is wrong"),
        ));
    }
    seen.heads.insert(account.to_string(), (version, hash));
    seen.positions
        .entry(account.to_string())
        .or_default()
        .push(position);
    Ok(None)
}

/// One link of an account's hash chain: the envelope (without `hash`) hashes to `hash`, its
/// version follows the account's last one, and its `prev_hash` is that event's hash. `heads`
/// holds each account's last (version, hash) seen.
pub(crate) fn check_link(
    env: &serde_json::Map<String, Value>,
    hash: &str,
    heads: &HashMap<String, (u64, String)>,
) -> std::result::Result<(), String> {
    let computed = envelope_hash(env);
    if computed != hash {
        return Err(format!(
            "hash mismatch: stored {hash}, computed {computed} (the event was altered)"
        ));
    }
    let account = env.get("account_id").and_then(Value::as_str).unwrap_or("");
    let version = env.get("version").and_then(Value::as_u64).unwrap_or(0);
    let prev = env.get("prev_hash").and_then(Value::as_str).unwrap_or("");
    let (last_version, last_hash) = heads
        .get(account)
        .cloned()
        .unwrap_or((0, GENESIS.to_string()));
    if version != last_version + 1 {
        return Err(format!(
            "account {account}: version {version} follows version {last_version}"
        ));
    }
    if prev != last_hash {
        return Err(format!(
            "account {account} version {version}: prev_hash does not match the previous event's hash"
        ));
    }
    Ok(())
}
