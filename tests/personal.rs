//! Personal data (SPEC 10 v2), end to end with the real binary on the sled store: after
//! `kamlog forget`, no file under the data directory holds the person's values or their salts,
//! no output shows them, the person is shown as erased, every other figure of every view is
//! the figure before, `verify` passes and an independent program (Python's hashlib) recomputes
//! every hash of the export; SIGKILL during `forget` leaves all or nothing; erased people get no
//! new personal data; `export --personal` / `import --personal` round-trip and refuse a value
//! that does not open its commitment; a store of the old format is refused. Also the fact the
//! vault's design rests on: sled keeps a removed value's bytes in its files.

mod common;

use common::web::kamlog;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const NORTHWIND: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/replays/northwind-journey/events.jsonl"
);
use common::VIEWS;
const AS_OF: [&str; 3] = [
    "2023-06-01T00:00:00Z",
    "2024-07-03T00:00:00Z",
    "2025-06-01T00:00:00Z",
];
/// s-olaf's personal values in the replay (each occurs once in the file: checked below).
const OLAF: [&str; 3] = [
    "Olaf Jensen",
    "Head of Procurement",
    "olaf@northwind.example",
];

fn ok(data: &Path, args: &[&str]) -> String {
    let (code, out, err) = kamlog(data, args);
    assert_eq!(code, 0, "kamlog {args:?}: {err}");
    out
}

fn json_of(data: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(data, &a)).unwrap()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The files under `dir` whose bytes contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|f| {
            let bytes = std::fs::read(f).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

/// Every view at three instants, open alerts and their history, as JSON.
fn figures(data: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for t in AS_OF {
        for v in VIEWS {
            out.push(json_of(data, &["view", "northwind", v, "--as-of", t]));
        }
        out.push(json_of(data, &["alerts", "northwind", "--as-of", t]));
    }
    out.push(json_of(
        data,
        &["alerts", "northwind", "--history", "--as-of", AS_OF[2]],
    ));
    out
}

/// The figures before an erasure as they must be after it (SPEC 10): every object that
/// describes the stakeholder has `"name": null` (and a `title` null), `"erased": true`; an
/// alert about them has `"name": null` in its detail; nothing else changes.
fn erased_in(v: Value, stakeholder: &str) -> Value {
    erased_person_in(v, "stakeholder", stakeholder)
}

/// [`erased_in`] for a stakeholder or a member (`subject`).
fn erased_person_in(mut v: Value, subject: &str, id: &str) -> Value {
    fn walk(v: &mut Value, key: &str, s: &str) {
        match v {
            Value::Object(m) => {
                let is_person =
                    m.get(key).and_then(Value::as_str) == Some(s) && m.contains_key("name");
                if is_person {
                    m.insert("name".into(), Value::Null);
                    if m.contains_key("title") {
                        m.insert("title".into(), Value::Null);
                    }
                    m.insert("erased".into(), Value::Bool(true));
                }
                let about = m.get("subject").and_then(Value::as_str) == Some(s);
                if about {
                    if let Some(Value::Object(d)) = m.get_mut("detail") {
                        if d.contains_key("name") {
                            d.insert("name".into(), Value::Null);
                        }
                    }
                }
                m.values_mut().for_each(|x| walk(x, key, s));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, key, s)),
            _ => {}
        }
    }
    let key = if subject == "stakeholder" {
        "stakeholder_id"
    } else {
        "member_id"
    };
    walk(&mut v, key, id);
    v
}

/// Recomputes every hash and prev_hash link of an export with Python's hashlib and json: the
/// hash is SHA-256 of the envelope without `hash`, keys sorted, no spaces (SPEC 2.1).
fn python_verifies(export: &Path) {
    let script = r#"
import hashlib, json, sys
heads = {}
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    h = e.pop("hash")
    body = json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(body.encode("utf-8")).hexdigest() == h, (e["position"], "hash")
    assert e["prev_hash"] == heads.get(e["account_id"], "0" * 64), (e["position"], "prev_hash")
    heads[e["account_id"]] = h
    n += 1
print(n)
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, export.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "41");
}

#[test]
fn forget_erases_the_values_everywhere_and_changes_no_other_figure() {
    let file = std::fs::read_to_string(NORTHWIND).unwrap();
    for v in OLAF {
        assert_eq!(file.matches(v).count(), 1, "{v} occurs once in the replay");
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ok(&data, &["import", NORTHWIND]);
    // Before: the views show s-olaf's values, which live in the vault, not in sled.
    let before = figures(&data);
    let cov = json_of(
        &data,
        &["view", "northwind", "coverage", "--as-of", AS_OF[0]],
    );
    assert!(cov.to_string().contains("Olaf Jensen"));
    for v in OLAF {
        let held = holding(&data, v.as_bytes());
        assert!(
            held.iter().all(|f| f.starts_with(data.join("vault"))),
            "{v} outside the vault: {held:?}"
        );
        assert_eq!(held.len(), 1, "{v}: {held:?}");
    }
    let personal = dir.path().join("personal.jsonl");
    ok(&data, &["export", "--personal", personal.to_str().unwrap()]);
    let entries: Vec<Value> = std::fs::read_to_string(&personal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The replay's 3 stakeholders (3 names, 3 titles, 1 e-mail) and 3 members (3 names).
    assert_eq!(entries.len(), 3 + 3 + 1 + 3);
    let olaf_salts: Vec<String> = entries
        .iter()
        .filter(|e| OLAF.contains(&e["value"].as_str().unwrap()))
        .map(|e| e["salt"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(olaf_salts.len(), 3);
    std::fs::remove_file(&personal).unwrap();

    let out = ok(
        &data,
        &[
            "forget",
            "northwind",
            "--stakeholder",
            "s-olaf",
            "--reason",
            "GDPR art. 17 request",
        ],
    );
    assert!(out.contains("3 values removed"), "{out}");

    // No file under the data directory holds the values or their salts (hex or raw).
    for v in OLAF {
        assert_eq!(holding(&data, v.as_bytes()), Vec::<PathBuf>::new(), "{v}");
    }
    for s in &olaf_salts {
        assert_eq!(
            holding(&data, s.as_bytes()),
            Vec::<PathBuf>::new(),
            "salt {s}"
        );
        let raw = hex::decode(s).unwrap();
        assert_eq!(holding(&data, &raw), Vec::<PathBuf>::new(), "raw salt {s}");
    }
    // No output shows them.
    let report = dir.path().join("r.html");
    ok(
        &data,
        &[
            "report",
            "northwind",
            "--as-of",
            AS_OF[1],
            "-o",
            report.to_str().unwrap(),
        ],
    );
    let mut shown = vec![
        ok(&data, &["export"]),
        ok(&data, &["log", "northwind"]),
        ok(&data, &["log", "northwind", "--json"]),
        ok(&data, &["alerts", "--history"]),
        ok(&data, &["accounts"]),
        std::fs::read_to_string(&report).unwrap(),
    ];
    for t in AS_OF {
        for v in VIEWS {
            shown.push(ok(&data, &["view", "northwind", v, "--as-of", t]));
            shown.push(ok(&data, &["view", "northwind", v, "--as-of", t, "--json"]));
        }
    }
    for (i, text) in shown.iter().enumerate() {
        // Commitments are for the log and its export; every answer shows values or nothing.
        if i > 0 {
            assert!(
                !text.contains("pd:"),
                "a commitment shown: {}",
                &text[..text.len().min(300)]
            );
        }
        for v in OLAF {
            assert!(
                !text.contains(v),
                "{v} shown: {}",
                &text[..text.len().min(300)]
            );
        }
    }
    // Every other figure of every view is the figure before; the person is shown erased.
    let after = figures(&data);
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(before) {
        assert_eq!(a, &erased_in(b, "s-olaf"));
    }
    let cov = json_of(
        &data,
        &["view", "northwind", "coverage", "--as-of", AS_OF[0]],
    );
    let olaf = cov["key_stakeholders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["stakeholder_id"] == "s-olaf")
        .unwrap();
    assert_eq!(olaf["name"], Value::Null);
    assert_eq!(olaf["erased"], json!(true));
    let human = ok(
        &data,
        &["view", "northwind", "coverage", "--as-of", AS_OF[0]],
    );
    assert!(human.contains("(erased)"), "{human}");
    // The chain never held the values: verify passes, and an independent program recomputes
    // every hash of the export (40 events and the erasure).
    let out = ok(&data, &["verify"]);
    assert!(out.contains("41 events"), "{out}");
    let export = dir.path().join("export.jsonl");
    std::fs::write(&export, ok(&data, &["export"])).unwrap();
    python_verifies(&export);
    // The erasure is an event of the log, with its reason; it cannot be retracted or repeated.
    let log = json_of(
        &data,
        &["log", "northwind", "--type", "personal_data_erased"],
    );
    let erasure = &log["entries"][0]["event"];
    assert_eq!(
        erasure["data"],
        json!({"subject": "stakeholder", "id": "s-olaf", "reason": "GDPR art. 17 request"})
    );
    let retract = json!({"event_id": common::new_id(), "account_id": "northwind", "type": "event_retracted",
        "occurred_at": "2026-01-01T00:00:00Z", "data": {"target_event_id": erasure["event_id"], "reason": "undo"}});
    let f = dir.path().join("retract.jsonl");
    std::fs::write(&f, format!("{retract}\n")).unwrap();
    let (code, _, err) = kamlog(&data, &["append", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("personal_data_erased cannot be retracted"),
        "{err}"
    );
    let (code, _, err) = kamlog(
        &data,
        &[
            "forget",
            "northwind",
            "--stakeholder",
            "s-olaf",
            "--reason",
            "again",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("already erased"), "{err}");
}

#[test]
fn an_erased_person_gets_no_new_personal_data_and_a_repeated_event_restores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ok(&data, &["import", NORTHWIND]);
    let (old, old_personal) = (dir.path().join("old.jsonl"), dir.path().join("old-p.jsonl"));
    std::fs::write(
        &old,
        ok(
            &data,
            &["export", "--personal", old_personal.to_str().unwrap()],
        ),
    )
    .unwrap();
    ok(
        &data,
        &[
            "forget",
            "northwind",
            "--stakeholder",
            "s-olaf",
            "--reason",
            "request",
        ],
    );
    // An export taken before the erasure, with its personal file: refused, nothing restored.
    let (code, _, err) = kamlog(
        &data,
        &[
            "import",
            old.to_str().unwrap(),
            "--personal",
            old_personal.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("stakeholder:s-olaf") && err.contains("was erased in this store"),
        "{err}"
    );
    assert!(holding(&data, b"Olaf Jensen").is_empty());
    let f = dir.path().join("e.jsonl");
    // A new title for s-olaf: rejected, naming the erasure; nothing stored.
    let update = json!({"event_id": common::new_id(), "account_id": "northwind", "type": "stakeholder_updated",
        "occurred_at": "2026-02-01T00:00:00Z", "data": {"stakeholder_id": "s-olaf", "title": "Chief Buyer"}});
    std::fs::write(&f, format!("{update}\n")).unwrap();
    let (code, _, err) = kamlog(&data, &["append", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("data.title")
            && err.contains("was erased (personal_data_erased at position 41)"),
        "{err}"
    );
    assert!(holding(&data, b"Chief Buyer").is_empty());
    // Without personal data the update is accepted.
    let attitude = json!({"event_id": common::new_id(), "account_id": "northwind", "type": "stakeholder_updated",
        "occurred_at": "2026-02-01T00:00:00Z", "data": {"stakeholder_id": "s-olaf", "attitude": 2}});
    std::fs::write(&f, format!("{attitude}\n")).unwrap();
    ok(&data, &["append", f.to_str().unwrap()]);
    // The replay again: every event a duplicate (s-olaf's own stakeholder_added too, whose
    // values can no longer be checked), and nothing of s-olaf comes back.
    let out = ok(&data, &["import", NORTHWIND]);
    assert!(out.contains("40 already stored"), "{out}");
    for v in OLAF {
        assert!(holding(&data, v.as_bytes()).is_empty(), "{v} came back");
    }
    // A value that differs from the stored one (another person's event id reused with a new
    // name) is a conflict, as before SPEC 10: idempotency compares submitted values.
    let file = std::fs::read_to_string(NORTHWIND).unwrap();
    let anna = file.lines().find(|l| l.contains("\"Anna Berg\"")).unwrap();
    std::fs::write(&f, anna.replace("Anna Berg", "Anna Borg") + "\n").unwrap();
    let (code, _, err) = kamlog(&data, &["append", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("different content"), "{err}");
    std::fs::write(&f, anna.to_string() + "\n").unwrap();
    let out = ok(&data, &["append", f.to_str().unwrap()]);
    assert!(out.contains("already stored"), "{out}");
}

#[test]
fn export_and_import_with_personal_data_round_trip_and_check_every_commitment() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    ok(&a, &["import", NORTHWIND]);
    let export = dir.path().join("x.jsonl");
    let personal = dir.path().join("p.jsonl");
    std::fs::write(
        &export,
        ok(&a, &["export", "--personal", personal.to_str().unwrap()]),
    )
    .unwrap();
    // A tampered value: refused naming the line and the field; nothing stored.
    let good = std::fs::read_to_string(&personal).unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, good.replacen("Anna Berg", "Anna Borg", 1)).unwrap();
    let (code, _, err) = kamlog(
        &b,
        &[
            "import",
            export.to_str().unwrap(),
            "--personal",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("line 1") && err.contains("field value") && err.contains("do not open"),
        "{err}"
    );
    assert!(!b.join("sled").exists() || kamlog(&b, &["export"]).1.is_empty());
    // The export with its personal file: the same figures as the original store.
    ok(
        &b,
        &[
            "import",
            export.to_str().unwrap(),
            "--personal",
            personal.to_str().unwrap(),
        ],
    );
    // Without it: the same figures, names unknown (null, not erased).
    ok(&c, &["import", export.to_str().unwrap()]);
    for t in AS_OF {
        for v in VIEWS {
            let args = ["view", "northwind", v, "--as-of", t];
            assert_eq!(json_of(&a, &args), json_of(&b, &args), "{v} at {t}");
        }
    }
    let cov = json_of(&c, &["view", "northwind", "coverage", "--as-of", AS_OF[2]]);
    for k in cov["key_stakeholders"].as_array().unwrap() {
        assert_eq!(k["name"], Value::Null, "{k}");
        assert!(k.get("erased").is_none(), "{k}");
    }
    // People see why there is no name: unknown here, not erased.
    let human = ok(&c, &["view", "northwind", "coverage", "--as-of", AS_OF[2]]);
    assert!(
        human.contains("(unknown)") && !human.contains("(erased)"),
        "{human}"
    );
    ok(&b, &["verify"]);
    assert_eq!(ok(&a, &["export"]), ok(&b, &["export"]));
}

#[test]
fn sigkill_during_forget_leaves_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    ok(&seed, &["import", NORTHWIND]);
    let (mut erased, mut kept) = (0, 0);
    for i in 0..12u64 {
        let data = dir.path().join(format!("d{i}"));
        copy_dir(&seed, &data);
        let mut child = std::process::Command::new(common::web::KAMLOG)
            .arg("--data")
            .arg(&data)
            .args([
                "forget",
                "northwind",
                "--member",
                "m-anna",
                "--reason",
                "left the company",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // From before the store is open to after the forget is done.
        std::thread::sleep(std::time::Duration::from_millis(4 * i));
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        let _ = child.wait();
        // The next open finishes or drops what the kill interrupted.
        let log = json_of(
            &data,
            &["log", "northwind", "--type", "personal_data_erased"],
        );
        let stored = !log["entries"].as_array().unwrap().is_empty();
        let in_files = !holding(&data, b"Anna Berg").is_empty();
        let cov = json_of(
            &data,
            &["view", "northwind", "coverage", "--as-of", AS_OF[0]],
        );
        let anna = cov["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["member_id"] == "m-anna")
            .unwrap()
            .clone();
        if stored {
            erased += 1;
            assert!(!in_files, "run {i}: erased, yet a file holds the name");
            assert_eq!(anna["name"], Value::Null, "run {i}");
            assert_eq!(anna["erased"], json!(true), "run {i}");
        } else {
            kept += 1;
            assert!(in_files, "run {i}: not erased, yet the name is gone");
            assert_eq!(anna["name"], json!("Anna Berg"), "run {i}");
        }
        ok(&data, &["verify"]);
        assert!(std::fs::read_dir(data.join("vault")).unwrap().all(|e| !e
            .unwrap()
            .path()
            .to_string_lossy()
            .ends_with(".forget")));
    }
    eprintln!("SIGKILL during forget: {erased} runs erased, {kept} untouched");
    assert_eq!(erased + kept, 12);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else if p.file_name().unwrap() != "kamlog.lock" {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn a_store_of_the_old_format_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ok(&data, &["import", NORTHWIND]);
    {
        // What a store written before SPEC 10 looks like: events, and no format mark.
        let db = sled::Config::new()
            .path(data.join("sled"))
            .segment_size(2 << 20)
            .open()
            .unwrap();
        assert!(db.remove(b"kamlog.format").unwrap().is_some());
        db.flush().unwrap();
    }
    let (code, _, err) = kamlog(&data, &["accounts"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("can never be erased") && err.contains("Re-import the original event files"),
        "{err}"
    );
}

#[test]
fn sled_keeps_a_removed_values_bytes_in_its_files() {
    // The fact the vault's design rests on (sled 0.34 is log-structured): a value inserted,
    // flushed, removed and flushed again is still in sled's files.
    let dir = tempfile::tempdir().unwrap();
    let needle = b"Zyx-personal-value-7f3a";
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"k", needle.as_slice()).unwrap();
        db.flush().unwrap();
        db.remove(b"k").unwrap();
        db.flush().unwrap();
        assert!(db.get(b"k").unwrap().is_none());
    }
    assert!(!holding(dir.path(), needle).is_empty());
}

/// Every view, the open alerts and the transitions of the stream's account at `sel`, as the
/// query layer answers them (values revealed).
fn answers(q: &kamlog::query::Query, sel: &kamlog::view::Selection) -> Vec<Value> {
    let mut out: Vec<Value> = q
        .views(common::streams::ACCOUNT, sel)
        .unwrap()
        .iter()
        .map(|v| v.to_json())
        .collect();
    for history in [false, true] {
        let doc = q
            .alerts(Some(common::streams::ACCOUNT), sel, history)
            .unwrap();
        out.push(serde_json::to_value(doc).unwrap()["alerts"].take());
    }
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: std::env::var("KAMLOG_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(12),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Random valid streams (late events, retractions, departures) and random erasures of
    /// stakeholders and members: at random as-of and known-at times every view, open alert and
    /// transition equals the one before, but for the erased people's names (null, erased);
    /// no file under the data directory holds an erased value.
    #[test]
    fn erasures_change_nothing_but_the_erased_peoples_fields(
        seed in proptest::prelude::any::<u64>(), n in 10usize..70,
        picks in proptest::collection::vec(proptest::prelude::any::<u16>(), 1..3),
        asks in proptest::collection::vec((0.0f64..1.3, proptest::option::of(0.1f64..1.0)), 1..3),
    ) {
        use kamlog::view::{Policy, Selection};
        let events = common::streams::stream(seed, n);
        let (_dir, store) = common::temp_store();
        common::append(&store, &events).unwrap();
        let policy = Policy::default();
        let q = kamlog::query::Query::new(&store, &policy).unwrap();
        let stored = store.account_events(common::streams::ACCOUNT).unwrap();
        let first = stored.iter().map(|e| e.occurred_at).min().unwrap();
        let last = stored.iter().map(|e| e.occurred_at).max().unwrap();
        let end = q.walked(common::streams::ACCOUNT, &Selection::as_of(last)).unwrap().state;
        let people: Vec<(&str, String, String)> = end
            .stakeholders
            .iter()
            .map(|(id, s)| ("stakeholder", id.clone(), s.name.clone()))
            .chain(end.members.iter().map(|(id, m)| ("member", id.clone(), m.name.clone())))
            .collect();
        proptest::prop_assume!(!people.is_empty());
        let mut chosen: Vec<&(&str, String, String)> =
            picks.iter().map(|p| &people[*p as usize % people.len()]).collect();
        chosen.sort();
        chosen.dedup();
        let sels: Vec<Selection> = asks
            .iter()
            .map(|(frac, known)| Selection {
                as_of: first + chrono::Duration::seconds(((last - first).num_seconds() as f64 * frac) as i64),
                known_at: known.map(|c| {
                    let k = ((stored.len() as f64 * c) as usize).clamp(1, stored.len());
                    stored[k - 1].recorded_at
                }),
            })
            .collect();
        let before: Vec<Vec<Value>> = sels.iter().map(|s| answers(&q, s)).collect();
        for (subject, id, _) in &chosen {
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let mut out = kamlog::command::Out { stdout: &mut o, stderr: &mut e, color: false };
            kamlog::command::forget::run(
                &store,
                &policy,
                kamlog::command::forget::Erasure { account: common::streams::ACCOUNT, subject, id, reason: "test" },
                true,
                &mut out,
            )
            .unwrap();
        }
        for (sel, b) in sels.iter().zip(before) {
            let mut expected = b;
            for (subject, id, _) in &chosen {
                expected = expected.into_iter().map(|v| erased_person_in(v, subject, id)).collect();
            }
            proptest::prop_assert_eq!(answers(&q, sel), expected, "at {:?}", sel);
        }
        for (_, _, name) in &chosen {
            let quoted = format!("\"{name}\"");
            proptest::prop_assert!(holding(store.dir(), quoted.as_bytes()).is_empty(), "{} still in a file", name);
        }
    }
}

#[test]
fn on_the_bus_values_live_only_in_the_personal_bucket_and_erasure_removes_them_from_jetstreams_files(
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let js_dir = dir.path().join("js");
    ok(&data, &["import", NORTHWIND]);
    let personal = dir.path().join("p.jsonl");
    ok(&data, &["export", "--personal", personal.to_str().unwrap()]);
    let salts: Vec<String> = std::fs::read_to_string(&personal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| OLAF.contains(&e["value"].as_str().unwrap()))
        .map(|e| e["salt"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(salts.len(), 3);
    let nats = common::nats::Nats::start_on(common::nats::free_port(), &js_dir);
    let mut serve = std::process::Command::new(common::web::KAMLOG)
        .arg("--data")
        .arg(&data)
        .args(["serve", "--nats", &nats.url(), "--tick", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The values reach the bus, in the personal bucket's files only (the events stream holds
    // commitments, the views bucket no names, the alert messages commitments).
    assert!(
        common::web::wait_until(60, || !holding(&js_dir, b"Olaf Jensen").is_empty()),
        "the personal bucket never received s-olaf's values"
    );
    // Let the alert pass and the views land too, then look at every file.
    std::thread::sleep(std::time::Duration::from_secs(2));
    for v in OLAF {
        let held = holding(&js_dir, v.as_bytes());
        assert!(!held.is_empty(), "{v} not on the bus");
        assert!(
            held.iter()
                .all(|f| f.to_string_lossy().contains("KV_kamlog_personal")),
            "{v} outside the personal bucket: {held:?}"
        );
    }
    // forget through the running serve (it holds the store).
    let out = ok(
        &data,
        &[
            "forget",
            "northwind",
            "--stakeholder",
            "s-olaf",
            "--reason",
            "GDPR art. 17",
        ],
    );
    assert!(
        out.contains("erased the personal data of stakeholder s-olaf"),
        "{out}"
    );
    let gone = || {
        OLAF.iter()
            .all(|v| holding(&js_dir, v.as_bytes()).is_empty())
            && salts
                .iter()
                .all(|s| holding(&js_dir, s.as_bytes()).is_empty())
    };
    let erased = common::web::wait_until(60, gone);
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(
        erased,
        "still in JetStream's files: {:?}",
        OLAF.iter()
            .flat_map(|v| holding(&js_dir, v.as_bytes()))
            .collect::<Vec<_>>()
    );
    for v in OLAF {
        assert!(
            holding(&data, v.as_bytes()).is_empty(),
            "{v} in the data directory"
        );
    }
    drop(nats);
}
