//! `kamlog alerts [A]`: open alerts (or, with `--history`, every transition in business time).

use super::Out;
use crate::alert::{AlertList, AlertsDoc};
use crate::error::Error;
use crate::query::Query;
use crate::view::Selection;
use serde_json::Value;

/// An alert's detail in words.
fn detail(d: &Value) -> String {
    match d {
        Value::Object(m) if m.is_empty() => "-".into(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => "none".into(),
                    Value::Array(a) => a
                        .iter()
                        .map(|x| {
                            x.as_str()
                                .map(String::from)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                format!("{} {v}", k.replace('_', " "))
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
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
pub fn human(doc: &AlertsDoc) -> String {
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
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|a| {
                    vec![
                        a.account_id.clone(),
                        a.kind.to_string(),
                        a.subject.clone(),
                        when(a.raised_at, a.raised_position),
                        detail(&a.detail),
                    ]
                })
                .collect();
            out += &super::view::table(&["account", "kind", "subject", "raised", "detail"], &rows);
        }
        AlertList::History(list) => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|a| {
                    vec![
                        a.account_id.clone(),
                        a.kind.to_string(),
                        a.subject.clone(),
                        a.state.clone(),
                        when(a.at, a.position),
                        detail(&a.detail),
                    ]
                })
                .collect();
            out += &super::view::table(
                &["account", "kind", "subject", "state", "when", "detail"],
                &rows,
            );
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
        outw!(out, "{}", human(&doc));
    }
    Ok(0)
}
