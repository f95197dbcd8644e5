//! The audit timeline as an answer (SPEC 4.5): the walk's entries, filtered by type, member,
//! stakeholder and business time, each with its event's envelope fields and a one-line summary.

use super::{EventsOnce, Query};
use crate::error::Result;
use crate::event::StoredEvent;
use crate::history::checkpoint::Checkpoint;
use crate::history::timeline::{timeline, timeline_since};
use crate::view::{fmt, Selection};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// The filters of `kamlog log`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub type_name: Option<String>,
    pub member: Option<String>,
    pub stakeholder: Option<String>,
    /// Business time, inclusive.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One entry: an event with what it changed, or a change driven by time alone (no event
/// fields, `position` null).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LogEntry {
    #[serde(serialize_with = "fmt::time")]
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    pub position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventFields>,
    pub changes: Vec<String>,
}

/// The event part of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct EventFields {
    pub version: u64,
    pub event_id: String,
    #[serde(rename = "type")]
    pub type_name: &'static str,
    #[serde(serialize_with = "fmt::time")]
    #[schemars(with = "String")]
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: String,
    pub actor: Option<String>,
    pub summary: String,
    pub data: Value,
    pub late: bool,
    pub retracted_by: Option<String>,
}

/// `kamlog log A --json`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LogDoc {
    pub account_id: String,
    #[serde(serialize_with = "fmt::time")]
    #[schemars(with = "String")]
    pub as_of: DateTime<Utc>,
    #[serde(serialize_with = "fmt::opt_time")]
    #[schemars(with = "Option<String>")]
    pub known_at: Option<DateTime<Utc>>,
    pub entries: Vec<LogEntry>,
}

/// Whether an event's data names an id in one of the given fields.
fn names(data: &Value, fields: &[&str], id: &str) -> bool {
    fields.iter().any(|f| match &data[*f] {
        Value::String(s) => s == id,
        Value::Array(a) => a.iter().any(|x| x == id),
        _ => false,
    })
}

const MEMBER_FIELDS: &[&str] = &[
    "member_id",
    "successor_id",
    "supplier_owner",
    "supplier_participants",
];
const STAKEHOLDER_FIELDS: &[&str] = &["stakeholder_id", "customer_participants", "agreed_by"];

/// Whether a change text names an id (as a whole word).
fn mentions(changes: &[String], id: &str) -> bool {
    changes.iter().any(|c| {
        c.split(|ch: char| ch.is_whitespace() || ch == ',')
            .any(|w| w == id)
    })
}

/// A one-line summary of an event's content: who met whom, on what; which amount; which role.
pub fn summary(e: &StoredEvent) -> String {
    summary_of(e.type_name(), e.data.data_json())
}

/// The summary of an event of `type_name` whose `data` is `d` (revealed or not).
pub fn summary_of(type_name: &str, d: Value) -> String {
    let list = |v: &Value| -> String {
        match v {
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    };
    if type_name == "interaction_logged" {
        let mut s = format!(
            "{}: {} with {}",
            list(&d["channel"]),
            list(&d["supplier_participants"]),
            list(&d["customer_participants"])
        );
        if let Some(t) = d["topic"].as_str() {
            s += &format!(", on {t}");
        }
        return s;
    }
    let Value::Object(m) = d else {
        return String::new();
    };
    m.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "summary" | "description" | "note" | "evidence"))
        .map(|(k, v)| {
            let mut v = list(v);
            if v.chars().count() > 60 {
                v = v.chars().take(57).collect::<String>() + "…";
            }
            format!("{k} {v}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Query<'_> {
    /// The audit timeline of an account at a selection, filtered.
    pub fn log(&self, account: &str, sel: &Selection, f: &Filter) -> Result<LogDoc> {
        self.log_reading(account, sel, f, &EventsOnce::default())
    }

    /// [`Query::log`], reading the account's events through `events` (see
    /// [`Query::walked_reading`]).
    pub fn log_reading(
        &self,
        account: &str,
        sel: &Selection,
        f: &Filter,
        events: &EventsOnce,
    ) -> Result<LogDoc> {
        let head = self.require_account(account)?;
        let events = events.get(self.store, account)?;
        let selected = crate::view::select(events, sel);
        let entries = match f.since {
            // From the latest checkpoint before `since`: the entries before it are not asked.
            Some(since) => {
                self.current(account, &head)?;
                let from = self
                    .cache
                    .latest(account, since - chrono::Duration::nanoseconds(1), |c| {
                        c.serves(sel)
                    })?
                    .unwrap_or_else(|| Checkpoint::start(account, self.policy));
                timeline_since(from, account, &selected, since, sel.as_of, self.policy)
            }
            None => timeline(account, &selected, sel.as_of, self.policy),
        };
        let vault = self.vault_of(account)?;
        let mut out = Vec::new();
        for x in entries {
            if f.since.is_some_and(|s| x.at < s) || f.until.is_some_and(|u| x.at > u) {
                continue;
            }
            let keep = match x.event {
                None => {
                    f.type_name.is_none()
                        && f.member.as_deref().is_none_or(|m| mentions(&x.changes, m))
                        && f.stakeholder
                            .as_deref()
                            .is_none_or(|s| mentions(&x.changes, s))
                }
                Some(e) => {
                    let data = e.data.data_json();
                    f.type_name.as_deref().is_none_or(|t| t == e.type_name())
                        && f.member
                            .as_deref()
                            .is_none_or(|m| names(&data, MEMBER_FIELDS, m))
                        && f.stakeholder
                            .as_deref()
                            .is_none_or(|s| names(&data, STAKEHOLDER_FIELDS, s))
                }
            };
            if !keep {
                continue;
            }
            // Personal values from the vault; an erased one is null (SPEC 10).
            let data = x.event.map(|e| {
                let mut d = e.data.data_json();
                if let Some(v) = &vault {
                    crate::personal::reveal::json(&mut d, v);
                }
                d
            });
            out.push(LogEntry {
                at: x.at,
                position: x.event.map(|e| e.position),
                event: x.event.zip(data).map(|(e, data)| EventFields {
                    version: e.version,
                    event_id: e.event_id.clone(),
                    type_name: e.type_name(),
                    occurred_at: e.occurred_at,
                    recorded_at: e
                        .recorded_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    actor: e.actor.clone(),
                    summary: match &vault {
                        Some(v) => {
                            let mut d = e.data.data_json();
                            let erased = Value::String(crate::personal::reveal::ERASED.into());
                            crate::personal::reveal::json_or(&mut d, v, &erased);
                            summary_of(e.type_name(), d)
                        }
                        None => summary(e),
                    },
                    data,
                    late: x.late,
                    retracted_by: x.retracted_by.clone(),
                }),
                changes: x.changes,
            });
        }
        Ok(LogDoc {
            account_id: account.to_string(),
            as_of: sel.as_of,
            known_at: sel.known_at,
            entries: out,
        })
    }
}
