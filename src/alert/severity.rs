//! Alert severity (SPEC 5 v2): points for the kind, for a subject who is a decision maker or an
//! economic buyer, for a renewing or lapsed contract and for a strategic account; evaluated at
//! an instant (a transition's own, or the as-of time for open alerts). A change of severity
//! alone is not a transition.

use super::Kind;
use crate::model::AccountState;
use crate::view::Policy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How much an alert matters, from its points: 5 or more `critical`, 4 `high`, 3 `medium`,
/// 2 or fewer `low`. Declared in increasing order.
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
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    fn of_points(points: u32) -> Severity {
        match points {
            0..=2 => Severity::Low,
            3 => Severity::Medium,
            4 => Severity::High,
            _ => Severity::Critical,
        }
    }
}

/// The kind's base points (SPEC 5 v2).
fn base(kind: Kind) -> u32 {
    match kind {
        Kind::ChampionDeparted | Kind::RenewalAtRisk => 3,
        Kind::UncoveredStakeholder | Kind::SinglePointOfContact | Kind::SuccessionGap => 2,
        Kind::ValueOverdue | Kind::BowTie | Kind::StageDivergence | Kind::EngagementLapse => 1,
    }
}

/// The severity of the alert (`kind`, `subject`) in this state at instant `at`.
pub fn severity(
    kind: Kind,
    subject: &str,
    state: &AccountState,
    at: DateTime<Utc>,
    policy: &Policy,
) -> Severity {
    let mut points = base(kind);
    let stakeholder_subject = matches!(
        kind,
        Kind::ChampionDeparted
            | Kind::UncoveredStakeholder
            | Kind::SinglePointOfContact
            | Kind::EngagementLapse
    );
    if stakeholder_subject {
        // A departed stakeholder keeps the roles held when it departed.
        if let Some(s) = state.stakeholders.get(subject) {
            if s.dmu_roles
                .iter()
                .any(|r| r == "decision_maker" || r == "economic_buyer")
            {
                points += 1;
            }
        }
    }
    if crate::view::contracts::any_up_for_renewal(state, at, policy) {
        points += 1;
    }
    let sel = crate::view::Selection::as_of(at);
    if crate::view::classification::view(state, &sel).quadrant == Some("strategic") {
        points += 1;
    }
    Severity::of_points(points)
}
