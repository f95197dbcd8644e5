//! The walk through business time (SPEC 5, "history"): the conditions evaluated over the
//! selected events at every instant where one of them occurred, and at every instant where a
//! time-driven condition can change, in `occurred_at` order.
//!
//! The state at an instant `t` is, by SPEC 3, the fold of the events selected at `t` (those
//! that occurred by `t`) in stream (`version`) order, without the retracted ones. The walk
//! keeps that state *incrementally*: events enter at their `occurred_at`; when every entering
//! event comes after everything already folded in stream order (the usual case), folding it
//! onto the state gives exactly that fold. A late event's stream predecessors enter after it:
//! they still fold in place when they commute with what entered before them
//! ([`Footprint`]), a person introduced that way repairs the interactions that name them, and
//! a retracted interaction or delivery is taken out in place. Anything else (a conflicting
//! late event, another retraction) refolds the state from the selected events, which is rare.
//!
//! Time-driven instants come from one [`ExpiryQueue`]; the interactions that count at the
//! current instant are kept in [`Contacts`], so no instant rescans the account's history.
//!
//! A [`Walker`]'s position (state, contacts, queue) is plain data ([`Position`]), so the walk
//! can stop at an instant, be saved as a checkpoint and resume later with the same events.

use super::expiry::ExpiryQueue;
use super::step::{Cause, Observer, Step};
use crate::event::{EventData, StoredEvent};
use crate::model::footprint::Footprint;
use crate::model::{fold_events, is_linked, AccountState, Contacts, EventRef};
use crate::view::{Frame, Policy, Shared};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// Where a walk stands: everything needed to continue it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub state: AccountState,
    pub contacts: Contacts,
    pub queue: ExpiryQueue,
    /// The highest version among the events that entered.
    pub max_version: u64,
    /// The last instant evaluated.
    #[serde(serialize_with = "crate::event::instant::serialize_opt")]
    pub instant: Option<DateTime<Utc>>,
    /// How many events entered, and the latest `recorded_at` among them.
    pub entered: usize,
    #[serde(serialize_with = "crate::event::instant::serialize_opt")]
    pub max_recorded: Option<DateTime<Utc>>,
}

impl Position {
    /// The start of an account's walk.
    pub fn start(account_id: &str, policy: &Policy) -> Position {
        Position {
            state: AccountState::new(account_id),
            contacts: Contacts::new(policy.contact_window_days, policy.bow_tie_window_days),
            queue: ExpiryQueue::default(),
            max_version: 0,
            instant: None,
            entered: 0,
            max_recorded: None,
        }
    }
}

/// Walks one account's selected events through business time.
pub struct Walker<'e> {
    policy: Policy,
    /// The selected events, in stream order.
    events: Vec<&'e StoredEvent>,
    /// Indices into `events`, by (`occurred_at`, `version`).
    order: Vec<usize>,
    /// How many of `order` have entered.
    cursor: usize,
    /// Indices into `events` (stream order) that entered although an earlier one in stream
    /// order has not yet: the late events waiting for their stream predecessors.
    ahead: std::collections::BTreeSet<usize>,
    /// The first index into `events` that has not entered.
    low: usize,
    entered: Vec<bool>,
    /// Indices of events named by a retraction that has entered: they fold to nothing.
    retracted: std::collections::HashSet<usize>,
    /// Event id → index, built at the first retraction.
    ids: Option<foldhash::HashMap<&'e str, usize>>,
    /// What the last evaluated instant computed that the next may reuse (see
    /// [`Walker::invalidate`]); not part of the position, rebuilt after a resume.
    shared: Shared,
    pub position: Position,
}

/// How much of [`Shared`] an event or a window move invalidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Touched {
    Nothing,
    /// The stage evidence (objectives, plan, revenue, functions and levels).
    Evidence,
    /// Coverage too (who is key, successors, names).
    Coverage,
    /// People changed (a function, level or role may have): the link counts too.
    People,
    /// Links too (and so everything).
    Links,
}

impl<'e> Walker<'e> {
    /// A walk from the start over `events` (the selected events, in stream order).
    pub fn new(account_id: &str, events: Vec<&'e StoredEvent>, policy: &Policy) -> Walker<'e> {
        let position = Position::start(account_id, policy);
        Walker::resume(events, position, policy)
    }

    /// A walk continuing from a saved position over the same selected events: those that
    /// occurred at or before the position's instant have entered.
    pub fn resume(events: Vec<&'e StoredEvent>, position: Position, policy: &Policy) -> Walker<'e> {
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| (events[i].occurred_at, events[i].version));
        let cursor = match position.instant {
            Some(t) => order.partition_point(|&i| events[i].occurred_at <= t),
            None => 0,
        };
        let mut entered = vec![false; events.len()];
        for &i in &order[..cursor] {
            entered[i] = true;
        }
        let low = entered.iter().position(|e| !e).unwrap_or(entered.len());
        let entered_retractions: Vec<&str> = order[..cursor]
            .iter()
            .filter_map(|&i| match &events[i].data {
                EventData::EventRetracted(r) => Some(r.target_event_id.as_str()),
                _ => None,
            })
            .collect();
        let retracted = events
            .iter()
            .enumerate()
            .filter(|(_, e)| entered_retractions.contains(&e.event_id.as_str()))
            .map(|(i, _)| i)
            .collect();
        let ahead = (low..entered.len()).filter(|&i| entered[i]).collect();
        Walker {
            policy: policy.clone(),
            events,
            order,
            cursor,
            ahead,
            low,
            entered,
            retracted,
            ids: None,
            shared: Shared::default(),
            position,
        }
    }

    /// The business instant of the next event to enter, if any.
    pub fn next_event_instant(&self) -> Option<DateTime<Utc>> {
        self.order
            .get(self.cursor)
            .map(|&i| self.events[i].occurred_at)
    }

    /// The business instant of the `n`-th event (from 0) still to enter, if any.
    pub fn upcoming_instant(&self, n: usize) -> Option<DateTime<Utc>> {
        self.order
            .get(self.cursor + n)
            .map(|&i| self.events[i].occurred_at)
    }

    /// The business instant of the last event to enter, if any is still to.
    pub fn last_event_instant(&self) -> Option<DateTime<Utc>> {
        self.order[self.cursor..]
            .last()
            .map(|&i| self.events[i].occurred_at)
    }

    /// Walks on to `until` (inclusive), calling the observers at every instant.
    pub fn run_until(&mut self, until: DateTime<Utc>, observers: &mut [&mut dyn Observer]) {
        let per_event = observers.iter().any(|o| o.per_event());
        loop {
            let next = self.next_event_instant().filter(|t| *t <= until);
            while let Some(t) = self.position.queue.pop_before(next, until) {
                if self.position.instant.is_some_and(|last| t <= last) {
                    continue; // already past (a due date before its promise, say)
                }
                let (gone, bow_tie_moved) = self.position.contacts.advance(t);
                let changed = self.patch_links(&gone);
                if changed || self.time_matters(t, bow_tie_moved) {
                    self.emit(t, Cause::Time, observers);
                } else {
                    self.position.instant = Some(t);
                }
            }
            let Some(t) = next else { break };
            let coincides = self.position.queue.take(t);
            let (gone, _) = self.position.contacts.advance(t);
            self.patch_links(&gone);
            if per_event && coincides {
                let step = self.step(t, Cause::Time);
                for o in observers.iter_mut().filter(|o| o.per_event()) {
                    o.before_events(&step, &self.policy);
                }
                self.shared = step.frame.shared();
            }
            self.enter_instant(t, per_event, observers);
            self.position.instant = Some(t);
        }
        // Nothing entered after `until`; later instants stay queued for a resumed walk.
    }

    fn step(&self, t: DateTime<Utc>, cause: Cause) -> Step<'_> {
        Step {
            frame: Frame::with_shared(
                &self.position.state,
                t,
                &self.position.contacts,
                &self.shared,
                &self.policy,
            ),
            cause,
        }
    }

    /// Brings the carried links up to date for these pairs (a link made or dropped, an
    /// interaction's new pairs, pairs that aged out, a person who left); returns whether any
    /// link changed, in which case what depends on the links is forgotten.
    fn patch_links(&mut self, pairs: &[(String, String)]) -> bool {
        let Shared { links, counts, .. } = &mut self.shared;
        let Some(links) = links.as_mut() else {
            return !pairs.is_empty();
        };
        let (state, contacts) = (&self.position.state, &self.position.contacts);
        let mut changed = false;
        // The changed links to key stakeholders: what the coverage must be brought up to
        // date for (a link to anyone else changes the link counts only).
        let mut key: Vec<(&str, &str, bool)> = Vec::new();
        for (m, s) in pairs {
            let now = is_linked(state, contacts, m, s);
            let had = links.get(m).is_some_and(|x| x.contains(s));
            if now == had {
                continue;
            }
            changed = true;
            if state
                .stakeholders
                .get(s)
                .is_some_and(|x| crate::view::coverage::is_key(x, &self.policy))
            {
                key.push((m, s, now));
            }
            if let Some(c) = counts.as_mut() {
                if !Rc::make_mut(c).change(state, m, s, now) {
                    *counts = None; // counted again from the links when next needed
                }
            }
            let links = Rc::make_mut(links);
            if now {
                links.entry(m.clone()).or_default().insert(s.clone());
            } else if let Some(row) = links.get_mut(m) {
                row.remove(s);
                if row.is_empty() {
                    links.remove(m);
                }
            }
        }
        if changed {
            if let Some(coverage) = self.shared.coverage.as_mut() {
                if !key.is_empty() {
                    let links = self.shared.links.as_ref().expect("patched above");
                    Rc::make_mut(coverage).relink(state, links, &key);
                }
            }
            self.invalidate(Touched::Evidence);
        }
        changed
    }

    /// The pairs an event may link or unlink (besides an interaction's, told by the contacts).
    fn pairs_of(&self, data: &EventData) -> Vec<(String, String)> {
        let linked = |m: &str| -> Vec<(String, String)> {
            self.shared
                .links
                .as_ref()
                .and_then(|l| l.get(m))
                .map(|ss| ss.iter().map(|s| (m.to_string(), s.clone())).collect())
                .unwrap_or_default()
        };
        match data {
            EventData::RelationshipLinked(d) => {
                vec![(d.member_id.clone(), d.stakeholder_id.clone())]
            }
            EventData::RelationshipUnlinked(d) => {
                vec![(d.member_id.clone(), d.stakeholder_id.clone())]
            }
            EventData::TeamMemberDeparted(d) => linked(&d.member_id),
            EventData::StakeholderDeparted(d) => self
                .shared
                .links
                .as_ref()
                .map(|l| {
                    l.iter()
                        .filter(|(_, ss)| ss.contains(&d.stakeholder_id))
                        .map(|(m, _)| (m.clone(), d.stakeholder_id.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// After a person was introduced: a new person has no links yet (interactions that name
    /// them were folded without them, and are repaired after), so the link counts stand and
    /// the coverage gains the person in place; the evidence is formed again.
    fn person_added(&mut self) {
        let Shared {
            links, coverage, ..
        } = &mut self.shared;
        if let (Some(links), Some(coverage)) = (links.as_ref(), coverage.as_mut()) {
            Rc::make_mut(coverage).person_added(&self.position.state, links, &self.policy);
        }
        self.invalidate(Touched::Evidence);
    }

    /// What the link counts (function, level) and the coverage (whether key) read of a
    /// stakeholder.
    fn stakeholder_reading(&self, id: &str) -> (Option<(String, String)>, bool) {
        let s = self.position.state.stakeholders.get(id);
        (
            s.map(|s| (s.function.clone(), s.level.clone())),
            s.is_some_and(|s| crate::view::coverage::is_key(s, &self.policy)),
        )
    }

    /// Forgets what an event or a window move may have changed.
    fn invalidate(&mut self, touched: Touched) {
        if touched >= Touched::Links {
            self.shared.links = None;
        }
        if touched >= Touched::People {
            self.shared.counts = None;
        }
        if touched >= Touched::Coverage {
            self.shared.coverage = None;
        }
        if touched >= Touched::Evidence {
            self.shared.evidence = None;
        }
    }

    /// Whether a time-driven instant can change anything, when no link aged out: the bow-tie
    /// share moved across its threshold, a key stakeholder's last contact left the lapse
    /// window or it became known for long enough, the last interaction left the
    /// disintegration window, or a due date passed. Otherwise the instant is skipped: it
    /// would record nothing.
    fn time_matters(&self, t: DateTime<Utc>, bow_tie_moved: bool) -> bool {
        let (Some(links), Some(coverage)) = (&self.shared.links, &self.shared.coverage) else {
            return true;
        };
        let policy = &self.policy;
        let c = &self.position.contacts;
        // A contract starting to renew or lapsing; while one is up for renewal, the map's
        // status (strengths move with time) decides a renewal at risk.
        let state = &self.position.state;
        if state.contracts.values().any(|k| {
            !k.ended
                && (crate::view::contracts::up_for_renewal(k, t, policy)
                    || t.time() == chrono::NaiveTime::MIN)
        }) {
            return true;
        }
        if bow_tie_moved {
            let (recent, by_member) = c.bow_tie_counts();
            if crate::view::coverage::bow_tie(links, recent, by_member, policy) != coverage.bow_tie
            {
                return true;
            }
        }
        // The instants that would have to lie behind: a window of N days closes at `t` for an
        // interaction at `t − N days − 1 µs`; a stakeholder added at `t − 90 days` becomes
        // known for long enough; a due date passes at `t` when `t` is the midnight after it.
        let micro = chrono::Duration::microseconds(1);
        let lapse = chrono::Duration::days(policy.engagement_lapse_days);
        let (seen_by, added_by) = (t - lapse - micro, t - lapse);
        let silent_since = t - chrono::Duration::days(policy.disintegration_days) - micro;
        let state = &self.position.state;
        let due = (t.time() == chrono::NaiveTime::MIN).then(|| t.date_naive().pred_opt());
        state
            .stakeholders
            .iter()
            .any(|(id, s)| s.added_at == added_by || c.last_seen(id).is_some_and(|l| l == seen_by))
            || c.last_interaction() == Some(silent_since)
            || due
                .flatten()
                .is_some_and(|d| state.promises.values().any(|p| p.due_date == d))
    }

    fn emit(&mut self, t: DateTime<Utc>, cause: Cause, observers: &mut [&mut dyn Observer]) {
        let step = self.step(t, cause);
        for o in observers.iter_mut() {
            o.observe(&step, &self.policy);
        }
        self.shared = step.frame.shared();
        self.position.instant = Some(t);
    }

    /// Lets the events that occurred at `t` enter, and evaluates the instant.
    fn enter_instant(
        &mut self,
        t: DateTime<Utc>,
        per_event: bool,
        observers: &mut [&mut dyn Observer],
    ) {
        let start = self.cursor;
        while self
            .order
            .get(self.cursor)
            .is_some_and(|&i| self.events[i].occurred_at == t)
        {
            self.cursor += 1;
        }
        // `order` sorts by (occurred_at, version) and indices follow versions: the instant's
        // events are already in stream order.
        let entering: Vec<usize> = self.order[start..self.cursor].to_vec();
        let last = entering.len() - 1;
        for (k, &i) in entering.iter().enumerate() {
            let e = self.events[i];
            self.schedule(e);
            if self.can_fold(i) {
                self.fold(i);
            } else {
                self.refold(t, e.version);
            }
            self.mark_entered(i);
            let p = &mut self.position;
            p.max_version = p.max_version.max(e.version);
            p.entered += 1;
            p.max_recorded = p.max_recorded.max(Some(e.recorded_at));
            if !(per_event || k == last) {
                continue;
            }
            let step = self.step(t, Cause::Event(e.position));
            if per_event {
                for o in observers.iter_mut().filter(|o| o.per_event()) {
                    o.after_event(e, &step, &self.policy);
                }
            }
            if k == last {
                for o in observers.iter_mut() {
                    o.observe(&step, &self.policy);
                }
            }
            self.shared = step.frame.shared();
        }
    }

    /// The index of the event a retraction names, if it is among the selected events.
    fn index_of(&mut self, event_id: &str) -> Option<usize> {
        let events = &self.events;
        self.ids
            .get_or_insert_with(|| {
                events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.event_id.as_str(), i))
                    .collect()
            })
            .get(event_id)
            .copied()
    }

    /// A retraction's target, when its effect can be taken out of the state in place: an
    /// interaction (nothing else reads one) whose id no later event that entered uses again,
    /// or a delivery.
    fn undoable(&mut self, r: usize, target: &str) -> Option<usize> {
        let x = self.index_of(target)?;
        match &self.events[x].data {
            EventData::InteractionLogged(d) => {
                let reused = self.ahead.range(r + 1..).any(|&j| {
                    matches!(&self.events[j].data, EventData::InteractionLogged(o) if o.interaction_id == d.interaction_id)
                });
                (!reused).then_some(x)
            }
            // A delivery only adds to its promise's sum, which nothing else reads.
            EventData::ValueDelivered(_) => Some(x),
            _ => None,
        }
    }

    /// Whether a delivery (at index `x`) took effect: its promise was introduced, and not
    /// retracted, by an event before it in stream order that has entered.
    fn delivery_counted(&self, x: usize, promise_id: &str) -> bool {
        self.events[..x].iter().enumerate().any(|(i, e)| {
            matches!(&e.data, EventData::ValuePromised(p) if p.promise_id == promise_id)
                && self.entered[i]
                && !self.retracted.contains(&i)
        })
    }

    /// Whether the event at index `i` can be folded onto the state as it is: it comes after
    /// everything folded in stream order, or it commutes with every event folded before it
    /// that comes after it in stream order; and it is no barrier (a retraction, say).
    fn can_fold(&mut self, i: usize) -> bool {
        if self.retracted.contains(&i) {
            return true; // it folds to nothing
        }
        if let EventData::EventRetracted(r) = &self.events[i].data {
            return match self.index_of(&r.target_event_id) {
                None => true,
                Some(x) if !self.entered[x] => true,
                Some(_) => self.undoable(i, &r.target_event_id).is_some(),
            };
        }
        if self.ahead.range(i + 1..).next().is_none() {
            return true; // in stream order
        }
        let f = Footprint::of(&self.events[i].data);
        let person = introduces_person(&self.events[i].data);
        !f.barrier
            && self.ahead.range(i + 1..).all(|&j| {
                let d = &self.events[j].data;
                f.commutes(&Footprint::of(d))
                    || (person && matches!(d, EventData::InteractionLogged(_)))
            })
    }

    /// After a person was introduced out of stream order, the interactions that entered before
    /// it but come after it in stream order name that person too (as a fold in stream order
    /// would have them): their participants are filtered again.
    fn repair_interactions(&mut self, i: usize) {
        if !introduces_person(&self.events[i].data) {
            return;
        }
        let ahead: Vec<usize> = self.ahead.range(i + 1..).copied().collect();
        for j in ahead {
            let EventData::InteractionLogged(d) = &self.events[j].data else {
                continue;
            };
            let position = self.events[j].position;
            let p = &mut self.position;
            let Some(k) = p
                .state
                .interactions
                .iter()
                .position(|x| x.position == position)
            else {
                continue;
            };
            let (members, stakeholders) = p.state.known_participants(d);
            let old = &p.state.interactions[k];
            if old.members == members && old.stakeholders == stakeholders {
                continue;
            }
            let old = old.clone();
            p.state.interactions[k].members = members;
            p.state.interactions[k].stakeholders = stakeholders;
            let new = p.state.interactions[k].clone();
            let (gone, started) = p.contacts.replace(&old, &new, &p.state);
            let mut pairs = gone;
            pairs.extend(started);
            self.patch_links(&pairs);
        }
    }

    fn mark_entered(&mut self, i: usize) {
        self.entered[i] = true;
        if i == self.low {
            while self.low < self.entered.len() && self.entered[self.low] {
                self.ahead.remove(&self.low);
                self.low += 1;
            }
        } else {
            self.ahead.insert(i);
        }
    }

    /// Queues the time-driven instants an event can cause (whether or not it takes effect:
    /// an extra instant costs one evaluation, a missing one a wrong answer).
    fn schedule(&mut self, e: &StoredEvent) {
        let q = &mut self.position.queue;
        let state = &self.position.state;
        match &e.data {
            EventData::InteractionLogged(_) => {
                q.interaction(e.occurred_at, &self.policy);
                if !state.contracts.is_empty() {
                    q.recency(e.occurred_at);
                }
            }
            EventData::ContractSigned(d) => {
                if let Some(date) = crate::event::validate::parse_date(&d.renewal_date) {
                    q.contract(date, &self.policy);
                }
                // The meetings whose recency can still change now matter too.
                let since = e.occurred_at - chrono::Duration::days(182);
                for i in state.interactions.iter().filter(|i| i.occurred_at >= since) {
                    q.recency(i.occurred_at);
                }
            }
            EventData::ContractRenewed(d) => {
                if let Some(date) = crate::event::validate::parse_date(&d.renewal_date) {
                    q.contract(date, &self.policy);
                }
            }
            EventData::StakeholderAdded(_) => q.stakeholder(e.occurred_at, &self.policy),
            EventData::ValuePromised(d) => {
                if let Some(date) = crate::event::validate::parse_date(&d.due_date) {
                    q.due(date)
                }
            }
            EventData::ValuePromiseRevised(d) => {
                if let Some(date) = d
                    .due_date
                    .as_deref()
                    .and_then(crate::event::validate::parse_date)
                {
                    q.due(date)
                }
            }
            _ => {}
        }
    }

    /// Folds the event at index `i` onto the state. When later events in stream order were
    /// folded already (they commute with it, see [`Walker::can_fold`]), the stream-ordered
    /// lists and the state's version are put back as a fold in stream order leaves them.
    fn fold(&mut self, i: usize) {
        let e = self.events[i];
        if self.retracted.contains(&i) {
            return;
        }
        if let EventData::EventRetracted(r) = &e.data {
            if let Some(x) = self.index_of(&r.target_event_id) {
                if self.entered[x] {
                    self.take_out(x);
                }
                self.retracted.insert(x);
            }
        }
        let in_order = self.ahead.range(i + 1..).next().is_none();
        let p = &mut self.position;
        let (version, position) = (p.state.version, p.state.position);
        let lens = (
            p.state.interactions.len(),
            p.state.assessments.len(),
            p.state.classifications.len(),
        );
        // What the link counts and the coverage read of a stakeholder an update may change.
        let updated = match &e.data {
            EventData::StakeholderUpdated(d) => Some(self.stakeholder_reading(&d.stakeholder_id)),
            _ => None,
        };
        let p = &mut self.position;
        let _ = p.state.apply(EventRef::from(e), false);
        let mut pairs = Vec::new();
        if p.state.interactions.len() > lens.0 {
            let i = p.state.interactions.last().expect("just pushed");
            pairs = p.contacts.enter(i);
        }
        pairs.extend(self.pairs_of(&e.data));
        self.patch_links(&pairs);
        if introduces_person(&e.data) {
            self.person_added();
        } else if let (EventData::StakeholderUpdated(d), Some(before)) = (&e.data, updated) {
            // A title, attitude or influence that leaves who is key alone changes neither.
            let after = self.stakeholder_reading(&d.stakeholder_id);
            if after.0 != before.0 {
                self.shared.counts = None;
            }
            if after.1 != before.1 {
                self.shared.coverage = None;
            }
            self.invalidate(Touched::Evidence);
        } else {
            self.invalidate(touches(&e.data));
        }
        self.repair_interactions(i);
        if in_order {
            return;
        }
        let p = &mut self.position;
        p.state.version = version;
        p.state.position = position;
        let s = &mut p.state;
        if s.interactions.len() > lens.0 {
            let x = s.interactions.pop().expect("just pushed");
            let at = s.interactions.partition_point(|i| i.position < x.position);
            s.interactions.insert(at, x);
        }
        if s.assessments.len() > lens.1 {
            let x = s.assessments.pop().expect("just pushed");
            let at = s.assessments.partition_point(|a| a.position < x.position);
            s.assessments.insert(at, x);
        }
        if s.classifications.len() > lens.2 {
            let x = s.classifications.pop().expect("just pushed");
            let at = s
                .classifications
                .partition_point(|c| c.position < x.position);
            s.classifications.insert(at, x);
        }
    }

    /// Takes a retracted interaction or delivery out of the state (see [`Walker::undoable`]).
    fn take_out(&mut self, x: usize) {
        if let EventData::ValueDelivered(d) = &self.events[x].data {
            if self.delivery_counted(x, &d.promise_id) {
                self.position.state.take_back_delivery(d);
            }
            return;
        }
        let position = self.events[x].position;
        let p = &mut self.position;
        if let Some(k) = p
            .state
            .interactions
            .iter()
            .position(|i| i.position == position)
        {
            let gone = p.state.interactions.remove(k);
            p.state.interaction_ids.remove(&gone.id);
            let pairs = p.contacts.remove(&gone, &p.state);
            self.patch_links(&pairs);
        }
    }

    /// Refolds the state at `t` from the selected events: those that occurred before `t`,
    /// and those at `t` up to `version`.
    fn refold(&mut self, t: DateTime<Utc>, version: u64) {
        let account_id = self.position.state.account_id.clone();
        let events = self
            .events
            .iter()
            .copied()
            .filter(|e| e.occurred_at < t || (e.occurred_at == t && e.version <= version));
        let state = fold_events(&account_id, events);
        self.invalidate(Touched::Links);
        let p = &mut self.position;
        p.contacts = Contacts::rebuild(
            &state,
            t,
            self.policy.contact_window_days,
            self.policy.bow_tie_window_days,
        );
        p.state = state;
    }
}

/// Whether an event introduces a person (whom interactions may name).
fn introduces_person(data: &EventData) -> bool {
    matches!(
        data,
        EventData::StakeholderAdded(_) | EventData::TeamMemberAssigned(_)
    )
}

/// How much of what an instant computed an event can change (an interaction's new pairs are
/// told by the contacts).
fn touches(data: &EventData) -> Touched {
    use EventData as E;
    match data {
        // Links are patched pair by pair (see `Walker::patch_links`).
        E::RelationshipLinked(_)
        | E::RelationshipUnlinked(_)
        | E::AccountOpened(_)
        | E::AccountClosed(_)
        | E::AccountReopened(_)
        | E::EventRetracted(_) => Touched::Nothing,
        // Who is active, who is key, names, successors, functions, levels and roles. (A person
        // introduced in place is taken in by `Walker::person_added` instead.)
        E::StakeholderAdded(_)
        | E::StakeholderDeparted(_)
        | E::TeamMemberAssigned(_)
        | E::TeamMemberDeparted(_)
        | E::StakeholderUpdated(_)
        | E::SuccessorDesignated(_) => Touched::People,
        E::ObjectiveProposed(_)
        | E::ObjectiveAgreed(_)
        | E::ObjectiveClosed(_)
        | E::PlanAgreed(_)
        | E::RevenueRecorded(_) => Touched::Evidence,
        E::InteractionLogged(_)
        | E::ValuePromised(_)
        | E::ValueDelivered(_)
        | E::ValuePromiseRevised(_)
        | E::ValuePromiseWithdrawn(_)
        | E::InvestmentRecorded(_)
        | E::StageAssessed(_)
        | E::AccountClassified(_)
        | E::ContractSigned(_)
        | E::ContractRenewed(_)
        | E::ContractEnded(_)
        | E::PersonalDataErased(_) => Touched::Nothing,
    }
}

/// Walks the selected events (stream order) from the start up to `until`, calling the
/// observers at every instant; returns the state at `until`.
pub fn walk(
    account_id: &str,
    events: &[&StoredEvent],
    until: DateTime<Utc>,
    policy: &Policy,
    observers: &mut [&mut dyn Observer],
) -> AccountState {
    let mut w = Walker::new(account_id, events.to_vec(), policy);
    w.run_until(until, observers);
    w.position.state
}
