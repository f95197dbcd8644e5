//! THE REFERENCE: kamlog's business-time walk as it was before the incremental history
//! engine (tests only), kept to prove the engine equal to it.
//!
//! The conditions are evaluated over the selected events at every instant where one of them
//! occurred, and at every instant where a time-driven condition can change, in `occurred_at`
//! order. Every instant's figures are computed by scanning the state ([`Frame::new`]), and
//! whenever the stream has late data or a retraction, the state is refolded from scratch at
//! every instant: slow and obviously right.
//!
//! It also drives the audit timeline's observer the same naive way: one refold per event.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use kamlog::event::{EventData, StoredEvent};
use kamlog::history::{Cause, Observer, Step};
use kamlog::model::{fold_events, AccountState, EventRef};
use kamlog::view::{Frame, Policy};
use std::collections::BTreeSet;

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
        kamlog::event::validate::parse_date(date)
            .and_then(|d| d.succ_opt())
            .map(|d| d.and_time(NaiveTime::MIN).and_utc())
    };
    let contracts = events.iter().any(|e| {
        matches!(
            e.data,
            EventData::ContractSigned(_) | EventData::ContractRenewed(_)
        )
    });
    let contract_dates = |date: &str| {
        let d = kamlog::event::validate::parse_date(date);
        [
            d.and_then(|d| d.checked_sub_signed(Duration::days(policy.renewal_window_days)))
                .map(|d| d.and_time(NaiveTime::MIN).and_utc()),
            midnight_after(date),
        ]
    };
    for e in events {
        match &e.data {
            EventData::InteractionLogged(_) => {
                out.extend(interaction_windows_close(e.occurred_at, policy));
                if contracts {
                    // Recency points change when 31, 91 and 181 whole days have passed.
                    for days in [31, 91, 181] {
                        out.insert(e.occurred_at + Duration::days(days));
                    }
                }
            }
            EventData::ContractSigned(d) => {
                out.extend(contract_dates(&d.renewal_date).into_iter().flatten())
            }
            EventData::ContractRenewed(d) => {
                out.extend(contract_dates(&d.renewal_date).into_iter().flatten())
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
        // Before the first event there is no account: nothing to evaluate (a contract's
        // renewal window can open before the account does).
        .filter(|t| event_instants.first().is_some_and(|f| t > f))
        .filter(|t| *t <= until && !event_instants.contains(t))
        .collect();

    let mut state = AccountState::new(account_id);
    let mut applied = 0usize; // events folded so far (incremental mode)
    let mut time_iter = times.into_iter().peekable();
    let emit = |state: &AccountState, instant, cause, observers: &mut [&mut dyn Observer]| {
        let step = Step {
            frame: Frame::new(state, instant),
            cause,
        };
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

/// Drives an observer that wants each event's own effect (the audit timeline) the naive way:
/// at every instant, the state refolded from the selected events, one event at a time.
pub fn walk_per_event(
    account_id: &str,
    events: &[&StoredEvent],
    until: DateTime<Utc>,
    policy: &Policy,
    observer: &mut dyn Observer,
) {
    let events: Vec<&StoredEvent> = events
        .iter()
        .copied()
        .filter(|e| e.occurred_at <= until)
        .collect();
    let event_instants: BTreeSet<DateTime<Utc>> = events.iter().map(|e| e.occurred_at).collect();
    let all_times = time_candidates(&events, policy);
    let fold_at = |t: DateTime<Utc>, version: u64| {
        fold_events(
            account_id,
            events
                .iter()
                .copied()
                .filter(|e| e.occurred_at < t || (e.occurred_at == t && e.version <= version)),
        )
    };
    let mut state = AccountState::new(account_id);
    let times_list: Vec<DateTime<Utc>> = all_times
        .iter()
        .copied()
        // Before the first event there is no account: nothing to evaluate (a contract's
        // renewal window can open before the account does).
        .filter(|t| event_instants.first().is_some_and(|f| t > f))
        .filter(|t| *t <= until && !event_instants.contains(t))
        .collect();
    let mut times = times_list.into_iter().peekable();
    for instant in event_instants {
        while let Some(t) = times.next_if(|t| *t < instant) {
            let step = Step {
                frame: Frame::new(&state, t),
                cause: Cause::Time,
            };
            observer.observe(&step, policy);
        }
        if all_times.contains(&instant) {
            let step = Step {
                frame: Frame::new(&state, instant),
                cause: Cause::Time,
            };
            observer.before_events(&step, policy);
        }
        let mut at: Vec<&StoredEvent> = events
            .iter()
            .copied()
            .filter(|e| e.occurred_at == instant)
            .collect();
        at.sort_by_key(|e| e.version);
        for (k, e) in at.iter().enumerate() {
            state = fold_at(instant, e.version);
            let step = Step {
                frame: Frame::new(&state, instant),
                cause: Cause::Event(e.position),
            };
            observer.after_event(e, &step, policy);
            if k + 1 == at.len() {
                observer.observe(&step, policy);
            }
        }
    }
    for t in times {
        let step = Step {
            frame: Frame::new(&state, t),
            cause: Cause::Time,
        };
        observer.observe(&step, policy);
    }
}
