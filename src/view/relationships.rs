//! Relationship strength (SPEC 4.6, view `relationships`): for every pair of an active member
//! and an active stakeholder that has a standing link or ever met, a strength 0–100 computed
//! from evidence — how recently they met, how often in the contact window, whether in person,
//! and the declared link — and for every active stakeholder its best pair.

use super::Policy;
use crate::model::{AccountState, PairContact};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Recency points by days since the last contact: at most 30 days 40, 90 days 30, 180 days 15.
pub const RECENCY_BANDS: [(i64, u32); 3] = [(30, 40), (90, 30), (180, 15)];
/// Frequency: points per interaction in the contact window, counted up to this many.
pub const FREQUENCY_POINTS: u32 = 5;
pub const FREQUENCY_CAP: u32 = 6;
/// Depth: points for at least one in-person interaction in the contact window.
pub const DEPTH_POINTS: u32 = 10;
/// Declared: points per unit of a standing link's strength (1–5).
pub const DECLARED_POINTS: u32 = 4;

/// One (member, stakeholder) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Pair {
    pub member_id: String,
    pub stakeholder_id: String,
    #[serde(serialize_with = "super::fmt::opt_time")]
    #[schemars(with = "Option<String>")]
    pub last_contact: Option<DateTime<Utc>>,
    pub days_since_contact: Option<i64>,
    pub interactions_180d: u32,
    pub in_person_180d: u32,
    pub declared_strength: Option<i64>,
    pub strength: u32,
    /// `strong`, `working`, `weak` or `none`.
    pub level: &'static str,
}

/// An active stakeholder's best pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StakeholderStrength {
    pub stakeholder_id: String,
    pub best_strength: u32,
    pub best_member: Option<String>,
    pub days_since_contact: Option<i64>,
}

/// The strength figures at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Strengths {
    /// Sorted by member_id, then stakeholder_id.
    pub pairs: Vec<Pair>,
    /// Every active stakeholder, sorted by id.
    pub stakeholders: Vec<StakeholderStrength>,
}

impl Strengths {
    /// The best pair of a stakeholder, if it is active.
    pub fn best(&self, stakeholder_id: &str) -> Option<&StakeholderStrength> {
        self.stakeholders
            .binary_search_by(|s| s.stakeholder_id.as_str().cmp(stakeholder_id))
            .ok()
            .map(|i| &self.stakeholders[i])
    }
}

/// `view A relationships` (SPEC 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RelationshipsView {
    #[serde(flatten)]
    pub header: super::Header,
    #[serde(flatten)]
    pub strengths: Strengths,
}

/// The relationships view of a state at a selection.
pub fn view(state: &AccountState, sel: &super::Selection, policy: &Policy) -> RelationshipsView {
    RelationshipsView {
        header: super::Header::new(&state.account_id, sel),
        strengths: of_state(state, sel.as_of, policy),
    }
}

/// The strengths of a state at `t`, by scanning its interactions.
pub fn of_state(state: &AccountState, t: DateTime<Utc>, policy: &Policy) -> Strengths {
    strengths(state, &contacts_by_scan(state, t, policy), t)
}

/// The level of a strength.
pub fn level(strength: u32) -> &'static str {
    match strength {
        70.. => "strong",
        40..=69 => "working",
        1..=39 => "weak",
        0 => "none",
    }
}

/// A pair's strength from what is known of it at `t`.
pub fn strength(contact: &PairContact, declared: Option<i64>, t: DateTime<Utc>) -> u32 {
    let recency = contact
        .last
        .map(|l| days_between(l, t))
        .and_then(|d| RECENCY_BANDS.iter().find(|(days, _)| d <= *days))
        .map_or(0, |(_, points)| *points);
    let frequency = FREQUENCY_POINTS * contact.recent.min(FREQUENCY_CAP);
    let depth = if contact.in_person >= 1 {
        DEPTH_POINTS
    } else {
        0
    };
    let declared = DECLARED_POINTS * declared.map_or(0, |d| d.clamp(0, 5) as u32);
    recency + frequency + depth + declared
}

/// Whole days from `from` to `t`, rounded down.
pub fn days_between(from: DateTime<Utc>, t: DateTime<Utc>) -> i64 {
    (t - from).num_days()
}

/// The strengths from the pairs' contacts at `t` (pairs of active people only).
pub fn strengths(
    state: &AccountState,
    contacts: &BTreeMap<(String, String), PairContact>,
    t: DateTime<Utc>,
) -> Strengths {
    let pairs: Vec<Pair> = contacts
        .iter()
        .map(|((m, s), c)| {
            let declared = state.links.get(m).and_then(|l| l.get(s)).copied();
            let strength = strength(c, declared, t);
            Pair {
                member_id: m.clone(),
                stakeholder_id: s.clone(),
                last_contact: c.last,
                days_since_contact: c.last.map(|l| days_between(l, t)),
                interactions_180d: c.recent,
                in_person_180d: c.in_person,
                declared_strength: declared,
                strength,
                level: level(strength),
            }
        })
        .collect();
    let mut best: BTreeMap<&str, StakeholderStrength> = state
        .stakeholders
        .iter()
        .filter(|(_, s)| s.active)
        .map(|(id, _)| {
            (
                id.as_str(),
                StakeholderStrength {
                    stakeholder_id: id.clone(),
                    best_strength: 0,
                    best_member: None,
                    days_since_contact: None,
                },
            )
        })
        .collect();
    // Pairs come sorted by member id, so the first pair with the highest strength is the one
    // with the smallest member id.
    for p in &pairs {
        let Some(b) = best.get_mut(p.stakeholder_id.as_str()) else {
            continue;
        };
        if p.strength > b.best_strength {
            b.best_strength = p.strength;
            b.best_member = Some(p.member_id.clone());
        }
        if let Some(d) = p.days_since_contact {
            b.days_since_contact = Some(b.days_since_contact.map_or(d, |x| x.min(d)));
        }
    }
    Strengths {
        pairs,
        stakeholders: best.into_values().collect(),
    }
}

/// What is known of every pair of active people with a standing link or a meeting, by
/// scanning the state's interactions up to `t`.
pub fn contacts_by_scan(
    state: &AccountState,
    t: DateTime<Utc>,
    policy: &Policy,
) -> BTreeMap<(String, String), PairContact> {
    let mut out: BTreeMap<(String, String), PairContact> = BTreeMap::new();
    for i in state.interactions.iter().filter(|i| i.occurred_at <= t) {
        let recent = super::within(i.occurred_at, t, policy.contact_window_days);
        for m in &i.members {
            for s in &i.stakeholders {
                let c = out.entry((m.clone(), s.clone())).or_default();
                c.last = c.last.max(Some(i.occurred_at));
                if recent {
                    c.recent += 1;
                    c.in_person += u32::from(i.in_person);
                }
            }
        }
    }
    add_standing_and_keep_active(state, out)
}

/// The pairs met plus the standing links, of active people only.
fn add_standing_and_keep_active(
    state: &AccountState,
    mut met: BTreeMap<(String, String), PairContact>,
) -> BTreeMap<(String, String), PairContact> {
    for (m, row) in &state.links {
        for s in row.keys() {
            met.entry((m.clone(), s.clone())).or_default();
        }
    }
    met.retain(|(m, s), _| state.is_member_active(m) && state.is_stakeholder_active(s));
    met
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn met(last: &str, recent: u32, in_person: u32) -> PairContact {
        PairContact {
            last: Some(t(last)),
            recent,
            in_person,
        }
    }

    #[test]
    fn recency_bands_end_after_30_90_and_180_whole_days() {
        let at = t("2025-01-01T10:00:00Z");
        // 30 days and 23 h 59 min: still 30 whole days.
        let c = met("2024-12-01T10:01:00Z", 0, 0);
        assert_eq!(strength(&c, None, at), 40);
        // 31 whole days.
        let c = met("2024-12-01T10:00:00Z", 0, 0);
        assert_eq!(strength(&c, None, at), 30);
        let c = met("2024-10-03T10:00:00Z", 0, 0); // 90 days
        assert_eq!(strength(&c, None, at), 30);
        let c = met("2024-10-02T10:00:00Z", 0, 0); // 91 days
        assert_eq!(strength(&c, None, at), 15);
        let c = met("2024-07-05T10:00:00Z", 0, 0); // 180 days
        assert_eq!(strength(&c, None, at), 15);
        let c = met("2024-07-04T10:00:00Z", 0, 0); // 181 days
        assert_eq!(strength(&c, None, at), 0);
        assert_eq!(strength(&PairContact::default(), None, at), 0);
    }

    #[test]
    fn frequency_stops_at_six_depth_needs_one_in_person_declared_is_four_per_point() {
        let at = t("2025-01-01T00:00:00Z");
        let c = met("2024-12-31T00:00:00Z", 6, 0);
        assert_eq!(strength(&c, None, at), 40 + 30);
        let c = met("2024-12-31T00:00:00Z", 9, 1);
        assert_eq!(strength(&c, None, at), 40 + 30 + 10);
        assert_eq!(strength(&c, Some(5), at), 100);
        assert_eq!(strength(&PairContact::default(), Some(3), at), 12);
    }

    #[test]
    fn levels_at_their_boundaries() {
        assert_eq!(level(0), "none");
        assert_eq!(level(1), "weak");
        assert_eq!(level(39), "weak");
        assert_eq!(level(40), "working");
        assert_eq!(level(69), "working");
        assert_eq!(level(70), "strong");
        assert_eq!(level(100), "strong");
    }
}
