//! `Contacts`: the interactions of an account that still count at the walk's current instant,
//! kept incrementally so that links, the bow-tie share and "last seen" need no scan of the
//! account's whole interaction history at every instant.
//!
//! The walk through business time (`crate::history`) feeds it: each interaction *enters* when
//! the walk reaches its `occurred_at` (so interactions enter in time order) and *leaves* a window
//! when the walk passes the window's end ([`Contacts::advance`]). Two windows are held: the
//! contact window (SPEC 4.1 links, `contact_window_days`) as counts per (member, stakeholder)
//! pair, and the bow-tie window (`bow_tie_window_days`) as counts per member. "Last seen" per
//! stakeholder and the last interaction overall need no window: they are running maxima,
//! because every interaction in the state occurred at or before the current instant.
//!
//! After a refold (late data, a retraction) the walk rebuilds it from the state
//! ([`Contacts::rebuild`]). Whether a link stands also depends on who is still active; that is
//! read from the state when the links are asked for, not stored here.

use super::{AccountState, Interaction};
use chrono::{DateTime, Duration, Utc};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// (member, stakeholder) pairs.
pub type Pairs = Vec<(String, String)>;

/// Whether a (member, stakeholder) pair is linked (SPEC 4.1) in a state whose contact-window
/// pairs these are: both active, and a standing relationship or a shared interaction.
pub fn is_linked(state: &AccountState, contacts: &Contacts, m: &str, s: &str) -> bool {
    state.is_member_active(m)
        && state.is_stakeholder_active(s)
        && (state.links.get(m).is_some_and(|l| l.contains_key(s))
            || contacts.pairs.get(m).is_some_and(|l| l.contains_key(s)))
}

/// The entry of `key`, made (with the default value) if there is none: the key is copied
/// only then, not at every count.
fn row_of<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("present")
}

/// [`row_of`] for a hash map.
fn hashed_row_of<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("present")
}

/// member → stakeholder → a value. Hashed: the walk looks pairs up at every interaction and
/// never lists them in order (string comparisons in ordered maps were a tenth of a rebuild).
type ByPair<V> = HashMap<String, HashMap<String, V>>;

/// An interaction inside a window: when it occurred and who took part (as folded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct InWindow {
    #[serde(serialize_with = "crate::event::instant::serialize")]
    at: DateTime<Utc>,
    position: u64,
    members: Vec<String>,
    stakeholders: Vec<String>,
    #[serde(default)]
    in_person: bool,
}

/// What the contacts know of one (member, stakeholder) pair at the current instant (SPEC 4.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairContact {
    /// The latest interaction both took part in.
    pub last: Option<DateTime<Utc>>,
    /// Such interactions in the contact window, and those of them in person.
    pub recent: u32,
    pub in_person: u32,
}

/// The interactions that count at the current instant, indexed for the views.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contacts {
    contact_days: i64,
    bow_tie_days: i64,
    contact: VecDeque<InWindow>,
    /// member → stakeholder → interactions in the contact window in which both took part.
    pairs: ByPair<u32>,
    /// member → stakeholder → those of them in person.
    #[serde(default)]
    in_person: ByPair<u32>,
    /// member → stakeholder → the latest interaction both took part in (any time).
    #[serde(
        default,
        serialize_with = "crate::event::instant::serialize_nested_values"
    )]
    pair_last: ByPair<DateTime<Utc>>,
    bow_tie: VecDeque<InWindow>,
    /// member → interactions in the bow-tie window in which it took part (once each).
    bow_tie_members: BTreeMap<String, usize>,
    /// stakeholder → the latest interaction it took part in.
    #[serde(serialize_with = "crate::event::instant::serialize_values")]
    last_seen: HashMap<String, DateTime<Utc>>,
    #[serde(serialize_with = "crate::event::instant::serialize_opt")]
    last_any: Option<DateTime<Utc>>,
}

impl Contacts {
    /// Empty, for windows of these lengths.
    pub fn new(contact_days: i64, bow_tie_days: i64) -> Contacts {
        Contacts {
            contact_days,
            bow_tie_days,
            ..Default::default()
        }
    }

    /// Rebuilt from a state at instant `t` (every interaction of the state occurred by `t`).
    pub fn rebuild(
        state: &AccountState,
        t: DateTime<Utc>,
        contact_days: i64,
        bow_tie_days: i64,
    ) -> Contacts {
        let mut c = Contacts::new(contact_days, bow_tie_days);
        let from = t - Duration::days(contact_days.max(bow_tie_days));
        let mut ordered: Vec<&Interaction> = state
            .interactions
            .iter()
            .filter(|i| i.occurred_at >= from)
            .collect();
        ordered.sort_by_key(|i| i.occurred_at);
        for i in ordered {
            c.enter(i);
        }
        c.advance(t);
        c.recount_last_seen(state);
        c
    }

    /// "Last seen" recomputed from every interaction of the state.
    fn recount_last_seen(&mut self, state: &AccountState) {
        self.last_seen.clear();
        self.last_any = None;
        self.pair_last.clear();
        for i in &state.interactions {
            self.note_pairs_met(&i.members, &i.stakeholders, i.occurred_at);
            self.note_seen(&i.stakeholders, i.occurred_at);
            self.last_any = self.last_any.max(Some(i.occurred_at));
        }
    }

    /// Keeps the latest interaction of each stakeholder (a key copied only when new).
    fn note_seen(&mut self, stakeholders: &[String], at: DateTime<Utc>) {
        for s in stakeholders {
            match self.last_seen.get_mut(s.as_str()) {
                Some(e) => *e = (*e).max(at),
                None => {
                    self.last_seen.insert(s.clone(), at);
                }
            }
        }
    }

    /// Keeps the latest meeting of each pair.
    fn note_pairs_met(&mut self, members: &[String], stakeholders: &[String], at: DateTime<Utc>) {
        for m in members {
            let row = hashed_row_of(&mut self.pair_last, m);
            for s in stakeholders {
                match row.get_mut(s) {
                    Some(e) => *e = (*e).max(at),
                    None => {
                        row.insert(s.clone(), at);
                    }
                }
            }
        }
    }

    /// Counts (`+1`) or uncounts (`-1`) an in-person interaction's pairs in the contact window.
    fn count_in_person(&mut self, w: &InWindow, delta: i64) {
        if !w.in_person {
            return;
        }
        for m in &w.members {
            let row = hashed_row_of(&mut self.in_person, m);
            for s in &w.stakeholders {
                let n = hashed_row_of(row, s);
                *n = (i64::from(*n) + delta).max(0) as u32;
                if *n == 0 {
                    row.remove(s);
                }
            }
            if row.is_empty() {
                self.in_person.remove(m);
            }
        }
    }

    /// Counts an interaction's pairs into the contact window; pushes those that start meeting.
    fn count_pairs(&mut self, w: &InWindow, started: &mut Pairs) {
        self.count_in_person(w, 1);
        for m in &w.members {
            let row = hashed_row_of(&mut self.pairs, m);
            for s in &w.stakeholders {
                let n = hashed_row_of(row, s);
                if *n == 0 {
                    started.push((m.clone(), s.clone()));
                }
                *n += 1;
            }
        }
    }

    /// Takes an interaction's pairs out of the contact window; pushes those that stop meeting.
    fn uncount_pairs(&mut self, w: &InWindow, gone: &mut Pairs) {
        self.count_in_person(w, -1);
        for m in &w.members {
            let Some(row) = self.pairs.get_mut(m) else {
                continue;
            };
            for s in &w.stakeholders {
                if let Some(n) = row.get_mut(s) {
                    *n -= 1;
                    if *n == 0 {
                        row.remove(s);
                        gone.push((m.clone(), s.clone()));
                    }
                }
            }
            if row.is_empty() {
                self.pairs.remove(m);
            }
        }
    }

    /// Counts (`+1`) or uncounts (`-1`) an interaction's members in the bow-tie window.
    fn count_members(&mut self, w: &InWindow, delta: isize) {
        for m in distinct(&w.members) {
            let n = row_of(&mut self.bow_tie_members, m);
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                self.bow_tie_members.remove(m);
            }
        }
    }

    /// An interaction leaves (its event was retracted); `state` no longer holds it. Returns
    /// the pairs that stopped meeting within the contact window.
    pub fn remove(&mut self, i: &Interaction, state: &AccountState) -> Pairs {
        let mut gone = Pairs::new();
        if let Some(k) = self.contact.iter().position(|w| w.position == i.position) {
            let w = self.contact.remove(k).expect("found");
            self.uncount_pairs(&w, &mut gone);
        }
        if let Some(k) = self.bow_tie.iter().position(|w| w.position == i.position) {
            let w = self.bow_tie.remove(k).expect("found");
            self.count_members(&w, -1);
        }
        self.recount_last_seen(state);
        gone
    }

    /// An interaction's participants changed (a person it names was introduced by an event
    /// that comes before it in stream order but entered after it): `old` is replaced by `new`
    /// in the windows it is still in, and `state` already holds `new`. Returns the pairs
    /// that stopped meeting and those that started.
    pub fn replace(
        &mut self,
        old: &Interaction,
        new: &Interaction,
        state: &AccountState,
    ) -> (Pairs, Pairs) {
        let in_contact = self.contact.iter().any(|w| w.position == old.position);
        let in_bow_tie = self.bow_tie.iter().any(|w| w.position == old.position);
        let gone = self.remove(old, state);
        let mut started = Pairs::new();
        let w = InWindow::of(new);
        if in_contact {
            self.count_pairs(&w, &mut started);
            let k = self.contact.partition_point(|x| x.at <= w.at);
            self.contact.insert(k, w.clone());
        }
        if in_bow_tie {
            self.count_members(&w, 1);
            let k = self.bow_tie.partition_point(|x| x.at <= w.at);
            self.bow_tie.insert(k, w);
        }
        (gone, started)
    }

    /// An interaction enters at its `occurred_at`, which is not before any interaction that
    /// entered earlier. Returns the (member, stakeholder) pairs it made meet that had not met
    /// within the contact window (so their links may be new).
    pub fn enter(&mut self, i: &Interaction) -> Pairs {
        let w = InWindow::of(i);
        let mut started = Pairs::new();
        self.count_pairs(&w, &mut started);
        self.count_members(&w, 1);
        self.note_pairs_met(&w.members, &w.stakeholders, w.at);
        self.note_seen(&w.stakeholders, w.at);
        if self.last_any.is_none_or(|l| w.at > l) {
            self.last_any = Some(w.at);
        }
        self.bow_tie.push_back(w.clone());
        self.contact.push_back(w);
        started
    }

    /// Moves the windows to `t`: interactions that occurred before `t − days` leave them.
    /// Returns the pairs that stopped meeting within the contact window (so their links may
    /// be gone) and whether the bow-tie window changed.
    pub fn advance(&mut self, t: DateTime<Utc>) -> (Pairs, bool) {
        let mut gone = Pairs::new();
        let from = t - Duration::days(self.contact_days);
        while self.contact.front().is_some_and(|w| w.at < from) {
            let w = self.contact.pop_front().expect("front exists");
            self.uncount_pairs(&w, &mut gone);
        }
        let mut bow_tie_moved = false;
        let from = t - Duration::days(self.bow_tie_days);
        while self.bow_tie.front().is_some_and(|w| w.at < from) {
            let w = self.bow_tie.pop_front().expect("front exists");
            self.count_members(&w, -1);
            bow_tie_moved = true;
        }
        (gone, bow_tie_moved)
    }

    /// The links (SPEC 4.1) of a state whose interactions these are: active member → active
    /// stakeholders, by a standing relationship or a shared interaction in the contact window.
    pub fn links(&self, state: &AccountState) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let standing = state
            .links
            .iter()
            .map(|(m, ss)| (m, ss.keys().collect::<Vec<_>>()));
        let window = self
            .pairs
            .iter()
            .map(|(m, ss)| (m, ss.keys().collect::<Vec<_>>()));
        for (m, ss) in standing.chain(window) {
            if !state.is_member_active(m) {
                continue;
            }
            for s in ss {
                if state.is_stakeholder_active(s) {
                    out.entry(m.clone()).or_default().insert(s.clone());
                }
            }
        }
        out
    }

    /// Interactions in the bow-tie window, and for each member (active or not) how many of
    /// them it took part in.
    pub fn bow_tie_counts(&self) -> (usize, &BTreeMap<String, usize>) {
        (self.bow_tie.len(), &self.bow_tie_members)
    }

    /// What is known of one pair now, if it ever met.
    pub fn pair_contact(&self, m: &str, s: &str) -> Option<PairContact> {
        let last = *self.pair_last.get(m)?.get(s)?;
        Some(self.pair(m, s, Some(last)))
    }

    /// What is known of one pair now (`last`: its latest meeting).
    fn pair(&self, m: &str, s: &str, last: Option<DateTime<Utc>>) -> PairContact {
        let count = |t: &ByPair<u32>| t.get(m).and_then(|r| r.get(s)).copied().unwrap_or(0);
        PairContact {
            last,
            recent: count(&self.pairs),
            in_person: count(&self.in_person),
        }
    }

    /// The latest interaction a stakeholder took part in.
    pub fn last_seen(&self, stakeholder: &str) -> Option<DateTime<Utc>> {
        self.last_seen.get(stakeholder).copied()
    }

    /// The latest interaction of the account.
    pub fn last_interaction(&self) -> Option<DateTime<Utc>> {
        self.last_any
    }
}

impl InWindow {
    fn of(i: &Interaction) -> InWindow {
        InWindow {
            at: i.occurred_at,
            position: i.position,
            members: i.members.clone(),
            stakeholders: i.stakeholders.clone(),
            in_person: i.in_person,
        }
    }
}

/// The distinct items of a list, in order of first appearance.
fn distinct(items: &[String]) -> impl Iterator<Item = &String> {
    items
        .iter()
        .enumerate()
        .filter(move |(i, x)| !items[..*i].contains(x))
        .map(|(_, x)| x)
}
