//! The thresholds of SPEC 4 and 5. A policy file may change these numbers, never the meaning
//! of the rules that use them.

use serde::{Deserialize, Serialize};

/// The default policy is SPEC 4's; every field can be overridden by a JSON policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// An interaction links its participants for this many days (4.1).
    pub contact_window_days: i64,
    /// With no interaction for this many days, a once-cooperative account disintegrates (4.2).
    pub disintegration_days: i64,
    /// A key stakeholder with no interaction for this many days has lapsed (5).
    pub engagement_lapse_days: i64,
    /// The bow-tie share of interactions, in percent, and the minimum count it needs (4.1).
    pub bow_tie_share_percent: i64,
    pub bow_tie_min_interactions: usize,
    pub bow_tie_window_days: i64,
    /// Influence at or above which a stakeholder is key (4.1).
    pub key_influence: i64,
    /// Coverage ratio needed for `integrated`, and below which an account disintegrates (4.2),
    /// in percent.
    pub integrated_coverage_percent: i64,
    pub disintegrating_coverage_percent: i64,
    /// A contract whose renewal date is at most this many days away is renewing (4.8).
    pub renewal_window_days: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            contact_window_days: 180,
            disintegration_days: 120,
            engagement_lapse_days: 90,
            bow_tie_share_percent: 80,
            bow_tie_min_interactions: 5,
            bow_tie_window_days: 180,
            key_influence: 4,
            integrated_coverage_percent: 75,
            disintegrating_coverage_percent: 25,
            renewal_window_days: 180,
        }
    }
}

impl Policy {
    /// Reads a policy file (JSON; missing fields keep their defaults).
    pub fn from_file(path: &std::path::Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read policy {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("policy {}: {e}", path.display()))
    }
}
