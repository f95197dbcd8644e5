//! The published JSON Schemas, the catalog table and the Rust payload types must agree.
//!
//! - the files under `schemas/` are exactly what the catalog generates;
//! - every field the catalog lists is a field of the Rust type and nothing else is (checked
//!   both ways: a maximal example round-trips through the type unchanged; dropping a required
//!   field makes the type reject it, dropping an optional one does not);
//! - an independent validator (the `jsonschema` crate) accepts every event under `replays/`
//!   and agrees with kamlog's own validator on a corpus of good and bad events.

use kamlog::event::catalog::{example_data, EVENT_TYPES};
use kamlog::event::schema::{envelope_schema, type_schema};
use kamlog::event::validate::parse_line;
use kamlog::event::EventData;
use serde_json::{json, Value};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles")
}

#[test]
fn schemas_on_disk_match_the_catalog() {
    let dir = root().join("schemas");
    let generated = kamlog::schemas::published();
    for (name, text) in &generated {
        let on_disk = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|_| panic!("schemas/{name} is missing; run `kamlog schemas`"));
        assert_eq!(
            &on_disk, text,
            "schemas/{name} differs from what the catalog and types generate; run `kamlog schemas`"
        );
    }
    let count = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        count,
        generated.len(),
        "schemas/ holds files the catalog does not generate"
    );
    assert_eq!(
        generated.len(),
        46,
        "29 event types (SPEC 2.2 v2: the three contract events and personal_data_erased) + the envelope + 16 output \
         documents (8 views, alerts, log, accounts, append, import, alert message, API call \
         and reply)"
    );
}

#[test]
fn catalog_and_types_agree() {
    for et in EVENT_TYPES {
        let data = Value::Object(example_data(et));
        let typed = EventData::decode(et.name, &data).unwrap_or_else(|e| {
            panic!(
                "{}: the Rust type rejects the catalog's fields: {e}",
                et.name
            )
        });
        assert_eq!(typed.type_name(), et.name);
        assert_eq!(
            typed.data_json(),
            data,
            "{}: a field was lost or added by the Rust type",
            et.name
        );
        for f in et.fields {
            let mut partial = example_data(et);
            partial.remove(f.name);
            let res = EventData::decode(et.name, &Value::Object(partial));
            assert_eq!(
                res.is_ok(),
                !f.required,
                "{}.{}: catalog says required={}, the Rust type disagrees",
                et.name,
                f.name,
                f.required
            );
        }
        let mut extra = example_data(et);
        extra.insert("unexpected".into(), json!("x"));
        assert!(
            EventData::decode(et.name, &Value::Object(extra)).is_err(),
            "{}: unknown field accepted",
            et.name
        );
    }
}

fn envelope(t: &str, data: Value) -> Value {
    json!({
        "event_id": "2b1e7c9a-3f4d-4e5a-9b6c-7d8e9f0a1b2c",
        "account_id": "acme-1",
        "type": t,
        "occurred_at": "2025-03-01T09:30:00Z",
        "data": data,
    })
}

/// Both validators on one event: (kamlog accepts, jsonschema accepts).
fn both(event: &Value) -> (bool, bool) {
    let ours = parse_line(&event.to_string()).is_ok();
    let t = event.get("type").and_then(Value::as_str).unwrap_or("");
    let theirs = match type_schema(t) {
        Some(s) => validator(&s).is_valid(event),
        None => false,
    } && validator(&envelope_schema()).is_valid(event);
    (ours, theirs)
}

#[test]
fn maximal_examples_are_valid_for_both_validators() {
    for et in EVENT_TYPES {
        let mut ev = envelope(et.name, Value::Object(example_data(et)));
        ev["actor"] = json!("crm-sync");
        ev["schema_version"] = json!(1);
        ev["correlation_id"] = json!("2b1e7c9a-3f4d-4e5a-9b6c-7d8e9f0a1b2d");
        assert_eq!(both(&ev), (true, true), "{}", et.name);
    }
}

#[test]
fn validators_agree_on_bad_events() {
    let base = |t: &str| {
        envelope(
            t,
            Value::Object(example_data(kamlog::event::catalog::event_type(t).unwrap())),
        )
    };
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut set = |name: &'static str, t: &str, path: &[&str], v: Option<Value>| {
        let mut ev = base(t);
        let mut cur = &mut ev;
        for p in &path[..path.len() - 1] {
            cur = cur.get_mut(*p).unwrap();
        }
        let last = path[path.len() - 1];
        match v {
            Some(v) => {
                cur[last] = v;
            }
            None => {
                cur.as_object_mut().unwrap().remove(last);
            }
        }
        cases.push((name, ev));
    };
    set(
        "negative amount",
        "value_delivered",
        &["data", "amount"],
        Some(json!("-5")),
    );
    set(
        "zero amount",
        "value_delivered",
        &["data", "amount"],
        Some(json!("0.00")),
    );
    set(
        "float amount",
        "value_delivered",
        &["data", "amount"],
        Some(json!("1e5")),
    );
    set(
        "leading zero",
        "value_delivered",
        &["data", "amount"],
        Some(json!("012")),
    );
    set(
        "too many digits",
        "value_delivered",
        &["data", "amount"],
        Some(json!("1234567890123456789")),
    );
    set(
        "too many fraction digits",
        "value_delivered",
        &["data", "amount"],
        Some(json!("1.12345678901")),
    );
    set(
        "number amount",
        "value_delivered",
        &["data", "amount"],
        Some(json!(5)),
    );
    set(
        "influence 6",
        "stakeholder_added",
        &["data", "influence"],
        Some(json!(6)),
    );
    set(
        "attitude -3",
        "stakeholder_added",
        &["data", "attitude"],
        Some(json!(-3)),
    );
    set(
        "unknown role",
        "stakeholder_added",
        &["data", "dmu_roles"],
        Some(json!(["boss"])),
    );
    set(
        "repeated role",
        "stakeholder_added",
        &["data", "dmu_roles"],
        Some(json!(["coach", "coach"])),
    );
    set("missing name", "stakeholder_added", &["data", "name"], None);
    set(
        "empty name",
        "stakeholder_added",
        &["data", "name"],
        Some(json!("")),
    );
    set(
        "unknown data field",
        "account_closed",
        &["data", "whatever"],
        Some(json!("x")),
    );
    set(
        "unknown envelope field",
        "account_closed",
        &["extra"],
        Some(json!("x")),
    );
    set(
        "bad account id",
        "account_closed",
        &["account_id"],
        Some(json!("acme.eu")),
    );
    set(
        "account id with space",
        "account_closed",
        &["account_id"],
        Some(json!("acme eu")),
    );
    set(
        "bad uuid",
        "account_closed",
        &["event_id"],
        Some(json!("not-a-uuid")),
    );
    set(
        "timestamp without zone",
        "account_closed",
        &["occurred_at"],
        Some(json!("2025-03-01T09:30:00")),
    );
    set(
        "timestamp with offset",
        "account_closed",
        &["occurred_at"],
        Some(json!("2025-03-01T09:30:00+02:00")),
    );
    set(
        "schema_version 0",
        "account_closed",
        &["schema_version"],
        Some(json!(0)),
    );
    set(
        "schema_version 2",
        "account_closed",
        &["schema_version"],
        Some(json!(2)),
    );
    set(
        "empty participants",
        "interaction_logged",
        &["data", "supplier_participants"],
        Some(json!([])),
    );
    set(
        "bad id",
        "interaction_logged",
        &["data", "interaction_id"],
        Some(json!("has space")),
    );
    set(
        "bad channel",
        "interaction_logged",
        &["data", "channel"],
        Some(json!("fax")),
    );
    set(
        "bad period",
        "revenue_recorded",
        &["data", "period"],
        Some(json!("2024-Q5")),
    );
    set(
        "bad month",
        "revenue_recorded",
        &["data", "period"],
        Some(json!("2024-13")),
    );
    set(
        "bad currency",
        "revenue_recorded",
        &["data", "currency"],
        Some(json!("eur")),
    );
    set(
        "bad date",
        "value_promised",
        &["data", "due_date"],
        Some(json!("2024-02-30")),
    );
    set(
        "horizon 11",
        "plan_agreed",
        &["data", "horizon_years"],
        Some(json!(11)),
    );
    set(
        "criteria 101",
        "account_classified",
        &["data", "criteria"],
        Some(json!({"g": 101})),
    );
    set(
        "update with no change",
        "stakeholder_updated",
        &["data"],
        Some(json!({"stakeholder_id": "s-1"})),
    );
    set(
        "revision with no change",
        "value_promise_revised",
        &["data"],
        Some(json!({"promise_id": "p", "reason": "r"})),
    );
    set(
        "data not an object",
        "account_closed",
        &["data"],
        Some(json!([])),
    );
    set(
        "unknown type",
        "account_closed",
        &["type"],
        Some(json!("account_merged")),
    );
    set(
        "null actor",
        "account_closed",
        &["actor"],
        Some(Value::Null),
    );
    for (name, ev) in cases {
        assert_eq!(both(&ev), (false, false), "{name}: {ev}");
    }
}

#[test]
fn every_replay_event_is_valid_for_the_independent_validator() {
    let envelope = validator(&envelope_schema());
    let mut checked = 0;
    for dir in std::fs::read_dir(root().join("replays")).unwrap() {
        let path = dir.unwrap().path().join("events.jsonl");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let ev: Value = serde_json::from_str(line).unwrap();
            let t = ev["type"].as_str().unwrap();
            let schema = validator(&type_schema(t).unwrap());
            let errors: Vec<String> = schema.iter_errors(&ev).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{}:{}: {errors:?}",
                path.display(),
                i + 1
            );
            assert!(envelope.is_valid(&ev), "{}:{}", path.display(), i + 1);
            assert!(parse_line(line).is_ok(), "{}:{}", path.display(), i + 1);
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} replay events found");
}

/// The schema published under `schemas/` with this file name.
fn published(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas").join(name)).unwrap();
    validator(&serde_json::from_str(&text).unwrap())
}

fn kamlog_json(data: &Path, args: &[&str]) -> Value {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kamlog"))
        .arg("--data")
        .arg(data)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn every_json_output_is_valid_for_its_published_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let replay = root().join("replays/northwind-journey/events.jsonl");
    let import = kamlog_json(&data, &["import", replay.to_str().unwrap()]);
    let mut checked = vec![(import, "import.schema.json")];
    for v in ["coverage", "stage", "value", "classification", "economics"] {
        checked.push((
            kamlog_json(&data, &["view", "northwind", v, "--as-of", "2024-10-31"]),
            Box::leak(format!("view.{v}.schema.json").into_boxed_str()),
        ));
    }
    checked.push((
        kamlog_json(
            &data,
            &["view", "northwind", "stage", "--known-at", "2030-01-01"],
        ),
        "view.stage.schema.json",
    ));
    checked.push((kamlog_json(&data, &["accounts"]), "accounts.schema.json"));
    checked.push((kamlog_json(&data, &["alerts"]), "alerts.schema.json"));
    checked.push((
        kamlog_json(&data, &["alerts", "northwind", "--history"]),
        "alerts.schema.json",
    ));
    checked.push((kamlog_json(&data, &["log", "northwind"]), "log.schema.json"));
    let event = root().join("replays/champion-departs/events.jsonl");
    checked.push((
        kamlog_json(&data, &["append", event.to_str().unwrap()]),
        "append.schema.json",
    ));
    for (doc, schema) in &checked {
        let v = published(schema);
        let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{schema}: {errors:?}");
    }
    // The schemas are specific: a coverage view is not a stage view, an alerts document not
    // a log.
    assert!(!published("view.stage.schema.json").is_valid(&checked[1].0));
    assert!(!published("log.schema.json").is_valid(&checked[8].0));
}
