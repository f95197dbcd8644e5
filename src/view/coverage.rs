//! Coverage, the succession-risk view (SPEC 4.1): who on our side is linked to which key
//! stakeholder, who is the only link, and whether the account is a bow-tie.

use super::frame::Links;
use super::{ratio, within, Policy};
use crate::model::{AccountState, Stakeholder};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One key stakeholder's coverage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct KeyStakeholder {
    pub stakeholder_id: String,
    /// Null when the vault does not hold it (SPEC 10).
    pub name: Option<String>,
    /// Present (true) only when the person's personal data was erased.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
    pub covered_by: Vec<String>,
    pub coverage: usize,
    /// `uncovered`, `single` or `covered`.
    pub risk: &'static str,
}

/// One active member's succession picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MemberCoverage {
    pub member_id: String,
    /// Null when the vault does not hold it (SPEC 10).
    pub name: Option<String>,
    /// Present (true) only when the person's personal data was erased.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
    pub sole_links: Vec<String>,
    pub successor: Option<String>,
    pub successor_ready: bool,
}

/// The coverage figures at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Coverage {
    pub key_stakeholders: Vec<KeyStakeholder>,
    pub members: Vec<MemberCoverage>,
    #[serde(serialize_with = "super::fmt::dec")]
    #[schemars(with = "String")]
    pub coverage_ratio: Decimal,
    pub bow_tie: bool,
}

/// `view A coverage` (SPEC 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CoverageView {
    #[serde(flatten)]
    pub header: super::Header,
    #[serde(flatten)]
    pub coverage: Coverage,
}

/// The coverage view of a state at a selection.
pub fn view(state: &AccountState, sel: &super::Selection, policy: &Policy) -> CoverageView {
    CoverageView {
        header: super::Header::new(&state.account_id, sel),
        coverage: coverage(state, sel.as_of, policy),
    }
}

/// Whether an active stakeholder is key (SPEC 4.1).
pub fn is_key(s: &Stakeholder, policy: &Policy) -> bool {
    s.active
        && (s
            .dmu_roles
            .iter()
            .any(|r| matches!(r.as_str(), "decision_maker" | "economic_buyer" | "champion"))
            || s.influence >= policy.key_influence
            || s.level == "executive")
}

/// The links at `t`: active member → the active stakeholders it is linked to, by a standing
/// relationship or a shared interaction within the contact window.
pub fn links(
    state: &AccountState,
    t: DateTime<Utc>,
    policy: &Policy,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, stakeholders) in &state.links {
        if !state.is_member_active(m) {
            continue;
        }
        for s in stakeholders.keys() {
            if state.is_stakeholder_active(s) {
                out.entry(m.clone()).or_default().insert(s.clone());
            }
        }
    }
    for i in recent_interactions(state, t, policy.contact_window_days) {
        if !within(i.occurred_at, t, policy.contact_window_days) {
            continue;
        }
        for m in i.members.iter().filter(|m| state.is_member_active(m)) {
            for s in i
                .stakeholders
                .iter()
                .filter(|s| state.is_stakeholder_active(s))
            {
                out.entry(m.clone()).or_default().insert(s.clone());
            }
        }
    }
    out
}

/// The coverage view of a state at `t`.
pub fn coverage(state: &AccountState, t: DateTime<Utc>, policy: &Policy) -> Coverage {
    super::Frame::new(state, t).coverage(policy).clone()
}

/// The coverage view from links already computed at an instant, and whether the account is a
/// bow-tie then. With `names` false, people's names and erased marks are left out (`None`,
/// false): the walk through business time evaluates coverage at every instant and reads
/// neither, which spares an allocation per person and instant.
pub fn coverage_from_links(
    state: &AccountState,
    links: &BTreeMap<String, BTreeSet<String>>,
    bow_tie: bool,
    names: bool,
    policy: &Policy,
) -> Coverage {
    let mut by_stakeholder: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (m, ss) in links {
        for s in ss {
            by_stakeholder.entry(s.as_str()).or_default().push(m);
        }
    }
    let key_stakeholders: Vec<KeyStakeholder> = state
        .stakeholders
        .iter()
        .filter(|(_, s)| is_key(s, policy))
        .map(|(id, s)| {
            let covered_by: Vec<String> = by_stakeholder
                .get(id.as_str())
                .map(|ms| ms.iter().map(|m| m.to_string()).collect())
                .unwrap_or_default();
            let coverage = covered_by.len();
            KeyStakeholder {
                stakeholder_id: id.clone(),
                name: names
                    .then(|| crate::personal::reveal::shown(&s.name))
                    .flatten(),
                erased: names && state.is_erased("stakeholder", id),
                risk: risk(coverage),
                covered_by,
                coverage,
            }
        })
        .collect();
    let members = members(state, links, &key_stakeholders, names);
    let coverage_ratio = coverage_ratio(&key_stakeholders);
    Coverage {
        key_stakeholders,
        members,
        coverage_ratio,
        bow_tie,
    }
}

impl Coverage {
    /// Brings a coverage of the walk (no names) up to date after links to key stakeholders
    /// changed (`changes`: member, stakeholder, and whether the link was made or dropped, each
    /// a real change, in order; `links`: the links after all of them): those stakeholders'
    /// `covered_by`, every member's sole links and successor readiness, and the ratio. Who is
    /// key, and the bow-tie flag, are not links' to change here (a frame checks the flag
    /// before it reuses a coverage). Equal to [`coverage_from_links`] over the new links (the
    /// walk's equivalence tests hold it).
    ///
    /// The members' picture depends on the links only through the key stakeholders covered
    /// once (whose sole link each member holds, and whether a successor is linked to them):
    /// when none of the changed ones is covered once before or after, it stands.
    pub fn relink(&mut self, state: &AccountState, links: &Links, changes: &[(&str, &str, bool)]) {
        let mut sole_changed = false;
        for &(m, s, made) in changes {
            let Ok(i) = self
                .key_stakeholders
                .binary_search_by(|k| k.stakeholder_id.as_str().cmp(s))
            else {
                continue;
            };
            let k = &mut self.key_stakeholders[i];
            sole_changed |= k.coverage == 1;
            // `covered_by` is in member order, as the links are.
            match (k.covered_by.binary_search_by(|x| x.as_str().cmp(m)), made) {
                (Ok(at), false) => {
                    k.covered_by.remove(at);
                }
                (Err(at), true) => k.covered_by.insert(at, m.to_string()),
                // Not a change of these figures after all: take them from the links.
                _ => {
                    k.covered_by = links
                        .iter()
                        .filter(|(_, ss)| ss.contains(s))
                        .map(|(m, _)| m.clone())
                        .collect();
                }
            }
            k.coverage = k.covered_by.len();
            k.risk = risk(k.coverage);
            sole_changed |= k.coverage == 1;
        }
        if sole_changed {
            self.members = members(state, links, &self.key_stakeholders, false);
        }
        self.coverage_ratio = coverage_ratio(&self.key_stakeholders);
    }

    /// Brings a coverage of the walk (no names) up to date after a person was introduced
    /// (`stakeholder_added`, `team_member_assigned`; a no-op when the id was known): a new
    /// person has no links yet, so only the lists change — a key stakeholder joins uncovered,
    /// a member joins the members' picture with nothing to hand over. Equal to
    /// [`coverage_from_links`] over the same links (the walk's equivalence tests hold it).
    pub fn person_added(&mut self, state: &AccountState, links: &Links, policy: &Policy) {
        let key: Vec<&str> = state
            .stakeholders
            .iter()
            .filter(|(_, s)| is_key(s, policy))
            .map(|(id, _)| id.as_str())
            .collect();
        if key.len() != self.key_stakeholders.len() {
            for id in key {
                if let Err(at) = self
                    .key_stakeholders
                    .binary_search_by(|k| k.stakeholder_id.as_str().cmp(id))
                {
                    self.key_stakeholders.insert(
                        at,
                        KeyStakeholder {
                            stakeholder_id: id.to_string(),
                            name: None,
                            erased: false,
                            covered_by: Vec::new(),
                            coverage: 0,
                            risk: risk(0),
                        },
                    );
                }
            }
            self.coverage_ratio = coverage_ratio(&self.key_stakeholders);
        }
        if state.members.values().filter(|m| m.active).count() != self.members.len() {
            self.members = members(state, links, &self.key_stakeholders, false);
        }
    }
}

fn risk(coverage: usize) -> &'static str {
    match coverage {
        0 => "uncovered",
        1 => "single",
        _ => "covered",
    }
}

/// Each active member's succession picture, given the key stakeholders' coverage.
fn members(
    state: &AccountState,
    links: &Links,
    key_stakeholders: &[KeyStakeholder],
    names: bool,
) -> Vec<MemberCoverage> {
    // The key stakeholders each member is the only link to, in one pass.
    let mut sole: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for k in key_stakeholders.iter().filter(|k| k.coverage == 1) {
        sole.entry(k.covered_by[0].as_str())
            .or_default()
            .push(k.stakeholder_id.clone());
    }
    state
        .members
        .iter()
        .filter(|(_, m)| m.active)
        .map(|(id, m)| {
            let sole_links: Vec<String> = sole.remove(id.as_str()).unwrap_or_default();
            let successor = m
                .successor
                .as_ref()
                .filter(|s| state.is_member_active(s))
                .cloned();
            let successor_ready = sole_links.is_empty()
                || successor.as_ref().is_some_and(|s| {
                    sole_links
                        .iter()
                        .all(|k| links.get(s).is_some_and(|ss| ss.contains(k)))
                });
            MemberCoverage {
                member_id: id.clone(),
                name: names
                    .then(|| crate::personal::reveal::shown(&m.name))
                    .flatten(),
                erased: names && state.is_erased("member", id),
                sole_links,
                successor,
                successor_ready,
            }
        })
        .collect()
}

/// Covered (≥ 2 links) key stakeholders ÷ key stakeholders, 1 when there are none.
fn coverage_ratio(key_stakeholders: &[KeyStakeholder]) -> Decimal {
    let key = key_stakeholders.len();
    let covered = key_stakeholders.iter().filter(|k| k.coverage >= 2).count();
    if key == 0 {
        Decimal::ONE
    } else {
        ratio(Decimal::from(covered), Decimal::from(key))
    }
}

/// SPEC 4.1: at least one link and all of them through one member, or one member (active or
/// not) in ≥ 80 % of the last 180 days' interactions when there are at least 5. `recent` is
/// the number of interactions in the bow-tie window and `by_member` how many of them each
/// member took part in.
pub fn bow_tie(
    links: &BTreeMap<String, BTreeSet<String>>,
    recent: usize,
    by_member: &BTreeMap<String, usize>,
    policy: &Policy,
) -> bool {
    if links.len() == 1 {
        return true;
    }
    if recent < policy.bow_tie_min_interactions {
        return false;
    }
    // count / n ≥ share %, in integers
    by_member
        .values()
        .any(|&c| c * 100 >= recent * policy.bow_tie_share_percent as usize)
}

/// The bow-tie window's counts found by scanning the state's interactions (see
/// [`crate::model::Contacts`] for the incremental form the walk uses).
pub fn bow_tie_counts(
    state: &AccountState,
    t: DateTime<Utc>,
    policy: &Policy,
) -> (usize, BTreeMap<String, usize>) {
    let recent: Vec<_> = recent_interactions(state, t, policy.bow_tie_window_days)
        .iter()
        .filter(|i| within(i.occurred_at, t, policy.bow_tie_window_days))
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for i in &recent {
        for m in i.members.iter().collect::<BTreeSet<_>>() {
            *counts.entry(m.clone()).or_default() += 1;
        }
    }
    (recent.len(), counts)
}

/// Whether interactions are held in time order (the usual case; a late-logged one breaks
/// it), so that a time can be found by binary search.
pub fn in_time_order(interactions: &[crate::model::Interaction]) -> bool {
    interactions
        .windows(2)
        .all(|w| w[0].occurred_at <= w[1].occurred_at)
}

/// The interactions that may fall in the window `[t − days, t]`: when the state holds them in
/// time order (the usual case), just that slice, found by binary search; otherwise all of
/// them (callers still check each one).
pub fn recent_interactions(
    state: &AccountState,
    t: DateTime<Utc>,
    days: i64,
) -> &[crate::model::Interaction] {
    let all = &state.interactions[..];
    if !in_time_order(all) {
        return all;
    }
    let from = t - super::days(days);
    let lo = all.partition_point(|i| i.occurred_at < from);
    let hi = all.partition_point(|i| i.occurred_at <= t);
    &all[lo..hi.max(lo)]
}
