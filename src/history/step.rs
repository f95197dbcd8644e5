//! One instant of the walk through business time: the account's state there (a
//! [`Frame`]), what caused the evaluation, and the [`Observer`]s that watch the walk.

use crate::event::StoredEvent;
use crate::view::{Frame, Policy};
use serde::{Deserialize, Serialize};

/// What caused the evaluation at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// An event occurred at this instant; the position of the last one.
    Event(u64),
    /// A time-driven condition may have changed at this instant.
    Time,
}

impl Cause {
    /// The causing event's position, `None` for a time-driven change (SPEC 8's `position`).
    pub fn position(self) -> Option<u64> {
        match self {
            Cause::Event(p) => Some(p),
            Cause::Time => None,
        }
    }
}

/// One instant of the walk.
pub struct Step<'a> {
    pub frame: Frame<'a>,
    pub cause: Cause,
}

/// Something that watches the walk.
pub trait Observer {
    /// Called at every instant, after the events at it (if any) were applied.
    fn observe(&mut self, step: &Step, policy: &Policy);

    /// Whether the observer wants each event's own effect ([`Observer::after_event`]) and
    /// the state just before the events of an instant when a time-driven change coincides
    /// with them ([`Observer::before_events`]). Only the audit timeline does.
    fn per_event(&self) -> bool {
        false
    }

    /// The state before the events of an instant, at that instant, when a time-driven change
    /// may happen at the same instant (cause [`Cause::Time`]).
    fn before_events(&mut self, _step: &Step, _policy: &Policy) {}

    /// The state just after one event of an instant was applied (cause: that event). After
    /// the instant's last event, [`Observer::observe`] sees the same step.
    fn after_event(&mut self, _event: &StoredEvent, _step: &Step, _policy: &Policy) {}
}
