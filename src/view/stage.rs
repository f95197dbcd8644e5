//! The relationship stage (SPEC 4.2): declared by people, inferred from evidence, and whether
//! the two diverge.

use super::coverage::links;
use super::{time_str, Policy};
use crate::model::AccountState;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The developing stages in order; `disintegrating` stands outside the order.
pub const ORDER: &[&str] = &[
    "exploratory",
    "basic",
    "cooperative",
    "interdependent",
    "integrated",
];

/// Rank of a stage in [`ORDER`], `None` for `disintegrating`.
pub fn rank(stage: &str) -> Option<usize> {
    ORDER.iter().position(|s| *s == stage)
}

/// The evidence the rules read, at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub customer_functions: usize,
    pub supplier_functions: usize,
    pub links: usize,
    pub coverage_ratio: Decimal,
    pub key_stakeholders: usize,
    pub executive_link: bool,
    pub objectives_agreed: usize,
    pub objectives_open_or_achieved: usize,
    pub objectives_achieved: usize,
    pub plan: bool,
    pub revenue_recorded: bool,
    pub last_interaction: Option<DateTime<Utc>>,
    pub once_cooperative: bool,
}

impl Evidence {
    pub fn to_json(&self) -> Value {
        json!({
            "customer_functions": self.customer_functions,
            "supplier_functions": self.supplier_functions,
            "links": self.links,
            "coverage_ratio": super::dec_str(self.coverage_ratio),
            "key_stakeholders": self.key_stakeholders,
            "executive_link": self.executive_link,
            "objectives_agreed": self.objectives_agreed,
            "objectives_open_or_achieved": self.objectives_open_or_achieved,
            "objectives_achieved": self.objectives_achieved,
            "plan": self.plan,
            "revenue_recorded": self.revenue_recorded,
            "last_interaction": self.last_interaction.map(time_str),
            "once_cooperative": self.once_cooperative,
        })
    }
}

/// Gathers the evidence at `t`.
pub fn evidence(
    state: &AccountState,
    t: DateTime<Utc>,
    once_cooperative: bool,
    policy: &Policy,
) -> Evidence {
    let links = links(state, t, policy);
    let cov = super::coverage::coverage_from_links(state, &links, t, policy);
    evidence_from(state, t, once_cooperative, &links, &cov)
}

/// The evidence from links and coverage already computed at `t`.
pub fn evidence_from(
    state: &AccountState,
    t: DateTime<Utc>,
    once_cooperative: bool,
    links: &std::collections::BTreeMap<String, BTreeSet<String>>,
    cov: &super::coverage::Coverage,
) -> Evidence {
    let mut customer_functions = BTreeSet::new();
    let mut supplier_functions = BTreeSet::new();
    let mut executive_link = false;
    let mut n_links = 0;
    for (m, ss) in links {
        let member = &state.members[m];
        supplier_functions.insert(member.function.as_str());
        let exec_member = member.team_role == "exec_sponsor" || member.function == "executive";
        for s in ss {
            n_links += 1;
            let st = &state.stakeholders[s];
            customer_functions.insert(st.function.as_str());
            if exec_member && st.level == "executive" {
                executive_link = true;
            }
        }
    }
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
    let last_interaction = state
        .interactions
        .iter()
        .map(|i| i.occurred_at)
        .filter(|at| *at <= t)
        .max();
    Evidence {
        customer_functions: customer_functions.len(),
        supplier_functions: supplier_functions.len(),
        links: n_links,
        coverage_ratio: cov.coverage_ratio,
        key_stakeholders: cov.key_stakeholders.len(),
        executive_link,
        objectives_agreed,
        objectives_open_or_achieved,
        objectives_achieved,
        plan: !state.plans.is_empty(),
        revenue_recorded: state.revenue_events > 0,
        last_interaction,
        once_cooperative,
    }
}

fn percent(p: i64) -> Decimal {
    Decimal::new(p, 2)
}

/// Rules 2–6 of SPEC 4.2 (everything but `disintegrating`).
pub fn developing_stage(e: &Evidence, policy: &Policy) -> &'static str {
    if !e.revenue_recorded && e.objectives_agreed == 0 {
        return "exploratory";
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
        return "integrated";
    }
    if interdependent {
        return "interdependent";
    }
    if e.customer_functions >= 2 && e.supplier_functions >= 2 {
        return "cooperative";
    }
    "basic"
}

/// The whole rule list: `disintegrating` when the account was once cooperative or higher and
/// now has no interaction in the disintegration window, or too little coverage.
pub fn infer(e: &Evidence, t: DateTime<Utc>, policy: &Policy) -> &'static str {
    if e.once_cooperative {
        let silent = e
            .last_interaction
            .is_none_or(|last| last < t - super::days(policy.disintegration_days));
        let thin = e.key_stakeholders > 0
            && e.coverage_ratio < percent(policy.disintegrating_coverage_percent);
        if silent || thin {
            return "disintegrating";
        }
    }
    developing_stage(e, policy)
}

/// SPEC 4.2 divergence between a declared and an inferred stage.
pub fn divergence(declared: Option<&str>, inferred: &str) -> bool {
    let Some(declared) = declared else {
        return false;
    };
    if inferred == "disintegrating" {
        return declared != "disintegrating";
    }
    match (rank(declared), rank(inferred)) {
        (Some(d), Some(i)) => d > i + 1,
        _ => false,
    }
}

/// One change of declared or inferred stage, in business time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StageChange {
    /// `declared` or `inferred`.
    pub source: String,
    pub stage: String,
    pub cause: super::walk::Cause,
    pub instant: DateTime<Utc>,
}

impl StageChange {
    pub fn to_json(&self) -> Value {
        match self.cause {
            super::walk::Cause::Event(p) => {
                json!({"source": self.source, "stage": self.stage, "position": p})
            }
            super::walk::Cause::Time => {
                json!({"source": self.source, "stage": self.stage, "at": time_str(self.instant)})
            }
        }
    }
}

/// Watches the walk: remembers whether the account was ever inferred cooperative or higher
/// (at an event instant, by rules 2–6), and records every change of stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StageTracker {
    pub once_cooperative: bool,
    pub declared: Option<(String, u64)>,
    pub inferred: Option<String>,
    pub history: Vec<StageChange>,
}

impl super::walk::Observer for StageTracker {
    fn observe(&mut self, step: &super::walk::Step, policy: &Policy) {
        use super::walk::Cause;
        let state = step.state;
        update_once_cooperative(&mut self.once_cooperative, step, policy);
        let declared = state
            .assessments
            .last()
            .map(|a| (a.stage.clone(), a.position));
        if let Some((stage, position)) = &declared {
            if self.declared.as_ref().map(|d| &d.0) != Some(stage) {
                self.history.push(StageChange {
                    source: "declared".into(),
                    stage: stage.clone(),
                    cause: Cause::Event(*position),
                    instant: step.instant,
                });
            }
        }
        self.declared = declared;
        let e = step.evidence(self.once_cooperative, policy);
        let inferred = infer(&e, step.instant, policy);
        if self.inferred.as_deref() != Some(inferred) {
            self.history.push(StageChange {
                source: "inferred".into(),
                stage: inferred.to_string(),
                cause: step.cause,
                instant: step.instant,
            });
            self.inferred = Some(inferred.to_string());
        }
    }
}

/// Rule 1's memory: at an event instant, whether rules 2–6 give cooperative or higher.
pub fn update_once_cooperative(flag: &mut bool, step: &super::walk::Step, policy: &Policy) {
    if *flag {
        return;
    }
    if let super::walk::Cause::Event(_) = step.cause {
        let e = step.evidence(false, policy);
        if rank(developing_stage(&e, policy)) >= rank("cooperative") {
            *flag = true;
        }
    }
}
