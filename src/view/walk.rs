//! The walk through business time (SPEC 5, "history"): the conditions evaluated over the
//! selected events at every instant where one of them occurred, and at every instant where a
//! time-driven condition can change (an interaction leaving a window, a stakeholder becoming
//! known for long enough, a due date passing), in `occurred_at` order.
//!
//! Observers (the stage history, the alert engine) see each instant with the account state as
//! of that instant and the cause: the event at that instant (its `position`), or the instant
//! itself for a time-driven change.
//!
//! Folding: when the stream's `occurred_at` never goes backwards and holds no retraction, the
//! events selected at each instant are a prefix of the stream and the state is folded
//! incrementally; otherwise (late data, retractions) the state is refolded at each instant
//! from the events selected at it, which is what SPEC 3 asks for.

use super::Policy;
use crate::event::{EventData, StoredEvent};
use crate::model::{fold_events, AccountState, EventRef};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use std::collections::BTreeSet;

/// What caused the evaluation at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cause {
    /// An event occurred at this instant; the position of the last one.
    Event(u64),
    /// A time-driven condition may have changed at this instant.
    Time,
}

/// One instant of the walk. The links and coverage at the instant are computed once and
/// shared by every observer.
pub struct Step<'a> {
    pub instant: DateTime<Utc>,
    pub cause: Cause,
    pub state: &'a AccountState,
    links: std::cell::OnceCell<std::collections::BTreeMap<String, BTreeSet<String>>>,
    coverage: std::cell::OnceCell<super::coverage::Coverage>,
}

impl<'a> Step<'a> {
    pub fn new(instant: DateTime<Utc>, cause: Cause, state: &'a AccountState) -> Step<'a> {
        Step {
            instant,
            cause,
            state,
            links: Default::default(),
            coverage: Default::default(),
        }
    }

    pub fn links(&self, policy: &Policy) -> &std::collections::BTreeMap<String, BTreeSet<String>> {
        self.links
            .get_or_init(|| super::coverage::links(self.state, self.instant, policy))
    }

    pub fn coverage(&self, policy: &Policy) -> &super::coverage::Coverage {
        self.coverage.get_or_init(|| {
            super::coverage::coverage_from_links(
                self.state,
                self.links(policy),
                self.instant,
                policy,
            )
        })
    }

    pub fn evidence(&self, once_cooperative: bool, policy: &Policy) -> super::stage::Evidence {
        super::stage::evidence_from(
            self.state,
            self.instant,
            once_cooperative,
            self.links(policy),
            self.coverage(policy),
        )
    }
}

/// Something that watches the walk.
pub trait Observer {
    fn observe(&mut self, step: &Step, policy: &Policy);
}

/// The instant just after a window of `days` that started at `at` has closed.
fn after_window(at: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    at + Duration::days(days) + Duration::microseconds(1)
}

/// The instants just after each window an interaction at `at` counts in has closed.
fn interaction_windows_close(at: DateTime<Utc>, policy: &Policy) -> [DateTime<Utc>; 4] {
    [
        policy.contact_window_days,
        policy.disintegration_days,
        policy.engagement_lapse_days,
        policy.bow_tie_window_days,
    ]
    .map(|days| after_window(at, days))
}

/// Every instant at which a time-driven condition can change, from these events.
pub fn time_candidates(events: &[&StoredEvent], policy: &Policy) -> BTreeSet<DateTime<Utc>> {
    let mut out = BTreeSet::new();
    let midnight_after = |date: &str| {
        crate::event::validate::parse_date(date)
            .and_then(|d| d.succ_opt())
            .map(|d| d.and_time(NaiveTime::MIN).and_utc())
    };
    for e in events {
        match &e.data {
            EventData::InteractionLogged(_) => {
                out.extend(interaction_windows_close(e.occurred_at, policy))
            }
            EventData::StakeholderAdded(_) => {
                out.insert(e.occurred_at + Duration::days(policy.engagement_lapse_days));
            }
            EventData::ValuePromised(d) => {
                out.extend(midnight_after(&d.due_date));
            }
            EventData::ValuePromiseRevised(d) => {
                if let Some(due) = &d.due_date {
                    out.extend(midnight_after(due));
                }
            }
            _ => {}
        }
    }
    out
}

/// Walks the selected events (stream order) up to `until`, calling the observers at every
/// instant; returns the state at `until`.
pub fn walk(
    account_id: &str,
    events: &[&StoredEvent],
    until: DateTime<Utc>,
    policy: &Policy,
    observers: &mut [&mut dyn Observer],
) -> AccountState {
    let events: Vec<&StoredEvent> = events
        .iter()
        .copied()
        .filter(|e| e.occurred_at <= until)
        .collect();
    let incremental = events
        .windows(2)
        .all(|w| w[0].occurred_at <= w[1].occurred_at)
        && !events
            .iter()
            .any(|e| matches!(e.data, EventData::EventRetracted(_)));
    let event_instants: BTreeSet<DateTime<Utc>> = events.iter().map(|e| e.occurred_at).collect();
    let times: Vec<DateTime<Utc>> = time_candidates(&events, policy)
        .into_iter()
        .filter(|t| *t <= until && !event_instants.contains(t))
        .collect();

    let mut state = AccountState::new(account_id);
    let mut applied = 0usize; // events folded so far (incremental mode)
    let mut time_iter = times.into_iter().peekable();
    let emit = |state: &AccountState, instant, cause, observers: &mut [&mut dyn Observer]| {
        let step = Step::new(instant, cause, state);
        for o in observers.iter_mut() {
            o.observe(&step, policy);
        }
    };
    for instant in event_instants {
        while let Some(t) = time_iter.next_if(|t| *t < instant) {
            emit(&state, t, Cause::Time, observers);
        }
        let at_instant = events.iter().filter(|e| e.occurred_at == instant);
        let cause = Cause::Event(at_instant.map(|e| e.position).max().unwrap_or(0));
        if incremental {
            while applied < events.len() && events[applied].occurred_at <= instant {
                let _ = state.apply(EventRef::from(events[applied]), false);
                applied += 1;
            }
        } else {
            state = fold_events(
                account_id,
                events.iter().copied().filter(|e| e.occurred_at <= instant),
            );
        }
        emit(&state, instant, cause, observers);
    }
    for t in time_iter {
        emit(&state, t, Cause::Time, observers);
    }
    state
}

/// Every instant after `after` at which a time-driven condition can change, from what the
/// state holds (used to continue a walk from a snapshot, where no event is pending).
pub fn state_time_candidates(
    state: &AccountState,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    policy: &Policy,
) -> BTreeSet<DateTime<Utc>> {
    let mut out = BTreeSet::new();
    for i in &state.interactions {
        out.extend(interaction_windows_close(i.occurred_at, policy));
    }
    for s in state.stakeholders.values() {
        out.insert(s.added_at + Duration::days(policy.engagement_lapse_days));
    }
    for p in state.promises.values() {
        if let Some(d) = p.due_date.succ_opt() {
            out.insert(d.and_time(NaiveTime::MIN).and_utc());
        }
    }
    out.into_iter()
        .filter(|t| *t > after && *t <= until)
        .collect()
}

/// Continues a walk whose state is at `last_instant`: emits the time-driven instants up to
/// each new event instant, folds the new events (all after `last_instant`, no retraction),
/// and emits their instants; then the time-driven instants up to `until`. Returns the last
/// event instant.
pub fn resume(
    state: &mut AccountState,
    last_instant: DateTime<Utc>,
    new_events: &[&StoredEvent],
    until: DateTime<Utc>,
    policy: &Policy,
    observers: &mut [&mut dyn Observer],
) -> DateTime<Utc> {
    let mut last = last_instant;
    let mut i = 0;
    let emit = |state: &AccountState, instant, cause, observers: &mut [&mut dyn Observer]| {
        let step = Step::new(instant, cause, state);
        for o in observers.iter_mut() {
            o.observe(&step, policy);
        }
    };
    if new_events.is_empty() {
        advance_time(state, last, until, policy, observers);
        return last;
    }
    while i < new_events.len() {
        let instant = new_events[i].occurred_at;
        for t in state_time_candidates(state, last, instant, policy) {
            if t < instant {
                emit(state, t, Cause::Time, observers);
            }
        }
        let mut position = 0;
        while i < new_events.len() && new_events[i].occurred_at == instant {
            let _ = state.apply(EventRef::from(new_events[i]), false);
            position = position.max(new_events[i].position);
            i += 1;
        }
        emit(state, instant, Cause::Event(position), observers);
        last = instant;
    }
    for t in state_time_candidates(state, last, until, policy) {
        emit(state, t, Cause::Time, observers);
    }
    last
}

/// Emits the time-driven instants in `(after, until]` for a state that does not change.
pub fn advance_time(
    state: &AccountState,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    policy: &Policy,
    observers: &mut [&mut dyn Observer],
) {
    for t in state_time_candidates(state, after, until, policy) {
        let step = Step::new(t, Cause::Time, state);
        for o in observers.iter_mut() {
            o.observe(&step, policy);
        }
    }
}
