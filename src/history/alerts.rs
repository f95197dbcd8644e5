//! The alert history (SPEC 5): each alert raised when its condition becomes true and resolved
//! when it becomes false, with the business instant and the causing event's position.

use super::stage::update_once_cooperative;
use super::step::{Cause, Observer, Step};
use crate::alert::{conditions_at, Alert, Transition};
use crate::view::Policy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

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
    /// "kind\u{0}subject" → the open alert (string keys keep the checkpoint plain JSON).
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

    /// The open alerts, sorted by kind and subject.
    pub fn open_alerts(&self) -> Vec<Alert> {
        self.open
            .iter()
            .map(|(k, a)| {
                let (kind, subject) = split(k);
                Alert {
                    account_id: self.account_id.clone(),
                    kind: kind.to_string(),
                    subject: subject.to_string(),
                    raised_at: a.instant,
                    raised_position: a.cause.position(),
                    detail: a.detail.clone(),
                }
            })
            .collect()
    }
}

impl Observer for AlertTracker {
    fn observe(&mut self, step: &Step, policy: &Policy) {
        update_once_cooperative(&mut self.once_cooperative, step, policy);
        let now = conditions_at(&step.frame, self.once_cooperative, policy);
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
                at: step.frame.instant,
                position: step.cause.position(),
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
                        at: step.frame.instant,
                        position: step.cause.position(),
                        detail: detail.clone(),
                    });
                    self.open.insert(
                        k,
                        OpenAlert {
                            cause: step.cause,
                            instant: step.frame.instant,
                            detail,
                        },
                    );
                }
            }
        }
    }
}
