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
use crate::view::account::{render, render_from_state, stage_json, Computed, ViewKind};
use crate::view::stage::StageTracker;
use crate::view::walk::{resume, walk, Observer};
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
    /// Whether the snapshot's state is what this selection would fold.
    pub fn serves(&self, sel: &Selection) -> bool {
        sel.as_of >= self.max_occurred && sel.known_at.is_none_or(|k| k >= self.max_recorded)
    }

    /// The trackers continued from the last event instant to `until` (time-driven changes).
    pub fn advanced_to(&self, until: DateTime<Utc>) -> (StageTracker, AlertTracker) {
        let mut stage = self.stage.clone();
        let mut alerts = self.alerts.clone();
        let mut state = self.state.clone();
        {
            let mut observers: [&mut dyn Observer; 2] = [&mut stage, &mut alerts];
            resume(
                &mut state,
                self.last_instant,
                &[],
                until,
                &self.policy,
                &mut observers,
            );
        }
        (stage, alerts)
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

/// Reads an account's snapshot, if any.
pub fn load(store: &Store, account: &str) -> Result<Option<Snapshot>> {
    match tree(store)?
        .get(account.as_bytes())
        .map_err(|e| Error::Storage(e.to_string()))?
    {
        None => Ok(None),
        // A snapshot that no longer reads (an older format) is simply rebuilt.
        Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
    }
}

/// Writes an account's snapshot.
pub fn save(store: &Store, account: &str, snap: &Snapshot) -> Result<()> {
    let bytes = serde_json::to_vec(snap).map_err(|e| Error::Storage(e.to_string()))?;
    tree(store)?
        .insert(account.as_bytes(), bytes)
        .map_err(|e| Error::Storage(e.to_string()))?;
    Ok(())
}

/// The current snapshot of an account (extended or rebuilt and saved as needed), or `None`
/// for an account without events.
pub fn current(store: &Store, account: &str, policy: &Policy) -> Result<Option<Snapshot>> {
    let Some(head) = store.head(account)? else {
        return Ok(None);
    };
    let old = load(store, account)?.filter(|s| &s.policy == policy && s.version <= head.version);
    if let Some(s) = &old {
        if s.version == head.version {
            return Ok(old);
        }
    }
    let events = store.account_events(account)?;
    let snap = match old {
        Some(s) => {
            let from = s.version as usize;
            extend(s, &events[from..]).or_else(|| build(account, &events, policy))
        }
        None => build(account, &events, policy),
    };
    if let Some(s) = &snap {
        save(store, account, s)?;
    }
    Ok(snap)
}

/// Rebuilds every account's snapshot from the log; returns how many were written.
pub fn rebuild_all(store: &Store, policy: &Policy) -> Result<usize> {
    let t = tree(store)?;
    t.clear().map_err(|e| Error::Storage(e.to_string()))?;
    let mut n = 0;
    for head in store.heads()? {
        let events = store.account_events(&head.account_id)?;
        if let Some(s) = build(&head.account_id, &events, policy) {
            save(store, &head.account_id, &s)?;
            n += 1;
        }
    }
    store.flush()?;
    Ok(n)
}

/// A view of an account at a selection: from the snapshot when it serves, else from the events.
pub fn view(
    store: &Store,
    account: &str,
    kind: ViewKind,
    sel: &Selection,
    policy: &Policy,
) -> Result<Value> {
    if let Some(snap) = current(store, account, policy)? {
        if snap.serves(sel) {
            return Ok(match kind {
                ViewKind::Stage => {
                    let (stage, _) = snap.advanced_to(sel.as_of);
                    let computed = Computed {
                        state: snap.state,
                        stage,
                    };
                    stage_json(&computed, sel, policy)
                }
                other => render_from_state(other, &snap.state, sel, policy),
            });
        }
    }
    let events = store.account_events(account)?;
    Ok(render(kind, account, &events, sel, policy))
}

/// The state at a selection (from the snapshot when it serves).
pub fn state_at(
    store: &Store,
    account: &str,
    sel: &Selection,
    policy: &Policy,
) -> Result<AccountState> {
    if let Some(snap) = current(store, account, policy)? {
        if snap.serves(sel) {
            return Ok(snap.state);
        }
    }
    let events = store.account_events(account)?;
    Ok(crate::view::account::fold_selected(account, &events, sel))
}
