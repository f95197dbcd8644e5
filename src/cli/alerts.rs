//! `kamlog alerts [A]`: open alerts (or, with `--history`, every transition in business time).

use crate::alert::AlertTracker;
use crate::error::Error;
use crate::store::Store;
use crate::view::walk::{walk, Observer};
use crate::view::{select, time_str, Policy, Selection};
use serde_json::{json, Value};

/// The alert tracker of one account at a selection (from the snapshot when it serves).
pub fn tracker(
    store: &Store,
    account: &str,
    sel: &Selection,
    policy: &Policy,
) -> Result<AlertTracker, Error> {
    if let Some(t) = crate::snapshot::alerts(store, account, sel, policy)? {
        return Ok(t);
    }
    let events = store.account_events(account)?;
    Ok(tracker_from_events(account, &events, sel, policy))
}

/// The alert tracker computed from events alone.
pub fn tracker_from_events(
    account: &str,
    events: &[crate::event::StoredEvent],
    sel: &Selection,
    policy: &Policy,
) -> AlertTracker {
    let selected = select(events, sel);
    let mut t = AlertTracker::new(account);
    {
        let mut observers: [&mut dyn Observer; 1] = [&mut t];
        walk(account, &selected, sel.as_of, policy, &mut observers);
    }
    t
}

/// The `alerts --json` document for some trackers.
pub fn document(trackers: &[AlertTracker], sel: &Selection, history: bool) -> Value {
    let mut list = Vec::new();
    for t in trackers {
        if history {
            list.extend(t.transitions.iter().map(|x| x.to_json()));
        } else {
            list.extend(t.open_json());
        }
    }
    json!({"as_of": time_str(sel.as_of), "alerts": list})
}

pub fn run(
    store: &Store,
    account: Option<&str>,
    sel: Selection,
    history: bool,
    policy: &Policy,
    json: bool,
) -> Result<i32, Error> {
    let accounts: Vec<String> = match account {
        Some(a) => {
            super::view::require_account(store, a)?;
            vec![a.to_string()]
        }
        None => store.heads()?.into_iter().map(|h| h.account_id).collect(),
    };
    let mut trackers = Vec::new();
    for a in &accounts {
        trackers.push(tracker(store, a, &sel, policy)?);
    }
    let doc = document(&trackers, &sel, history);
    if json {
        println!("{doc}");
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = doc["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let when = a
                .get("raised_position")
                .or(a.get("position"))
                .map(|p| format!("position {p}"))
                .or_else(|| {
                    a.get("raised_at")
                        .or(a.get("at"))
                        .and_then(Value::as_str)
                        .map(|t| format!("at {t}"))
                })
                .unwrap_or_default();
            let mut row = vec![
                a["account_id"].as_str().unwrap_or("").to_string(),
                a["kind"].as_str().unwrap_or("").to_string(),
                a["subject"].as_str().unwrap_or("").to_string(),
            ];
            if history {
                row.push(a["state"].as_str().unwrap_or("").to_string());
            }
            row.push(when);
            row.push(a["detail"].to_string());
            row
        })
        .collect();
    println!(
        "{} as of {}",
        if history {
            "alert transitions"
        } else {
            "open alerts"
        },
        time_str(sel.as_of)
    );
    let headers: &[&str] = if history {
        &["account", "kind", "subject", "state", "when", "detail"]
    } else {
        &["account", "kind", "subject", "raised", "detail"]
    };
    print!("{}", super::view::table(headers, &rows));
    Ok(0)
}
