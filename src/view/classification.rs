//! Classification (SPEC 4.4): the portfolio quadrant from the latest `account_classified`.

use crate::model::AccountState;
use serde::Serialize;

/// The quadrant of SPEC 1 / 4.4 for an attractiveness and a business strength.
pub fn quadrant(attractiveness: i64, strength: i64) -> &'static str {
    match (attractiveness >= 50, strength >= 50) {
        (true, true) => "strategic",
        (false, true) => "status",
        (true, false) => "star",
        (false, false) => "streamline",
    }
}

/// One classification in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ClassificationChange {
    pub quadrant: &'static str,
    pub position: u64,
}

/// `view A classification` (SPEC 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ClassificationView {
    #[serde(flatten)]
    pub header: super::Header,
    pub tier: Option<String>,
    pub attractiveness: Option<i64>,
    pub business_strength: Option<i64>,
    pub quadrant: Option<&'static str>,
    pub history: Vec<ClassificationChange>,
}

/// The classification view of a state at a selection.
pub fn view(state: &AccountState, sel: &super::Selection) -> ClassificationView {
    let latest = state.classifications.last();
    ClassificationView {
        header: super::Header::new(&state.account_id, sel),
        tier: state.tier.clone(),
        attractiveness: latest.map(|c| c.attractiveness),
        business_strength: latest.map(|c| c.business_strength),
        quadrant: latest.map(|c| quadrant(c.attractiveness, c.business_strength)),
        history: state
            .classifications
            .iter()
            .map(|c| ClassificationChange {
                quadrant: quadrant(c.attractiveness, c.business_strength),
                position: c.position,
            })
            .collect(),
    }
}
