//! Per-account snapshots: the folded state and the business-time trackers at the account's
//! last event instant, persisted in sled (tree `snapshots`) so that a "now" view does not
//! replay the whole stream.
//!
//! A snapshot is a cache, never the truth: it records the stream version and the policy it
//! was built with, and is used only when it is current and the selection sees every event
//! (as-of at or after the last `occurred_at`, known-at absent or after the last
//! `recorded_at`). Otherwise views are computed from the events. New events that all occur
//! after the snapshot's last instant (and retract nothing) extend it; anything else rebuilds
//! it. `kamlog rebuild` recomputes every snapshot from the log; the property tests check that
//! the snapshot path and a full replay give identical views.

use crate::alert::AlertTracker;
use crate::error::{Error, Result};
use crate::event::{EventData, StoredEvent};
use crate::model::AccountState;
use crate::store::Store;
use crate::view::account::{render, render_from_state, stage_json_parts, ViewKind};
use crate::view::stage::StageTracker;
use crate::view::walk::{advance_time, resume, walk, Observer};
use crate::view::{Policy, Selection};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A persisted snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u64,
    pub policy: Policy,
    pub max_occurred: DateTime<Utc>,
    pub max_recorded: DateTime<Utc>,
    /// The last event instant the walk has processed.
    pub last_instant: DateTime<Utc>,
    pub state: AccountState,
    pub stage: StageTracker,
    pub alerts: AlertTracker,
}

impl Snapshot {
    pub fn meta(&self) -> Meta {
        Meta {
            version: self.version,
            policy: self.policy.clone(),
            max_occurred: self.max_occurred,
            max_recorded: self.max_recorded,
            last_instant: self.last_instant,
        }
    }

    /// Whether the snapshot's state is what this selection would fold.
    pub fn serves(&self, sel: &Selection) -> bool {
        self.meta().serves(sel)
    }
}

fn tree(store: &Store) -> Result<sled::Tree> {
    store
        .db()
        .open_tree("snapshots")
        .map_err(|e| Error::Storage(e.to_string()))
}

/// Builds a snapshot from all of an account's events.
pub fn build(account: &str, events: &[StoredEvent], policy: &Policy) -> Option<Snapshot> {
    let last = events.last()?;
    let max_occurred = events.iter().map(|e| e.occurred_at).max()?;
    let max_recorded = events.iter().map(|e| e.recorded_at).max()?;
    let refs: Vec<&StoredEvent> = events.iter().collect();
    let mut stage = StageTracker::default();
    let mut alerts = AlertTracker::new(account);
    let state = {
        let mut observers: [&mut dyn Observer; 2] = [&mut stage, &mut alerts];
        walk(account, &refs, max_occurred, policy, &mut observers)
    };
    Some(Snapshot {
        version: last.version,
        policy: policy.clone(),
        max_occurred,
        max_recorded,
        last_instant: max_occurred,
        state,
        stage,
        alerts,
    })
}

/// Extends a snapshot with events appended after it, when they all occur after its last
/// instant and retract nothing; `None` when it must be rebuilt.
pub fn extend(mut snap: Snapshot, new_events: &[StoredEvent]) -> Option<Snapshot> {
    let ordered = new_events
        .windows(2)
        .all(|w| w[0].occurred_at <= w[1].occurred_at);
    let after = new_events.iter().all(|e| e.occurred_at > snap.last_instant);
    let retraction = new_events
        .iter()
        .any(|e| matches!(e.data, EventData::EventRetracted(_)));
    if !ordered || !after || retraction {
        return None;
    }
    let last = new_events.last()?;
    let refs: Vec<&StoredEvent> = new_events.iter().collect();
    let until = last.occurred_at;
    {
        let policy = snap.policy.clone();
        let mut observers: [&mut dyn Observer; 2] = [&mut snap.stage, &mut snap.alerts];
        snap.last_instant = resume(
            &mut snap.state,
            snap.last_instant,
            &refs,
            until,
            &policy,
            &mut observers,
        );
    }
    snap.version = last.version;
    snap.max_occurred = snap.max_occurred.max(until);
    snap.max_recorded = new_events
        .iter()
        .map(|e| e.recorded_at)
        .fold(snap.max_recorded, DateTime::max);
    Some(snap)
}

/// The parts of a snapshot are stored under separate keys so that a view reads only what it
/// needs (the alert transitions of a long history outweigh the state).
fn part_key(account: &str, part: &str) -> Vec<u8> {
    let mut k = account.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(part.as_bytes());
    k
}

/// What tells whether a snapshot is current and whom it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub version: u64,
    pub policy: Policy,
    pub max_occurred: DateTime<Utc>,
    pub max_recorded: DateTime<Utc>,
    pub last_instant: DateTime<Utc>,
}

impl Meta {
    pub fn serves(&self, sel: &Selection) -> bool {
        sel.as_of >= self.max_occurred && sel.known_at.is_none_or(|k| k >= self.max_recorded)
    }
}

fn read_part<T: serde::de::DeserializeOwned>(
    t: &sled::Tree,
    account: &str,
    part: &str,
) -> Result<Option<T>> {
    match t
        .get(part_key(account, part))
        .map_err(|e| Error::Storage(e.to_string()))?
    {
        None => Ok(None),
        // A part that no longer reads (an older format) is simply rebuilt.
        Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
    }
}

fn load_meta(store: &Store, account: &str) -> Result<Option<Meta>> {
    read_part(&tree(store)?, account, "meta")
}

/// The state part of a current snapshot.
pub fn load_state(store: &Store, account: &str) -> Result<Option<AccountState>> {
    read_part(&tree(store)?, account, "state")
}

/// Reads an account's whole snapshot, if any.
pub fn load(store: &Store, account: &str) -> Result<Option<Snapshot>> {
    let t = tree(store)?;
    let (Some(meta), Some(state), Some(stage), Some(alerts)) = (
        read_part::<Meta>(&t, account, "meta")?,
        read_part(&t, account, "state")?,
        read_part(&t, account, "stage")?,
        read_part(&t, account, "alerts")?,
    ) else {
        return Ok(None);
    };
    Ok(Some(Snapshot {
        version: meta.version,
        policy: meta.policy,
        max_occurred: meta.max_occurred,
        max_recorded: meta.max_recorded,
        last_instant: meta.last_instant,
        state,
        stage,
        alerts,
    }))
}

/// Writes an account's snapshot (all parts in one atomic batch).
pub fn save(store: &Store, account: &str, snap: &Snapshot) -> Result<()> {
    let enc = |v: &dyn erased::Ser| v.to_vec();
    let meta = snap.meta();
    let mut batch = sled::Batch::default();
    batch.insert(part_key(account, "meta"), enc(&meta)?);
    batch.insert(part_key(account, "state"), enc(&snap.state)?);
    batch.insert(part_key(account, "stage"), enc(&snap.stage)?);
    batch.insert(part_key(account, "alerts"), enc(&snap.alerts)?);
    tree(store)?
        .apply_batch(batch)
        .map_err(|e| Error::Storage(e.to_string()))?;
    Ok(())
}

mod erased {
    /// Serialises any part to JSON bytes.
    pub trait Ser {
        fn to_vec(&self) -> crate::error::Result<Vec<u8>>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_vec(&self) -> crate::error::Result<Vec<u8>> {
            serde_json::to_vec(self).map_err(|e| crate::error::Error::Storage(e.to_string()))
        }
    }
}

/// Makes an account's snapshot current (extending or rebuilding and saving it as needed) and
/// returns its metadata, or `None` for an account without events.
pub fn current(store: &Store, account: &str, policy: &Policy) -> Result<Option<Meta>> {
    let Some(head) = store.head(account)? else {
        return Ok(None);
    };
    if let Some(meta) = load_meta(store, account)? {
        if &meta.policy == policy && meta.version == head.version {
            return Ok(Some(meta));
        }
    }
    let old = load(store, account)?.filter(|s| &s.policy == policy && s.version <= head.version);
    let snap = match old {
        Some(s) => {
            // Read only the events after the snapshot to extend it.
            let positions = store.account_positions(account)?;
            let mut new_events = Vec::new();
            for p in positions.iter().skip(s.version as usize) {
                let bytes = store
                    .raw_at(*p)?
                    .ok_or_else(|| Error::Corrupt(format!("position {p} is missing")))?;
                new_events.push(StoredEvent::decode(&bytes).map_err(Error::Corrupt)?);
            }
            match extend(s, &new_events) {
                Some(s) => Some(s),
                None => build(account, &store.account_events(account)?, policy),
            }
        }
        None => build(account, &store.account_events(account)?, policy),
    };
    match snap {
        Some(s) => {
            save(store, account, &s)?;
            Ok(Some(s.meta()))
        }
        None => Ok(None),
    }
}

/// Rebuilds every account's snapshot from the log; returns how many were written. The log is
/// read once, sequentially, and split by account.
pub fn rebuild_all(store: &Store, policy: &Policy) -> Result<usize> {
    let t = tree(store)?;
    t.clear().map_err(|e| Error::Storage(e.to_string()))?;
    let mut by_account: std::collections::BTreeMap<String, Vec<StoredEvent>> = Default::default();
    store.scan_from(1, |p, bytes| {
        let e = StoredEvent::decode(bytes)
            .map_err(|e| Error::Corrupt(format!("event at position {p} cannot be read: {e}")))?;
        by_account.entry(e.account_id.clone()).or_default().push(e);
        Ok(())
    })?;
    let mut n = 0;
    for (account, events) in by_account {
        if let Some(s) = build(&account, &events, policy) {
            save(store, &account, &s)?;
            n += 1;
        }
    }
    store.flush()?;
    Ok(n)
}

/// The state of a current snapshot, decoded once per process and version.
fn snapshot_state(
    store: &Store,
    account: &str,
    meta: &Meta,
) -> Result<Option<std::sync::Arc<AccountState>>> {
    if let Some(s) = store.cached_state(account, meta.version) {
        return Ok(Some(s));
    }
    let Some(state) = load_state(store, account)? else {
        return Ok(None);
    };
    let state = std::sync::Arc::new(state);
    store.cache_state(account, meta.version, state.clone());
    Ok(Some(state))
}

/// A view of an account at a selection: from the snapshot when it serves, else from the events.
pub fn view(
    store: &Store,
    account: &str,
    kind: ViewKind,
    sel: &Selection,
    policy: &Policy,
) -> Result<Value> {
    if let Some(meta) = current(store, account, policy)? {
        if meta.serves(sel) {
            let t = tree(store)?;
            if let Some(state) = snapshot_state(store, account, &meta)? {
                return Ok(match kind {
                    ViewKind::Stage => match read_part::<StageTracker>(&t, account, "stage")? {
                        Some(mut stage) => {
                            {
                                let mut observers: [&mut dyn Observer; 1] = [&mut stage];
                                advance_time(
                                    &state,
                                    meta.last_instant,
                                    sel.as_of,
                                    policy,
                                    &mut observers,
                                );
                            }
                            stage_json_parts(&state, &stage, sel, policy)
                        }
                        None => render(kind, account, &store.account_events(account)?, sel, policy),
                    },
                    other => render_from_state(other, &state, sel, policy),
                });
            }
        }
    }
    let events = store.account_events(account)?;
    Ok(render(kind, account, &events, sel, policy))
}

/// The alert tracker of an account at a selection: from the snapshot when it serves.
pub fn alerts(
    store: &Store,
    account: &str,
    sel: &Selection,
    policy: &Policy,
) -> Result<Option<AlertTracker>> {
    let Some(meta) = current(store, account, policy)? else {
        return Ok(None);
    };
    if !meta.serves(sel) {
        return Ok(None);
    }
    let t = tree(store)?;
    let (Some(state), Some(mut alerts)) = (
        snapshot_state(store, account, &meta)?,
        read_part::<AlertTracker>(&t, account, "alerts")?,
    ) else {
        return Ok(None);
    };
    {
        let mut observers: [&mut dyn Observer; 1] = [&mut alerts];
        advance_time(&state, meta.last_instant, sel.as_of, policy, &mut observers);
    }
    Ok(Some(alerts))
}
