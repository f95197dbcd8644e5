//! `kamlog log A`: the audit timeline of one account (SPEC 4.5), each event with what it
//! changed in the views and each time-driven change at its instant, filterable by type,
//! member, stakeholder and business time.

use super::Out;
use crate::error::Error;
use crate::query::timeline::{Filter, LogDoc};
use crate::query::Query;
use crate::view::Selection;

/// The timeline as text for people: one row per entry, what the event said and what it
/// changed on the lines below it.
pub fn human(doc: &LogDoc) -> String {
    let rows = doc
        .entries
        .iter()
        .map(|x| {
            let mut changes = x.changes.join("; ");
            let (ver, pos, what, summary) = match &x.event {
                Some(e) => {
                    if let Some(by) = &e.retracted_by {
                        changes = format!("[retracted by {by}] {changes}");
                    }
                    let ty = if e.late {
                        format!("{} (late)", e.type_name)
                    } else {
                        e.type_name.to_string()
                    };
                    (
                        e.version.to_string(),
                        x.position.map(|p| p.to_string()).unwrap_or_default(),
                        ty,
                        e.summary.clone(),
                    )
                }
                None => ("".into(), "".into(), "(time)".into(), String::new()),
            };
            let changed = if changes.trim().is_empty() {
                String::new()
            } else {
                format!("changed: {}", changes.trim())
            };
            (
                vec![x.at.format("%Y-%m-%d %H:%M").to_string(), ver, pos, what],
                vec![summary, changed],
            )
        })
        .collect();
    super::table::with_details(&["occurred", "ver", "pos", "type"], rows)
}

/// Refuses a `--type` filter that names no event type.
pub fn check_type(t: &str) -> Result<(), Error> {
    match crate::event::catalog::event_type(t) {
        Some(_) => Ok(()),
        None => Err(Error::Usage(format!("--type {t}: unknown event type"))),
    }
}

pub fn run(
    q: &Query,
    account: &str,
    sel: Selection,
    f: &Filter,
    json: bool,
    out: &mut Out,
) -> Result<i32, Error> {
    if let Some(t) = &f.type_name {
        check_type(t)?;
    }
    let doc = q.log(account, &sel, f)?;
    if json {
        outln!(
            out,
            "{}",
            serde_json::to_value(&doc).expect("log serializes")
        );
    } else {
        outw!(out, "{}", human(&doc));
    }
    Ok(0)
}
