//! The audit timeline (SPEC 4.5): an account's history in business time, each event with what
//! it changed in the views, and each change driven by time alone (a link leaving the contact
//! window, a due date passing, a lapse) as its own entry at its instant.
//!
//! It watches the same walk as the stage and alert histories, one event at a time: before an
//! instant's events (when a time-driven change coincides with them), after each event, and at
//! each time-driven instant, it takes a digest of the views and records what differs from the
//! previous one. A retracted event keeps its entry (with what it changed while it stood); the
//! retraction's entry shows the change back.

use super::stage::update_once_cooperative;
use super::step::{Observer, Step};
use crate::event::{EventData, StoredEvent};
use crate::model::AccountState;
use crate::view::classification::quadrant;
use crate::view::coverage::Coverage;
use crate::view::stage::infer;
use crate::view::value::status;
use crate::view::{dec_str, Frame, Policy};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// The business instant: the event's `occurred_at`, or the time-driven change's instant.
    pub at: DateTime<Utc>,
    /// The event, or `None` for a change driven by time alone.
    pub event: Option<&'a StoredEvent>,
    /// Whether an earlier version of the account occurred after this event.
    pub late: bool,
    /// The retraction that names this event, if one is selected.
    pub retracted_by: Option<String>,
    /// What changed, e.g. `coverage s-cfo 2 → 1`.
    pub changes: Vec<String>,
}

/// The figures whose changes the timeline reports.
struct Digest {
    /// The frame's coverage, shared with the walk: key stakeholders' coverage, members' sole
    /// links, the coverage ratio and the bow-tie flag are read from it.
    coverage: std::rc::Rc<Coverage>,
    inferred: crate::view::stage::Stage,
    declared: Option<String>,
    /// Shared with the previous digest while no promise's status changed.
    promises: std::rc::Rc<BTreeMap<String, &'static str>>,
    quadrant: Option<&'static str>,
}

impl PartialEq for Digest {
    fn eq(&self, other: &Digest) -> bool {
        // The same coverage while the walk changed nothing it depends on; otherwise the
        // figures the timeline reports of it, in the coverage's order (a difference of order
        // alone only makes `diff` look closer, and find nothing).
        let (a, b) = (&self.coverage, &other.coverage);
        (std::rc::Rc::ptr_eq(a, b)
            || (a.bow_tie == b.bow_tie
                && coverage_of(a).eq(coverage_of(b))
                && sole_links_of(a).eq(sole_links_of(b))
                && dec_str(a.coverage_ratio) == dec_str(b.coverage_ratio)))
            && self.inferred == other.inferred
            && self.declared == other.declared
            && self.promises == other.promises
            && self.quadrant == other.quadrant
    }
}

/// Each key stakeholder's coverage, in the coverage's order.
fn coverage_of(c: &Coverage) -> impl Iterator<Item = (&str, usize)> {
    c.key_stakeholders
        .iter()
        .map(|k| (k.stakeholder_id.as_str(), k.coverage))
}

/// Each member's sole links, for those who have any, in the coverage's order.
fn sole_links_of(c: &Coverage) -> impl Iterator<Item = (&str, &[String])> {
    c.members
        .iter()
        .filter(|m| !m.sole_links.is_empty())
        .map(|m| (m.member_id.as_str(), m.sole_links.as_slice()))
}

/// The digest of a frame; `prev`'s promise statuses are shared when none changed (its
/// promise ids are compared too unless `same_ids` says they cannot have changed).
fn digest(
    frame: &Frame,
    once_cooperative: bool,
    policy: &Policy,
    prev: Option<&Digest>,
    same_ids: bool,
) -> Digest {
    let (state, t) = (frame.state, frame.instant);
    let unchanged = prev.filter(|p| {
        p.promises.len() == state.promises.len()
            && p.promises
                .iter()
                .zip(&state.promises)
                .all(|((a, sa), (b, pb))| (same_ids || a == b) && *sa == status(pb, t))
    });
    let promises = match unchanged {
        Some(p) => p.promises.clone(),
        None => std::rc::Rc::new(
            state
                .promises
                .iter()
                .map(|(id, p)| (id.clone(), status(p, t)))
                .collect(),
        ),
    };
    let ev = frame.evidence(once_cooperative, policy);
    Digest {
        coverage: frame.coverage_shared(policy).clone(),
        inferred: infer(&ev, t, policy),
        declared: state.assessments.last().map(|a| a.stage.clone()),
        promises,
        quadrant: state
            .classifications
            .last()
            .map(|c| quadrant(c.attractiveness, c.business_strength)),
    }
}

fn diff(before: &Digest, after: &Digest) -> Vec<String> {
    let mut out = Vec::new();
    if before == after {
        return out; // most events change nothing a digest holds
    }
    let (coverage_before, coverage_after): (BTreeMap<_, _>, BTreeMap<_, _>) = (
        coverage_of(&before.coverage).collect(),
        coverage_of(&after.coverage).collect(),
    );
    let ids: BTreeSet<&str> = coverage_before
        .keys()
        .chain(coverage_after.keys())
        .copied()
        .collect();
    for id in ids {
        match (coverage_before.get(id), coverage_after.get(id)) {
            (None, Some(n)) => out.push(format!("key stakeholder {id} (coverage {n})")),
            (Some(_), None) => out.push(format!("{id} no longer a key stakeholder")),
            (Some(a), Some(b)) if a != b => out.push(format!("coverage {id} {a} → {b}")),
            _ => {}
        }
    }
    let (sole_before, sole_after): (BTreeMap<_, _>, BTreeMap<_, _>) = (
        sole_links_of(&before.coverage).collect(),
        sole_links_of(&after.coverage).collect(),
    );
    let members: BTreeSet<&str> = sole_before
        .keys()
        .chain(sole_after.keys())
        .copied()
        .collect();
    for m in members {
        let (a, b) = (sole_before.get(m), sole_after.get(m));
        if a != b {
            let show = |v: Option<&&[String]>| match v {
                Some(v) => v.join(","),
                None => "none".to_string(),
            };
            out.push(format!("sole links of {m} {} → {}", show(a), show(b)));
        }
    }
    let ratio = (
        dec_str(before.coverage.coverage_ratio),
        dec_str(after.coverage.coverage_ratio),
    );
    if ratio.0 != ratio.1 {
        out.push(format!("coverage ratio {} → {}", ratio.0, ratio.1));
    }
    if before.coverage.bow_tie != after.coverage.bow_tie {
        out.push(format!(
            "bow-tie {} → {}",
            before.coverage.bow_tie, after.coverage.bow_tie
        ));
    }
    if before.inferred != after.inferred {
        out.push(format!(
            "inferred stage {} → {}",
            before.inferred, after.inferred
        ));
    }
    if before.declared != after.declared {
        out.push(format!(
            "declared stage {} → {}",
            before.declared.as_deref().unwrap_or("none"),
            after.declared.as_deref().unwrap_or("none")
        ));
    }
    // Both maps in id order, walked side by side (an account may hold a thousand promises).
    if !std::rc::Rc::ptr_eq(&before.promises, &after.promises) {
        let (mut a, mut b) = (
            before.promises.iter().peekable(),
            after.promises.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some((x, old)), Some((y, st))) if x == y => {
                    if old != st {
                        out.push(format!("promise {x} {old} → {st}"));
                    }
                    a.next();
                    b.next();
                }
                (Some((x, _)), Some((y, _))) if x < y => {
                    out.push(format!("promise {x} no longer stands"));
                    a.next();
                }
                (Some((x, _)), None) => {
                    out.push(format!("promise {x} no longer stands"));
                    a.next();
                }
                (_, Some((y, st))) => {
                    out.push(format!("promise {y} {st}"));
                    b.next();
                }
            }
        }
    }
    if before.quadrant != after.quadrant {
        out.push(format!(
            "quadrant {} → {}",
            before.quadrant.unwrap_or("none"),
            after.quadrant.unwrap_or("none")
        ));
    }
    out
}

/// Watches the walk and writes the timeline.
pub struct Timeline<'a> {
    account_id: String,
    once_cooperative: bool,
    /// The digest after the last entry (`None` before the first instant).
    before: Option<Digest>,
    /// Whether an event since that digest may have added or removed a promise: one that
    /// promises or retracts, or one that entered after a later one in stream order (which
    /// may refold the state).
    promise_ids_moved: bool,
    /// The highest version that has entered.
    max_version: u64,
    late: BTreeSet<u64>,
    by_version: HashMap<u64, &'a StoredEvent>,
    retracted_by: HashMap<&'a str, &'a str>,
    pub entries: Vec<Entry<'a>>,
}

impl<'a> Timeline<'a> {
    /// A timeline for these selected events (stream order) of an account.
    pub fn new(account_id: &str, events: &[&'a StoredEvent]) -> Timeline<'a> {
        let mut late = BTreeSet::new();
        let mut latest: Option<DateTime<Utc>> = None;
        for e in events {
            if latest.is_some_and(|l| l > e.occurred_at) {
                late.insert(e.version);
            }
            latest = latest.max(Some(e.occurred_at));
        }
        let retracted_by = events
            .iter()
            .filter_map(|e| match &e.data {
                EventData::EventRetracted(r) => {
                    Some((r.target_event_id.as_str(), e.event_id.as_str()))
                }
                _ => None,
            })
            .collect();
        Timeline {
            account_id: account_id.to_string(),
            once_cooperative: false,
            before: None,
            promise_ids_moved: true,
            max_version: 0,
            late,
            by_version: events.iter().map(|e| (e.version, *e)).collect(),
            retracted_by,
            entries: Vec::new(),
        }
    }

    /// What changed since the last entry; remembers the new digest.
    fn changes(&mut self, frame: &Frame, once: bool, policy: &Policy) -> Vec<String> {
        let same_ids = !std::mem::take(&mut self.promise_ids_moved);
        let d = digest(frame, once, policy, self.before.as_ref(), same_ids);
        let before = match self.before.take() {
            Some(b) => b,
            None => {
                let empty = AccountState::new(&self.account_id);
                digest(
                    &Frame::new(&empty, frame.instant),
                    false,
                    policy,
                    None,
                    false,
                )
            }
        };
        let changes = diff(&before, &d);
        self.before = Some(d);
        changes
    }

    fn time_entry(&mut self, step: &Step, policy: &Policy) {
        let changes = self.changes(&step.frame, self.once_cooperative, policy);
        if !changes.is_empty() {
            self.entries.push(Entry {
                at: step.frame.instant,
                event: None,
                late: false,
                retracted_by: None,
                changes,
            });
        }
    }
}

impl Observer for Timeline<'_> {
    fn observe(&mut self, step: &Step, policy: &Policy) {
        if step.cause.position().is_some() {
            update_once_cooperative(&mut self.once_cooperative, step, policy);
        } else {
            self.time_entry(step, policy);
        }
    }

    fn per_event(&self) -> bool {
        true
    }

    fn before_events(&mut self, step: &Step, policy: &Policy) {
        self.time_entry(step, policy);
    }

    fn after_event(&mut self, event: &StoredEvent, step: &Step, policy: &Policy) {
        self.promise_ids_moved |= matches!(
            event.data,
            EventData::ValuePromised(_) | EventData::EventRetracted(_)
        ) || event.version < self.max_version;
        self.max_version = self.max_version.max(event.version);
        // As if the instant ended with this event: rule 1's memory as it would then be.
        let once = self.once_cooperative || step.frame.cooperative_or_higher(policy);
        let changes = self.changes(&step.frame, once, policy);
        let event = self.by_version.get(&event.version).copied();
        self.entries.push(Entry {
            at: step.frame.instant,
            event,
            late: event.is_some_and(|e| self.late.contains(&e.version)),
            retracted_by: event
                .and_then(|e| self.retracted_by.get(e.event_id.as_str()))
                .map(|s| s.to_string()),
            changes,
        });
    }
}

/// Rule 1's memory alone (whether the account was ever cooperative), for the part of a walk
/// whose timeline entries are not asked for.
struct OnceCooperative(bool);

impl Observer for OnceCooperative {
    fn observe(&mut self, step: &Step, policy: &Policy) {
        update_once_cooperative(&mut self.0, step, policy);
    }
}

/// The timeline's entries from `since` to `until`, walking on from a checkpoint before
/// `since`: up to `since` without taking digests, then with them, the first one diffed
/// against the digest of the state just before `since` — the one the whole walk would have
/// taken last. The same entries as [`timeline`]'s from `since` on. `events` are all the
/// selected events (stream order), for the late flags and the retractions.
pub fn timeline_since<'a>(
    from: super::checkpoint::Checkpoint,
    account_id: &str,
    events: &[&'a StoredEvent],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    policy: &Policy,
) -> Vec<Entry<'a>> {
    let mut t = Timeline::new(account_id, events);
    let mut w = super::walk::Walker::resume(events.to_vec(), from.position, policy);
    let mut once = OnceCooperative(from.stage.once_cooperative);
    w.run_until(
        (since - chrono::Duration::nanoseconds(1)).min(until),
        &mut [&mut once],
    );
    if let Some(instant) = w.position.instant {
        t.once_cooperative = once.0;
        let frame = Frame::with_contacts(&w.position.state, instant, &w.position.contacts);
        t.before = Some(digest(&frame, t.once_cooperative, policy, None, false));
        t.max_version = w.position.max_version;
    }
    w.run_until(until, &mut [&mut t]);
    t.entries
}

/// The timeline of an account's selected events (stream order) up to `until`.
pub fn timeline<'a>(
    account_id: &str,
    events: &[&'a StoredEvent],
    until: DateTime<Utc>,
    policy: &Policy,
) -> Vec<Entry<'a>> {
    let mut t = Timeline::new(account_id, events);
    {
        let mut observers: [&mut dyn Observer; 1] = [&mut t];
        super::walk::walk(account_id, events, until, policy, &mut observers);
    }
    t.entries
}
