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
#[derive(PartialEq)]
struct Digest {
    coverage: BTreeMap<String, usize>,
    sole_links: BTreeMap<String, Vec<String>>,
    coverage_ratio: String,
    bow_tie: bool,
    inferred: crate::view::stage::Stage,
    declared: Option<String>,
    /// Shared with the previous digest while no promise's status changed.
    promises: std::rc::Rc<BTreeMap<String, &'static str>>,
    quadrant: Option<&'static str>,
}

fn digest(frame: &Frame, once_cooperative: bool, policy: &Policy, prev: Option<&Digest>) -> Digest {
    let (state, t) = (frame.state, frame.instant);
    let unchanged = prev.filter(|p| {
        p.promises.len() == state.promises.len()
            && p.promises
                .iter()
                .zip(&state.promises)
                .all(|((a, sa), (b, pb))| a == b && *sa == status(pb, t))
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
    let c = frame.coverage(policy);
    let ev = frame.evidence(once_cooperative, policy);
    Digest {
        coverage: c
            .key_stakeholders
            .iter()
            .map(|k| (k.stakeholder_id.clone(), k.coverage))
            .collect(),
        sole_links: c
            .members
            .iter()
            .filter(|m| !m.sole_links.is_empty())
            .map(|m| (m.member_id.clone(), m.sole_links.clone()))
            .collect(),
        coverage_ratio: dec_str(c.coverage_ratio),
        bow_tie: c.bow_tie,
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
    let ids: BTreeSet<&String> = before
        .coverage
        .keys()
        .chain(after.coverage.keys())
        .collect();
    for id in ids {
        match (before.coverage.get(id), after.coverage.get(id)) {
            (None, Some(n)) => out.push(format!("key stakeholder {id} (coverage {n})")),
            (Some(_), None) => out.push(format!("{id} no longer a key stakeholder")),
            (Some(a), Some(b)) if a != b => out.push(format!("coverage {id} {a} → {b}")),
            _ => {}
        }
    }
    let members: BTreeSet<&String> = before
        .sole_links
        .keys()
        .chain(after.sole_links.keys())
        .collect();
    for m in members {
        let (a, b) = (before.sole_links.get(m), after.sole_links.get(m));
        if a != b {
            let show = |v: Option<&Vec<String>>| match v {
                Some(v) => v.join(","),
                None => "none".to_string(),
            };
            out.push(format!("sole links of {m} {} → {}", show(a), show(b)));
        }
    }
    if before.coverage_ratio != after.coverage_ratio {
        out.push(format!(
            "coverage ratio {} → {}",
            before.coverage_ratio, after.coverage_ratio
        ));
    }
    if before.bow_tie != after.bow_tie {
        out.push(format!("bow-tie {} → {}", before.bow_tie, after.bow_tie));
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
    let promises: BTreeSet<&String> = before
        .promises
        .keys()
        .chain(after.promises.keys())
        .collect();
    for id in promises {
        match (before.promises.get(id), after.promises.get(id)) {
            (None, Some(st)) => out.push(format!("promise {id} {st}")),
            (Some(_), None) => out.push(format!("promise {id} no longer stands")),
            (Some(old), Some(st)) if old != st => out.push(format!("promise {id} {old} → {st}")),
            _ => {}
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
            late,
            by_version: events.iter().map(|e| (e.version, *e)).collect(),
            retracted_by,
            entries: Vec::new(),
        }
    }

    /// What changed since the last entry; remembers the new digest.
    fn changes(&mut self, frame: &Frame, once: bool, policy: &Policy) -> Vec<String> {
        let d = digest(frame, once, policy, self.before.as_ref());
        let before = match self.before.take() {
            Some(b) => b,
            None => {
                let empty = AccountState::new(&self.account_id);
                digest(&Frame::new(&empty, frame.instant), false, policy, None)
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
        t.before = Some(digest(&frame, t.once_cooperative, policy, None));
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
