//! The alert history (SPEC 5): each alert raised when its condition becomes true and resolved
//! when it becomes false, with the business instant and the causing event's position.

use super::stage::update_once_cooperative;
use super::step::{Cause, Observer, Step};
use crate::alert::{held_at, severity, Alert, Detail, Kind, Transition};
use crate::model::AccountState;
use crate::view::Policy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An open alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAlert {
    pub cause: Cause,
    #[serde(serialize_with = "crate::event::instant::serialize")]
    pub instant: DateTime<Utc>,
    pub detail: Detail,
}

/// Watches the walk and keeps the open alerts and every transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTracker {
    pub account_id: String,
    pub once_cooperative: bool,
    /// (kind, subject) → the open alert.
    #[serde(with = "entries")]
    pub open: BTreeMap<(Kind, String), OpenAlert>,
    pub transitions: Vec<Transition>,
}

/// A map with tuple keys, written as a list of entries (JSON objects need string keys).
mod entries {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<(Kind, String), OpenAlert>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(Kind, String), OpenAlert>, D::Error> {
        let v: Vec<((Kind, String), OpenAlert)> = Vec::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
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

    /// The open alerts, sorted by kind and subject, with their severity in `state` at `at`
    /// (the state the walk reached at the as-of time).
    pub fn open_alerts(
        &self,
        state: &AccountState,
        at: DateTime<Utc>,
        policy: &Policy,
    ) -> Vec<Alert> {
        self.open
            .iter()
            .map(|((kind, subject), a)| Alert {
                account_id: self.account_id.clone(),
                kind: *kind,
                subject: subject.clone(),
                severity: severity(*kind, subject, state, at, policy),
                raised_at: a.instant,
                raised_position: a.cause.position(),
                detail: a.detail.to_json(),
            })
            .collect()
    }

    fn transition(
        &mut self,
        kind: Kind,
        subject: &str,
        state: &str,
        step: &Step,
        detail: &Detail,
        policy: &Policy,
    ) {
        self.transitions.push(Transition {
            account_id: self.account_id.clone(),
            kind,
            subject: subject.to_string(),
            severity: severity(kind, subject, step.frame.state, step.frame.instant, policy),
            state: state.into(),
            at: step.frame.instant,
            position: step.cause.position(),
            detail: detail.to_json(),
        });
    }
}

impl Observer for AlertTracker {
    fn observe(&mut self, step: &Step, policy: &Policy) {
        update_once_cooperative(&mut self.once_cooperative, step, policy);
        // Both sorted by (kind, subject): one pass pairs what holds now with what is open.
        let now = held_at(&step.frame, self.once_cooperative, policy);
        let mut now = now.into_iter().peekable();
        let (mut closed, mut raised) = (Vec::new(), Vec::new());
        for ((kind, subject), open) in self.open.iter_mut() {
            let key = (*kind, subject.as_str());
            while let Some(h) = now.next_if(|h| (h.kind, h.subject) < key) {
                raised.push(h);
            }
            match now.next_if(|h| (h.kind, h.subject) == key) {
                Some(h) => {
                    if !h.detail.same_as(&open.detail) {
                        open.detail = h.detail.to_detail();
                    }
                }
                None => closed.push((*kind, subject.clone())),
            }
        }
        raised.extend(now);
        for k in closed {
            let a = self.open.remove(&k).expect("listed");
            self.transition(k.0, &k.1, "resolved", step, &a.detail, policy);
        }
        for h in raised {
            let detail = h.detail.to_detail();
            self.transition(h.kind, h.subject, "raised", step, &detail, policy);
            self.open.insert(
                (h.kind, h.subject.to_string()),
                OpenAlert {
                    cause: step.cause,
                    instant: step.frame.instant,
                    detail,
                },
            );
        }
    }
}
