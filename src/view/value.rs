//! Value tracked against value promised (SPEC 4.3). Exact decimal arithmetic throughout.

use super::ratio;
use crate::model::AccountState;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// Whether a date has passed at `t`: it is earlier than the UTC date of `t`.
pub fn date_passed(date: NaiveDate, t: DateTime<Utc>) -> bool {
    date < t.date_naive()
}

/// The status of one promise at `t`.
pub fn status(p: &crate::model::Promise, t: DateTime<Utc>) -> &'static str {
    if p.withdrawn {
        "withdrawn"
    } else if p.delivered >= p.promised {
        "delivered"
    } else if date_passed(p.due_date, t) {
        "overdue"
    } else {
        "open"
    }
}

/// One promise of the value view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PromiseLine {
    pub promise_id: String,
    pub metric: String,
    pub unit: String,
    pub beneficiary: String,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub promised: Decimal,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub delivered: Decimal,
    #[serde(serialize_with = "super::fmt::date")]
    #[schemars(with = "String")]
    pub due_date: NaiveDate,
    pub status: &'static str,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub shortfall: Decimal,
}

/// The totals per (unit, beneficiary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TotalLine {
    pub unit: String,
    pub beneficiary: String,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub promised: Decimal,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub due: Decimal,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub delivered: Decimal,
    #[serde(serialize_with = "super::fmt::opt_dec")]
    #[schemars(with = "Option<String>")]
    pub realization: Option<Decimal>,
}

/// `view A value` (SPEC 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ValueView {
    #[serde(flatten)]
    pub header: super::Header,
    pub promises: Vec<PromiseLine>,
    pub totals: Vec<TotalLine>,
}

/// The value view of a state at a selection.
pub fn view(state: &AccountState, sel: &super::Selection) -> ValueView {
    let t = sel.as_of;
    let mut promises = Vec::new();
    #[derive(Default)]
    struct Total {
        promised: Decimal,
        due: Decimal,
        delivered: Decimal,
        delivered_on_due: Decimal,
        any_due: bool,
    }
    let mut totals: BTreeMap<(&str, &str), Total> = BTreeMap::new();
    for (id, p) in &state.promises {
        let st = status(p, t);
        let shortfall = if st == "overdue" {
            p.promised - p.delivered
        } else {
            Decimal::ZERO
        };
        promises.push(PromiseLine {
            promise_id: id.clone(),
            metric: p.metric.clone(),
            unit: p.unit.clone(),
            beneficiary: p.beneficiary.clone(),
            promised: p.promised,
            delivered: p.delivered,
            due_date: p.due_date,
            status: st,
            shortfall,
        });
        if p.withdrawn {
            continue;
        }
        let tot = totals
            .entry((p.unit.as_str(), p.beneficiary.as_str()))
            .or_default();
        tot.promised += p.promised;
        tot.delivered += p.delivered;
        if date_passed(p.due_date, t) {
            tot.any_due = true;
            tot.due += p.promised;
            tot.delivered_on_due += p.delivered;
        }
    }
    let totals = totals
        .into_iter()
        .map(|((unit, beneficiary), tot)| TotalLine {
            unit: unit.to_string(),
            beneficiary: beneficiary.to_string(),
            promised: tot.promised,
            due: tot.due,
            delivered: tot.delivered,
            realization: (tot.any_due && !tot.due.is_zero())
                .then(|| ratio(tot.delivered_on_due, tot.due)),
        })
        .collect();
    ValueView {
        header: super::Header::new(&state.account_id, sel),
        promises,
        totals,
    }
}
