//! `kamlog accounts`: every account with its version, stage, quadrant and open alerts.

use super::Out;
use crate::error::Error;
use crate::query::Query;
use crate::view::{Selection, View, ViewKind};
use serde::Serialize;

/// `kamlog accounts --json` (SPEC 8).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AccountsDoc {
    pub accounts: Vec<AccountLine>,
}

/// One account of [`AccountsDoc`].
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AccountLine {
    pub account_id: String,
    pub name: Option<String>,
    pub version: u64,
    /// The inferred stage now.
    pub stage: crate::view::stage::Stage,
    pub quadrant: Option<&'static str>,
    pub open_alerts: usize,
}

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
        list.push(AccountLine {
            account_id: a.clone(),
            name,
            version: head.version,
            stage: stage.inferred.stage,
            quadrant: class.quadrant,
            open_alerts: open,
        });
    }
    if json {
        let doc = AccountsDoc { accounts: list };
        outln!(
            out,
            "{}",
            serde_json::to_string(&doc).expect("accounts serialize")
        );
    } else {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|a| {
                vec![
                    a.account_id.clone(),
                    a.name.clone().unwrap_or_else(|| "-".into()),
                    a.version.to_string(),
                    a.stage.name().to_string(),
                    a.quadrant.unwrap_or("-").into(),
                    a.open_alerts.to_string(),
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
