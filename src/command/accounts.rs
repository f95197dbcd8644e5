//! `kamlog accounts [--as-of T] [--known-at K]`: the portfolio (SPEC 4.9) — every account that
//! exists at that time with its tier, quadrant, stages, map status, coverage, open alerts by
//! severity and next renewal. `--json` lists them by account id; people read them ranked by
//! risk: most critical alerts first, then high, then renewing value.

use super::Out;
use crate::alert::Severity;
use crate::error::Error;
use crate::query::Query;
use crate::view::{dec_str, Selection, View, ViewKind};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::cmp::Reverse;

/// `kamlog accounts --json` (SPEC 8 v2).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AccountsDoc {
    #[serde(serialize_with = "crate::view::fmt::time")]
    #[schemars(with = "String")]
    pub as_of: DateTime<Utc>,
    #[serde(serialize_with = "crate::view::fmt::opt_time")]
    #[schemars(with = "Option<String>")]
    pub known_at: Option<DateTime<Utc>>,
    /// Sorted by account id.
    pub accounts: Vec<AccountLine>,
}

/// Open alerts counted by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BySeverity {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
}

/// The earliest renewal among the contracts not ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NextRenewal {
    pub contract_id: String,
    #[serde(serialize_with = "crate::view::fmt::date")]
    #[schemars(with = "String")]
    pub renewal_date: NaiveDate,
}

/// Renewing (or lapsed) annual value in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Amount {
    pub currency: String,
    #[serde(serialize_with = "crate::view::fmt::dec")]
    #[schemars(with = "String")]
    pub amount: Decimal,
}

/// One account of the portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AccountLine {
    pub account_id: String,
    pub name: Option<String>,
    /// The last selected version.
    pub version: u64,
    pub tier: Option<String>,
    pub quadrant: Option<&'static str>,
    /// The inferred stage.
    pub stage: crate::view::stage::Stage,
    pub declared_stage: Option<String>,
    pub map_status: &'static str,
    #[serde(serialize_with = "crate::view::fmt::dec")]
    #[schemars(with = "String")]
    pub coverage_ratio: Decimal,
    pub alerts: BySeverity,
    pub next_renewal: Option<NextRenewal>,
    /// Per currency, sorted.
    pub renewing_value: Vec<Amount>,
}

impl AccountsDoc {
    /// The accounts ranked for people (see [`AccountLine::risk_key`]).
    pub fn ranked(&self) -> Vec<&AccountLine> {
        let mut ranked: Vec<&AccountLine> = self.accounts.iter().collect();
        ranked.sort_by_key(|a| a.risk_key());
        ranked
    }
}

impl AccountLine {
    /// The ranking for people: most critical alerts first, then high, then renewing value
    /// (summed over currencies), then the account id.
    pub fn risk_key(&self) -> (Reverse<usize>, Reverse<usize>, Reverse<Decimal>, String) {
        (
            Reverse(self.alerts.critical),
            Reverse(self.alerts.high),
            Reverse(self.renewing_value.iter().map(|a| a.amount).sum()),
            self.account_id.clone(),
        )
    }
}

/// The portfolio at a selection.
pub fn portfolio(q: &Query, sel: &Selection) -> Result<AccountsDoc, Error> {
    Ok(scored(q, sel)?.0)
}

/// An account's attractiveness and business strength (SPEC 4.4), when it was classified.
pub type Scores = Option<(i64, i64)>;

/// The portfolio at a selection, with each account's scores beside its line (in the same
/// order), for the quadrant chart.
pub fn scored(q: &Query, sel: &Selection) -> Result<(AccountsDoc, Vec<Scores>), Error> {
    let policy = q.policy();
    let mut accounts = Vec::new();
    let mut scores = Vec::new();
    for head in q.store_heads()? {
        let a = &head.account_id;
        let w = q.walked(a, sel)?;
        if !w.state.opened {
            continue; // it does not exist at that time
        }
        let view = |k| crate::query::render(k, &w, sel, policy);
        let (View::Stage(stage), View::Classification(class), View::Map(map), View::Contracts(c)) = (
            view(ViewKind::Stage),
            view(ViewKind::Classification),
            view(ViewKind::Map),
            view(ViewKind::Contracts),
        ) else {
            unreachable!("render gives the kind asked for")
        };
        scores.push(class.attractiveness.zip(class.business_strength));
        let mut alerts = BySeverity::default();
        for open in w.alerts.open_alerts(&w.state, sel.as_of, policy) {
            match open.severity {
                Severity::Critical => alerts.critical += 1,
                Severity::High => alerts.high += 1,
                Severity::Medium => alerts.medium += 1,
                Severity::Low => alerts.low += 1,
            }
        }
        accounts.push(AccountLine {
            account_id: a.clone(),
            name: w.state.name.clone(),
            version: w.version,
            tier: class.tier.clone(),
            quadrant: class.quadrant,
            stage: stage.inferred.stage,
            declared_stage: stage.declared.map(|d| d.stage),
            map_status: map.map.status,
            // The stage's evidence holds the coverage ratio at T (SPEC 4.2).
            coverage_ratio: stage.inferred.evidence.coverage_ratio,
            alerts,
            next_renewal: crate::view::contracts::next_renewal(&w.state).map(|(id, date)| {
                NextRenewal {
                    contract_id: id.to_string(),
                    renewal_date: date,
                }
            }),
            renewing_value: c
                .totals
                .iter()
                .filter(|t| !t.renewing_value.is_zero())
                .map(|t| Amount {
                    currency: t.currency.clone(),
                    amount: t.renewing_value,
                })
                .collect(),
        });
    }
    Ok((
        AccountsDoc {
            as_of: sel.as_of,
            known_at: sel.known_at,
            accounts,
        },
        scores,
    ))
}

pub fn run(q: &Query, sel: Selection, json: bool, out: &mut Out) -> Result<i32, Error> {
    let doc = portfolio(q, &sel)?;
    if json {
        outln!(
            out,
            "{}",
            serde_json::to_string(&doc).expect("accounts serialize")
        );
        return Ok(0);
    }
    let ranked = doc.ranked();
    let rows: Vec<(Vec<String>, Vec<String>)> = ranked
        .iter()
        .map(|a| {
            let s = &a.alerts;
            let row = vec![
                a.account_id.clone(),
                a.stage.name().to_string(),
                a.quadrant.unwrap_or("-").into(),
                a.map_status.to_string(),
                dec_str(a.coverage_ratio),
                format!("{}/{}/{}/{}", s.critical, s.high, s.medium, s.low),
                a.next_renewal
                    .as_ref()
                    .map(|r| format!("{} {}", r.renewal_date.format("%Y-%m-%d"), r.contract_id))
                    .unwrap_or_else(|| "-".into()),
                if a.renewing_value.is_empty() {
                    "-".into()
                } else {
                    a.renewing_value
                        .iter()
                        .map(|v| format!("{} {}", dec_str(v.amount), v.currency))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ];
            (row, a.name.iter().cloned().collect())
        })
        .collect();
    let mut text = format!(
        "portfolio as of {}{}, ranked by risk\n(c/h/m/l: open alerts critical/high/medium/low; the account's name below it)\n\n",
        super::human_time(doc.as_of),
        doc.known_at
            .map(|k| format!(", known at {}", super::human_time(k)))
            .unwrap_or_default()
    );
    text += &super::table::with_details(
        &[
            "account",
            "stage",
            "quadrant",
            "map",
            "cover",
            "c/h/m/l",
            "next renewal",
            "renewing",
        ],
        rows,
    );
    outw!(out, "{}", text);
    Ok(0)
}
