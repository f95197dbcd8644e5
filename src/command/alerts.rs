//! `kamlog alerts [A]`: open alerts (or, with `--history`, every transition in business time).

use super::names::Names;
use super::Out;
use crate::alert::{AlertList, AlertsDoc};
use crate::error::Error;
use crate::query::Query;
use crate::view::Selection;
use serde_json::Value;

/// An alert's detail in words, without the subject's name (shown beside its id): times for
/// people, lists with commas.
pub fn detail(d: &Value, names: &Names) -> String {
    // An id with the person's name beside it, when known (members and stakeholders may share
    // an id, so each field says which it names).
    let named = |field: &str, x: &str| {
        if field == "sole_links" {
            names.stakeholder(x)
        } else {
            names.member(x)
        }
    };
    match d {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "name")
            .map(|(k, v)| {
                let person = matches!(k.as_str(), "covered_by" | "successor" | "sole_links");
                let v = match v {
                    Value::String(s) if person => named(k, s),
                    Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                        Ok(t) => super::human_time(t.with_timezone(&chrono::Utc)),
                        Err(_) => s.clone(),
                    },
                    Value::Null => "none".into(),
                    Value::Array(a) if a.is_empty() => "none".into(),
                    Value::Array(a) => a
                        .iter()
                        .map(|x| match x.as_str() {
                            Some(s) if person => named(k, s),
                            Some(s) => s.to_string(),
                            None => x.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                format!("{} {v}", k.replace('_', " "))
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// The subject with its name beside it, when the detail names it.
pub fn subject(id: &str, d: &Value) -> String {
    match d.get("name").and_then(Value::as_str) {
        Some(name) => format!("{id} ({name})"),
        None => id.to_string(),
    }
}

fn when(at: chrono::DateTime<chrono::Utc>, position: Option<u64>) -> String {
    let date = at.format("%Y-%m-%d %H:%M").to_string();
    match position {
        Some(p) => format!("{date} (position {p})"),
        None => date,
    }
}

/// The alerts document as text for people.
pub fn human(doc: &AlertsDoc, names: &std::collections::HashMap<String, Names>) -> String {
    let none = Names::default();
    let people = |account: &str| names.get(account).unwrap_or(&none);
    let mut out = match &doc.alerts {
        AlertList::Open(_) => format!("open alerts as of {}", super::human_time(doc.as_of)),
        AlertList::History(_) => {
            format!("alert transitions as of {}", super::human_time(doc.as_of))
        }
    };
    if let Some(k) = doc.known_at {
        out += &format!(", known at {}", super::human_time(k));
    }
    out += "\n";
    match &doc.alerts {
        AlertList::Open(list) => {
            // People read the most severe first (the JSON keeps SPEC 8's order by id).
            let mut list: Vec<&crate::alert::Alert> = list.iter().collect();
            list.sort_by_key(|a| std::cmp::Reverse(a.severity));
            let rows = list
                .iter()
                .map(|a| {
                    (
                        vec![
                            a.account_id.clone(),
                            a.kind.to_string(),
                            a.severity.name().to_string(),
                            subject(&a.subject, &a.detail),
                            when(a.raised_at, a.raised_position),
                        ],
                        vec![detail(&a.detail, people(&a.account_id))],
                    )
                })
                .collect();
            out += &super::table::with_details(
                &["account", "kind", "severity", "subject", "raised"],
                rows,
            );
        }
        AlertList::History(list) => {
            let rows = list
                .iter()
                .map(|a| {
                    (
                        vec![
                            a.account_id.clone(),
                            a.kind.to_string(),
                            subject(&a.subject, &a.detail),
                            a.state.clone(),
                            when(a.at, a.position),
                        ],
                        vec![format!(
                            "severity {}; {}",
                            a.severity.name(),
                            detail(&a.detail, people(&a.account_id))
                        )
                        .trim_end_matches("; ")
                        .to_string()],
                    )
                })
                .collect();
            out +=
                &super::table::with_details(&["account", "kind", "subject", "state", "when"], rows);
        }
    }
    out
}

pub fn run(
    q: &Query,
    account: Option<&str>,
    sel: Selection,
    history: bool,
    json: bool,
    out: &mut Out,
) -> Result<i32, Error> {
    let doc = q.alerts(account, &sel, history)?;
    if json {
        outln!(
            out,
            "{}",
            serde_json::to_value(&doc).expect("alerts serialize")
        );
    } else {
        // People read names beside ids: each account's members and stakeholders.
        let mut names = std::collections::HashMap::new();
        let accounts: std::collections::BTreeSet<&str> = match &doc.alerts {
            AlertList::Open(l) => l.iter().map(|a| a.account_id.as_str()).collect(),
            AlertList::History(l) => l.iter().map(|a| a.account_id.as_str()).collect(),
        };
        for a in accounts {
            let w = q.walked(a, &sel)?;
            names.insert(a.to_string(), Names::of(&w.state));
        }
        outw!(out, "{}", human(&doc, &names));
    }
    Ok(0)
}
