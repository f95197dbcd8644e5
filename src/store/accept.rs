//! The rules an append must pass, apart from any backend: idempotency by `event_id`, the
//! expected version, every rule of SPEC 2.1 through the strict fold, retractions (the
//! account re-folded without the target), gap-free versions and positions, the hash chain,
//! and the check of an exported event's store fields. A backend ([`Ledger`]) only answers
//! what is stored; it then writes the [`Accepted`] events its own way (sled pages here; a
//! second backend reuses this unchanged).
//!
//! [`Rules`] caches each touched account's strict state and chain head so that validation
//! does not re-read the stream. A request that fails part-way forgets the accounts it
//! touched; they are re-read on next use (the log is the truth).

use super::{AppendOutcome, AppendedEvent, IdMap, MAX_BATCH_EVENTS};
use crate::error::{Error, Location, Result};
use crate::event::{EventData, NewEvent, SealedEvent, StoredEvent, GENESIS_HASH};
use crate::model::{fold_strict, AccountState, EventRef};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// What the rules need to know of what a backend holds.
pub trait Ledger {
    /// The account's current version (0 when it has no events).
    fn version(&mut self, account: &str) -> Result<u64>;
    /// The stored event with this id, if any: its position and stored envelope.
    fn find(&mut self, event_id: &str) -> Result<Option<(u64, Value)>>;
    /// The account's stored events, in version order.
    fn events(&mut self, account: &str) -> Result<Vec<StoredEvent>>;
    /// The salts the vault holds for a stored event's personal field (none once erased).
    fn salts(&mut self, account: &str, event_id: &str, field: &str) -> Result<Vec<Vec<u8>>>;
}

/// One new event of a request, with its place and its sealed bytes.
pub struct Sealed {
    /// Index in the request.
    pub index: usize,
    pub account: String,
    pub version: u64,
    pub position: u64,
    pub event: SealedEvent,
}

/// A request that passed: the answer to give, and the new events to write, in position order.
pub struct Accepted {
    pub outcome: AppendOutcome,
    pub sealed: Vec<Sealed>,
    /// The new events' personal values, for the vault (written before the events).
    pub personal: Vec<crate::personal::Committed>,
}

/// An account as the rules see it: its strict state and chain head.
struct Account {
    state: AccountState,
    head_hash: String,
}

/// The rules, with their cache of account states.
#[derive(Default)]
pub struct Rules {
    states: HashMap<String, Account>,
}

pub(crate) fn reject(
    index: usize,
    event_id: Option<&str>,
    field: &str,
    reason: impl Into<String>,
) -> Error {
    Error::Rejected {
        at: Location {
            line: None,
            index,
            event_id: event_id.map(str::to_string),
            field: field.to_string(),
        },
        reason: reason.into(),
    }
}

impl Rules {
    /// Forgets every cached account (after a failed write: the log is the truth).
    pub fn forget_all(&mut self) {
        self.states.clear();
    }

    fn load(&mut self, ledger: &mut dyn Ledger, account: &str) -> Result<()> {
        if self.states.contains_key(account) {
            return Ok(());
        }
        let events = ledger.events(account)?;
        let refs: Vec<EventRef> = events.iter().map(EventRef::from).collect();
        let state = fold_strict(account, &refs).map_err(|(i, e)| {
            Error::Corrupt(format!(
                "stored event at position {} of account {account} breaks a rule ({}: {})",
                events[i].position, e.field, e.reason
            ))
        })?;
        let head_hash = events
            .last()
            .map(|e| e.hash.clone())
            .unwrap_or_else(|| GENESIS_HASH.to_string());
        self.states
            .insert(account.to_string(), Account { state, head_hash });
        Ok(())
    }

    /// Checks a request against the rules, assigning positions from `first_position`; on
    /// success the cached states include it (the caller must then store it, or call
    /// [`Rules::forget_all`] if it cannot). Nothing is cached from a rejected request.
    pub fn accept(
        &mut self,
        ledger: &mut dyn Ledger,
        events: &[NewEvent],
        expected: Option<u64>,
        first_position: u64,
        recorded_at: &str,
    ) -> Result<Accepted> {
        let mut touched: HashSet<String> = HashSet::new();
        let res = self.accept_inner(
            ledger,
            events,
            expected,
            first_position,
            recorded_at,
            &mut touched,
        );
        if res.is_err() {
            for a in touched {
                self.states.remove(&a);
            }
        }
        res
    }

    fn accept_inner(
        &mut self,
        ledger: &mut dyn Ledger,
        events: &[NewEvent],
        expected: Option<u64>,
        first_position: u64,
        recorded_at: &str,
        touched: &mut HashSet<String>,
    ) -> Result<Accepted> {
        if events.len() > MAX_BATCH_EVENTS {
            return Err(reject(
                MAX_BATCH_EVENTS,
                None,
                "",
                format!(
                    "a batch holds at most {MAX_BATCH_EVENTS} events; this one has {}",
                    events.len()
                ),
            ));
        }
        if let Some(expected) = expected {
            let Some(first) = events.first() else {
                return Ok(Accepted {
                    outcome: AppendOutcome::default(),
                    sealed: Vec::new(),
                    personal: Vec::new(),
                });
            };
            if let Some(other) = events.iter().find(|e| e.account_id != first.account_id) {
                return Err(Error::Usage(format!(
                    "an expected version applies to one account, but the batch holds {} and {}",
                    first.account_id, other.account_id
                )));
            }
            let actual = ledger.version(&first.account_id)?;
            if actual != expected {
                // A retried request whose events are all stored already is a no-op success.
                let mut all_dup = true;
                for ev in events {
                    match ledger.find(&ev.event_id)? {
                        Some((_, stored)) if same_stored(ledger, &stored, ev)? => {}
                        _ => all_dup = false,
                    }
                }
                if !all_dup {
                    return Err(Error::VersionConflict {
                        account: first.account_id.clone(),
                        expected,
                        actual,
                    });
                }
            }
        }

        let mut out = Vec::with_capacity(events.len());
        let mut sealed_all = Vec::with_capacity(events.len());
        let mut personal = Vec::new();
        let mut position = first_position;
        // event id → index in this request, for repeats inside the request
        let mut in_batch: IdMap<usize> = IdMap::default();
        // account → indices of its new events in this request, for retraction re-folds
        let mut pending: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut assigned: Vec<Option<(u64, u64)>> = vec![None; events.len()];

        for (i, ev) in events.iter().enumerate() {
            let id = ev.event_id.as_str();
            let id128 = super::id_bytes(id);
            if let Some(&j) = in_batch.get(&id128) {
                if events[j].body == ev.body {
                    let mut dup = out
                        .iter()
                        .find(|o: &&AppendedEvent| o.event_id == id)
                        .cloned()
                        .expect("earlier event recorded");
                    dup.duplicate = true;
                    out.push(dup);
                    continue;
                }
                return Err(reject(
                    i,
                    Some(id),
                    "event_id",
                    format!("the same event_id appears earlier in this batch (event #{}) with different content", j + 1),
                ));
            }
            if let Some((p, stored)) = ledger.find(id)? {
                if same_stored(ledger, &stored, ev)? {
                    out.push(AppendedEvent {
                        event_id: ev.event_id.clone(),
                        account_id: ev.account_id.clone(),
                        version: stored["version"].as_u64().unwrap_or(0),
                        position: p,
                        hash: stored["hash"].as_str().unwrap_or("").to_string(),
                        duplicate: true,
                    });
                    in_batch.insert(id128, i);
                    continue;
                }
                return Err(reject(
                    i,
                    Some(id),
                    "event_id",
                    format!("conflict: event_id is already stored at position {p} with different content"),
                ));
            }

            // Personal values become commitments before the event is folded and sealed.
            let committed = crate::personal::commit(ev)?;
            let ev: &NewEvent = match &committed {
                Some((c, entries)) => {
                    personal.extend(entries.iter().cloned());
                    c
                }
                None => ev,
            };
            // Borrowed from the request, which outlives the loop (the committed copy does not).
            let account = events[i].account_id.as_str();
            if !touched.contains(account) {
                touched.insert(account.to_string());
            }
            self.load(ledger, account)?;
            let version = self.states[account].state.version + 1;
            let ev_ref = EventRef {
                event_id: id,
                occurred_at: ev.occurred_at,
                version,
                position,
                data: &ev.data,
            };
            if matches!(ev.data, EventData::EventRetracted(_)) {
                self.check_retraction(ledger, account, events, &pending, &assigned, ev_ref, i)?;
            } else {
                let acc = self.states.get_mut(account).expect("loaded");
                acc.state
                    .apply(ev_ref, true)
                    .map_err(|e| reject(i, Some(id), &e.field, e.reason))?;
            }

            let acc = self.states.get_mut(account).expect("loaded");
            let sealed = seal(ev, i, version, position, recorded_at, &acc.head_hash)?;
            acc.head_hash = sealed.hash.clone();
            out.push(AppendedEvent {
                event_id: ev.event_id.clone(),
                account_id: ev.account_id.clone(),
                version,
                position,
                hash: sealed.hash.clone(),
                duplicate: false,
            });
            sealed_all.push(Sealed {
                index: i,
                account: account.to_string(),
                version,
                position,
                event: sealed,
            });
            assigned[i] = Some((version, position));
            in_batch.insert(id128, i);
            pending.entry(account).or_default().push(i);
            position += 1;
        }
        Ok(Accepted {
            outcome: AppendOutcome { events: out },
            sealed: sealed_all,
            personal,
        })
    }

    /// A retraction is valid only if every later event of the account stays valid without its
    /// target: re-fold the whole stream (stored + this request's) strictly with it applied.
    #[allow(clippy::too_many_arguments)]
    fn check_retraction(
        &mut self,
        ledger: &mut dyn Ledger,
        account: &str,
        events: &[NewEvent],
        pending: &HashMap<&str, Vec<usize>>,
        assigned: &[Option<(u64, u64)>],
        new: EventRef,
        index: usize,
    ) -> Result<()> {
        // First the checks that need no re-fold (target exists, is not a retraction, ...).
        {
            let mut probe = self.states[account].state.clone();
            probe
                .apply(new, true)
                .map_err(|e| reject(index, Some(new.event_id), &e.field, e.reason))?;
        }
        let stored = ledger.events(account)?;
        let mut refs: Vec<EventRef> = stored.iter().map(EventRef::from).collect();
        for &j in pending.get(account).map(Vec::as_slice).unwrap_or(&[]) {
            let (version, position) = assigned[j].expect("assigned");
            refs.push(EventRef {
                event_id: &events[j].event_id,
                occurred_at: events[j].occurred_at,
                version,
                position,
                data: &events[j].data,
            });
        }
        refs.push(new);
        match fold_strict(account, &refs) {
            Ok(state) => {
                self.states.get_mut(account).expect("loaded").state = state;
                Ok(())
            }
            Err((k, e)) if k == refs.len() - 1 => {
                Err(reject(index, Some(new.event_id), &e.field, e.reason))
            }
            Err((k, e)) => Err(reject(
                index,
                Some(new.event_id),
                "data.target_event_id",
                format!(
                    "retracting it would leave a later event invalid: version {} ({}, event {}): {}: {}",
                    refs[k].version,
                    refs[k].data.type_name(),
                    refs[k].event_id,
                    e.field,
                    e.reason
                ),
            )),
        }
    }
}

/// Seals a new event at its place; an exported event's store fields must be the ones this
/// store gives it, and its hash must match its content.
fn seal(
    ev: &NewEvent,
    i: usize,
    version: u64,
    position: u64,
    recorded_at: &str,
    prev: &str,
) -> Result<SealedEvent> {
    let id = ev.event_id.as_str();
    let Some(r) = &ev.restore else {
        return Ok(ev.seal(version, position, recorded_at, prev));
    };
    for (field, got, want) in [
        ("position", r.position, position),
        ("version", r.version, version),
    ] {
        if got != want {
            return Err(reject(i, Some(id), field, format!(
                "the exported event has {field} {got}, but this store would give it {want}; import an export into a fresh store, or remove the store fields (version, position, recorded_at, prev_hash, hash) to append it as new"
            )));
        }
    }
    if r.prev_hash != prev {
        return Err(reject(
            i,
            Some(id),
            "prev_hash",
            "does not match the hash of the account's previous event in this store",
        ));
    }
    let sealed = ev.seal(version, position, &r.recorded_at, prev);
    if sealed.hash != r.hash {
        return Err(reject(
            i,
            Some(id),
            "hash",
            format!(
                "does not match the event's content (computed {}); the exported event was altered",
                sealed.hash
            ),
        ));
    }
    Ok(sealed)
}

/// Whether a stored event holds what a new event submits: [`same_content`], personal values
/// compared with the stored commitments under the vault's salts (SPEC 10: idempotency compares
/// submitted values).
fn same_stored(ledger: &mut dyn Ledger, stored: &Value, ev: &NewEvent) -> Result<bool> {
    let names = crate::personal::fields(ev.type_name());
    if names.is_empty() || ev.restore.is_some() {
        return Ok(same_content(stored, &ev.body));
    }
    let (Some(Value::Object(sd)), Some(Value::Object(bd))) =
        (stored.get("data"), ev.body.get("data"))
    else {
        return Ok(same_content(stored, &ev.body));
    };
    // The submitted body with each personal value that opens its stored commitment replaced
    // by that commitment: then the plain comparison decides.
    let mut body = ev.body.clone();
    let mut data = bd.clone();
    for &field in names {
        if let (Some(Value::String(c)), Some(Value::String(v))) = (sd.get(field), bd.get(field)) {
            let salts = ledger.salts(&ev.account_id, &ev.event_id, field)?;
            let opens = if salts.is_empty() {
                crate::personal::matches(c, v, None)
            } else {
                salts
                    .iter()
                    .any(|salt| crate::personal::matches(c, v, Some(salt)))
            };
            if opens {
                data.insert(field.to_string(), Value::String(c.clone()));
            }
        }
    }
    body.insert("data".into(), Value::Object(data));
    Ok(same_content(stored, &body))
}

/// Whether a stored envelope holds the same submitted content as a new event's body.
pub fn same_content(stored: &Value, body: &serde_json::Map<String, Value>) -> bool {
    let Value::Object(stored) = stored else {
        return false;
    };
    let mut n = 0;
    for (k, v) in stored {
        if matches!(
            k.as_str(),
            "version" | "position" | "recorded_at" | "prev_hash" | "hash"
        ) {
            continue;
        }
        n += 1;
        if body.get(k) != Some(v) {
            return false;
        }
    }
    n == body.len()
}
