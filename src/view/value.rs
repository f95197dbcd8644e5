//! Value tracked against value promised (SPEC 4.3). Exact decimal arithmetic throughout.

use super::{dec_str, ratio};
use crate::model::AccountState;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
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

/// The value view as SPEC 8's `promises` and `totals`.
pub fn value(state: &AccountState, t: DateTime<Utc>) -> (Vec<Value>, Vec<Value>) {
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
        promises.push(json!({
            "promise_id": id, "metric": p.metric, "unit": p.unit, "beneficiary": p.beneficiary,
            "promised": dec_str(p.promised), "delivered": dec_str(p.delivered),
            "due_date": p.due_date.format("%Y-%m-%d").to_string(), "status": st,
            "shortfall": dec_str(shortfall),
        }));
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
        .map(|((unit, beneficiary), tot)| {
            let realization = (tot.any_due && !tot.due.is_zero())
                .then(|| dec_str(ratio(tot.delivered_on_due, tot.due)));
            json!({
                "unit": unit, "beneficiary": beneficiary, "promised": dec_str(tot.promised),
                "due": dec_str(tot.due), "delivered": dec_str(tot.delivered),
                "realization": realization,
            })
        })
        .collect();
    (promises, totals)
}
