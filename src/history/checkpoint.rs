//! Checkpoints in business time: a walk's [`Position`] and its stage and alert histories,
//! saved at an instant so that a later question resumes there instead of replaying.
//!
//! A checkpoint at instant `c` is built from *all* of an account's events; it holds for a
//! selection (`--as-of T`, `--known-at K`) when `c ≤ T` and every event that occurred by `c`
//! is selected, i.e. it was recorded by `K` ([`Checkpoint::serves`]). A late event that
//! occurred at `o` changes everything from `o` on, so it invalidates the checkpoints at or
//! after `o` and no others. Checkpoints are a cache: a walk from the start gives the same.

use super::alerts::AlertTracker;
use super::stage::StageTracker;
use super::step::Observer;
use super::walk::{Position, Walker};
use crate::event::StoredEvent;
use crate::model::AccountState;
use crate::view::{Policy, Selection};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A walk's position with the histories it has written so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub position: Position,
    pub stage: StageTracker,
    pub alerts: AlertTracker,
}

/// A checkpoint's parts borrowed from a walk in progress: it serializes as the
/// [`Checkpoint`] it would be, without the copy.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckpointRef<'a> {
    pub position: &'a Position,
    pub stage: &'a StageTracker,
    pub alerts: &'a AlertTracker,
}

impl CheckpointRef<'_> {
    /// The instant it was taken at (`None` for the start).
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        self.position.instant
    }

    /// The checkpoint, copied.
    pub fn to_owned(self) -> Checkpoint {
        Checkpoint {
            position: self.position.clone(),
            stage: self.stage.clone(),
            alerts: self.alerts.clone(),
        }
    }
}

/// The result of a walk to a selection's as-of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    pub state: AccountState,
    /// The highest version among the selected events that entered (retractions too).
    pub version: u64,
    pub stage: StageTracker,
    pub alerts: AlertTracker,
}

impl Checkpoint {
    /// The start of an account's walk.
    pub fn start(account_id: &str, policy: &Policy) -> Checkpoint {
        Checkpoint {
            position: Position::start(account_id, policy),
            stage: StageTracker::default(),
            alerts: AlertTracker::new(account_id),
        }
    }

    /// The instant it was taken at (`None` for the start).
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        self.position.instant
    }

    /// Its parts, borrowed.
    pub fn as_ref(&self) -> CheckpointRef<'_> {
        CheckpointRef {
            position: &self.position,
            stage: &self.stage,
            alerts: &self.alerts,
        }
    }

    /// Whether a walk over `sel`'s events would pass through this checkpoint.
    pub fn serves(&self, sel: &Selection) -> bool {
        self.position.instant.is_none_or(|c| c <= sel.as_of)
            && match (sel.known_at, self.position.max_recorded) {
                (Some(k), Some(r)) => r <= k,
                _ => true,
            }
    }

    /// Walks on from this checkpoint over `events` (the selected events, stream order: all of
    /// them, or at least every one that occurred after the checkpoint when no refold can be
    /// needed) to `until`.
    pub fn walk_to(
        self,
        events: Vec<&StoredEvent>,
        until: DateTime<Utc>,
        policy: &Policy,
    ) -> Walked {
        let Checkpoint {
            position,
            mut stage,
            mut alerts,
        } = self;
        let mut w = Walker::resume(events, position, policy);
        {
            let mut observers: [&mut dyn Observer; 2] = [&mut stage, &mut alerts];
            w.run_until(until, &mut observers);
        }
        Walked {
            version: w.position.max_version,
            state: w.position.state,
            stage,
            alerts,
        }
    }

    /// Walks on over `events` to the last of them, taking a checkpoint each time another
    /// `every` events have entered (counted over the whole walk). Returns those checkpoints
    /// and the final one (at the last event's instant).
    pub fn walk_all(
        self,
        events: Vec<&StoredEvent>,
        every: usize,
        policy: &Policy,
    ) -> (Vec<Checkpoint>, Checkpoint) {
        let mut taken = Vec::new();
        let last = self.walk_all_into(events, every, policy, |c| taken.push(c.to_owned()));
        (taken, last)
    }

    /// [`Checkpoint::walk_all`], showing each regular checkpoint to `taken` as it is reached
    /// (borrowed: a save encodes it there, with no copy made); returns the final one.
    pub fn walk_all_into(
        self,
        events: Vec<&StoredEvent>,
        every: usize,
        policy: &Policy,
        mut taken: impl FnMut(CheckpointRef<'_>),
    ) -> Checkpoint {
        let Checkpoint {
            position,
            mut stage,
            mut alerts,
        } = self;
        let every = every.max(1);
        let mut w = Walker::resume(events, position, policy);
        loop {
            let entered = w.position.entered;
            let next = (entered / every + 1) * every;
            let Some(t) = w.upcoming_instant(next - entered - 1) else {
                break;
            };
            {
                let mut observers: [&mut dyn Observer; 2] = [&mut stage, &mut alerts];
                w.run_until(t, &mut observers);
            }
            taken(CheckpointRef {
                position: &w.position,
                stage: &stage,
                alerts: &alerts,
            });
        }
        if let Some(t) = w.last_event_instant() {
            let mut observers: [&mut dyn Observer; 2] = [&mut stage, &mut alerts];
            w.run_until(t, &mut observers);
        }
        Checkpoint {
            position: w.position,
            stage,
            alerts,
        }
    }
}
