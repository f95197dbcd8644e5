//! The relationship stage (SPEC 4.2): declared by people, inferred from evidence, and whether
//! the two diverge.

use super::Policy;
use crate::model::AccountState;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The relationship stages of SPEC 4.2. The developing ones are declared in their order;
/// `disintegrating` stands outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Exploratory,
    Basic,
    Cooperative,
    Interdependent,
    Integrated,
    Disintegrating,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Exploratory,
        Stage::Basic,
        Stage::Cooperative,
        Stage::Interdependent,
        Stage::Integrated,
        Stage::Disintegrating,
    ];

    /// The stage's name in SPEC 4.2 and in `stage_assessed`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Exploratory => "exploratory",
            Stage::Basic => "basic",
            Stage::Cooperative => "cooperative",
            Stage::Interdependent => "interdependent",
            Stage::Integrated => "integrated",
            Stage::Disintegrating => "disintegrating",
        }
    }

    /// The stage of a name (as a `stage_assessed` event gives it).
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its place in the developing order, `None` for `disintegrating`.
    pub fn rank(self) -> Option<usize> {
        (self != Stage::Disintegrating).then_some(self as usize)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The evidence the rules read, at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Evidence {
    pub customer_functions: usize,
    pub supplier_functions: usize,
    pub links: usize,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub coverage_ratio: Decimal,
    pub key_stakeholders: usize,
    pub executive_link: bool,
    pub objectives_agreed: usize,
    pub objectives_open_or_achieved: usize,
    pub objectives_achieved: usize,
    pub plan: bool,
    pub revenue_recorded: bool,
    #[serde(serialize_with = "super::fmt::opt_time")]
    #[schemars(with = "Option<String>")]
    pub last_interaction: Option<DateTime<Utc>>,
    pub once_cooperative: bool,
}

/// Gathers the evidence at `t`.
pub fn evidence(
    state: &AccountState,
    t: DateTime<Utc>,
    once_cooperative: bool,
    policy: &Policy,
) -> Evidence {
    super::Frame::new(state, t).evidence(once_cooperative, policy)
}

/// The evidence at a frame (sharing its links and coverage).
pub fn evidence_from(frame: &super::Frame, once_cooperative: bool, policy: &Policy) -> Evidence {
    let state = frame.state;
    let links = frame.link_counts(policy).figures();
    let cov = frame.coverage(policy);
    let objectives_agreed = state.objectives.values().filter(|o| o.agreed).count();
    let objectives_open_or_achieved = state
        .objectives
        .values()
        .filter(|o| o.agreed && matches!(o.outcome.as_deref(), None | Some("achieved")))
        .count();
    let objectives_achieved = state
        .objectives
        .values()
        .filter(|o| o.outcome.as_deref() == Some("achieved"))
        .count();
    Evidence {
        customer_functions: links.customer_functions,
        supplier_functions: links.supplier_functions,
        links: links.links,
        coverage_ratio: cov.coverage_ratio,
        key_stakeholders: cov.key_stakeholders.len(),
        executive_link: links.executive_link,
        objectives_agreed,
        objectives_open_or_achieved,
        objectives_achieved,
        plan: !state.plans.is_empty(),
        revenue_recorded: state.revenue_events > 0,
        last_interaction: frame.last_interaction(),
        once_cooperative,
    }
}

fn percent(p: i64) -> Decimal {
    Decimal::new(p, 2)
}

/// Rules 2–6 of SPEC 4.2 (everything but `disintegrating`).
pub fn developing_stage(e: &Evidence, policy: &Policy) -> Stage {
    if !e.revenue_recorded && e.objectives_agreed == 0 {
        return Stage::Exploratory;
    }
    let interdependent = e.customer_functions >= 3
        && e.supplier_functions >= 3
        && e.executive_link
        && e.objectives_open_or_achieved >= 1;
    if interdependent
        && e.plan
        && e.objectives_achieved >= 1
        && e.coverage_ratio >= percent(policy.integrated_coverage_percent)
    {
        return Stage::Integrated;
    }
    if interdependent {
        return Stage::Interdependent;
    }
    if e.customer_functions >= 2 && e.supplier_functions >= 2 {
        return Stage::Cooperative;
    }
    Stage::Basic
}

/// The whole rule list: `disintegrating` when the account was once cooperative or higher and
/// now has no interaction in the disintegration window, or too little coverage.
pub fn infer(e: &Evidence, t: DateTime<Utc>, policy: &Policy) -> Stage {
    if e.once_cooperative {
        let silent = e
            .last_interaction
            .is_none_or(|last| last < t - super::days(policy.disintegration_days));
        let thin = e.key_stakeholders > 0
            && e.coverage_ratio < percent(policy.disintegrating_coverage_percent);
        if silent || thin {
            return Stage::Disintegrating;
        }
    }
    developing_stage(e, policy)
}

/// SPEC 4.2 divergence between a declared and an inferred stage.
pub fn divergence(declared: Option<Stage>, inferred: Stage) -> bool {
    let Some(declared) = declared else {
        return false;
    };
    if inferred == Stage::Disintegrating {
        return declared != Stage::Disintegrating;
    }
    match (declared.rank(), inferred.rank()) {
        (Some(d), Some(i)) => d > i + 1,
        _ => false,
    }
}

/// One change of declared or inferred stage, in business time (SPEC 8: `at` always,
/// `position` null for a time-driven change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct StageChange {
    /// `declared` or `inferred`.
    pub source: String,
    pub stage: String,
    #[serde(serialize_with = "super::fmt::time")]
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    pub position: Option<u64>,
}

/// The declared stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Declared {
    pub stage: String,
    #[serde(serialize_with = "super::fmt::time")]
    #[schemars(with = "String")]
    pub occurred_at: DateTime<Utc>,
    pub rationale: Option<String>,
}

/// The inferred stage and the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Inferred {
    pub stage: Stage,
    pub evidence: Evidence,
}

/// `view A stage` (SPEC 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StageView {
    #[serde(flatten)]
    pub header: super::Header,
    pub declared: Option<Declared>,
    pub inferred: Inferred,
    pub divergence: bool,
    pub history: Vec<StageChange>,
}

/// The stage view of a state at a selection, given rule 1's memory and the history of the
/// walk up to the selection's as-of time.
pub fn view(
    state: &AccountState,
    once_cooperative: bool,
    history: Vec<StageChange>,
    sel: &super::Selection,
    policy: &Policy,
) -> StageView {
    let e = evidence(state, sel.as_of, once_cooperative, policy);
    let inferred = infer(&e, sel.as_of, policy);
    let declared = state.assessments.last();
    StageView {
        header: super::Header::new(&state.account_id, sel),
        declared: declared.map(|a| Declared {
            stage: a.stage.clone(),
            occurred_at: a.occurred_at,
            rationale: a.rationale.clone(),
        }),
        divergence: divergence(declared.and_then(|a| Stage::parse(&a.stage)), inferred),
        inferred: Inferred {
            stage: inferred,
            evidence: e,
        },
        history,
    }
}
