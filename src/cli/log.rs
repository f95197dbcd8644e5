//! `kamlog log A`: the audit timeline of one account.

use crate::error::Error;
use crate::store::Store;

pub fn run(
    store: &Store,
    account: &str,
    type_name: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    json: bool,
) -> Result<i32, Error> {
    if store.head(account)?.is_none() {
        return Err(Error::Rejected {
            at: Default::default(),
            reason: format!("no account {account} in the store"),
        });
    }
    if let Some(t) = type_name {
        if crate::event::catalog::event_type(t).is_none() {
            return Err(Error::Usage(format!("--type {t}: unknown event type")));
        }
    }
    let since = since
        .map(|s| super::parse_time_arg("--since", s))
        .transpose()?;
    let until = until
        .map(|s| super::parse_time_arg("--until", s))
        .transpose()?;
    let events = store.account_events(account)?;
    let mut rows = Vec::new();
    for e in &events {
        if type_name.is_some_and(|t| t != e.type_name())
            || since.is_some_and(|s| e.occurred_at < s)
            || until.is_some_and(|u| e.occurred_at > u)
        {
            continue;
        }
        rows.push(e);
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|e| serde_json::json!({
                "version": e.version, "position": e.position, "event_id": e.event_id,
                "type": e.type_name(), "occurred_at": e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                "recorded_at": e.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "data": e.data.data_json(),
            }))
            .collect();
        println!(
            "{}",
            serde_json::json!({"account_id": account, "events": list})
        );
    } else {
        println!(
            "{:>5}  {:>8}  {:<20}  {:<24}  event",
            "ver", "position", "occurred_at", "type"
        );
        for e in rows {
            println!(
                "{:>5}  {:>8}  {:<20}  {:<24}  {}",
                e.version,
                e.position,
                e.occurred_at.format("%Y-%m-%dT%H:%M:%SZ"),
                e.type_name(),
                e.event_id
            );
        }
    }
    Ok(0)
}
