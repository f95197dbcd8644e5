//! Alert transitions on the feed (SPEC 6 v2): which of an account's business-time
//! transitions to publish, and the record of what was published.
//!
//! The history engine gives every account's transitions in business time, as known now.
//! The record ([`Published`], sled tree `bus_alerts_v2`) keeps, per alert (kind and subject),
//! every transition published and the stream sequence it was stored at. [`plan`] publishes,
//! for each alert, the transitions after the last one published (in business time), skipping
//! any that would repeat the state last published, and then, if late data changed the alert's
//! current state in the past, that latest transition: so a transition is never published twice
//! in a row for one alert. A transition is held back until the event that caused it is in the
//! stream, so alerts follow their causes. The message id is derived from what the transition is
//! (account, kind, subject, state, business instant), never from when it was computed.
//!
//! The record is kept exact across crashes and lost messages by [`Published::truncate`] (the
//! stream lost its tail: forget what is no longer in it) and [`Published::note`] (messages
//! stored but not yet recorded when the process died, read back from the stream).

use crate::alert::Transition;
use crate::error::{Error, Result};
use crate::store::{storage, Store};
use crate::view::time_str;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One published transition of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    pub state: String,
    #[serde(default)]
    pub severity: String,
    pub at: DateTime<Utc>,
    pub seq: u64,
    pub detail: Value,
}

/// What was published of one account's alerts, keyed by `kind` NUL `subject`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub alerts: BTreeMap<String, Vec<Sent>>,
}

/// The body of an alert message on `<prefix>.alerts.<account>.<kind>` (SPEC 6 v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AlertMessage {
    pub account_id: String,
    /// The alert kind (SPEC 5).
    pub kind: String,
    pub subject: String,
    /// `low`, `medium`, `high` or `critical`, at the transition's instant.
    pub severity: String,
    /// `raised` or `resolved`.
    pub state: String,
    /// The causing event's position; null for a time-driven change.
    pub position: Option<u64>,
    /// The business instant (RFC 3339, UTC).
    pub at: String,
    pub detail: Value,
}

/// An alert message ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub account_id: String,
    pub kind: String,
    pub subject: String,
    pub severity: String,
    pub state: String,
    pub at: DateTime<Utc>,
    pub position: Option<u64>,
    pub detail: Value,
}

fn key(kind: &str, subject: &str) -> String {
    format!("{kind}\u{0}{subject}")
}

impl Message {
    fn of(t: &Transition) -> Message {
        Message {
            account_id: t.account_id.clone(),
            kind: t.kind.name().to_string(),
            subject: t.subject.clone(),
            severity: t.severity.name().to_string(),
            state: t.state.clone(),
            at: t.at,
            position: t.position,
            detail: t.detail.clone(),
        }
    }

    /// The stable message id: what the transition is. When late data brings an alert back to
    /// a state it was already published in at this very instant (raised at T, resolved at U,
    /// then U taken back), the repeat is told apart by how many times it was published before.
    pub fn id(&self, published: &Published) -> String {
        let id = transition_id(
            &self.account_id,
            &self.kind,
            &self.subject,
            &self.state,
            self.at,
        );
        let repeats = published
            .alerts
            .get(&key(&self.kind, &self.subject))
            .map_or(0, |l| {
                l.iter()
                    .filter(|s| s.state == self.state && s.at == self.at)
                    .count()
            });
        if repeats == 0 {
            id
        } else {
            crate::event::json::sha256_hex(format!("{id}\n{repeats}").as_bytes())
        }
    }

    /// The message body (SPEC 6).
    pub fn body(&self) -> AlertMessage {
        AlertMessage {
            account_id: self.account_id.clone(),
            kind: self.kind.clone(),
            subject: self.subject.clone(),
            severity: self.severity.clone(),
            state: self.state.clone(),
            position: self.position,
            at: time_str(self.at),
            detail: self.detail.clone(),
        }
    }

    /// Reads a message back from the stream (for [`Published::note`]).
    pub fn parse(payload: &[u8]) -> Option<Message> {
        let v: Value = serde_json::from_slice(payload).ok()?;
        Some(Message {
            account_id: v["account_id"].as_str()?.to_string(),
            kind: v["kind"].as_str()?.to_string(),
            subject: v["subject"].as_str()?.to_string(),
            severity: v["severity"].as_str().unwrap_or("low").to_string(),
            state: v["state"].as_str()?.to_string(),
            at: crate::query::parse_time("at", v["at"].as_str()?).ok()?,
            position: v["position"].as_u64(),
            detail: v["detail"].clone(),
        })
    }
}

/// A stable message id for an alert transition: account, kind, subject, state and business
/// instant.
pub fn transition_id(
    account: &str,
    kind: &str,
    subject: &str,
    state: &str,
    at: DateTime<Utc>,
) -> String {
    crate::event::json::sha256_hex(
        format!("{account}\n{kind}\n{subject}\n{state}\n{}", time_str(at)).as_bytes(),
    )
}

impl Published {
    /// Records a message stored at `seq` (ignored if already recorded).
    pub fn note(&mut self, m: &Message, seq: u64) {
        let list = self.alerts.entry(key(&m.kind, &m.subject)).or_default();
        if list.iter().any(|s| s.seq == seq) {
            return;
        }
        list.push(Sent {
            state: m.state.clone(),
            severity: m.severity.clone(),
            at: m.at,
            seq,
            detail: m.detail.clone(),
        });
        list.sort_by_key(|s| s.seq);
    }

    /// Forgets what is no longer in the stream: messages after `last_seq`.
    pub fn truncate(&mut self, last_seq: u64) -> bool {
        let mut changed = false;
        for list in self.alerts.values_mut() {
            let before = list.len();
            list.retain(|s| s.seq <= last_seq);
            changed |= list.len() != before;
        }
        self.alerts.retain(|_, l| !l.is_empty());
        changed
    }
}

/// The transitions to publish for `account`, in business order: `transitions` are its
/// business-time transitions as known now, `through` the last position already in
/// the stream.
pub fn plan(
    account: &str,
    transitions: &[Transition],
    published: &Published,
    through: u64,
) -> Vec<Message> {
    // Only the business-time prefix whose causes are all in the stream: a transition caused by
    // an event not yet published holds back every later one (of any alert), so that what is
    // published stays in business order behind its causes.
    let cutoff = transitions
        .iter()
        .position(|t| t.position.is_some_and(|p| p > through))
        .unwrap_or(transitions.len());
    let complete = cutoff == transitions.len();
    let transitions = &transitions[..cutoff];
    let mut by_key: BTreeMap<String, Vec<(usize, &Transition)>> = BTreeMap::new();
    for (i, t) in transitions.iter().enumerate() {
        by_key
            .entry(key(t.kind.name(), &t.subject))
            .or_default()
            .push((i, t));
    }
    let mut keys: Vec<&String> = by_key.keys().chain(published.alerts.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out: Vec<(usize, Message)> = Vec::new();
    for k in keys {
        let history = by_key.get(k).map(Vec::as_slice).unwrap_or(&[]);
        let last = published.alerts.get(k).and_then(|l| l.last());
        let mut state = last.map_or("resolved", |s| s.state.as_str()).to_string();
        for (i, t) in history {
            if last.is_some_and(|l| t.at <= l.at) {
                continue;
            }
            if t.state != state {
                state = t.state.clone();
                out.push((*i, Message::of(t)));
            }
        }
        // Late data may have changed the alert's state before the last transition published
        // (judged only on the whole history: a prefix may end before what was published).
        let now = history.last().map_or("resolved", |(_, t)| t.state.as_str());
        if complete && now != state {
            match history.last() {
                Some((i, t)) => out.push((*i, Message::of(t))),
                // Every transition of the alert was taken back (a retraction): it never was.
                None => {
                    let l = last.expect("a key without history is a published one");
                    let (kind, subject) = k.split_once('\u{0}').unwrap_or((k, ""));
                    out.push((
                        usize::MAX,
                        Message {
                            account_id: account.to_string(),
                            kind: kind.to_string(),
                            subject: subject.to_string(),
                            severity: l.severity.clone(),
                            state: "resolved".to_string(),
                            at: l.at,
                            position: None,
                            detail: l.detail.clone(),
                        },
                    ))
                }
            }
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, m)| m).collect()
}

const TREE: &str = "bus_alerts_v2";

/// An account's record (empty if none).
pub fn load(store: &Store, account: &str) -> Result<Published> {
    let tree = store.db().open_tree(TREE).map_err(storage)?;
    match tree.get(account.as_bytes()).map_err(storage)? {
        Some(v) => serde_json::from_slice(&v)
            .map_err(|e| Error::Corrupt(format!("the published-alerts record of {account}: {e}"))),
        None => Ok(Published::default()),
    }
}

/// Saves an account's record.
pub fn save(store: &Store, account: &str, p: &Published) -> Result<()> {
    let tree = store.db().open_tree(TREE).map_err(storage)?;
    let v = serde_json::to_vec(p).map_err(|e| {
        Error::Storage(format!(
            "cannot encode the published-alerts record of {account}: {e}"
        ))
    })?;
    tree.insert(account.as_bytes(), v).map_err(storage)?;
    Ok(())
}

/// Every account's record.
pub fn all(store: &Store) -> Result<Vec<(String, Published)>> {
    let tree = store.db().open_tree(TREE).map_err(storage)?;
    let mut out = Vec::new();
    for r in tree.iter() {
        let (k, v) = r.map_err(storage)?;
        let account = String::from_utf8_lossy(&k).to_string();
        let p = serde_json::from_slice(&v).map_err(|e| {
            Error::Corrupt(format!("the published-alerts record of {account}: {e}"))
        })?;
        out.push((account, p));
    }
    Ok(out)
}

/// Forgets every record (the stream was emptied: everything is published again).
pub fn clear(store: &Store) -> Result<()> {
    store
        .db()
        .open_tree(TREE)
        .map_err(storage)?
        .clear()
        .map_err(storage)
}
