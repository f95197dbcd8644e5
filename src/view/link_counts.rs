//! The stage evidence's link figures (SPEC 4.2): how many links there are, how many distinct
//! functions the linked members and the linked stakeholders cover, and whether an executive
//! member is linked to an executive stakeholder.
//!
//! [`LinkCounts`] holds them as counts, so that the walk through business time can update
//! them link by link as links are made and dropped, instead of counting them again over every
//! link at every instant where one changed. The counts read each person's function, level
//! and role when a link is counted; the walk drops them whenever an event changes people
//! (they are then counted again from the links), so those never change under them.

use super::frame::Links;
use crate::model::{AccountState, Member, Stakeholder};
use foldhash::HashMap;

/// The link figures at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkFigures {
    pub links: usize,
    pub supplier_functions: usize,
    pub customer_functions: usize,
    pub executive_link: bool,
}

/// The counts behind [`LinkFigures`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkCounts {
    links: usize,
    /// Links per member and per stakeholder (only those with at least one).
    by_member: HashMap<String, usize>,
    by_stakeholder: HashMap<String, usize>,
    /// Per function, how many linked members (stakeholders) have it.
    supplier: HashMap<String, usize>,
    customer: HashMap<String, usize>,
    /// Links from an executive member to an executive-level stakeholder.
    executive: usize,
}

impl LinkCounts {
    /// Counts every link (each member and stakeholder of `links` is one of the state's).
    pub fn of(state: &AccountState, links: &Links) -> LinkCounts {
        let mut c = LinkCounts::default();
        for (m, ss) in links {
            let member = &state.members[m];
            for s in ss {
                c.count(m, member, s, &state.stakeholders[s], true);
            }
        }
        c
    }

    /// A link between `m` and `s` made (`made`) or dropped. Returns false when the state does
    /// not know one of them or the link was not counted: the counts are then wrong and the
    /// caller drops them.
    pub fn change(&mut self, state: &AccountState, m: &str, s: &str, made: bool) -> bool {
        match (state.members.get(m), state.stakeholders.get(s)) {
            (Some(member), Some(stakeholder)) => self.count(m, member, s, stakeholder, made),
            _ => false,
        }
    }

    fn count(
        &mut self,
        m: &str,
        member: &Member,
        s: &str,
        stakeholder: &Stakeholder,
        made: bool,
    ) -> bool {
        let Some(links) = step(self.links, made) else {
            return false;
        };
        self.links = links;
        let (Some(first_m), Some(first_s)) = (
            bump(&mut self.by_member, m, made),
            bump(&mut self.by_stakeholder, s, made),
        ) else {
            return false;
        };
        if first_m && bump(&mut self.supplier, &member.function, made).is_none() {
            return false;
        }
        if first_s && bump(&mut self.customer, &stakeholder.function, made).is_none() {
            return false;
        }
        if is_executive(member) && stakeholder.level == "executive" {
            let Some(n) = step(self.executive, made) else {
                return false;
            };
            self.executive = n;
        }
        true
    }

    pub fn figures(&self) -> LinkFigures {
        LinkFigures {
            links: self.links,
            supplier_functions: self.supplier.len(),
            customer_functions: self.customer.len(),
            executive_link: self.executive > 0,
        }
    }
}

/// Whether a member counts as executive for the executive link (SPEC 4.2).
fn is_executive(member: &Member) -> bool {
    member.team_role == "exec_sponsor" || member.function == "executive"
}

/// One more or one fewer (`None` below zero or past the largest count).
fn step(n: usize, up: bool) -> Option<usize> {
    if up {
        n.checked_add(1)
    } else {
        n.checked_sub(1)
    }
}

/// Adds or takes one from `key`'s count; tells whether it went from or to zero (`None`: a
/// count below zero, i.e. counts that no longer match the links).
fn bump(map: &mut HashMap<String, usize>, key: &str, up: bool) -> Option<bool> {
    if up {
        if let Some(n) = map.get_mut(key) {
            *n += 1;
            return Some(false);
        }
        map.insert(key.to_string(), 1);
        return Some(true);
    }
    let n = map.get_mut(key)?;
    *n -= 1;
    if *n == 0 {
        map.remove(key);
        return Some(true);
    }
    Some(false)
}
