//! Alerts (SPEC 5): conditions on the views, identified by (account, kind, subject), raised
//! when a condition becomes true and resolved when it becomes false.
//!
//! [`conditions`] evaluates every kind at one instant; the alert history of the walk through
//! business time (`crate::history::alerts`) turns them into raised and resolved transitions.

pub mod severity;
use crate::model::AccountState;
use crate::view::contracts::status as contract_status;
use crate::view::stage::{divergence, infer, Stage};
use crate::view::value::status;
use crate::view::{days, time_str, within, Frame, Policy};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
pub use severity::{severity, Severity};
use std::collections::BTreeMap;

/// The alert kinds of SPEC 5, declared in the order of their names (lists of alerts are
/// sorted by kind name, then subject).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    schemars::JsonSchema,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    BowTie,
    ChampionDeparted,
    EngagementLapse,
    RenewalAtRisk,
    SinglePointOfContact,
    StageDivergence,
    SuccessionGap,
    UncoveredStakeholder,
    ValueOverdue,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::BowTie,
        Kind::ChampionDeparted,
        Kind::EngagementLapse,
        Kind::RenewalAtRisk,
        Kind::SinglePointOfContact,
        Kind::StageDivergence,
        Kind::SuccessionGap,
        Kind::UncoveredStakeholder,
        Kind::ValueOverdue,
    ];

    /// The kind's name in SPEC 5 (and in subjects and messages).
    pub fn name(self) -> &'static str {
        match self {
            Kind::BowTie => "bow_tie",
            Kind::ChampionDeparted => "champion_departed",
            Kind::EngagementLapse => "engagement_lapse",
            Kind::RenewalAtRisk => "renewal_at_risk",
            Kind::SinglePointOfContact => "single_point_of_contact",
            Kind::StageDivergence => "stage_divergence",
            Kind::SuccessionGap => "succession_gap",
            Kind::UncoveredStakeholder => "uncovered_stakeholder",
            Kind::ValueOverdue => "value_overdue",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What an alert says about its subject (SPEC 5; the shapes are in the README). Kept typed
/// while the walk compares it instant by instant; written as JSON only when shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Detail {
    /// `single_point_of_contact` (`covered_by` the one member) and `uncovered_stakeholder`.
    Coverage {
        name: String,
        covered_by: Option<String>,
    },
    SuccessionGap {
        name: String,
        sole_links: Vec<String>,
        successor: Option<String>,
    },
    ChampionDeparted {
        name: String,
        unfilled_roles: Vec<String>,
    },
    BowTie,
    ValueOverdue {
        promised: rust_decimal::Decimal,
        delivered: rust_decimal::Decimal,
        due_date: chrono::NaiveDate,
    },
    StageDivergence {
        declared: String,
        inferred: String,
    },
    EngagementLapse {
        name: String,
        last_interaction: Option<DateTime<Utc>>,
    },
    RenewalAtRisk {
        title: Option<String>,
        /// `renewing` or `lapsed`.
        status: String,
        renewal_date: chrono::NaiveDate,
        annual_value: rust_decimal::Decimal,
        currency: String,
        map_status: String,
    },
}

impl Detail {
    /// The `detail` object of SPEC 8's alerts and SPEC 6's alert messages.
    pub fn to_json(&self) -> Value {
        use crate::view::dec_str;
        match self {
            Detail::Coverage {
                name,
                covered_by: Some(m),
            } => json!({"name": name, "covered_by": m}),
            Detail::Coverage {
                name,
                covered_by: None,
            } => json!({"name": name}),
            Detail::SuccessionGap {
                name,
                sole_links,
                successor,
            } => json!({"name": name, "sole_links": sole_links, "successor": successor}),
            Detail::ChampionDeparted {
                name,
                unfilled_roles,
            } => json!({"name": name, "unfilled_roles": unfilled_roles}),
            Detail::BowTie => json!({}),
            Detail::ValueOverdue {
                promised,
                delivered,
                due_date,
            } => json!({"promised": dec_str(*promised), "delivered": dec_str(*delivered),
                        "shortfall": dec_str(*promised - *delivered),
                        "due_date": due_date.format("%Y-%m-%d").to_string()}),
            Detail::StageDivergence { declared, inferred } => {
                json!({"declared": declared, "inferred": inferred})
            }
            Detail::EngagementLapse {
                name,
                last_interaction,
            } => json!({"name": name, "last_interaction": last_interaction.map(time_str)}),
            Detail::RenewalAtRisk {
                title,
                status,
                renewal_date,
                annual_value,
                currency,
                map_status,
            } => json!({"title": title, "status": status,
                        "renewal_date": renewal_date.format("%Y-%m-%d").to_string(),
                        "annual_value": dec_str(*annual_value), "currency": currency,
                        "map_status": map_status}),
        }
    }
}

/// (kind, subject) → detail, for every condition true at an instant.
pub type Conditions = BTreeMap<(Kind, String), Detail>;

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
    let cov = frame.coverage(policy);
    let keys: Vec<&str> = cov
        .key_stakeholders
        .iter()
        .map(|k| k.stakeholder_id.as_str())
        .collect();
    let last_seen = frame.last_seen_each(&keys);
    for (k, last) in cov.key_stakeholders.iter().zip(last_seen) {
        // Names as the state holds them (a commitment until revealed at output, SPEC 10).
        let stakeholder = &state.stakeholders[&k.stakeholder_id];
        match k.coverage {
            0 => {
                out.insert(
                    (Kind::UncoveredStakeholder, k.stakeholder_id.clone()),
                    Detail::Coverage {
                        name: stakeholder.name.clone(),
                        covered_by: None,
                    },
                );
            }
            1 => {
                out.insert(
                    (Kind::SinglePointOfContact, k.stakeholder_id.clone()),
                    Detail::Coverage {
                        name: stakeholder.name.clone(),
                        covered_by: Some(k.covered_by[0].clone()),
                    },
                );
            }
            _ => {}
        }
        let quiet = last.is_none_or(|l| !within(l, t, policy.engagement_lapse_days));
        if quiet && t - stakeholder.added_at >= days(policy.engagement_lapse_days) {
            out.insert(
                (Kind::EngagementLapse, k.stakeholder_id.clone()),
                Detail::EngagementLapse {
                    name: stakeholder.name.clone(),
                    last_interaction: last,
                },
            );
        }
    }
    for m in &cov.members {
        if !m.sole_links.is_empty() && !m.successor_ready {
            out.insert(
                (Kind::SuccessionGap, m.member_id.clone()),
                Detail::SuccessionGap {
                    name: state.members[&m.member_id].name.clone(),
                    sole_links: m.sole_links.clone(),
                    successor: m.successor.clone(),
                },
            );
        }
    }
    const CRITICAL: [&str; 3] = ["champion", "decision_maker", "economic_buyer"];
    let holds =
        |s: &crate::model::Stakeholder| CRITICAL.map(|r| s.dmu_roles.iter().any(|x| x == r));
    // The critical roles some active stakeholder holds, and the departed who held any.
    let mut held = [false; 3];
    let mut departed = Vec::new();
    for (id, s) in &state.stakeholders {
        let roles = holds(s);
        if s.active {
            for (h, r) in held.iter_mut().zip(roles) {
                *h |= r;
            }
        } else if roles.contains(&true) {
            departed.push((id, s, roles));
        }
    }
    for (id, s, roles) in departed {
        let unfilled: Vec<String> = CRITICAL
            .iter()
            .zip(roles.iter().zip(held))
            .filter(|(_, (had, held))| **had && !*held)
            .map(|(r, _)| r.to_string())
            .collect();
        if !unfilled.is_empty() {
            out.insert(
                (Kind::ChampionDeparted, id.clone()),
                Detail::ChampionDeparted {
                    name: s.name.clone(),
                    unfilled_roles: unfilled,
                },
            );
        }
    }
    if cov.bow_tie {
        out.insert((Kind::BowTie, state.account_id.clone()), Detail::BowTie);
    }
    for (id, p) in &state.promises {
        if status(p, t) == "overdue" {
            out.insert(
                (Kind::ValueOverdue, id.clone()),
                Detail::ValueOverdue {
                    promised: p.promised,
                    delivered: p.delivered,
                    due_date: p.due_date,
                },
            );
        }
    }
    let up: Vec<(&String, &crate::model::Contract, &str)> = state
        .contracts
        .iter()
        .map(|(id, c)| (id, c, contract_status(c, t, policy)))
        .filter(|(_, _, st)| matches!(*st, "renewing" | "lapsed"))
        .collect();
    if !up.is_empty() {
        let map_status = frame.map_status(policy);
        if map_status != "green" {
            for (id, c, st) in up {
                out.insert(
                    (Kind::RenewalAtRisk, id.clone()),
                    Detail::RenewalAtRisk {
                        title: c.title.clone(),
                        status: st.to_string(),
                        renewal_date: c.renewal_date,
                        annual_value: c.annual_value,
                        currency: c.currency.clone(),
                        map_status: map_status.to_string(),
                    },
                );
            }
        }
    }
    let e = frame.evidence(once_cooperative, policy);
    let inferred = infer(&e, t, policy);
    let declared = state.assessments.last().map(|a| a.stage.as_str());
    if divergence(declared.and_then(Stage::parse), inferred) {
        out.insert(
            (Kind::StageDivergence, state.account_id.clone()),
            Detail::StageDivergence {
                declared: declared.unwrap_or_default().to_string(),
                inferred: inferred.to_string(),
            },
        );
    }
    out
}

/// A raised or resolved transition (SPEC 8 `alerts --history`, SPEC 6's alert message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Transition {
    pub account_id: String,
    pub kind: Kind,
    pub subject: String,
    /// At the transition's instant (SPEC 5 v2).
    pub severity: Severity,
    /// `raised` or `resolved`.
    pub state: String,
    /// The business instant.
    #[serde(serialize_with = "crate::view::fmt::time")]
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    /// The causing event's position, null for a time-driven change.
    pub position: Option<u64>,
    pub detail: Value,
}

/// An open alert (SPEC 8 `alerts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Alert {
    pub account_id: String,
    pub kind: Kind,
    pub subject: String,
    /// At the as-of time (SPEC 5 v2).
    pub severity: Severity,
    #[serde(serialize_with = "crate::view::fmt::time")]
    #[schemars(with = "String")]
    pub raised_at: DateTime<Utc>,
    pub raised_position: Option<u64>,
    pub detail: Value,
}

/// `alerts`: the open alerts or, with `--history`, every transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AlertsDoc {
    #[serde(serialize_with = "crate::view::fmt::time")]
    #[schemars(with = "String")]
    pub as_of: DateTime<Utc>,
    #[serde(serialize_with = "crate::view::fmt::opt_time")]
    #[schemars(with = "Option<String>")]
    pub known_at: Option<DateTime<Utc>>,
    pub alerts: AlertList,
}

/// The entries of [`AlertsDoc`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum AlertList {
    Open(Vec<Alert>),
    History(Vec<Transition>),
}
