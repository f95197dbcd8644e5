//! Economics (SPEC 4.4): revenue, gross margin, investment and return on investment per
//! currency.

use super::ratio;
use crate::model::AccountState;
use rust_decimal::Decimal;
use serde::Serialize;

/// One currency's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CurrencyLine {
    pub currency: String,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub revenue: Decimal,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub gross_margin: Decimal,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub investment: Decimal,
    #[serde(serialize_with = "super::fmt::opt_dec")]
    #[schemars(with = "Option<String>")]
    pub roi: Option<Decimal>,
}

/// `view A economics` (SPEC 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct EconomicsView {
    #[serde(flatten)]
    pub header: super::Header,
    pub currencies: Vec<CurrencyLine>,
}

/// The economics view of a state at a selection (currencies sorted).
pub fn view(state: &AccountState, sel: &super::Selection) -> EconomicsView {
    EconomicsView {
        header: super::Header::new(&state.account_id, sel),
        currencies: state
            .money
            .iter()
            .map(|(currency, m)| CurrencyLine {
                currency: currency.clone(),
                revenue: m.revenue,
                gross_margin: m.gross_margin,
                investment: m.investment,
                roi: (m.has_investment && !m.investment.is_zero())
                    .then(|| ratio(m.gross_margin - m.investment, m.investment)),
            })
            .collect(),
    }
}
