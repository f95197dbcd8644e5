//! Classification (SPEC 4.4): the portfolio quadrant from the latest `account_classified`.

use crate::model::AccountState;
use serde_json::{json, Value};

/// The quadrant of SPEC 1 / 4.4 for an attractiveness and a business strength.
pub fn quadrant(attractiveness: i64, strength: i64) -> &'static str {
    match (attractiveness >= 50, strength >= 50) {
        (true, true) => "strategic",
        (false, true) => "status",
        (true, false) => "star",
        (false, false) => "streamline",
    }
}

/// The classification fields of SPEC 8 (without `account_id` and `as_of`).
pub fn classification(state: &AccountState) -> Value {
    let latest = state.classifications.last();
    json!({
        "tier": state.tier,
        "attractiveness": latest.map(|c| c.attractiveness),
        "business_strength": latest.map(|c| c.business_strength),
        "quadrant": latest.map(|c| quadrant(c.attractiveness, c.business_strength)),
        "history": state.classifications.iter().map(|c| json!({
            "quadrant": quadrant(c.attractiveness, c.business_strength),
            "position": c.position,
        })).collect::<Vec<_>>(),
    })
}
