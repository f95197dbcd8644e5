//! `Frame`: an account's state at one instant, with the figures several views and every alert
//! condition share (links, coverage, the last interaction of each stakeholder), each computed
//! at most once.
//!
//! A frame reads those figures either by scanning the state's interactions (a single answer
//! "as of T": [`Frame::new`]) or from the incremental [`Contacts`] the walk through business
//! time keeps ([`Frame::with_contacts`]). Both give the same figures; the walk's equivalence
//! tests check it.

use super::coverage::{self, Coverage};
use super::link_counts::LinkCounts;
use super::relationships;
use super::stage::Evidence;
use super::Policy;
use crate::model::{AccountState, Contacts};
use chrono::{DateTime, Utc};
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Active member → the active stakeholders it is linked to.
pub type Links = BTreeMap<String, BTreeSet<String>>;

/// A state at an instant.
pub struct Frame<'a> {
    pub state: &'a AccountState,
    pub instant: DateTime<Utc>,
    contacts: Option<&'a Contacts>,
    links: OnceCell<Rc<Links>>,
    counts: OnceCell<Rc<LinkCounts>>,
    coverage: OnceCell<Rc<Coverage>>,
    /// The evidence with `once_cooperative` false and `last_interaction` left to be filled.
    evidence: OnceCell<Evidence>,
}

/// Figures a walk carries from one instant to the next while the inputs they depend on stay
/// the same (the walk knows which events and which window moves change them).
#[derive(Debug, Clone, Default)]
pub struct Shared {
    pub links: Option<Rc<Links>>,
    /// The stage evidence's link counts, while nobody's function, level or role changed.
    pub counts: Option<Rc<LinkCounts>>,
    pub coverage: Option<Rc<Coverage>>,
    pub evidence: Option<Evidence>,
}

impl<'a> Frame<'a> {
    /// A frame whose figures come from scanning the state.
    pub fn new(state: &'a AccountState, instant: DateTime<Utc>) -> Frame<'a> {
        Frame {
            state,
            instant,
            contacts: None,
            links: OnceCell::new(),
            counts: OnceCell::new(),
            coverage: OnceCell::new(),
            evidence: OnceCell::new(),
        }
    }

    /// A frame whose figures come from the walk's contacts (already advanced to `instant`).
    pub fn with_contacts(
        state: &'a AccountState,
        instant: DateTime<Utc>,
        contacts: &'a Contacts,
    ) -> Frame<'a> {
        Frame {
            contacts: Some(contacts),
            ..Frame::new(state, instant)
        }
    }

    /// A frame of the walk that reuses what `shared` still holds: the links, and the coverage
    /// and evidence when the bow-tie flag has not changed either.
    pub fn with_shared(
        state: &'a AccountState,
        instant: DateTime<Utc>,
        contacts: &'a Contacts,
        shared: &Shared,
        policy: &Policy,
    ) -> Frame<'a> {
        let f = Frame::with_contacts(state, instant, contacts);
        if let Some(links) = &shared.links {
            let _ = f.links.set(links.clone());
            if let Some(counts) = &shared.counts {
                let _ = f.counts.set(counts.clone());
            }
            if let Some(c) = &shared.coverage {
                if c.bow_tie == f.bow_tie(policy) {
                    let _ = f.coverage.set(c.clone());
                    if let Some(e) = &shared.evidence {
                        let _ = f.evidence.set(e.clone());
                    }
                }
            }
        }
        f
    }

    /// What this frame computed, for the next one.
    pub fn shared(&self) -> Shared {
        Shared {
            links: self.links.get().cloned(),
            counts: self.counts.get().cloned(),
            coverage: self.coverage.get().cloned(),
            evidence: self.evidence.get().cloned(),
        }
    }

    /// The links (SPEC 4.1).
    pub fn links(&self, policy: &Policy) -> &Links {
        self.links.get_or_init(|| {
            Rc::new(match self.contacts {
                Some(c) => c.links(self.state),
                None => coverage::links(self.state, self.instant, policy),
            })
        })
    }

    /// The stage evidence's link counts (SPEC 4.2).
    pub fn link_counts(&self, policy: &Policy) -> &LinkCounts {
        self.counts
            .get_or_init(|| Rc::new(LinkCounts::of(self.state, self.links(policy))))
    }

    /// Whether the account is a bow-tie (SPEC 4.1).
    pub fn bow_tie(&self, policy: &Policy) -> bool {
        let links = self.links(policy);
        match self.contacts {
            Some(c) => {
                let (recent, by_member) = c.bow_tie_counts();
                coverage::bow_tie(links, recent, by_member, policy)
            }
            None => {
                let (recent, by_member) =
                    coverage::bow_tie_counts(self.state, self.instant, policy);
                coverage::bow_tie(links, recent, &by_member, policy)
            }
        }
    }

    /// The coverage figures (with people's names only in a frame that scans the state; see
    /// [`coverage::coverage_from_links`]).
    pub fn coverage(&self, policy: &Policy) -> &Coverage {
        self.coverage_shared(policy)
    }

    /// The coverage as the walk carries it from frame to frame: while nothing it depends on
    /// changed, the next frame holds the same one (`Rc::ptr_eq`).
    pub fn coverage_shared(&self, policy: &Policy) -> &Rc<Coverage> {
        self.coverage.get_or_init(|| {
            let links = self.links(policy);
            // The walk's frames (with contacts) feed conditions and digests, never a view.
            Rc::new(coverage::coverage_from_links(
                self.state,
                links,
                self.bow_tie(policy),
                self.contacts.is_none(),
                policy,
            ))
        })
    }

    /// The relationship map's status at the instant (SPEC 4.7). In the walk, only the
    /// supportive key stakeholders' best strengths are computed, from the contacts; a single
    /// answer scans the state (the equivalence tests compare the two).
    pub fn map_status(&self, policy: &Policy) -> &'static str {
        let Some(c) = self.contacts else {
            let strengths = relationships::of_state(self.state, self.instant, policy);
            return super::map::map(self.state, &strengths, policy).status;
        };
        let state = self.state;
        super::map::status(state, policy, |sid| {
            state
                .members
                .iter()
                .filter(|(_, m)| m.active)
                .any(|(mid, _)| {
                    let declared = state.links.get(mid).and_then(|l| l.get(sid)).copied();
                    let contact = c.pair_contact(mid, sid);
                    (contact.is_some() || declared.is_some())
                        && relationships::strength(
                            &contact.unwrap_or_default(),
                            declared,
                            self.instant,
                        ) >= super::map::ENGAGED_FROM
                })
        })
    }

    /// The latest interaction of the account at or before the instant.
    pub fn last_interaction(&self) -> Option<DateTime<Utc>> {
        match self.contacts {
            Some(c) => c.last_interaction(),
            None => self
                .state
                .interactions
                .iter()
                .map(|i| i.occurred_at)
                .filter(|at| *at <= self.instant)
                .max(),
        }
    }

    /// The latest interaction (at or before the instant) of each of `keys`, in their order.
    pub fn last_seen_each(&self, keys: &[&str]) -> Vec<Option<DateTime<Utc>>> {
        match self.contacts {
            Some(c) => keys.iter().map(|k| c.last_seen(k)).collect(),
            None => {
                let last = last_seen_by_scan(self.state, self.instant, keys);
                keys.iter().map(|k| last.get(k).copied()).collect()
            }
        }
    }

    /// The stage evidence (SPEC 4.2) given whether the account was once cooperative.
    pub fn evidence(&self, once_cooperative: bool, policy: &Policy) -> Evidence {
        let base = self
            .evidence
            .get_or_init(|| super::stage::evidence_from(self, false, policy));
        Evidence {
            once_cooperative,
            last_interaction: self.last_interaction(),
            ..base.clone()
        }
    }

    /// Whether rules 2–6 of SPEC 4.2 give `cooperative` or higher here (what makes an
    /// account "once cooperative" when it holds at an event instant).
    pub fn cooperative_or_higher(&self, policy: &Policy) -> bool {
        let e = self.evidence(false, policy);
        use super::stage::{developing_stage, Stage};
        developing_stage(&e, policy).rank() >= Stage::Cooperative.rank()
    }
}

/// The last interaction (at or before `t`) of each of `keys`, by scanning. When the state
/// holds its interactions in time order (the usual case) this walks back from `t` and stops
/// as soon as every key has been found; otherwise it takes the latest over all of them.
fn last_seen_by_scan<'k>(
    state: &AccountState,
    t: DateTime<Utc>,
    keys: &[&'k str],
) -> BTreeMap<&'k str, DateTime<Utc>> {
    let mut last: BTreeMap<&'k str, DateTime<Utc>> = BTreeMap::new();
    let all = &state.interactions[..];
    let key_of = |s: &str| keys.iter().copied().find(|k| *k == s);
    if coverage::in_time_order(all) {
        let hi = all.partition_point(|i| i.occurred_at <= t);
        for i in all[..hi].iter().rev() {
            for s in &i.stakeholders {
                if let Some(k) = key_of(s) {
                    last.entry(k).or_insert(i.occurred_at);
                }
            }
            if last.len() == keys.len() {
                break;
            }
        }
    } else {
        for i in all.iter().filter(|i| i.occurred_at <= t) {
            for s in &i.stakeholders {
                if let Some(k) = key_of(s) {
                    let e = last.entry(k).or_insert(i.occurred_at);
                    if i.occurred_at > *e {
                        *e = i.occurred_at;
                    }
                }
            }
        }
    }
    last
}
