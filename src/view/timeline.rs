//! The audit timeline (SPEC 4.5): the account's events in stream order, each with what it
//! changed in the views.
//!
//! The account is folded event by event in stream order; after each event the views are taken
//! at that event's `occurred_at` and compared with those before it. A retracted event stays in
//! the timeline (marked) but, like everywhere else, changes nothing.

use super::coverage::coverage;
use super::stage::{developing_stage, evidence, infer, rank};
use super::value::status;
use super::{dec_str, Policy};
use crate::event::{EventData, StoredEvent};
use crate::model::{AccountState, EventRef};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub event: &'a StoredEvent,
    /// Set when a later event retracted this one.
    pub retracted_by: Option<String>,
    /// What this event changed, e.g. `coverage s-cfo 2 → 1`.
    pub changes: Vec<String>,
}

#[derive(PartialEq)]
struct Digest {
    coverage: BTreeMap<String, usize>,
    sole_links: BTreeMap<String, Vec<String>>,
    coverage_ratio: String,
    bow_tie: bool,
    inferred: &'static str,
    declared: Option<String>,
    promises: BTreeMap<String, &'static str>,
    quadrant: Option<&'static str>,
}

fn digest(state: &AccountState, e: &StoredEvent, once: &mut bool, policy: &Policy) -> Digest {
    let t = e.occurred_at;
    let c = coverage(state, t, policy);
    let ev = evidence(state, t, *once, policy);
    if rank(developing_stage(&ev, policy)) >= rank("cooperative") {
        *once = true;
    }
    let ev = evidence(state, t, *once, policy);
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
        promises: state
            .promises
            .iter()
            .map(|(id, p)| (id.clone(), status(p, t)))
            .collect(),
        quadrant: state
            .classifications
            .last()
            .map(|c| super::classification::quadrant(c.attractiveness, c.business_strength)),
    }
}

fn diff(before: &Digest, after: &Digest) -> Vec<String> {
    let mut out = Vec::new();
    let ids: std::collections::BTreeSet<&String> = before
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
    let members: std::collections::BTreeSet<&String> = before
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
    for (id, st) in &after.promises {
        match before.promises.get(id) {
            None => out.push(format!("promise {id} {st}")),
            Some(old) if old != st => out.push(format!("promise {id} {old} → {st}")),
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

/// The whole timeline of an account's events (stream order).
pub fn timeline<'a>(
    account_id: &str,
    events: &'a [StoredEvent],
    policy: &Policy,
) -> Vec<Entry<'a>> {
    let retracted: HashMap<&str, &str> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::EventRetracted(r) => Some((r.target_event_id.as_str(), e.event_id.as_str())),
            _ => None,
        })
        .collect();
    let skip: HashSet<&str> = retracted.keys().copied().collect();
    let mut state = AccountState::new(account_id);
    let mut once = false;
    let mut before: Option<Digest> = None;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let before_state = before
            .take()
            .unwrap_or_else(|| digest(&AccountState::new(account_id), e, &mut false, policy));
        let retracted_by = retracted.get(e.event_id.as_str()).map(|s| s.to_string());
        if !skip.contains(e.event_id.as_str()) {
            let _ = state.apply(EventRef::from(e), false);
        }
        let after = digest(&state, e, &mut once, policy);
        let changes = diff(&before_state, &after);
        before = Some(after);
        out.push(Entry {
            event: e,
            retracted_by,
            changes,
        });
    }
    out
}
