//! The stage history (SPEC 4.2 `history`): every change of the declared or the inferred stage
//! in business time, and the memory rule 1 needs (whether the account was ever inferred
//! cooperative or higher at an event instant).

use super::step::{Cause, Observer, Step};
use crate::view::stage::{infer, Stage, StageChange};
use crate::view::Policy;
use serde::{Deserialize, Serialize};

/// Updates rule 1's memory at a step: at an event instant, whether rules 2–6 give
/// cooperative or higher.
pub fn update_once_cooperative(flag: &mut bool, step: &Step, policy: &Policy) {
    if !*flag && matches!(step.cause, Cause::Event(_)) && step.frame.cooperative_or_higher(policy) {
        *flag = true;
    }
}

/// Watches the walk and records every change of stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTracker {
    pub once_cooperative: bool,
    pub declared: Option<(String, u64)>,
    pub inferred: Option<Stage>,
    pub history: Vec<StageChange>,
}

impl Observer for StageTracker {
    fn observe(&mut self, step: &Step, policy: &Policy) {
        let state = step.frame.state;
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
                    at: step.frame.instant,
                    position: Some(*position),
                });
            }
        }
        self.declared = declared;
        let e = step.frame.evidence(self.once_cooperative, policy);
        let inferred = infer(&e, step.frame.instant, policy);
        if self.inferred != Some(inferred) {
            self.history.push(StageChange {
                source: "inferred".into(),
                stage: inferred.to_string(),
                at: step.frame.instant,
                position: step.cause.position(),
            });
            self.inferred = Some(inferred);
        }
    }
}
