//! Contracts and renewals (SPEC 4.8, view `contracts`): each contract's status at T — ended,
//! lapsed (its renewal date has passed), renewing (the renewal date is within
//! `renewal_window_days`) or active — its days to renewal, and totals per currency.

use super::Policy;
use crate::model::{AccountState, Contract};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// One contract at T.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ContractLine {
    pub contract_id: String,
    pub title: Option<String>,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub annual_value: Decimal,
    pub currency: String,
    #[serde(serialize_with = "super::fmt::date")]
    #[schemars(with = "String")]
    pub start_date: NaiveDate,
    #[serde(serialize_with = "super::fmt::date")]
    #[schemars(with = "String")]
    pub renewal_date: NaiveDate,
    /// `ended`, `lapsed`, `renewing` or `active`.
    pub status: &'static str,
    pub days_to_renewal: Option<i64>,
}

/// Totals of one currency over the contracts not ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ContractTotal {
    pub currency: String,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub annual_value: Decimal,
    /// Over the contracts renewing or lapsed.
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub renewing_value: Decimal,
}

/// `view A contracts` (SPEC 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ContractsView {
    #[serde(flatten)]
    pub header: super::Header,
    pub contracts: Vec<ContractLine>,
    pub totals: Vec<ContractTotal>,
}

/// A contract's status at `t`.
pub fn status(c: &Contract, t: DateTime<Utc>, policy: &Policy) -> &'static str {
    let today = t.date_naive();
    if c.ended {
        "ended"
    } else if c.renewal_date < today {
        "lapsed"
    } else if c.renewal_date <= today + chrono::Duration::days(policy.renewal_window_days) {
        "renewing"
    } else {
        "active"
    }
}

/// Whether a contract is renewing or lapsed at `t` (what puts a renewal at risk).
pub fn up_for_renewal(c: &Contract, t: DateTime<Utc>, policy: &Policy) -> bool {
    matches!(status(c, t, policy), "renewing" | "lapsed")
}

/// Whether the account has a contract renewing or lapsed at `t` (a severity point, SPEC 5).
pub fn any_up_for_renewal(state: &AccountState, t: DateTime<Utc>, policy: &Policy) -> bool {
    state
        .contracts
        .values()
        .any(|c| up_for_renewal(c, t, policy))
}

/// The contracts view of a state at a selection.
pub fn view(state: &AccountState, sel: &super::Selection, policy: &Policy) -> ContractsView {
    let t = sel.as_of;
    let today = t.date_naive();
    let contracts: Vec<ContractLine> = state
        .contracts
        .iter()
        .map(|(id, c)| ContractLine {
            contract_id: id.clone(),
            title: c.title.clone(),
            annual_value: c.annual_value,
            currency: c.currency.clone(),
            start_date: c.start_date,
            renewal_date: c.renewal_date,
            status: status(c, t, policy),
            days_to_renewal: (!c.ended).then(|| (c.renewal_date - today).num_days()),
        })
        .collect();
    let mut totals: BTreeMap<&str, ContractTotal> = BTreeMap::new();
    for c in contracts.iter().filter(|c| c.status != "ended") {
        let total = totals.entry(&c.currency).or_insert_with(|| ContractTotal {
            currency: c.currency.clone(),
            annual_value: Decimal::ZERO,
            renewing_value: Decimal::ZERO,
        });
        total.annual_value += c.annual_value;
        if matches!(c.status, "renewing" | "lapsed") {
            total.renewing_value += c.annual_value;
        }
    }
    let totals = totals.into_values().collect();
    ContractsView {
        header: super::Header::new(&state.account_id, sel),
        contracts,
        totals,
    }
}

/// The earliest renewal among the contracts not ended: (contract id, renewal date).
pub fn next_renewal(state: &AccountState) -> Option<(&str, NaiveDate)> {
    state
        .contracts
        .iter()
        .filter(|(_, c)| !c.ended)
        .min_by_key(|(id, c)| (c.renewal_date, id.as_str()))
        .map(|(id, c)| (id.as_str(), c.renewal_date))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(renewal: &str) -> Contract {
        Contract {
            title: None,
            annual_value: Decimal::ONE,
            currency: "EUR".into(),
            start_date: "2020-01-01".parse().unwrap(),
            renewal_date: renewal.parse().unwrap(),
            ended: false,
        }
    }

    #[test]
    fn status_at_the_window_and_the_renewal_date() {
        let p = Policy::default();
        let c = contract("2025-07-01");
        // 2025-01-02 + 180 days = 2025-07-01: renewing from that day on.
        let at = |s: &str| -> DateTime<Utc> { s.parse().unwrap() };
        assert_eq!(status(&c, at("2025-01-01T23:59:59Z"), &p), "active");
        assert_eq!(status(&c, at("2025-01-02T00:00:00Z"), &p), "renewing");
        assert_eq!(status(&c, at("2025-07-01T23:59:59Z"), &p), "renewing");
        assert_eq!(status(&c, at("2025-07-02T00:00:00Z"), &p), "lapsed");
        let mut ended = c.clone();
        ended.ended = true;
        assert_eq!(status(&ended, at("2025-07-02T00:00:00Z"), &p), "ended");
    }
}
