//! Views: the rules' edges (windows of 180/120/90 days, coverage 0/1/2, ratio boundaries, the
//! bow-tie share, decimal rounding), and property tests over random valid streams: the
//! snapshot path equals a full replay, `--as-of T` equals a store holding only the events
//! that occurred by T, and `--known-at K` a store holding only those recorded by K.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use kamlog::alert::conditions;
use kamlog::event::StoredEvent;
use kamlog::model::fold_events;
use kamlog::query::{render, Query};
use kamlog::view::coverage::coverage;
use kamlog::view::link_counts::LinkFigures;
use kamlog::view::stage::{evidence, infer};
use kamlog::view::{ratio, Policy, Selection, ViewKind};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

const A: &str = "acme";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn opened() -> Value {
    ev(
        A,
        "account_opened",
        "2024-01-01T00:00:00Z",
        json!({"name": "Acme"}),
    )
}
fn member(id: &str, function: &str, role: &str) -> Value {
    ev(
        A,
        "team_member_assigned",
        "2024-01-01T00:00:00Z",
        json!({"member_id": id, "name": id, "function": function, "team_role": role}),
    )
}
fn key_stakeholder(id: &str, function: &str) -> Value {
    ev(
        A,
        "stakeholder_added",
        "2024-01-01T00:00:00Z",
        json!({"stakeholder_id": id, "name": id,
        "function": function, "level": "senior", "dmu_roles": ["champion"], "influence": 3, "attitude": 0}),
    )
}
fn plain_stakeholder(id: &str, function: &str) -> Value {
    ev(
        A,
        "stakeholder_added",
        "2024-01-01T00:00:00Z",
        json!({"stakeholder_id": id, "name": id,
        "function": function, "level": "middle", "dmu_roles": [], "influence": 2, "attitude": 0}),
    )
}
fn meet(id: &str, at: &str, members: &[&str], stakeholders: &[&str]) -> Value {
    ev(
        A,
        "interaction_logged",
        at,
        json!({"interaction_id": id, "channel": "call",
        "supplier_participants": members, "customer_participants": stakeholders}),
    )
}
fn link(m: &str, s: &str) -> Value {
    ev(
        A,
        "relationship_linked",
        "2024-01-01T00:00:00Z",
        json!({"member_id": m, "stakeholder_id": s, "strength": 3}),
    )
}

fn state_of(events: &[Value]) -> kamlog::model::AccountState {
    let stored = stored(events);
    fold_events(A, stored.iter())
}

fn cov_of(events: &[Value], at: &str) -> kamlog::view::coverage::Coverage {
    coverage(&state_of(events), t(at), &Policy::default())
}

#[test]
fn an_interaction_links_for_exactly_180_days() {
    let events = vec![
        opened(),
        member("m-1", "sales", "account_lead"),
        key_stakeholder("s-1", "ops"),
        meet("i-1", "2024-01-10T12:00:00Z", &["m-1"], &["s-1"]),
    ];
    // 2024-01-10T12:00 + 180 days = 2024-07-08T12:00 (2024 is a leap year).
    assert_eq!(
        cov_of(&events, "2024-07-08T12:00:00Z").key_stakeholders[0].coverage,
        1
    );
    assert_eq!(
        cov_of(&events, "2024-07-08T12:00:00.000001Z").key_stakeholders[0].coverage,
        0
    );
    // Before the interaction occurred it does not count either.
    assert_eq!(
        cov_of(&events, "2024-01-10T11:59:59Z").key_stakeholders[0].coverage,
        0
    );
}

#[test]
fn coverage_zero_one_two_give_the_three_risks() {
    let mut events = vec![
        opened(),
        member("m-1", "sales", "account_lead"),
        member("m-2", "ops", "member"),
        key_stakeholder("s-1", "ops"),
        plain_stakeholder("s-2", "it"),
    ];
    let risk = |events: &[Value]| {
        let c = cov_of(events, "2024-02-01T00:00:00Z");
        let k = &c.key_stakeholders[0];
        (
            k.coverage,
            k.risk,
            c.coverage_ratio.normalize().to_string(),
            c.key_stakeholders.len(),
        )
    };
    assert_eq!(
        risk(&events),
        (0, "uncovered", "0".into(), 1),
        "s-2 is not key"
    );
    events.push(link("m-1", "s-1"));
    assert_eq!(risk(&events), (1, "single", "0".into(), 1));
    events.push(link("m-2", "s-1"));
    assert_eq!(risk(&events), (2, "covered", "1".into(), 1));
    // No key stakeholder at all: the ratio is 1.
    let c = cov_of(
        &[opened(), plain_stakeholder("s-2", "it")],
        "2024-02-01T00:00:00Z",
    );
    assert_eq!(c.coverage_ratio, Decimal::ONE);
}

#[test]
fn sole_links_and_successor_readiness() {
    let mut events = vec![
        opened(),
        member("m-1", "sales", "account_lead"),
        member("m-2", "ops", "member"),
        key_stakeholder("s-1", "ops"),
        link("m-1", "s-1"),
        ev(
            A,
            "successor_designated",
            "2024-01-01T00:00:00Z",
            json!({"member_id": "m-1", "successor_id": "m-2"}),
        ),
    ];
    let c = cov_of(&events, "2024-02-01T00:00:00Z");
    let m1 = &c.members[0];
    assert_eq!(
        (
            m1.sole_links.clone(),
            m1.successor.clone(),
            m1.successor_ready
        ),
        (vec!["s-1".to_string()], Some("m-2".to_string()), false)
    );
    // Once the successor knows s-1, s-1 is covered twice: no sole link, ready.
    events.push(link("m-2", "s-1"));
    let c = cov_of(&events, "2024-02-01T00:00:00Z");
    assert!(c.members[0].sole_links.is_empty() && c.members[0].successor_ready);
}

fn bow_tie_with(interactions: usize, by_main: usize) -> bool {
    // Two members linked (so the "all links through one member" rule does not apply); the
    // share rule decides.
    let mut events = vec![
        opened(),
        member("m-a", "sales", "account_lead"),
        member("m-b", "ops", "member"),
        key_stakeholder("s-1", "ops"),
        link("m-a", "s-1"),
        link("m-b", "s-1"),
    ];
    for i in 0..interactions {
        let who = if i < by_main { "m-a" } else { "m-b" };
        events.push(meet(
            &format!("i-{i}"),
            &format!("2024-01-{:02}T00:00:00Z", 10 + i),
            &[who],
            &["s-1"],
        ));
    }
    cov_of(&events, "2024-02-01T00:00:00Z").bow_tie
}

#[test]
fn bow_tie_share_needs_five_interactions_and_eighty_percent() {
    assert!(
        !bow_tie_with(4, 4),
        "4 interactions all by one member: too few to count"
    );
    assert!(bow_tie_with(5, 4), "4 of 5 = 80 %");
    assert!(bow_tie_with(5, 5));
    assert!(!bow_tie_with(5, 3), "3 of 5 = 60 %");
    assert!(!bow_tie_with(10, 7), "70 %");
    assert!(bow_tie_with(10, 8), "80 %");
}

#[test]
fn bow_tie_when_every_link_runs_through_one_member() {
    let events = vec![
        opened(),
        member("m-a", "sales", "account_lead"),
        member("m-b", "ops", "member"),
        key_stakeholder("s-1", "ops"),
        plain_stakeholder("s-2", "it"),
        link("m-a", "s-1"),
        link("m-a", "s-2"),
    ];
    assert!(cov_of(&events, "2024-02-01T00:00:00Z").bow_tie);
    let no_links = vec![
        opened(),
        member("m-a", "sales", "account_lead"),
        key_stakeholder("s-1", "ops"),
    ];
    assert!(
        !cov_of(&no_links, "2024-02-01T00:00:00Z").bow_tie,
        "no link at all is not a bow-tie"
    );
}

/// A cooperative account (two functions each side), its only interaction at 2024-01-10.
fn cooperative_account() -> Vec<Value> {
    vec![
        opened(),
        member("m-1", "sales", "account_lead"),
        member("m-2", "ops", "member"),
        key_stakeholder("s-1", "ops"),
        plain_stakeholder("s-2", "it"),
        ev(
            A,
            "revenue_recorded",
            "2024-01-05T00:00:00Z",
            json!({"period": "2024-01", "amount": "10", "currency": "EUR"}),
        ),
        meet(
            "i-1",
            "2024-01-10T00:00:00Z",
            &["m-1", "m-2"],
            &["s-1", "s-2"],
        ),
    ]
}

fn inferred_at(events: &[Value], at: &str) -> String {
    let stored = stored(events);
    let sel = Selection::as_of(t(at));
    let c = walked(A, &stored, &sel);
    let e = evidence(
        &c.state,
        sel.as_of,
        c.stage.once_cooperative,
        &Policy::default(),
    );
    infer(&e, sel.as_of, &Policy::default()).to_string()
}

#[test]
fn a_cooperative_account_disintegrates_after_120_silent_days() {
    let events = cooperative_account();
    assert_eq!(inferred_at(&events, "2024-01-10T00:00:00Z"), "cooperative");
    // + 120 days = 2024-05-09 (leap year)
    assert_eq!(inferred_at(&events, "2024-05-09T00:00:00Z"), "cooperative");
    assert_eq!(
        inferred_at(&events, "2024-05-09T00:00:00.000001Z"),
        "disintegrating"
    );
}

#[test]
fn an_account_never_cooperative_does_not_disintegrate() {
    let mut events = cooperative_account();
    events.pop();
    events.push(meet("i-1", "2024-01-10T00:00:00Z", &["m-1"], &["s-1"]));
    assert_eq!(inferred_at(&events, "2025-01-01T00:00:00Z"), "basic");
}

#[test]
fn coverage_ratio_boundaries_for_integrated_and_disintegrating() {
    // Interdependent base: three functions each side, an exec sponsor linked to an executive,
    // an agreed objective achieved and a plan; key stakeholders k1..k4, all covered twice.
    let mut base = vec![
        opened(),
        member("m-1", "sales", "account_lead"),
        member("m-2", "ops", "member"),
        member("m-3", "executive", "exec_sponsor"),
    ];
    for (k, f) in [
        ("k1", "ops"),
        ("k2", "it"),
        ("k3", "finance"),
        ("k4", "quality"),
    ] {
        base.push(key_stakeholder(k, f));
    }
    base.push(ev(
        A,
        "stakeholder_added",
        "2024-01-01T00:00:00Z",
        json!({"stakeholder_id": "x-exec", "name": "X",
        "function": "board", "level": "middle", "dmu_roles": [], "influence": 1, "attitude": 0}),
    ));
    base.push(ev(
        A,
        "stakeholder_updated",
        "2024-01-01T00:00:00Z",
        json!({"stakeholder_id": "k1", "level": "executive"}),
    ));
    base.push(link("m-3", "k1"));
    base.push(ev(
        A,
        "objective_proposed",
        "2024-01-02T00:00:00Z",
        json!({"objective_id": "o-1", "title": "t"}),
    ));
    base.push(ev(
        A,
        "objective_agreed",
        "2024-01-02T00:00:00Z",
        json!({"objective_id": "o-1", "agreed_by": ["k1"], "supplier_owner": "m-1"}),
    ));
    base.push(ev(
        A,
        "objective_closed",
        "2024-01-03T00:00:00Z",
        json!({"objective_id": "o-1", "outcome": "achieved"}),
    ));
    base.push(ev(
        A,
        "plan_agreed",
        "2024-01-03T00:00:00Z",
        json!({"plan_id": "pl", "horizon_years": 3}),
    ));
    let cover = |events: &mut Vec<Value>, k: &str, twice: bool| {
        events.push(link("m-1", k));
        if twice {
            events.push(link("m-2", k));
        }
    };
    // k1 is linked to m-3 already; covering k1..k3 twice more and k4 once: 3 of 4 = 0.75.
    let mut e = base.clone();
    for k in ["k1", "k2", "k3"] {
        cover(&mut e, k, true);
    }
    cover(&mut e, "k4", false);
    e.push(meet("i-1", "2024-01-20T00:00:00Z", &["m-1"], &["x-exec"]));
    let c = cov_of(&e, "2024-02-01T00:00:00Z");
    assert_eq!(c.coverage_ratio.normalize().to_string(), "0.75");
    assert_eq!(inferred_at(&e, "2024-02-01T00:00:00Z"), "integrated");
    // 2 of 4 = 0.5 < 0.75: interdependent.
    let mut e = base.clone();
    for k in ["k1", "k2"] {
        cover(&mut e, k, true);
    }
    cover(&mut e, "k3", false);
    cover(&mut e, "k4", false);
    e.push(meet("i-1", "2024-01-20T00:00:00Z", &["m-1"], &["x-exec"]));
    assert_eq!(
        cov_of(&e, "2024-02-01T00:00:00Z")
            .coverage_ratio
            .normalize()
            .to_string(),
        "0.5"
    );
    assert_eq!(inferred_at(&e, "2024-02-01T00:00:00Z"), "interdependent");
    // 1 of 4 = 0.25: not below 0.25, still interdependent (k1 via m-3 and m-1).
    let mut e = base.clone();
    cover(&mut e, "k1", false);
    for k in ["k2", "k3", "k4"] {
        cover(&mut e, k, false);
    }
    e.push(meet("i-1", "2024-01-20T00:00:00Z", &["m-2"], &["x-exec"]));
    assert_eq!(
        cov_of(&e, "2024-02-01T00:00:00Z")
            .coverage_ratio
            .normalize()
            .to_string(),
        "0.25"
    );
    assert_eq!(inferred_at(&e, "2024-02-01T00:00:00Z"), "interdependent");
    // Add a fifth key stakeholder, uncovered: 1 of 5 = 0.2 < 0.25: disintegrating.
    e.push(key_stakeholder("k5", "legal"));
    assert_eq!(
        cov_of(&e, "2024-02-01T00:00:00Z")
            .coverage_ratio
            .normalize()
            .to_string(),
        "0.2"
    );
    assert_eq!(inferred_at(&e, "2024-02-01T00:00:00Z"), "disintegrating");
}

#[test]
fn engagement_lapses_after_90_days_and_needs_90_days_known() {
    let alerts = |events: &[Value], at: &str| -> Vec<String> {
        let state = state_of(events);
        conditions(&state, t(at), false, &Policy::default())
            .keys()
            .filter(|(k, _)| *k == kamlog::alert::Kind::EngagementLapse)
            .map(|(_, s)| s.clone())
            .collect()
    };
    let mut events = vec![
        opened(),
        member("m-1", "sales", "account_lead"),
        ev(
            A,
            "stakeholder_added",
            "2024-01-01T06:00:00Z",
            json!({"stakeholder_id": "s-1", "name": "S",
            "function": "ops", "level": "executive", "dmu_roles": [], "influence": 1, "attitude": 0}),
        ),
    ];
    // Known since 2024-01-01T06:00, never met: lapsed from exactly 90 days on (2024-03-31T06:00).
    assert!(alerts(&events, "2024-03-31T05:59:59Z").is_empty());
    assert_eq!(alerts(&events, "2024-03-31T06:00:00Z"), vec!["s-1"]);
    // Met on 2024-02-01: lapsed when that meeting is more than 90 days old (after 2024-05-01).
    events.push(meet("i-1", "2024-02-01T00:00:00Z", &["m-1"], &["s-1"]));
    assert!(alerts(&events, "2024-05-01T00:00:00Z").is_empty());
    assert_eq!(alerts(&events, "2024-05-01T00:00:00.000001Z"), vec!["s-1"]);
}

#[test]
fn ratios_round_half_to_even_at_four_places() {
    let d = |s: &str| Decimal::from_str(s).unwrap();
    assert_eq!(ratio(d("2"), d("3")).to_string(), "0.6667");
    assert_eq!(ratio(d("12345"), d("100000")).to_string(), "0.1234"); // 0.12345 → even 4
    assert_eq!(ratio(d("12355"), d("100000")).to_string(), "0.1236"); // 0.12355 → even 6
    assert_eq!(ratio(d("-12345"), d("100000")).to_string(), "-0.1234");
    // Through the value view: 12345 delivered of a due 100000 → realization 0.1234.
    let events = vec![
        opened(),
        ev(
            A,
            "value_promised",
            "2024-01-01T00:00:00Z",
            json!({"promise_id": "p", "description": "d", "metric": "m",
            "unit": "EUR", "amount": "100000", "due_date": "2024-01-31", "beneficiary": "customer"}),
        ),
        ev(
            A,
            "value_delivered",
            "2024-01-15T00:00:00Z",
            json!({"promise_id": "p", "amount": "12345"}),
        ),
    ];
    let stored = stored(&events);
    let sel = Selection::as_of(t("2024-02-01T00:00:00Z"));
    let v = render(
        ViewKind::Value,
        &walked(A, &stored, &sel),
        &sel,
        &Policy::default(),
    )
    .to_json();
    assert_eq!(v["totals"][0]["realization"], json!("0.1234"));
    // On its due date a promise is not yet overdue; the next day it is.
    let sel = Selection::as_of(t("2024-01-31T23:59:59Z"));
    let v = render(
        ViewKind::Value,
        &walked(A, &stored, &sel),
        &sel,
        &Policy::default(),
    )
    .to_json();
    assert_eq!(v["promises"][0]["status"], json!("open"));
    assert_eq!(v["totals"][0]["realization"], Value::Null);
}

// ------------------------------------------------------------------------------ properties

/// The stage evidence's link figures as they were counted before [`LinkCounts`] (sets over
/// every link at every instant): the oracle the counts are held to.
fn link_figures_by_sets(
    state: &kamlog::model::AccountState,
    links: &kamlog::view::frame::Links,
) -> LinkFigures {
    use std::collections::BTreeSet;
    let mut supplier = BTreeSet::new();
    let mut linked = BTreeSet::new();
    let mut linked_to_exec = BTreeSet::new();
    let mut n = 0;
    for (m, ss) in links {
        let member = &state.members[m];
        supplier.insert(member.function.as_str());
        let exec = member.team_role == "exec_sponsor" || member.function == "executive";
        n += ss.len();
        for s in ss {
            linked.insert(s.as_str());
            if exec {
                linked_to_exec.insert(s.as_str());
            }
        }
    }
    let customer: BTreeSet<&str> = linked
        .iter()
        .map(|s| state.stakeholders[*s].function.as_str())
        .collect();
    LinkFigures {
        links: n,
        supplier_functions: supplier.len(),
        customer_functions: customer.len(),
        executive_link: linked_to_exec
            .iter()
            .any(|s| state.stakeholders[*s].level == "executive"),
    }
}

/// A random valid single-account stream (the workload generator, seeded by proptest).
fn stream(seed: u64, n: u64) -> Vec<Value> {
    kamlog::workload::Workload::new(seed, 1, n).collect()
}

fn all_views(store: &kamlog::Store, sel: &Selection) -> Vec<Value> {
    views_of(store, sel, false)
}

/// The views with personal values kept as commitments (SPEC 10), as a walk over the stored
/// events (which hold the commitments) renders them.
fn sealed_views(store: &kamlog::Store, sel: &Selection) -> Vec<Value> {
    views_of(store, sel, true)
}

fn views_of(store: &kamlog::Store, sel: &Selection, concealed: bool) -> Vec<Value> {
    let policy = Policy::default();
    let q = Query::new(store, &policy).unwrap();
    let q = if concealed { q.concealed() } else { q };
    let mut out: Vec<Value> = q
        .views("acct-00000", sel)
        .unwrap()
        .iter()
        .map(|v| v.to_json())
        .collect();
    if concealed {
        let w = q.walked("acct-00000", sel).unwrap();
        out.push(json!(w.alerts.open_alerts(&w.state, sel.as_of, &policy)));
        out.push(json!(w.alerts.transitions));
    } else {
        // With the values revealed in the details, as every answer shows them.
        for history in [false, true] {
            let doc = q.alerts(Some("acct-00000"), sel, history).unwrap();
            out.push(serde_json::to_value(doc).unwrap()["alerts"].take());
        }
    }
    out
}

/// The state and histories of a walk over the selected events, from the start.
fn walked(account: &str, events: &[StoredEvent], sel: &Selection) -> kamlog::history::Walked {
    let policy = Policy::default();
    kamlog::history::Checkpoint::start(account, &policy).walk_to(
        kamlog::view::select(events, sel),
        sel.as_of,
        &policy,
    )
}

fn full_replay_views(events: &[StoredEvent], sel: &Selection) -> Vec<Value> {
    let policy = Policy::default();
    let w = walked("acct-00000", events, sel);
    let mut out: Vec<Value> = ViewKind::ALL
        .iter()
        .map(|k| render(*k, &w, sel, &policy).to_json())
        .collect();
    out.push(json!(w.alerts.open_alerts(&w.state, sel.as_of, &policy)));
    out.push(json!(w.alerts.transitions));
    out
}

fn snapshot_alerts(store: &kamlog::Store, sel: &Selection) -> Value {
    let policy = Policy::default();
    let q = Query::new(store, &policy).unwrap().concealed();
    let doc = serde_json::to_value(q.alerts(Some("acct-00000"), sel, false).unwrap()).unwrap();
    let hist = serde_json::to_value(q.alerts(Some("acct-00000"), sel, true).unwrap()).unwrap();
    json!([doc["alerts"], hist["alerts"]])
}

#[test]
fn envelopes_read_by_position_are_those_the_log_holds() {
    let events: Vec<Value> = kamlog::workload::Workload::new(5, 4, 400).collect();
    let (_d, store) = temp_store();
    for part in events.chunks(90) {
        append(&store, part).unwrap();
    }
    let mut logged = Vec::new();
    store
        .scan_from(1, |p, bytes| {
            logged.push((p, bytes.to_vec()));
            Ok(())
        })
        .unwrap();
    assert_eq!(logged.len(), 400);
    let index = store.page_index().unwrap();
    let read = |positions: &[u64]| {
        let mut out = Vec::new();
        store
            .scan_positions(&index, positions, |p, bytes| {
                out.push((p, bytes.to_vec()));
                Ok(())
            })
            .map(|()| out)
    };
    // One account's positions (scattered over many pages), a run from the middle of one page
    // to the middle of another, positions on pages with pages between them that hold none
    // (pages read together only when they lie next to each other), one position, none.
    let account: Vec<u64> = store.account_positions("acct-00002").unwrap();
    assert!(account.len() > 20);
    let run: Vec<u64> = (37..=301).collect();
    let gaps = vec![1, 2, 33, 150, 151, 360, 399, 400];
    for positions in [account, run, gaps, vec![400], vec![]] {
        let expected: Vec<(u64, Vec<u8>)> = positions
            .iter()
            .map(|p| logged[*p as usize - 1].clone())
            .collect();
        assert_eq!(read(&positions).unwrap(), expected);
    }
    // A position the log does not hold is an error that names it.
    let err = read(&[5, 401]).unwrap_err().to_string();
    assert!(err.contains("position 401 is missing"), "{err}");
}

#[test]
fn checkpoint_files_missing_or_torn_count_as_absent_and_a_rebuild_leaves_no_other() {
    // One account of 1,500 events: regular checkpoints every 512 events, and the final one.
    let events: Vec<Value> = kamlog::workload::Workload::new(3, 1, 1_500).collect();
    let (dir, store) = temp_store();
    append(&store, &events).unwrap();
    let files = dir.path().join("data").join("checkpoints");
    let ck = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&files)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "ck"))
            .collect();
        v.sort();
        v
    };
    let stored = store.account_events("acct-00000").unwrap();
    let first = stored.iter().map(|e| e.occurred_at).min().unwrap();
    let last = stored.iter().map(|e| e.occurred_at).max().unwrap();
    let sels = [
        Selection::as_of(first + (last - first) / 3),
        Selection::as_of(first + (last - first) * 5 / 6),
        Selection::as_of(last + Duration::days(30)),
    ];
    let answers = || -> Vec<Vec<Value>> { sels.iter().map(|s| all_views(&store, s)).collect() };
    let expected: Vec<Vec<Value>> = sels.iter().map(|s| full_replay_views(&stored, s)).collect();
    let sealed: Vec<Vec<Value>> = sels.iter().map(|s| sealed_views(&store, s)).collect();
    assert_eq!(sealed, expected);
    let before = answers();
    // Two regular checkpoints (after 512 and 1,024 events) and the final one, in the one file
    // of the append's save.
    assert_eq!(ck().len(), 1);
    // Torn (half of each file), then missing: the answers stay those of a walk from the start.
    for p in ck() {
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    }
    assert_eq!(answers(), before);
    for p in ck() {
        std::fs::remove_file(p).unwrap();
    }
    assert_eq!(answers(), before);
    // A file no tree names (a crash between the trees and a removal) goes with a rebuild.
    std::fs::write(files.join("00000000deadbeef.ck"), b"{}").unwrap();
    let policy = Policy::default();
    Query::new(&store, &policy).unwrap().rebuild_all().unwrap();
    assert_eq!(ck().len(), 1);
    assert!(!files.join("00000000deadbeef.ck").exists());
    assert_eq!(answers(), before);
    // An event after the last extends the walk from the final checkpoint: a new file holds the
    // new final one, the first file keeps the regular ones its slots still name.
    let revenue = |at: DateTime<Utc>| {
        ev(
            "acct-00000",
            "revenue_recorded",
            &at.to_rfc3339(),
            json!({"period": "2024-Q1", "amount": "10.00", "currency": "EUR"}),
        )
    };
    let refresh = || {
        Query::new(&store, &policy)
            .unwrap()
            .refresh("acct-00000")
            .unwrap()
    };
    append(&store, &[revenue(last + Duration::days(1))]).unwrap();
    refresh();
    assert_eq!(ck().len(), 2);
    // A late event before the first regular checkpoint: every slot is written again, in one
    // new file, and no slot names the two older files, which go.
    append(&store, &[revenue(first + Duration::hours(1))]).unwrap();
    refresh();
    assert_eq!(ck().len(), 1);
    let stored = store.account_events("acct-00000").unwrap();
    let expected: Vec<Vec<Value>> = sels.iter().map(|s| full_replay_views(&stored, s)).collect();
    let sealed: Vec<Vec<Value>> = sels.iter().map(|s| sealed_views(&store, s)).collect();
    assert_eq!(sealed, expected);
}

#[test]
fn a_rebuild_in_many_passes_over_the_log_equals_each_account_walked_alone() {
    // 12 accounts interleaved in the log. The rebuild gathers at most 400 events per pass
    // over the log (so it reads the log at least eight times, each group walked while the
    // next is gathered, each pass reading only the pages that hold the group's events);
    // every account's checkpoints and answers must be those of the
    // account walked alone from its own events.
    let events: Vec<Value> = kamlog::workload::Workload::new(11, 12, 3_000).collect();
    let (_d, store) = temp_store();
    for part in events.chunks(700) {
        append(&store, part).unwrap();
    }
    let policy = Policy::default();
    let heads = store.heads().unwrap();
    assert_eq!(heads.len(), 12);
    assert_eq!(heads.iter().map(|h| h.version).sum::<u64>(), 3_000);
    let sel = Selection::as_of(t("2030-01-01T00:00:00Z"));
    let answers = |q: &Query| -> Vec<(Option<kamlog::history::Checkpoint>, Vec<Value>, Value)> {
        let cache = kamlog::query::cache::Cache::open(&store).unwrap();
        heads
            .iter()
            .map(|h| {
                let a = h.account_id.as_str();
                let last = cache.last(a).unwrap();
                let views = q
                    .views(a, &sel)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_json())
                    .collect();
                let alerts = serde_json::to_value(q.alerts(Some(a), &sel, true).unwrap()).unwrap();
                (last, views, alerts)
            })
            .collect()
    };
    let q = Query::new(&store, &policy).unwrap().with_build_chunk(400);
    assert_eq!(q.rebuild_all().unwrap(), 12);
    let gathered = answers(&q);
    assert!(gathered.iter().all(|(last, _, _)| last.is_some()));
    let alone = Query::new(&store, &policy).unwrap();
    for h in &heads {
        alone.rebuild(&h.account_id).unwrap();
    }
    assert_eq!(gathered, answers(&alone));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn link_counts_equal_counting_the_links_by_sets(seed in any::<u64>(), n in 8u64..150, cut in 0u64..150, later in 0i64..200) {
        let events = stream(seed, n);
        let (_d, store) = temp_store();
        append(&store, &events).unwrap();
        let stored = store.account_events("acct-00000").unwrap();
        let cut = (cut % n) as usize;
        let t = stored[cut].occurred_at + Duration::days(later);
        let state = fold_events("acct-00000", stored.iter().filter(|e| e.occurred_at <= t));
        let policy = Policy::default();
        let frame = kamlog::view::Frame::new(&state, t);
        let links = frame.links(&policy).clone();
        prop_assert_eq!(frame.link_counts(&policy).figures(), link_figures_by_sets(&state, &links));
    }

    #[test]
    fn snapshot_path_equals_full_replay(seed in any::<u64>(), n in 8u64..120, split in 1u64..100, days_after in 0i64..400) {
        let events = stream(seed, n);
        let split = (split % n).max(1) as usize;
        let (_d, store) = temp_store();
        // Two appends, a view in between: the snapshot is built, then extended.
        append(&store, &events[..split]).unwrap();
        let last = store.account_events("acct-00000").unwrap().iter().map(|e| e.occurred_at).max().unwrap();
        let _ = all_views(&store, &Selection::as_of(last));
        append(&store, &events[split..]).unwrap();
        let stored_events = store.account_events("acct-00000").unwrap();
        let last = stored_events.iter().map(|e| e.occurred_at).max().unwrap();
        let sel = Selection::as_of(last + Duration::days(days_after));
        let via_snapshot = sealed_views(&store, &sel);
        prop_assert_eq!(&via_snapshot, &full_replay_views(&stored_events, &sel));
        prop_assert_eq!(snapshot_alerts(&store, &sel), json!([via_snapshot[ViewKind::ALL.len()], via_snapshot[ViewKind::ALL.len() + 1]]));
        // A rebuilt snapshot gives the same again.
        Query::new(&store, &Policy::default()).unwrap().rebuild_all().unwrap();
        prop_assert_eq!(&sealed_views(&store, &sel), &via_snapshot);
    }

    #[test]
    fn as_of_equals_a_store_of_the_events_that_occurred_by_then(seed in any::<u64>(), n in 8u64..100, cut in 1u64..100) {
        let events = stream(seed, n);
        let (_d, store) = temp_store();
        append(&store, &events).unwrap();
        let stored_events = store.account_events("acct-00000").unwrap();
        let cut = (cut % n) as usize;
        let as_of = stored_events[cut].occurred_at; // events up to and including `cut`
        let subset: Vec<Value> = events.iter().zip(&stored_events).filter(|(_, s)| s.occurred_at <= as_of).map(|(e, _)| e.clone()).collect();
        let (_d2, small) = temp_store();
        append(&small, &subset).unwrap();
        let sel = Selection::as_of(as_of);
        prop_assert_eq!(all_views(&store, &sel), all_views(&small, &sel));
    }

    #[test]
    fn known_at_equals_a_store_of_the_events_recorded_by_then(seed in any::<u64>(), n in 8u64..80, cut in 1u64..80, later in 0i64..300) {
        let events = stream(seed, n);
        let cut = ((cut % n) as usize).max(1);
        let (_d, store) = temp_store();
        append(&store, &events[..cut]).unwrap();
        let known_at = store.account_events("acct-00000").unwrap().last().unwrap().recorded_at;
        append(&store, &events[cut..]).unwrap();
        let (_d2, small) = temp_store();
        append(&small, &events[..cut]).unwrap();
        let last = store.account_events("acct-00000").unwrap().iter().map(|e| e.occurred_at).max().unwrap();
        let as_of = last + Duration::days(later);
        let known = Selection { as_of, known_at: Some(known_at) };
        // Equal but for the header's `known_at`, which says what was asked.
        let without_known_at = |mut views: Vec<Value>| {
            for v in views.iter_mut() {
                if let Value::Object(m) = v {
                    m.remove("known_at");
                }
            }
            views
        };
        prop_assert_eq!(
            without_known_at(all_views(&store, &known)),
            without_known_at(all_views(&small, &Selection::as_of(as_of)))
        );
    }
}
