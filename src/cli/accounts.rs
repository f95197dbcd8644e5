//! `kamlog accounts`: every account with its version, stage, quadrant and open alerts.

use crate::error::Error;
use crate::snapshot;
use crate::store::Store;
use crate::view::account::ViewKind;
use crate::view::{Policy, Selection};
use serde_json::json;

pub fn run(store: &Store, policy: &Policy, json: bool) -> Result<i32, Error> {
    let sel = Selection::as_of(chrono::Utc::now());
    let mut list = Vec::new();
    for head in store.heads()? {
        let a = &head.account_id;
        let stage = snapshot::view(store, a, ViewKind::Stage, &sel, policy)?;
        let class = snapshot::view(store, a, ViewKind::Classification, &sel, policy)?;
        let open = super::alerts::tracker(store, a, &sel, policy)?.open.len();
        let name = snapshot::load_state(store, a)?.and_then(|s| s.name);
        list.push(json!({"account_id": a, "name": name, "version": head.version,
            "stage": stage["inferred"]["stage"], "quadrant": class["quadrant"], "open_alerts": open}));
    }
    if json {
        println!("{}", json!({"accounts": list}));
    } else {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|a| {
                vec![
                    a["account_id"].as_str().unwrap_or("").into(),
                    a["name"].as_str().unwrap_or("-").into(),
                    a["version"].to_string(),
                    a["stage"].as_str().unwrap_or("-").into(),
                    a["quadrant"].as_str().unwrap_or("-").into(),
                    a["open_alerts"].to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            super::view::table(
                &[
                    "account",
                    "name",
                    "version",
                    "stage (inferred)",
                    "quadrant",
                    "open alerts"
                ],
                &rows
            )
        );
    }
    Ok(0)
}
