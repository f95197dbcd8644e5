//! The walk through business time (SPEC 5, "history"): the conditions evaluated over the
//! selected events at every instant where one of them occurred, and at every instant where a
//! time-driven condition can change, in `occurred_at` order.
//!
//! The state at an instant `t` is, by SPEC 3, the fold of the events selected at `t` (those
//! that occurred by `t`) in stream (`version`) order, without the retracted ones. The walk
//! keeps that state *incrementally*: events enter at their `occurred_at`; when every entering
//! event comes after everything already folded in stream order and none is a retraction
//! (the usual case), folding them onto the state gives exactly that fold. Otherwise — late
//! data whose stream successors already entered, a retraction, an event an earlier-occurring
//! retraction names — the state is refolded from the selected events, which is rare.
//!
//! Time-driven instants come from one [`ExpiryQueue`]; the interactions that count at the
//! current instant are kept in [`Contacts`], so no instant rescans the account's history.
//!
//! A [`Walker`]'s position (state, contacts, queue) is plain data ([`Position`]), so the walk
//! can stop at an instant, be saved as a checkpoint and resume later with the same events.

use super::expiry::ExpiryQueue;
use super::step::{Cause, Observer, Step};
use crate::event::{EventData, StoredEvent};
use crate::model::{fold_events, AccountState, Contacts, EventRef};
use crate::view::{Frame, Policy};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a walk stands: everything needed to continue it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub state: AccountState,
    pub contacts: Contacts,
    pub queue: ExpiryQueue,
    /// The highest version among the events that entered.
    pub max_version: u64,
    /// The last instant evaluated.
    pub instant: Option<DateTime<Utc>>,
    /// How many events entered, and the latest `recorded_at` among them.
    pub entered: usize,
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
    pub position: Position,
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
        Walker {
            policy: policy.clone(),
            events,
            order,
            cursor,
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

    /// The state at the walk's current instant.
    pub fn state(&self) -> &AccountState {
        &self.position.state
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
                self.position.contacts.advance(t);
                self.emit(t, Cause::Time, observers);
            }
            let Some(t) = next else { break };
            let coincides = self.position.queue.take(t);
            self.position.contacts.advance(t);
            if per_event && coincides {
                let step = self.step(t, Cause::Time);
                for o in observers.iter_mut().filter(|o| o.per_event()) {
                    o.before_events(&step, &self.policy);
                }
            }
            self.enter_instant(t, per_event, observers);
            self.position.instant = Some(t);
        }
        // Nothing entered after `until`; later instants stay queued for a resumed walk.
    }

    fn step(&self, t: DateTime<Utc>, cause: Cause) -> Step<'_> {
        Step {
            frame: Frame::with_contacts(&self.position.state, t, &self.position.contacts),
            cause,
        }
    }

    fn emit(&mut self, t: DateTime<Utc>, cause: Cause, observers: &mut [&mut dyn Observer]) {
        let step = self.step(t, cause);
        for o in observers.iter_mut() {
            o.observe(&step, &self.policy);
        }
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
        let entering: Vec<usize> = self.order[start..self.cursor].to_vec();
        let disorder = entering.iter().any(|&i| {
            let e = self.events[i];
            e.version < self.position.max_version || matches!(e.data, EventData::EventRetracted(_))
        });
        let last = entering.len() - 1;
        for (k, &i) in entering.iter().enumerate() {
            let e = self.events[i];
            if !disorder {
                self.apply(e);
            } else if per_event || k == last {
                self.refold(t, e.version);
            }
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
        }
    }

    /// Folds one event in order onto the state, keeping the contacts and the queue.
    fn apply(&mut self, e: &StoredEvent) {
        let p = &mut self.position;
        let before = p.state.interactions.len();
        let _ = p.state.apply(EventRef::from(e), false);
        match &e.data {
            EventData::InteractionLogged(_) if p.state.interactions.len() > before => {
                let i = p.state.interactions.last().expect("just pushed");
                p.contacts.enter(i);
                p.queue.interaction(i.occurred_at, &self.policy);
            }
            EventData::StakeholderAdded(_) => p.queue.stakeholder(e.occurred_at, &self.policy),
            EventData::ValuePromised(d) => {
                if let Some(date) = crate::event::validate::parse_date(&d.due_date) {
                    p.queue.due(date)
                }
            }
            EventData::ValuePromiseRevised(d) => {
                if let Some(date) = d
                    .due_date
                    .as_deref()
                    .and_then(crate::event::validate::parse_date)
                {
                    p.queue.due(date)
                }
            }
            _ => {}
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
        let p = &mut self.position;
        p.contacts = Contacts::rebuild(
            &state,
            t,
            self.policy.contact_window_days,
            self.policy.bow_tie_window_days,
        );
        let mut queue = std::mem::take(&mut p.queue);
        queue.state(&state, t, &self.policy);
        p.queue = queue;
        p.state = state;
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
