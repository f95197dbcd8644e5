//! The store: every SPEC 2.1 rule with a rejecting input (exact error text, store unchanged),
//! idempotency, expected-version concurrency, atomic batches, and concurrent appenders.

mod common;

use common::*;
use kamlog::{Error, Store};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// Appends `setup` (must succeed), then `bad` (must fail with exactly `expected`, where
/// `{id}` stands for the event id of `bad[culprit]`), and checks nothing of `bad` was stored.
fn rejects(setup: Vec<Value>, bad: Vec<Value>, culprit: usize, expected: &str) {
    let (_dir, store) = temp_store();
    if !setup.is_empty() {
        append(&store, &setup).expect("setup is valid");
    }
    let before = dump(&store);
    let err = append(&store, &bad).expect_err("must be rejected");
    let id = bad[culprit]["event_id"].as_str().unwrap();
    assert_eq!(err.to_string(), expected.replace("{id}", id));
    assert_eq!(
        dump(&store),
        before,
        "the store changed after a rejected append"
    );
    assert!(store.verify().unwrap().first_break.is_none());
}

fn with(mut setup: Vec<Value>, more: Vec<Value>) -> Vec<Value> {
    setup.extend(more);
    setup
}

const A: &str = "acme";
const T: &str = "2024-02-01T00:00:00Z";

fn link(m: &str, s: &str) -> Value {
    ev(
        A,
        "relationship_linked",
        T,
        json!({"member_id": m, "stakeholder_id": s, "strength": 3}),
    )
}
fn interaction(id: &str, members: &[&str], stakeholders: &[&str]) -> Value {
    ev(
        A,
        "interaction_logged",
        T,
        json!({"interaction_id": id, "channel": "call",
        "supplier_participants": members, "customer_participants": stakeholders}),
    )
}
fn depart_stakeholder(s: &str) -> Value {
    ev(A, "stakeholder_departed", T, json!({"stakeholder_id": s}))
}
fn depart_member(m: &str) -> Value {
    ev(A, "team_member_departed", T, json!({"member_id": m}))
}
fn member(m: &str) -> Value {
    ev(
        A,
        "team_member_assigned",
        T,
        json!({"member_id": m, "name": "X", "function": "ops", "team_role": "member"}),
    )
}
fn stakeholder(s: &str) -> Value {
    ev(
        A,
        "stakeholder_added",
        T,
        json!({"stakeholder_id": s, "name": "Y", "function": "ops",
        "level": "senior", "dmu_roles": [], "influence": 3, "attitude": 0}),
    )
}
fn promise(p: &str) -> Value {
    ev(
        A,
        "value_promised",
        T,
        json!({"promise_id": p, "description": "d", "metric": "saving",
        "unit": "EUR", "amount": "100", "due_date": "2024-12-31", "beneficiary": "customer"}),
    )
}
fn deliver(p: &str, amount: &str) -> Value {
    ev(
        A,
        "value_delivered",
        T,
        json!({"promise_id": p, "amount": amount}),
    )
}
fn objective(o: &str) -> Value {
    ev(
        A,
        "objective_proposed",
        T,
        json!({"objective_id": o, "title": "t"}),
    )
}
fn agree(o: &str) -> Value {
    ev(
        A,
        "objective_agreed",
        T,
        json!({"objective_id": o, "agreed_by": ["s-1"], "supplier_owner": "m-1"}),
    )
}
fn retract(target: &Value) -> Value {
    ev(
        A,
        "event_retracted",
        T,
        json!({"target_event_id": target["event_id"], "reason": "mistake"}),
    )
}

#[test]
fn shape_errors_name_line_event_field_and_reason() {
    let mut bad = ev(
        A,
        "account_opened",
        T,
        json!({"name": "Acme", "colour": "red"}),
    );
    rejects(
        vec![],
        vec![bad.clone()],
        0,
        "line 1, event {id}, field data.colour: unknown field for account_opened",
    );
    bad["data"] = json!({"name": "Acme", "tier": "gold"});
    rejects(vec![], vec![bad], 0,
        "line 1, event {id}, field data.tier: must be one of occasional|standard|major|strategic, got \"gold\"");
}

#[test]
fn the_first_event_must_be_account_opened() {
    rejects(
        vec![],
        vec![member("m-1")],
        0,
        "line 1, event {id}, field type: the first event of an account must be account_opened",
    );
}

#[test]
fn account_opened_only_once() {
    let again = ev(A, "account_opened", T, json!({"name": "Acme again"}));
    rejects(
        base_account(A),
        vec![again],
        0,
        "line 1, event {id}, field type: account_opened: the account is already open",
    );
}

#[test]
fn only_account_reopened_follows_account_closed() {
    let closed = with(base_account(A), vec![ev(A, "account_closed", T, json!({}))]);
    rejects(closed.clone(), vec![member("m-9")], 0,
        "line 1, event {id}, field type: team_member_assigned: the account is closed; only account_reopened may follow account_closed");
    // Reopening is allowed, and then anything valid.
    let (_d, store) = temp_store();
    append(&store, &closed).unwrap();
    append(
        &store,
        &[
            ev(A, "account_reopened", T, json!({"reason": "won back"})),
            member("m-9"),
        ],
    )
    .unwrap();
    rejects(
        base_account(A),
        vec![ev(A, "account_reopened", T, json!({}))],
        0,
        "line 1, event {id}, field type: account_reopened: the account is not closed",
    );
}

#[test]
fn interaction_participants_must_exist_and_be_active() {
    rejects(
        base_account(A),
        vec![interaction("i-1", &["m-1"], &["s-9"])],
        0,
        "line 1, event {id}, field data.customer_participants[0]: unknown stakeholder \"s-9\"",
    );
    rejects(
        with(base_account(A), vec![depart_stakeholder("s-2")]),
        vec![interaction("i-1", &["m-1"], &["s-1", "s-2"])],
        0,
        "line 1, event {id}, field data.customer_participants[1]: stakeholder \"s-2\" has departed",
    );
    rejects(
        with(base_account(A), vec![depart_member("m-1")]),
        vec![interaction("i-1", &["m-1"], &["s-1"])],
        0,
        "line 1, event {id}, field data.supplier_participants[0]: team member \"m-1\" has departed",
    );
}

#[test]
fn introduced_ids_must_be_new_even_after_departure() {
    rejects(with(base_account(A), vec![depart_stakeholder("s-2")]), vec![stakeholder("s-2")], 0,
        "line 1, event {id}, field data.stakeholder_id: stakeholder id \"s-2\" was already used in this account");
    rejects(with(base_account(A), vec![depart_member("m-1")]), vec![member("m-1")], 0,
        "line 1, event {id}, field data.member_id: member id \"m-1\" was already used in this account");
    rejects(with(base_account(A), vec![interaction("i-1", &["m-1"], &["s-1"])]),
        vec![interaction("i-1", &["m-1"], &["s-2"])], 0,
        "line 1, event {id}, field data.interaction_id: interaction id \"i-1\" was already used in this account");
    rejects(with(base_account(A), vec![objective("o-1")]), vec![objective("o-1")], 0,
        "line 1, event {id}, field data.objective_id: objective id \"o-1\" was already used in this account");
    let plan = || {
        ev(
            A,
            "plan_agreed",
            T,
            json!({"plan_id": "pl-1", "horizon_years": 3}),
        )
    };
    rejects(
        with(base_account(A), vec![plan()]),
        vec![plan()],
        0,
        "line 1, event {id}, field data.plan_id: plan id \"pl-1\" was already used in this account",
    );
    rejects(with(base_account(A), vec![promise("p-1")]), vec![promise("p-1")], 0,
        "line 1, event {id}, field data.promise_id: promise id \"p-1\" was already used in this account");
}

#[test]
fn stakeholder_changes_need_an_active_stakeholder() {
    let upd = ev(
        A,
        "stakeholder_updated",
        T,
        json!({"stakeholder_id": "s-2", "influence": 4}),
    );
    rejects(
        with(base_account(A), vec![depart_stakeholder("s-2")]),
        vec![upd],
        0,
        "line 1, event {id}, field data.stakeholder_id: stakeholder \"s-2\" has departed",
    );
    rejects(
        base_account(A),
        vec![depart_stakeholder("s-7")],
        0,
        "line 1, event {id}, field data.stakeholder_id: unknown stakeholder \"s-7\"",
    );
    rejects(
        base_account(A),
        vec![depart_member("m-7")],
        0,
        "line 1, event {id}, field data.member_id: unknown team member \"m-7\"",
    );
}

#[test]
fn successors_are_active_and_different_members() {
    let succ = |m: &str, s: &str| {
        ev(
            A,
            "successor_designated",
            T,
            json!({"member_id": m, "successor_id": s}),
        )
    };
    rejects(
        base_account(A),
        vec![succ("m-1", "m-1")],
        0,
        "line 1, event {id}, field data.successor_id: a member cannot be its own successor",
    );
    rejects(
        with(base_account(A), vec![member("m-2"), depart_member("m-2")]),
        vec![succ("m-1", "m-2")],
        0,
        "line 1, event {id}, field data.successor_id: team member \"m-2\" has departed",
    );
    rejects(
        base_account(A),
        vec![succ("m-1", "m-3")],
        0,
        "line 1, event {id}, field data.successor_id: unknown team member \"m-3\"",
    );
}

#[test]
fn links_need_active_people_and_unlinks_a_standing_link() {
    rejects(
        with(base_account(A), vec![depart_stakeholder("s-1")]),
        vec![link("m-1", "s-1")],
        0,
        "line 1, event {id}, field data.stakeholder_id: stakeholder \"s-1\" has departed",
    );
    let unlink = || {
        ev(
            A,
            "relationship_unlinked",
            T,
            json!({"member_id": "m-1", "stakeholder_id": "s-1"}),
        )
    };
    rejects(base_account(A), vec![unlink()], 0,
        "line 1, event {id}, field data.stakeholder_id: no standing relationship between member \"m-1\" and stakeholder \"s-1\"");
    rejects(with(base_account(A), vec![link("m-1", "s-1"), unlink()]), vec![unlink()], 0,
        "line 1, event {id}, field data.stakeholder_id: no standing relationship between member \"m-1\" and stakeholder \"s-1\"");
}

#[test]
fn objectives_are_agreed_once_and_only_while_open() {
    rejects(
        base_account(A),
        vec![agree("o-1")],
        0,
        "line 1, event {id}, field data.objective_id: unknown objective \"o-1\"",
    );
    rejects(
        with(base_account(A), vec![objective("o-1"), agree("o-1")]),
        vec![agree("o-1")],
        0,
        "line 1, event {id}, field data.objective_id: objective \"o-1\" is already agreed",
    );
    let close = || {
        ev(
            A,
            "objective_closed",
            T,
            json!({"objective_id": "o-1", "outcome": "abandoned"}),
        )
    };
    rejects(
        with(base_account(A), vec![objective("o-1"), close()]),
        vec![agree("o-1")],
        0,
        "line 1, event {id}, field data.objective_id: objective \"o-1\" is closed",
    );
    rejects(
        with(base_account(A), vec![objective("o-1"), close()]),
        vec![close()],
        0,
        "line 1, event {id}, field data.objective_id: objective \"o-1\" is closed",
    );
    let bad_owner = ev(
        A,
        "objective_agreed",
        T,
        json!({"objective_id": "o-1", "agreed_by": ["s-1"], "supplier_owner": "m-5"}),
    );
    rejects(
        with(base_account(A), vec![objective("o-1")]),
        vec![bad_owner],
        0,
        "line 1, event {id}, field data.supplier_owner: unknown team member \"m-5\"",
    );
}

#[test]
fn deliveries_need_a_promise_not_withdrawn() {
    rejects(
        base_account(A),
        vec![deliver("p-1", "5")],
        0,
        "line 1, event {id}, field data.promise_id: unknown promise \"p-1\"",
    );
    let withdraw = ev(
        A,
        "value_promise_withdrawn",
        T,
        json!({"promise_id": "p-1", "reason": "no"}),
    );
    rejects(
        with(base_account(A), vec![promise("p-1"), withdraw]),
        vec![deliver("p-1", "5")],
        0,
        "line 1, event {id}, field data.promise_id: promise \"p-1\" was withdrawn",
    );
    // A delivered promise still takes deliveries.
    let (_d, store) = temp_store();
    append(
        &store,
        &with(
            base_account(A),
            vec![promise("p-1"), deliver("p-1", "100"), deliver("p-1", "20")],
        ),
    )
    .unwrap();
}

#[test]
fn retraction_rules() {
    let base = base_account(A);
    let opened = base[0].clone();
    let s2 = base[3].clone();
    rejects(
        base.clone(),
        vec![retract(&opened)],
        0,
        "line 1, event {id}, field data.target_event_id: account_opened cannot be retracted",
    );
    let r1 = retract(&s2);
    rejects(
        with(base.clone(), vec![r1.clone()]),
        vec![retract(&r1)],
        0,
        "line 1, event {id}, field data.target_event_id: a retraction cannot be retracted",
    );
    rejects(
        with(base.clone(), vec![r1.clone()]),
        vec![retract(&s2)],
        0,
        "line 1, event {id}, field data.target_event_id: event {target} is already retracted"
            .replace("{target}", s2["event_id"].as_str().unwrap())
            .as_str(),
    );
    let other = ev("other", "account_opened", T, json!({"name": "Other"}));
    let other_member = ev(
        "other",
        "team_member_assigned",
        T,
        json!({"member_id": "m-1", "name": "Z", "function": "f", "team_role": "member"}),
    );
    rejects(with(base.clone(), vec![other, other_member.clone()]), vec![retract(&other_member)], 0,
        "line 1, event {id}, field data.target_event_id: no earlier event {target} in account \"acme\""
            .replace("{target}", other_member["event_id"].as_str().unwrap()).as_str());
    // The later interaction names s-2: retracting its introduction would leave it invalid.
    let inter = interaction("i-1", &["m-1"], &["s-2"]);
    let expected = format!(
        "line 1, event {{id}}, field data.target_event_id: retracting it would leave a later event invalid: version 5 (interaction_logged, event {}): data.customer_participants[0]: unknown stakeholder \"s-2\"",
        inter["event_id"].as_str().unwrap()
    );
    rejects(
        with(base.clone(), vec![inter]),
        vec![retract(&s2)],
        0,
        &expected,
    );

    // A valid retraction: the id it introduced becomes free again, and the retracted
    // event stays in the history.
    let (_d, store) = temp_store();
    append(&store, &base).unwrap();
    append(&store, &[retract(&s2)]).unwrap();
    append(&store, &[stakeholder("s-2")]).unwrap();
    assert_eq!(store.account_events(A).unwrap().len(), 6);
}

#[test]
fn a_rejected_batch_stores_nothing_even_across_accounts() {
    let mut batch = base_account("first");
    batch.extend(base_account("second"));
    batch.push(ev(
        "second",
        "team_member_departed",
        T,
        json!({"member_id": "m-404"}),
    ));
    rejects(
        vec![],
        batch,
        8,
        "line 9, event {id}, field data.member_id: unknown team member \"m-404\"",
    );
}

#[test]
fn idempotent_by_event_id_and_conflict_on_different_content() {
    let (_d, store) = temp_store();
    let events = base_account(A);
    let first = append(&store, &events).unwrap();
    assert_eq!(first.stored(), 4);
    let before = dump(&store);
    let again = append(&store, &events).unwrap();
    assert_eq!((again.stored(), again.duplicates()), (0, 4));
    assert_eq!(
        again.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(dump(&store), before);
    // Same id, different content.
    let mut changed = events[1].clone();
    changed["data"]["name"] = json!("Someone else");
    let err = append(&store, &[changed]).unwrap_err();
    assert_eq!(err.to_string(), format!(
        "line 1, event {}, field event_id: conflict: event_id is already stored at position 2 with different content",
        events[1]["event_id"].as_str().unwrap()
    ));
    assert_eq!(dump(&store), before);
    // Upper-case spelling of the same id is the same event.
    let mut upper = events[2].clone();
    upper["event_id"] = json!(events[2]["event_id"].as_str().unwrap().to_uppercase());
    assert_eq!(append(&store, &[upper]).unwrap().duplicates(), 1);
}

#[test]
fn expected_version_conflicts_store_nothing() {
    let (_d, store) = temp_store();
    append_expecting(&store, &base_account(A), Some(0)).unwrap();
    let before = dump(&store);
    let err = append_expecting(&store, &[member("m-2")], Some(3)).unwrap_err();
    assert!(matches!(
        err,
        Error::VersionConflict {
            expected: 3,
            actual: 4,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "concurrency conflict on account acme: expected version 3, but it is at 4"
    );
    assert_eq!(dump(&store), before);
    let ok = append_expecting(&store, &[member("m-2")], Some(4)).unwrap();
    assert_eq!(ok.events[0].version, 5);
    let err = append_expecting(
        &store,
        &[
            member("m-3"),
            ev("zeta", "account_opened", T, json!({"name": "Z"})),
        ],
        Some(5),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
}

#[test]
fn export_then_import_into_a_fresh_store_gives_identical_envelopes() {
    let (_d, store) = temp_store();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/replays/northwind-journey/events.jsonl"
    ))
    .unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    append(&store, &events).unwrap();
    let exported = dump(&store);
    let exported_values: Vec<Value> = exported
        .iter()
        .map(|b| serde_json::from_slice(b).unwrap())
        .collect();
    let (_d2, fresh) = temp_store();
    let out = append(&fresh, &exported_values).unwrap();
    assert_eq!(out.stored(), events.len());
    assert_eq!(dump(&fresh), exported);
    // An altered export is refused: the hash no longer matches.
    let (_d3, third) = temp_store();
    let mut tampered = exported_values.clone();
    tampered[2]["data"]["name"] = json!("Mallory");
    let err = append(&third, &tampered).unwrap_err().to_string();
    assert!(
        err.starts_with("line 3, event ")
            && err.contains("field hash: does not match the event's content"),
        "{err}"
    );
    assert!(dump(&third).is_empty());
}

#[test]
fn concurrent_appenders_leave_gap_free_positions_and_versions() {
    let (_d, store) = temp_store();
    let writers = 8;
    let per_writer = 40;
    // Every account is opened first; then writers append to their own account and to a shared one.
    let mut setup = vec![];
    for w in 0..writers {
        setup.extend(base_account(&format!("own-{w}")));
    }
    setup.extend(base_account("shared"));
    append(&store, &setup).unwrap();
    let acked: Vec<Vec<(String, String, u64, u64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                s.spawn(move || {
                    let mut acks = vec![];
                    for i in 0..per_writer {
                        let account = if i % 2 == 0 { format!("own-{w}") } else { "shared".to_string() };
                        let e = ev(&account, "interaction_logged", T, json!({"interaction_id": format!("i-{w}-{i}"),
                            "channel": "call", "supplier_participants": ["m-1"], "customer_participants": ["s-1"]}));
                        let out = append(&store, std::slice::from_ref(&e)).unwrap();
                        let a = &out.events[0];
                        acks.push((a.event_id.clone(), account, a.version, a.position));
                    }
                    acks
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = setup.len() as u64 + (writers * per_writer) as u64;
    assert_eq!(store.last_position().unwrap(), total);
    let positions: Vec<u64> = store.raw_from(1).map(|r| r.unwrap().0).collect();
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    let mut versions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut ids = HashSet::new();
    for e in store.events_from(1) {
        let e = e.unwrap();
        versions
            .entry(e.account_id.clone())
            .or_default()
            .push(e.version);
        ids.insert(e.event_id.clone());
    }
    for (account, vs) in versions {
        assert_eq!(vs, (1..=vs.len() as u64).collect::<Vec<_>>(), "{account}");
    }
    for acks in acked {
        for (id, account, version, position) in acks {
            assert!(ids.contains(&id));
            let stored = store.account_events(&account).unwrap();
            let e = &stored[(version - 1) as usize];
            assert_eq!((e.event_id.as_str(), e.position), (id.as_str(), position));
        }
    }
    assert!(store.verify().unwrap().first_break.is_none());
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_clearly() {
    let (dir, _store) = temp_store();
    let err = Store::open(dir.path().join("data"))
        .err()
        .expect("second open must fail");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "data directory {} is in use by pid {}",
            dir.path().join("data").display(),
            std::process::id()
        )),
        "{msg}"
    );
}
