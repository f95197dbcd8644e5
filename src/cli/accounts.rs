//! `kamlog accounts`: every account with its version, stage, quadrant and open alerts.

use crate::error::Error;
use crate::store::Store;
use crate::view::stage::{evidence, infer};
use crate::view::{Policy, Selection};
use serde_json::json;

pub fn run(store: &Store, policy: &Policy, json: bool) -> Result<i32, Error> {
    let sel = Selection::as_of(chrono::Utc::now());
    let mut list = Vec::new();
    for head in store.heads()? {
        let a = &head.account_id;
        let snap = crate::snapshot::current(store, a, policy)?;
        let (stage, quadrant, open) = match &snap {
            Some(s) if s.serves(&sel) => {
                let (st, al) = s.advanced_to(sel.as_of);
                let e = evidence(&s.state, sel.as_of, st.once_cooperative, policy);
                let q = s.state.classifications.last().map(|c| {
                    crate::view::classification::quadrant(c.attractiveness, c.business_strength)
                });
                (infer(&e, sel.as_of, policy).to_string(), q, al.open.len())
            }
            _ => {
                let events = store.account_events(a)?;
                let c = crate::view::account::compute(a, &events, &sel, policy);
                let e = evidence(&c.state, sel.as_of, c.stage.once_cooperative, policy);
                let q = c.state.classifications.last().map(|c| {
                    crate::view::classification::quadrant(c.attractiveness, c.business_strength)
                });
                let al = super::alerts::tracker_from_events(a, &events, &sel, policy);
                (infer(&e, sel.as_of, policy).to_string(), q, al.open.len())
            }
        };
        let name = snap.as_ref().and_then(|s| s.state.name.clone());
        list.push(
            json!({"account_id": a, "name": name, "version": head.version, "stage": stage,
            "quadrant": quadrant, "open_alerts": open}),
        );
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
