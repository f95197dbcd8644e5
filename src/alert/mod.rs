//! Alerts (SPEC 5): conditions on the views, identified by (account, kind, subject), raised
//! when a condition becomes true and resolved when it becomes false.
//!
//! [`conditions`] evaluates every kind at one instant. [`AlertTracker`] watches the walk
//! through business time ([`crate::view::walk`]) and records each transition with its cause:
//! the position of the event at that instant, or the instant itself for a time-driven change.

use crate::model::AccountState;
use crate::view::stage::{divergence, infer, update_once_cooperative};
use crate::view::value::status;
use crate::view::walk::{Cause, Observer, Step};
use crate::view::{days, time_str, within, Policy};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The alert kinds of SPEC 5.
pub const KINDS: &[&str] = &[
    "single_point_of_contact",
    "uncovered_stakeholder",
    "succession_gap",
    "champion_departed",
    "bow_tie",
    "value_overdue",
    "stage_divergence",
    "engagement_lapse",
];

/// (kind, subject) → detail, for every condition true at an instant.
pub type Conditions = BTreeMap<(String, String), Value>;

/// Every alert condition true at `t`.
pub fn conditions(
    state: &AccountState,
    t: DateTime<Utc>,
    once_cooperative: bool,
    policy: &Policy,
) -> Conditions {
    conditions_at(&Step::new(t, Cause::Time, state), once_cooperative, policy)
}

/// The last interaction (at or before `t`) of each of `keys`. When the state holds its
/// interactions in time order (the usual case) this walks back from `t` and stops as soon as
/// every key stakeholder has been found; otherwise it takes the latest over all of them.
fn last_interactions<'a>(
    state: &crate::model::AccountState,
    t: DateTime<Utc>,
    keys: &[&'a str],
) -> BTreeMap<&'a str, DateTime<Utc>> {
    let mut last: BTreeMap<&'a str, DateTime<Utc>> = BTreeMap::new();
    let all = &state.interactions[..];
    let key_of = |s: &str| keys.iter().copied().find(|k| *k == s);
    if crate::view::coverage::in_time_order(all) {
        let hi = all.partition_point(|i| i.occurred_at <= t);
        for i in all[..hi].iter().rev() {
            for s in &i.stakeholders {
                if let Some(k) = key_of(s) {
                    last.entry(k).or_insert(i.occurred_at);
                }
            }
            if last.len() == keys.len() {
                break;
            }
        }
    } else {
        for i in all.iter().filter(|i| i.occurred_at <= t) {
            for s in &i.stakeholders {
                if let Some(k) = key_of(s) {
                    let e = last.entry(k).or_insert(i.occurred_at);
                    if i.occurred_at > *e {
                        *e = i.occurred_at;
                    }
                }
            }
        }
    }
    last
}

/// Every alert condition true at a step of the walk (sharing the step's links and coverage).
pub fn conditions_at(step: &Step, once_cooperative: bool, policy: &Policy) -> Conditions {
    let (state, t) = (step.state, step.instant);
    let mut out = Conditions::new();
    let mut put = |kind: &str, subject: &str, detail: Value| {
        out.insert((kind.to_string(), subject.to_string()), detail);
    };
    let cov = step.coverage(policy);
    let keys: Vec<&str> = cov
        .key_stakeholders
        .iter()
        .map(|k| k.stakeholder_id.as_str())
        .collect();
    let last_seen = last_interactions(state, t, &keys);
    for k in &cov.key_stakeholders {
        match k.coverage {
            0 => put(
                "uncovered_stakeholder",
                &k.stakeholder_id,
                json!({"name": k.name}),
            ),
            1 => put(
                "single_point_of_contact",
                &k.stakeholder_id,
                json!({"name": k.name, "covered_by": k.covered_by[0]}),
            ),
            _ => {}
        }
        let last = last_seen.get(k.stakeholder_id.as_str()).copied();
        let known = state.stakeholders[&k.stakeholder_id].added_at;
        let quiet = last.is_none_or(|l| !within(l, t, policy.engagement_lapse_days));
        if quiet && t - known >= days(policy.engagement_lapse_days) {
            put(
                "engagement_lapse",
                &k.stakeholder_id,
                json!({"name": k.name, "last_interaction": last.map(time_str)}),
            );
        }
    }
    for m in &cov.members {
        if !m.sole_links.is_empty() && !m.successor_ready {
            put(
                "succession_gap",
                &m.member_id,
                json!({"name": m.name, "sole_links": m.sole_links, "successor": m.successor}),
            );
        }
    }
    const CRITICAL: [&str; 3] = ["champion", "decision_maker", "economic_buyer"];
    for (id, s) in state.stakeholders.iter().filter(|(_, s)| !s.active) {
        let unfilled: Vec<&str> = CRITICAL
            .iter()
            .copied()
            .filter(|r| s.dmu_roles.iter().any(|x| x == r))
            .filter(|r| {
                !state
                    .stakeholders
                    .values()
                    .any(|o| o.active && o.dmu_roles.iter().any(|x| x == r))
            })
            .collect();
        if !unfilled.is_empty() {
            put(
                "champion_departed",
                id,
                json!({"name": s.name, "unfilled_roles": unfilled}),
            );
        }
    }
    if cov.bow_tie {
        put("bow_tie", &state.account_id, json!({}));
    }
    for (id, p) in &state.promises {
        if status(p, t) == "overdue" {
            put(
                "value_overdue",
                id,
                json!({"promised": crate::view::dec_str(p.promised), "delivered": crate::view::dec_str(p.delivered),
                       "shortfall": crate::view::dec_str(p.promised - p.delivered),
                       "due_date": p.due_date.format("%Y-%m-%d").to_string()}),
            );
        }
    }
    let e = step.evidence(once_cooperative, policy);
    let inferred = infer(&e, t, policy);
    let declared = state.assessments.last().map(|a| a.stage.as_str());
    if divergence(declared, inferred) {
        put(
            "stage_divergence",
            &state.account_id,
            json!({"declared": declared, "inferred": inferred}),
        );
    }
    out
}

/// One raised or resolved transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub account_id: String,
    pub kind: String,
    pub subject: String,
    /// `raised` or `resolved`.
    pub state: String,
    pub cause: Cause,
    pub instant: DateTime<Utc>,
    pub detail: Value,
}

impl Transition {
    /// The SPEC 6 bus message / `alerts --history` entry.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "account_id": self.account_id, "kind": self.kind, "subject": self.subject,
            "state": self.state, "detail": self.detail,
        });
        match self.cause {
            Cause::Event(p) => v["position"] = json!(p),
            Cause::Time => v["at"] = json!(time_str(self.instant)),
        }
        v
    }
}

/// An open alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAlert {
    pub cause: Cause,
    pub instant: DateTime<Utc>,
    pub detail: Value,
}

/// Watches the walk and keeps the open alerts and every transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTracker {
    pub account_id: String,
    pub once_cooperative: bool,
    /// "kind\u{0}subject" → the open alert (string keys keep the snapshot plain JSON).
    pub open: BTreeMap<String, OpenAlert>,
    pub transitions: Vec<Transition>,
}

fn key(kind: &str, subject: &str) -> String {
    format!("{kind}\u{0}{subject}")
}

fn split(key: &str) -> (&str, &str) {
    key.split_once('\u{0}').unwrap_or((key, ""))
}

impl AlertTracker {
    pub fn new(account_id: &str) -> Self {
        AlertTracker {
            account_id: account_id.to_string(),
            once_cooperative: false,
            open: BTreeMap::new(),
            transitions: Vec::new(),
        }
    }

    /// The open alerts as SPEC 8's `alerts` entries, sorted by kind and subject.
    pub fn open_json(&self) -> Vec<Value> {
        let mut list: Vec<(&str, &str, &OpenAlert)> = self
            .open
            .iter()
            .map(|(k, a)| {
                let (kind, subject) = split(k);
                (kind, subject, a)
            })
            .collect();
        list.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        list.into_iter()
            .map(|(kind, subject, a)| {
                let mut v = json!({"account_id": self.account_id, "kind": kind, "subject": subject, "detail": a.detail});
                match a.cause {
                    Cause::Event(p) => v["raised_position"] = json!(p),
                    Cause::Time => v["raised_at"] = json!(time_str(a.instant)),
                }
                v
            })
            .collect()
    }
}

impl Observer for AlertTracker {
    fn observe(&mut self, step: &Step, policy: &Policy) {
        update_once_cooperative(&mut self.once_cooperative, step, policy);
        let now = conditions_at(step, self.once_cooperative, policy);
        let closed: Vec<String> = self
            .open
            .keys()
            .filter(|k| {
                let (kind, subject) = split(k);
                !now.contains_key(&(kind.to_string(), subject.to_string()))
            })
            .cloned()
            .collect();
        for k in closed {
            let a = self.open.remove(&k).expect("listed");
            let (kind, subject) = split(&k);
            self.transitions.push(Transition {
                account_id: self.account_id.clone(),
                kind: kind.to_string(),
                subject: subject.to_string(),
                state: "resolved".into(),
                cause: step.cause,
                instant: step.instant,
                detail: a.detail,
            });
        }
        for ((kind, subject), detail) in now {
            let k = key(&kind, &subject);
            match self.open.get_mut(&k) {
                Some(a) => a.detail = detail,
                None => {
                    self.transitions.push(Transition {
                        account_id: self.account_id.clone(),
                        kind,
                        subject,
                        state: "raised".into(),
                        cause: step.cause,
                        instant: step.instant,
                        detail: detail.clone(),
                    });
                    self.open.insert(
                        k,
                        OpenAlert {
                            cause: step.cause,
                            instant: step.instant,
                            detail,
                        },
                    );
                }
            }
        }
    }
}
