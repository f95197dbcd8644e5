//! Alerts (SPEC 5): conditions on the views, identified by (account, kind, subject), raised
//! when a condition becomes true and resolved when it becomes false.
//!
//! [`conditions`] evaluates every kind at one instant; the alert history of the walk through
//! business time (`crate::history::alerts`) compares them, borrowed ([`held`]), with the open
//! alerts at every instant and turns the differences into raised and resolved transitions.

pub mod held;
pub mod severity;
use crate::model::AccountState;
use crate::view::{time_str, Frame, Policy};
use chrono::{DateTime, Utc};
pub use held::{held_at, DetailRef, Held};
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
    held_at(frame, once_cooperative, policy)
        .into_iter()
        .map(|h| ((h.kind, h.subject.to_string()), h.detail.to_detail()))
        .collect()
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
