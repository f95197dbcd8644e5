//! Alerts (SPEC 5): conditions on the views, identified by (account, kind, subject), raised
//! when a condition becomes true and resolved when it becomes false.
//!
//! [`conditions`] evaluates every kind at one instant; the alert history of the walk through
//! business time (`crate::history::alerts`) turns them into raised and resolved transitions.

use crate::model::AccountState;
use crate::view::stage::{divergence, infer};
use crate::view::value::status;
use crate::view::{days, time_str, within, Frame, Policy};
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
    conditions_at(&Frame::new(state, t), once_cooperative, policy)
}

/// Every alert condition true at a frame (sharing its links and coverage).
pub fn conditions_at(frame: &Frame, once_cooperative: bool, policy: &Policy) -> Conditions {
    let (state, t) = (frame.state, frame.instant);
    let mut out = Conditions::new();
    let mut put = |kind: &str, subject: &str, detail: Value| {
        out.insert((kind.to_string(), subject.to_string()), detail);
    };
    let cov = frame.coverage(policy);
    let keys: Vec<&str> = cov
        .key_stakeholders
        .iter()
        .map(|k| k.stakeholder_id.as_str())
        .collect();
    let last_seen = frame.last_seen(&keys);
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
    let e = frame.evidence(once_cooperative, policy);
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

/// A raised or resolved transition (SPEC 8 `alerts --history`, SPEC 6's alert message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub account_id: String,
    pub kind: String,
    pub subject: String,
    /// `raised` or `resolved`.
    pub state: String,
    /// The business instant.
    #[serde(serialize_with = "crate::view::fmt::time")]
    pub at: DateTime<Utc>,
    /// The causing event's position, null for a time-driven change.
    pub position: Option<u64>,
    pub detail: Value,
}

/// An open alert (SPEC 8 `alerts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub account_id: String,
    pub kind: String,
    pub subject: String,
    #[serde(serialize_with = "crate::view::fmt::time")]
    pub raised_at: DateTime<Utc>,
    pub raised_position: Option<u64>,
    pub detail: Value,
}

/// `alerts`: the open alerts or, with `--history`, every transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertsDoc {
    #[serde(serialize_with = "crate::view::fmt::time")]
    pub as_of: DateTime<Utc>,
    #[serde(serialize_with = "crate::view::fmt::opt_time")]
    pub known_at: Option<DateTime<Utc>>,
    pub alerts: AlertList,
}

/// The entries of [`AlertsDoc`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AlertList {
    Open(Vec<Alert>),
    History(Vec<Transition>),
}
