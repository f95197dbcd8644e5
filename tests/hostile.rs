//! A catalogue of hostile inputs, each run through `kamlog import` and `kamlog append` (the
//! binary): the exact error expected on stderr, exit status 1, and the store unchanged.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const A: &str = "acme";
const T: &str = "2024-02-01T00:00:00Z";
const ID: &str = "11111111-2222-4333-8444-555555555555";

/// A base event with a fixed id, to which a case applies its change.
fn base(t: &str, data: Value) -> Value {
    json!({"event_id": ID, "account_id": A, "type": t, "occurred_at": T, "data": data})
}

fn with(mut v: Value, path: &[&str], new: Option<Value>) -> Value {
    let mut cur = &mut v;
    for p in &path[..path.len() - 1] {
        cur = cur.get_mut(*p).unwrap();
    }
    match new {
        Some(n) => cur[path[path.len() - 1]] = n,
        None => {
            cur.as_object_mut().unwrap().remove(path[path.len() - 1]);
        }
    }
    v
}

fn line(v: &Value) -> Vec<u8> {
    let mut b = v.to_string().into_bytes();
    b.push(b'\n');
    b
}

fn closed() -> Value {
    base("account_closed", json!({}))
}

/// (name, the bytes of the bad line, the expected error after "kamlog: line 5")
fn catalogue() -> Vec<(&'static str, Vec<u8>, String)> {
    let e = |field: &str, reason: &str| {
        if field.is_empty() {
            format!("line 5, event {ID}: {reason}")
        } else {
            format!("line 5, event {ID}, field {field}: {reason}")
        }
    };
    let promise = base(
        "value_promised",
        json!({"promise_id": "p-9", "description": "d", "metric": "m", "unit": "EUR",
        "amount": "10", "due_date": "2024-12-31", "beneficiary": "customer"}),
    );
    let delivered = |amount: Value| {
        base(
            "value_delivered",
            json!({"promise_id": "p-1", "amount": amount}),
        )
    };
    let mut c: Vec<(&'static str, Vec<u8>, String)> = vec![
        ("invalid UTF-8", b"{\"event_id\":\"\xff\xfe\"}\n".to_vec(), "line 5: not valid UTF-8 (at byte 14 of the line)".into()),
        ("truncated line", b"{\"event_id\":\"1111".to_vec(), "line 5: not valid JSON: EOF while parsing a string at line 1 column 17".into()),
        ("byte-order mark", [b"\xef\xbb\xbf".as_slice(), &line(&closed())].concat(),
            "line 5: line starts with a byte-order mark (U+FEFF); save the file as UTF-8 without BOM".into()),
        ("10 MB line", [b"{\"x\":\"".as_slice(), &vec![b'a'; 10 << 20], b"\"}\n"].concat(),
            "line 5: line is longer than 1048576 bytes; that is the limit for one event".into()),
        ("deeply nested JSON", ("[".repeat(1000) + &"]".repeat(1000) + "\n").into_bytes(),
            "line 5: not valid JSON: recursion limit exceeded at line 1 column 128".into()),
        ("not an object", b"[1,2]\n".to_vec(), "line 5: an event must be a JSON object, got an array".into()),
        ("duplicate keys", format!("{{\"event_id\":\"{ID}\",\"event_id\":\"{ID}\"}}\n").into_bytes(),
            format!("line 5, event {ID}: duplicate key \"event_id\" in a JSON object")),
        ("float amount", line(&delivered(json!(12.5))), e("data.amount", "floating-point number 12.5 is not allowed; amounts are decimal strings such as \"1250.50\"")),
        ("NaN amount", format!("{{\"event_id\":\"{ID}\",\"amount\":NaN}}\n").into_bytes(), "line 5: not valid JSON: expected value at line 1 column 61".into()),
        ("negative amount", line(&delivered(json!("-5"))), e("data.amount", "must be a decimal string > 0 with at most 18 integer and 10 fraction digits, such as \"1250.50\", got \"-5\"")),
        ("zero amount", line(&delivered(json!("0.00"))), e("data.amount", "must be greater than 0, got \"0.00\"")),
        ("huge decimal", line(&delivered(json!("1234567890123456789"))), e("data.amount", "must be a decimal string > 0 with at most 18 integer and 10 fraction digits, such as \"1250.50\", got \"1234567890123456789\"")),
        ("exponent decimal", line(&delivered(json!("1e5"))), e("data.amount", "must be a decimal string > 0 with at most 18 integer and 10 fraction digits, such as \"1250.50\", got \"1e5\"")),
        ("timestamp without zone", line(&with(closed(), &["occurred_at"], Some(json!("2024-02-01T00:00:00")))),
            e("occurred_at", "\"2024-02-01T00:00:00\" is not an RFC 3339 UTC timestamp such as 2025-03-01T09:30:00Z: expected YYYY-MM-DDTHH:MM:SS followed by Z")),
        ("timestamp with offset", line(&with(closed(), &["occurred_at"], Some(json!("2024-02-01T00:00:00+02:00")))),
            e("occurred_at", "\"2024-02-01T00:00:00+02:00\" is not an RFC 3339 UTC timestamp such as 2025-03-01T09:30:00Z: the time zone must be Z (or +00:00)")),
        ("timestamp out of range", line(&with(closed(), &["occurred_at"], Some(json!("2024-02-30T00:00:00Z")))),
            e("occurred_at", "\"2024-02-30T00:00:00Z\" is not an RFC 3339 UTC timestamp such as 2025-03-01T09:30:00Z: input is out of range")),
        ("date only", line(&with(closed(), &["occurred_at"], Some(json!("2024-02-01")))),
            e("occurred_at", "\"2024-02-01\" is not an RFC 3339 UTC timestamp such as 2025-03-01T09:30:00Z: expected YYYY-MM-DDTHH:MM:SS followed by Z")),
        ("unknown type", line(&with(closed(), &["type"], Some(json!("account_merged")))), e("type", "unknown event type \"account_merged\"")),
        ("unknown field", line(&with(closed(), &["colour"], Some(json!("red")))), e("colour", "unknown field")),
        ("unknown data field", line(&with(closed(), &["data", "colour"], Some(json!("red")))), e("data.colour", "unknown field for account_closed")),
        ("schema_version 2", line(&with(closed(), &["schema_version"], Some(json!(2)))), e("schema_version", "schema_version 2 is not supported for account_closed (supported: 1)")),
        ("schema_version 0", line(&with(closed(), &["schema_version"], Some(json!(0)))), e("schema_version", "must be an integer ≥ 1, got 0")),
        ("account id with a dot", line(&with(closed(), &["account_id"], Some(json!("acme.eu")))),
            e("account_id", "\"acme.eu\" must match [A-Za-z0-9_-]{1,64} (it becomes part of NATS subjects)")),
        ("account id with *", line(&with(closed(), &["account_id"], Some(json!("acme*")))),
            e("account_id", "\"acme*\" must match [A-Za-z0-9_-]{1,64} (it becomes part of NATS subjects)")),
        ("account id with >", line(&with(closed(), &["account_id"], Some(json!("acme>")))),
            e("account_id", "\"acme>\" must match [A-Za-z0-9_-]{1,64} (it becomes part of NATS subjects)")),
        ("account id with a space", line(&with(closed(), &["account_id"], Some(json!("acme eu")))),
            e("account_id", "\"acme eu\" must match [A-Za-z0-9_-]{1,64} (it becomes part of NATS subjects)")),
        ("account id of 65 characters", line(&with(closed(), &["account_id"], Some(json!("a".repeat(65))))),
            e("account_id", &format!("\"{}\" must match [A-Za-z0-9_-]{{1,64}} (it becomes part of NATS subjects)", "a".repeat(65)))),
        ("missing event_id", line(&with(closed(), &["event_id"], None)), "line 5, field event_id: required field is missing".into()),
        ("event_id not a UUID", line(&with(closed(), &["event_id"], Some(json!("evt-1")))), "line 5, event evt-1, field event_id: \"evt-1\" is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)".into()),
        ("missing data", line(&with(closed(), &["data"], None)), e("data", "required field is missing")),
        ("null actor", line(&with(closed(), &["actor"], Some(Value::Null))), e("actor", "must be a string, got null")),
        ("influence out of range", line(&base("stakeholder_added", json!({"stakeholder_id": "s-9", "name": "N", "function": "f",
            "level": "senior", "dmu_roles": [], "influence": 6, "attitude": 0}))), e("data.influence", "must be an integer from 1 to 5, got 6")),
        ("repeated role", line(&base("stakeholder_added", json!({"stakeholder_id": "s-9", "name": "N", "function": "f",
            "level": "senior", "dmu_roles": ["coach", "coach"], "influence": 3, "attitude": 0}))), e("data.dmu_roles[1]", "\"coach\" is repeated")),
        ("id with a slash", line(&base("team_member_assigned", json!({"member_id": "m/1", "name": "N", "function": "f", "team_role": "member"}))),
            e("data.member_id", "must be an id matching [A-Za-z0-9_.:-]{1,64}, got \"m/1\"")),
        // Rules that need the account's history (the store holds acme: m-1, s-1, s-2, p-1).
        ("stakeholder id reused", line(&base("stakeholder_added", json!({"stakeholder_id": "s-1", "name": "N", "function": "f",
            "level": "senior", "dmu_roles": [], "influence": 3, "attitude": 0}))), e("data.stakeholder_id", "stakeholder id \"s-1\" was already used in this account")),
        ("reference to a departed stakeholder", line(&base("relationship_linked", json!({"member_id": "m-1", "stakeholder_id": "s-2", "strength": 2}))),
            e("data.stakeholder_id", "stakeholder \"s-2\" has departed")),
        ("reference to an unknown member", line(&base("interaction_logged", json!({"interaction_id": "i-9", "channel": "call",
            "supplier_participants": ["m-404"], "customer_participants": ["s-1"]}))), e("data.supplier_participants[0]", "unknown team member \"m-404\"")),
        ("promise id reused", line(&with(promise.clone(), &["data", "promise_id"], Some(json!("p-1")))), e("data.promise_id", "promise id \"p-1\" was already used in this account")),
        ("retraction of account_opened", line(&base("event_retracted", json!({"target_event_id": "00000000-0000-4000-8000-00000000a001", "reason": "r"}))),
            e("data.target_event_id", "account_opened cannot be retracted")),
        ("retraction of a retraction", line(&base("event_retracted", json!({"target_event_id": "00000000-0000-4000-8000-00000000a007", "reason": "r"}))),
            e("data.target_event_id", "a retraction cannot be retracted")),
        ("second account_opened", line(&base("account_opened", json!({"name": "again"}))), e("type", "account_opened: the account is already open")),
        ("event for a new account that is not account_opened", line(&with(closed(), &["account_id"], Some(json!("newco")))),
            e("type", "the first event of an account must be account_opened")),
    ];
    c.sort_by_key(|x| x.0);
    c
}

/// The account every case runs against (positions 1–7), written with fixed ids.
fn setup_events() -> Vec<Value> {
    let id = |n: u32| format!("00000000-0000-4000-8000-00000000a{n:03}");
    let ev = |n: u32, t: &str, data: Value| json!({"event_id": id(n), "account_id": A, "type": t, "occurred_at": "2024-01-01T00:00:00Z", "data": data});
    vec![
        ev(1, "account_opened", json!({"name": "Acme"})),
        ev(
            2,
            "team_member_assigned",
            json!({"member_id": "m-1", "name": "M", "function": "sales", "team_role": "account_lead"}),
        ),
        ev(
            3,
            "stakeholder_added",
            json!({"stakeholder_id": "s-1", "name": "S", "function": "ops", "level": "executive", "dmu_roles": [], "influence": 3, "attitude": 0}),
        ),
        ev(
            4,
            "stakeholder_added",
            json!({"stakeholder_id": "s-2", "name": "T", "function": "it", "level": "middle", "dmu_roles": [], "influence": 2, "attitude": 0}),
        ),
        ev(5, "stakeholder_departed", json!({"stakeholder_id": "s-2"})),
        ev(
            6,
            "value_promised",
            json!({"promise_id": "p-1", "description": "d", "metric": "m", "unit": "EUR", "amount": "10", "due_date": "2024-12-31", "beneficiary": "customer"}),
        ),
        ev(
            7,
            "event_retracted",
            json!({"target_event_id": id(5), "reason": "logged twice"}),
        ),
    ]
}

fn run(data: &Path, args: &[&str], stdin: Option<&[u8]>) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kamlog"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sin = child.stdin.take().unwrap();
    if let Some(b) = stdin {
        let _ = sin.write_all(b);
    }
    drop(sin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_hostile_input_is_refused_clearly_through_import_and_append() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let setup = setup_events();
    let setup_file = dir.path().join("setup.jsonl");
    std::fs::write(&setup_file, jsonl(&setup)).unwrap();
    // The setup retracts s-2's first departure (so s-2 is active again); depart her for real.
    assert_eq!(
        run(&data, &["import", setup_file.to_str().unwrap()], None).0,
        0
    );
    let depart = json!({"event_id": "00000000-0000-4000-8000-00000000a008", "account_id": A, "type": "stakeholder_departed",
        "occurred_at": "2024-01-02T00:00:00Z", "data": {"stakeholder_id": "s-2"}});
    assert_eq!(run(&data, &["append", "-"], Some(&line(&depart))).0, 0);
    let export = |d: &Path| {
        Command::new(env!("CARGO_BIN_EXE_kamlog"))
            .arg("--data")
            .arg(d)
            .arg("export")
            .output()
            .unwrap()
            .stdout
    };
    let before = export(&data);
    // Four good lines before the bad one: the whole batch must be refused.
    let good: Vec<u8> = (0..4)
        .flat_map(|i| line(&json!({"event_id": format!("00000000-0000-4000-8000-0000000b000{i}"), "account_id": A,
            "type": "stage_assessed", "occurred_at": T, "data": {"stage": "basic"}})))
        .collect();
    let cases = catalogue();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (name, bad, expected) in cases {
        let input = [good.as_slice(), &bad].concat();
        let file = dir.path().join("case.jsonl");
        std::fs::write(&file, &input).unwrap();
        let (code, err) = run(&data, &["import", file.to_str().unwrap()], None);
        assert_eq!(code, 1, "{name}: import exit status");
        let first = err.lines().next().unwrap_or("");
        assert_eq!(first, format!("kamlog: {expected}"), "{name} (import)");
        let (code, err) = run(&data, &["append", "-"], Some(&input));
        assert_eq!(code, 1, "{name}: append exit status");
        assert_eq!(
            err.lines().next().unwrap_or(""),
            format!("kamlog: {expected}"),
            "{name} (append)"
        );
        assert_eq!(export(&data), before, "{name}: the store changed");
    }
    // Only account_reopened may follow account_closed.
    let close = json!({"event_id": "00000000-0000-4000-8000-00000000c001", "account_id": A, "type": "account_closed", "occurred_at": T, "data": {}});
    assert_eq!(run(&data, &["append", "-"], Some(&line(&close))).0, 0);
    let after_close = base(
        "plan_agreed",
        json!({"plan_id": "pl-1", "horizon_years": 2}),
    );
    let (code, err) = run(&data, &["append", "-"], Some(&line(&after_close)));
    assert_eq!(code, 1);
    assert_eq!(err, format!("kamlog: line 1, event {ID}, field type: plan_agreed: the account is closed; only account_reopened may follow account_closed\n"));
}
