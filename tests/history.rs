//! The history engine against the reference (tests/oracle/walk.rs, the walk as it was before
//! the engine): over random valid streams with late events, same-instant events, retractions,
//! departures, re-links and windows crossed, and at random as-of and known-at times, the
//! engine gives the same state, stage history, alert transitions and open alerts, and the
//! same audit timeline; and the query layer, resuming from persisted checkpoints that appends
//! extend and late events invalidate, gives the same views, alerts and timeline as the
//! reference walk over the selected events.
//!
//! Case counts are CI-sized; `KAMLOG_PROPTEST_CASES=10000 cargo test --release --test history`
//! is the long run (BENCHMARKS.md / README record when it was last done).

mod common;
#[path = "oracle/walk.rs"]
mod oracle;

use chrono::{DateTime, Duration, Utc};
use common::streams::{seal, stream, ACCOUNT};
use kamlog::event::StoredEvent;
use kamlog::history::timeline::Timeline;
use kamlog::history::{AlertTracker, Observer, StageTracker, Walked};
use kamlog::query::{render, timeline::Filter, Query};
use kamlog::view::{select, Policy, Selection, ViewKind};
use proptest::prelude::*;
use serde_json::{json, Value};

fn cases(default: u32) -> u32 {
    std::env::var("KAMLOG_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The reference: the old walk with the stage and alert observers.
fn reference(events: &[&StoredEvent], until: DateTime<Utc>, policy: &Policy) -> Walked {
    let mut stage = StageTracker::default();
    let mut alerts = AlertTracker::new(ACCOUNT);
    let state = {
        let mut observers: [&mut dyn Observer; 2] = [&mut stage, &mut alerts];
        oracle::walk(ACCOUNT, events, until, policy, &mut observers)
    };
    Walked {
        state,
        version: events
            .iter()
            .filter(|e| e.occurred_at <= until)
            .map(|e| e.version)
            .max()
            .unwrap_or(0),
        stage,
        alerts,
    }
}

/// The engine, from the start.
fn engine(events: &[&StoredEvent], until: DateTime<Utc>, policy: &Policy) -> Walked {
    kamlog::history::Checkpoint::start(ACCOUNT, policy).walk_to(events.to_vec(), until, policy)
}

/// A timeline as comparable values.
fn timeline_values(entries: &[kamlog::history::timeline::Entry]) -> Vec<Value> {
    entries
        .iter()
        .map(|e| {
            json!({"at": e.at.to_rfc3339(), "version": e.event.map(|x| x.version), "late": e.late,
                   "retracted_by": e.retracted_by, "changes": e.changes})
        })
        .collect()
}

fn reference_timeline(
    events: &[&StoredEvent],
    until: DateTime<Utc>,
    policy: &Policy,
) -> Vec<Value> {
    let mut t = Timeline::new(ACCOUNT, events);
    oracle::walk_per_event(ACCOUNT, events, until, policy, &mut t);
    timeline_values(&t.entries)
}

/// The instant `frac` (0–1.2) of the way through the stream's business time.
fn instant_in(events: &[StoredEvent], frac: f64) -> DateTime<Utc> {
    let first = events.iter().map(|e| e.occurred_at).min().unwrap();
    let last = events.iter().map(|e| e.occurred_at).max().unwrap();
    let span = (last - first).num_seconds() as f64;
    first + Duration::seconds((span * frac) as i64)
}

/// Every view, the open alerts and the transitions, as JSON, from a walk's result.
fn answers(w: &Walked, sel: &Selection, policy: &Policy) -> Vec<Value> {
    let mut out: Vec<Value> = ViewKind::ALL
        .into_iter()
        .map(|k| render(k, w, sel, policy).to_json())
        .collect();
    out.push(serde_json::to_value(w.alerts.open_alerts(&w.state, sel.as_of, policy)).unwrap());
    out.push(serde_json::to_value(&w.alerts.transitions).unwrap());
    out
}

#[test]
fn the_generator_makes_late_events_retractions_and_departures() {
    // The properties below are only as good as the streams: check that they hold what
    // the engine must get right.
    let mut late = 0;
    let mut retractions = 0;
    let mut departures = 0;
    let mut same_instant = 0;
    let mut contracts = 0;
    let mut renewals_at_risk = 0;
    let mut green_maps = 0;
    let policy = Policy::default();
    for seed in 0..20 {
        let events = seal(&stream(seed, 80));
        let refs: Vec<&StoredEvent> = events.iter().collect();
        let until = events.iter().map(|e| e.occurred_at).max().unwrap();
        let w = kamlog::history::Checkpoint::start(ACCOUNT, &policy).walk_to(
            refs.clone(),
            until,
            &policy,
        );
        renewals_at_risk += w
            .alerts
            .transitions
            .iter()
            .filter(|t| t.kind.name() == "renewal_at_risk")
            .count();
        for e in &events {
            let sel = Selection::as_of(e.occurred_at);
            let state = kamlog::model::fold_events(ACCOUNT, select(&events, &sel));
            let map = kamlog::view::map::view(&state, &sel, &policy);
            green_maps += usize::from(map.map.status == "green");
        }
        let mut latest = events[0].occurred_at;
        for w in events.windows(2) {
            if w[1].occurred_at == w[0].occurred_at {
                same_instant += 1;
            }
        }
        for e in &events {
            if e.occurred_at < latest {
                late += 1;
            }
            latest = latest.max(e.occurred_at);
            match e.type_name() {
                "event_retracted" => retractions += 1,
                "stakeholder_departed" | "team_member_departed" => departures += 1,
                "contract_signed" | "contract_renewed" | "contract_ended" => contracts += 1,
                _ => {}
            }
        }
    }
    assert!(late > 40, "late events: {late}");
    assert!(retractions > 5, "retractions: {retractions}");
    assert!(departures > 10, "departures: {departures}");
    assert!(same_instant > 20, "same-instant events: {same_instant}");
    assert!(contracts > 15, "contract events: {contracts}");
    assert!(
        renewals_at_risk > 5,
        "renewal_at_risk transitions: {renewals_at_risk}"
    );
    assert!(
        green_maps > 10,
        "green maps at event instants: {green_maps}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), .. ProptestConfig::default() })]

    /// The engine equals the reference walk: state, stage history, alerts, timeline.
    #[test]
    fn engine_equals_the_reference_walk(seed in any::<u64>(), n in 5usize..90, until in 0.0f64..1.3, cut in 0.2f64..1.0) {
        let policy = Policy::default();
        let events = seal(&stream(seed, n));
        let until = instant_in(&events, until);
        // --known-at: the events recorded by the `cut` share of the stream.
        let k = ((events.len() as f64 * cut) as usize).clamp(1, events.len());
        let known_at = events[k - 1].recorded_at;
        for sel in [Selection::as_of(until), Selection { as_of: until, known_at: Some(known_at) }] {
            let selected = select(&events, &sel);
            let new = engine(&selected, sel.as_of, &policy);
            let old = reference(&selected, sel.as_of, &policy);
            prop_assert_eq!(&new.state, &old.state);
            prop_assert_eq!(&new.stage, &old.stage);
            prop_assert_eq!(&new.alerts, &old.alerts);
            prop_assert_eq!(answers(&new, &sel, &policy), answers(&old, &sel, &policy));
            let tl = kamlog::history::timeline::timeline(ACCOUNT, &selected, sel.as_of, &policy);
            prop_assert_eq!(timeline_values(&tl), reference_timeline(&selected, sel.as_of, &policy));
        }
    }

    /// The alerts a walk leaves open at T are the conditions that hold at T, each with the
    /// detail it has at T, evaluated on the state alone (not carried from instant to
    /// instant): the reference walk shares the alert tracker, so this checks the tracker.
    #[test]
    fn the_open_alerts_are_the_conditions_at_the_instant(seed in any::<u64>(), n in 5usize..90, until in 0.0f64..1.3) {
        let policy = Policy::default();
        let events = seal(&stream(seed, n));
        let until = instant_in(&events, until);
        let selected = select(&events, &Selection::as_of(until));
        let w = engine(&selected, until, &policy);
        let expected = kamlog::alert::conditions(&w.state, until, w.alerts.once_cooperative, &policy);
        let open: std::collections::BTreeMap<_, _> = w
            .alerts
            .open
            .iter()
            .map(|(k, a)| (k.clone(), a.detail.clone()))
            .collect();
        prop_assert_eq!(open, expected);
    }

    /// A walk stopped at a checkpoint and resumed equals one walk.
    #[test]
    fn a_resumed_walk_equals_one_walk(seed in any::<u64>(), n in 5usize..90, every in 1usize..12, until in 0.0f64..1.3) {
        let policy = Policy::default();
        let events = seal(&stream(seed, n));
        let all: Vec<&StoredEvent> = events.iter().collect();
        let until = instant_in(&events, until);
        let start = kamlog::history::Checkpoint::start(ACCOUNT, &policy);
        let (taken, last) = start.walk_all(all.clone(), every, &policy);
        let one = engine(&all, until, &policy);
        let sel = Selection::as_of(until);
        for c in taken.into_iter().chain([last]).filter(|c| c.serves(&sel)) {
            let resumed = c.walk_to(all.clone(), until, &policy);
            prop_assert_eq!(&resumed, &one);
        }
    }
}

/// A log's entries as comparable values (the fields [`timeline_values`] gives).
fn log_values(log: &kamlog::query::timeline::LogDoc) -> Vec<Value> {
    log.entries
        .iter()
        .map(|e| {
            json!({"at": e.at.to_rfc3339(), "version": e.event.as_ref().map(|x| x.version),
                   "late": e.event.as_ref().is_some_and(|x| x.late),
                   "retracted_by": e.event.as_ref().and_then(|x| x.retracted_by.clone()),
                   "changes": e.changes})
        })
        .collect()
}

/// The query layer over a real store: the stream appended in three parts (so that the
/// checkpoints are built, extended, and invalidated by late events), then asked at random
/// selections; answers equal the reference walk over the selected stored events.
fn query_case(
    seed: u64,
    n: usize,
    splits: (f64, f64),
    asks: &[(f64, Option<f64>, f64)],
) -> Result<(), TestCaseError> {
    let policy = Policy::default();
    let envelopes = stream(seed, n);
    let (_dir, store) = common::temp_store();
    // Concealed: the engine's answers, personal values kept as commitments as the reference
    // walk over the stored events keeps them (SPEC 10).
    let q = Query::new(&store, &policy)
        .unwrap()
        .concealed()
        .with_checkpoint_every(4);
    let a = ((n as f64 * splits.0) as usize).clamp(1, envelopes.len());
    let b = ((n as f64 * splits.1) as usize).clamp(a, envelopes.len());
    for part in [&envelopes[..a], &envelopes[a..b], &envelopes[b..]] {
        if part.is_empty() {
            continue;
        }
        common::append(&store, part).unwrap();
        q.refresh(ACCOUNT).unwrap();
    }
    let stored = store.account_events(ACCOUNT).unwrap();
    for (frac, known, since_frac) in asks {
        let as_of = instant_in(&stored, *frac);
        let known_at = known.map(|c| {
            let k = ((stored.len() as f64 * c) as usize).clamp(1, stored.len());
            stored[k - 1].recorded_at
        });
        let sel = Selection { as_of, known_at };
        let selected = select(&stored, &sel);
        let old = reference(&selected, as_of, &policy);
        let via_query: Vec<Value> = ViewKind::ALL
            .into_iter()
            .map(|k| q.view(ACCOUNT, k, &sel).unwrap().to_json())
            .collect();
        let expected: Vec<Value> = answers(&old, &sel, &policy)[..ViewKind::ALL.len()].to_vec();
        prop_assert_eq!(via_query, expected);
        let alerts = serde_json::to_value(q.alerts(Some(ACCOUNT), &sel, false).unwrap()).unwrap();
        prop_assert_eq!(
            &alerts["alerts"],
            &serde_json::to_value(old.alerts.open_alerts(&old.state, sel.as_of, &policy)).unwrap()
        );
        let history = serde_json::to_value(q.alerts(Some(ACCOUNT), &sel, true).unwrap()).unwrap();
        prop_assert_eq!(
            &history["alerts"],
            &serde_json::to_value(&old.alerts.transitions).unwrap()
        );
        let got = log_values(&q.log(ACCOUNT, &sel, &Filter::default()).unwrap());
        let whole = reference_timeline(&selected, as_of, &policy);
        prop_assert_eq!(got, whole.clone());
        // `--since` starts from the latest checkpoint before it: the same entries as the
        // whole timeline's from `since` on.
        let since = instant_in(&stored, frac * since_frac);
        let f = Filter {
            since: Some(since),
            ..Filter::default()
        };
        let got = log_values(&q.log(ACCOUNT, &sel, &f).unwrap());
        let expected: Vec<Value> = whole
            .into_iter()
            .filter(|e| DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap() >= since)
            .collect();
        prop_assert_eq!(got, expected, "since {}", since);
    }
    // A rebuild from the log gives the same answers as the extended checkpoints.
    let sel = Selection::as_of(instant_in(&stored, 1.1));
    let before = q.views(ACCOUNT, &sel).unwrap();
    q.rebuild_all().unwrap();
    prop_assert_eq!(q.views(ACCOUNT, &sel).unwrap(), before);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(16), .. ProptestConfig::default() })]

    #[test]
    fn the_query_layer_equals_the_reference_walk(
        seed in any::<u64>(), n in 5usize..70, s1 in 0.1f64..0.6, s2 in 0.5f64..0.95,
        asks in proptest::collection::vec(
            (0.0f64..1.3, proptest::option::of(0.1f64..1.0), 0.0f64..1.0), 1..4),
    ) {
        query_case(seed, n, (s1, s2), &asks)?;
    }
}
