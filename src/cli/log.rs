//! `kamlog log A`: the audit timeline of one account (SPEC 4.5), each event with what it
//! changed in the views, filterable by type, member, stakeholder and time.

use crate::error::Error;
use crate::event::StoredEvent;
use crate::store::Store;
use crate::view::timeline::timeline;
use crate::view::{time_str, Policy};
use serde_json::json;

/// The filters of `kamlog log`.
pub struct Filter {
    pub type_name: Option<String>,
    pub member: Option<String>,
    pub stakeholder: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// Whether an event's data names an id in one of the given fields.
fn names(e: &StoredEvent, fields: &[&str], id: &str) -> bool {
    let data = e.data.data_json();
    fields.iter().any(|f| match &data[*f] {
        serde_json::Value::String(s) => s == id,
        serde_json::Value::Array(a) => a.iter().any(|x| x == id),
        _ => false,
    })
}

pub fn run(
    store: &Store,
    account: &str,
    f: &Filter,
    policy: &Policy,
    json: bool,
) -> Result<i32, Error> {
    super::view::require_account(store, account)?;
    if let Some(t) = &f.type_name {
        if crate::event::catalog::event_type(t).is_none() {
            return Err(Error::Usage(format!("--type {t}: unknown event type")));
        }
    }
    let since = f
        .since
        .as_deref()
        .map(|s| super::parse_time_arg("--since", s))
        .transpose()?;
    let until = f
        .until
        .as_deref()
        .map(|s| super::parse_time_arg("--until", s))
        .transpose()?;
    let events = store.account_events(account)?;
    let entries = timeline(account, &events, policy);
    let shown: Vec<_> = entries
        .into_iter()
        .filter(|x| {
            let e = x.event;
            f.type_name.as_deref().is_none_or(|t| t == e.type_name())
                && since.is_none_or(|s| e.occurred_at >= s)
                && until.is_none_or(|u| e.occurred_at <= u)
                && f.member.as_deref().is_none_or(|m| {
                    names(
                        e,
                        &[
                            "member_id",
                            "successor_id",
                            "supplier_owner",
                            "supplier_participants",
                        ],
                        m,
                    )
                })
                && f.stakeholder.as_deref().is_none_or(|s| {
                    names(
                        e,
                        &["stakeholder_id", "customer_participants", "agreed_by"],
                        s,
                    )
                })
        })
        .collect();
    if json {
        let list: Vec<_> = shown
            .iter()
            .map(|x| {
                let e = x.event;
                json!({
                    "version": e.version, "position": e.position, "event_id": e.event_id,
                    "type": e.type_name(), "occurred_at": time_str(e.occurred_at),
                    "recorded_at": e.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "actor": e.actor, "data": e.data.data_json(), "retracted_by": x.retracted_by,
                    "changes": x.changes,
                })
            })
            .collect();
        println!("{}", json!({"account_id": account, "events": list}));
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|x| {
            let e = x.event;
            let mut changes = x.changes.join("; ");
            if let Some(by) = &x.retracted_by {
                changes = format!("[retracted by {by}] {changes}");
            }
            vec![
                e.version.to_string(),
                e.position.to_string(),
                e.occurred_at.format("%Y-%m-%d %H:%M").to_string(),
                e.type_name().to_string(),
                changes,
            ]
        })
        .collect();
    print!(
        "{}",
        super::view::table(&["ver", "pos", "occurred", "type", "changed"], &rows)
    );
    Ok(0)
}
