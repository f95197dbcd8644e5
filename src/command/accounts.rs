//! `kamlog accounts`: every account with its version, stage, quadrant and open alerts.

use super::Out;
use crate::error::Error;
use crate::query::Query;
use crate::view::{Selection, View, ViewKind};
use serde_json::json;

pub fn run(q: &Query, json: bool, out: &mut Out) -> Result<i32, Error> {
    let sel = Selection::as_of(chrono::Utc::now());
    let mut list = Vec::new();
    for head in q.store_heads()? {
        let a = &head.account_id;
        let w = q.walked(a, &sel)?;
        let name = w.state.name.clone();
        let open = w.alerts.open.len();
        let (View::Stage(stage), View::Classification(class)) = (
            crate::query::render(ViewKind::Stage, &w, &sel, q.policy()),
            crate::query::render(ViewKind::Classification, &w, &sel, q.policy()),
        ) else {
            unreachable!("render gives the kind asked for")
        };
        list.push(
            json!({"account_id": a, "name": name, "version": head.version,
            "stage": stage.inferred.stage, "quadrant": class.quadrant, "open_alerts": open}),
        );
    }
    if json {
        outln!(out, "{}", json!({"accounts": list}));
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
        outw!(
            out,
            "{}",
            super::table::table(
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
