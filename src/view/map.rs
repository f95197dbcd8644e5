//! The relationship map (SPEC 4.7, view `map`): who is supportive, opposed and engaged, who
//! holds the roles a deal needs and whether they are engaged, our executive sponsors, and the
//! map's status — green, amber or red — with the gaps that keep it from green, all computed
//! from the stakeholders' attributes and the strengths of 4.6.

use super::coverage::is_key;
use super::relationships::{Pair, Strengths};
use super::Policy;
use crate::model::AccountState;
use serde::Serialize;

/// The roles a map needs, in the order SPEC 4.7 lists them.
pub const REQUIRED_ROLES: [&str; 3] = ["decision_maker", "economic_buyer", "champion"];
/// A stakeholder is engaged from this best strength on.
pub const ENGAGED_FROM: u32 = 40;

/// One required role: who holds it, and which of them are engaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RequiredRole {
    pub role: &'static str,
    pub holders: Vec<String>,
    pub engaged: Vec<String>,
}

/// An active stakeholder on the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MapStakeholder {
    pub stakeholder_id: String,
    /// Null when the vault does not hold it (SPEC 10).
    pub name: Option<String>,
    pub title: Option<String>,
    /// Present (true) only when the person's personal data was erased.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
    pub function: String,
    pub level: String,
    pub dmu_roles: Vec<String>,
    pub influence: i64,
    pub attitude: i64,
    pub key: bool,
    pub supportive: bool,
    pub opposed: bool,
    pub best_strength: u32,
    pub best_member: Option<String>,
    pub days_since_contact: Option<i64>,
}

/// The map's figures at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Map {
    /// `green`, `amber` or `red`.
    pub status: &'static str,
    /// Sorted gap codes.
    pub gaps: Vec<String>,
    pub required_roles: Vec<RequiredRole>,
    pub exec_sponsors: Vec<String>,
    pub stakeholders: Vec<MapStakeholder>,
    pub pairs: Vec<Pair>,
}

/// `view A map` (SPEC 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MapView {
    #[serde(flatten)]
    pub header: super::Header,
    #[serde(flatten)]
    pub map: Map,
}

/// The map view of a state at a selection.
pub fn view(state: &AccountState, sel: &super::Selection, policy: &Policy) -> MapView {
    let strengths = super::relationships::of_state(state, sel.as_of, policy);
    MapView {
        header: super::Header::new(&state.account_id, sel),
        map: map(state, &strengths, policy),
    }
}

/// The map's status (SPEC 4.7): `green` when a holder of `decision_maker` or `economic_buyer`
/// is supportive and engaged, else `amber` when a key stakeholder is, else `red`.
/// `engaged(stakeholder_id)` is asked only of supportive key stakeholders, so a caller can
/// compute strengths for those alone (the walk does, at every instant).
pub fn status(
    state: &AccountState,
    policy: &Policy,
    engaged: impl Fn(&str) -> bool,
) -> &'static str {
    let mut amber = false;
    for (id, s) in &state.stakeholders {
        if !(s.active && s.attitude >= 1 && is_key(s, policy) && engaged(id)) {
            continue;
        }
        if s.dmu_roles
            .iter()
            .any(|r| r == "decision_maker" || r == "economic_buyer")
        {
            return "green";
        }
        amber = true;
    }
    if amber {
        "amber"
    } else {
        "red"
    }
}

/// The map of a state, given its strengths at the same instant.
pub fn map(state: &AccountState, strengths: &Strengths, policy: &Policy) -> Map {
    let stakeholders: Vec<MapStakeholder> = state
        .stakeholders
        .iter()
        .filter(|(_, s)| s.active)
        .map(|(id, s)| {
            let best = strengths.best(id);
            MapStakeholder {
                stakeholder_id: id.clone(),
                name: crate::personal::reveal::shown(&s.name),
                title: s.title.as_deref().and_then(crate::personal::reveal::shown),
                erased: state.is_erased("stakeholder", id),
                function: s.function.clone(),
                level: s.level.clone(),
                dmu_roles: s.dmu_roles.clone(),
                influence: s.influence,
                attitude: s.attitude,
                key: is_key(s, policy),
                supportive: s.attitude >= 1,
                opposed: s.attitude <= -1,
                best_strength: best.map_or(0, |b| b.best_strength),
                best_member: best.and_then(|b| b.best_member.clone()),
                days_since_contact: best.and_then(|b| b.days_since_contact),
            }
        })
        .collect();
    let engaged = |s: &MapStakeholder| s.best_strength >= ENGAGED_FROM;
    let holds = |s: &MapStakeholder, role: &str| s.dmu_roles.iter().any(|r| r == role);
    let required_roles: Vec<RequiredRole> = REQUIRED_ROLES
        .iter()
        .map(|role| RequiredRole {
            role,
            holders: stakeholders
                .iter()
                .filter(|s| holds(s, role))
                .map(|s| s.stakeholder_id.clone())
                .collect(),
            engaged: stakeholders
                .iter()
                .filter(|s| holds(s, role) && engaged(s))
                .map(|s| s.stakeholder_id.clone())
                .collect(),
        })
        .collect();
    let exec_sponsors: Vec<String> = state
        .members
        .iter()
        .filter(|(_, m)| m.active && m.team_role == "exec_sponsor")
        .map(|(id, _)| id.clone())
        .collect();
    let status = status(state, policy, |id| {
        strengths
            .best(id)
            .is_some_and(|b| b.best_strength >= ENGAGED_FROM)
    });
    let mut gaps: Vec<String> = Vec::new();
    for r in &required_roles {
        if r.holders.is_empty() {
            gaps.push(format!("no_{}", r.role));
        } else if r.engaged.is_empty() {
            gaps.push(format!("unengaged_{}", r.role));
        }
    }
    if exec_sponsors.is_empty() {
        gaps.push("no_exec_sponsor".into());
    }
    if stakeholders
        .iter()
        .any(|s| holds(s, "decision_maker") && s.opposed)
    {
        gaps.push("opposed_decision_maker".into());
    }
    gaps.sort();
    Map {
        status,
        gaps,
        required_roles,
        exec_sponsors,
        stakeholders,
        pairs: strengths.pairs.clone(),
    }
}
