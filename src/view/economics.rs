//! Economics (SPEC 4.4): revenue, gross margin, investment and return on investment per
//! currency.

use super::{dec_str, ratio};
use crate::model::AccountState;
use serde_json::{json, Value};

/// The `currencies` list of SPEC 8, sorted by currency.
pub fn economics(state: &AccountState) -> Vec<Value> {
    state
        .money
        .iter()
        .map(|(currency, m)| {
            let roi = (m.has_investment && !m.investment.is_zero())
                .then(|| dec_str(ratio(m.gross_margin - m.investment, m.investment)));
            json!({
                "currency": currency, "revenue": dec_str(m.revenue),
                "gross_margin": dec_str(m.gross_margin), "investment": dec_str(m.investment),
                "roi": roi,
            })
        })
        .collect()
}
