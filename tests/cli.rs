//! The `kamlog` binary, run as a user would: import, export, verify, exit codes, messages.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const REPLAY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/replays/northwind-journey/events.jsonl"
);

fn kamlog(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kamlog"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("kamlog runs")
}

fn kamlog_stdin(data: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kamlog"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn import_verify_export_and_reimport_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let o = kamlog(&data, &["import", REPLAY]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "stored 40 event(s) at positions 1–40\n");
    let o = kamlog(&data, &["verify"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "ok: 40 events in 1 accounts; every hash, version and position checks out\n"
    );
    let export1 = kamlog(&data, &["export"]).stdout;
    assert_eq!(export1.iter().filter(|b| **b == b'\n').count(), 40);

    // Idempotent re-import: nothing new, same export bytes.
    let o = kamlog(&data, &["import", REPLAY]);
    assert_eq!(
        stdout(&o),
        "stored 0 event(s); 40 already stored (identical, skipped)\n"
    );
    assert_eq!(kamlog(&data, &["export"]).stdout, export1);

    // Export → import into a fresh store gives identical envelopes and hashes.
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, &export1).unwrap();
    let fresh = dir.path().join("fresh");
    let o = kamlog(&fresh, &["import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(kamlog(&fresh, &["export"]).stdout, export1);
    assert_eq!(kamlog(&fresh, &["verify"]).status.code(), Some(0));

    // Every stored envelope, as exported, carries the fields SPEC 2.1 lists.
    let first: Value =
        serde_json::from_slice(export1.split(|b| *b == b'\n').next().unwrap()).unwrap();
    for f in [
        "event_id",
        "account_id",
        "type",
        "schema_version",
        "occurred_at",
        "data",
        "version",
        "position",
        "recorded_at",
        "prev_hash",
        "hash",
    ] {
        assert!(first.get(f).is_some(), "missing {f}");
    }
    assert_eq!(first["prev_hash"], json!("0".repeat(64)));
    assert_eq!(
        kamlog(&data, &["export", "--account", "northwind"]).stdout,
        export1
    );
    assert!(kamlog(&data, &["export", "--account", "nobody"])
        .stdout
        .is_empty());
}

#[test]
fn a_bad_line_is_named_and_the_import_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let mut events = base_account("acme");
    events.push(ev(
        "acme",
        "value_delivered",
        "2024-02-01T00:00:00Z",
        json!({"promise_id": "p-1", "amount": 12.5}),
    ));
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, jsonl(&events)).unwrap();
    let o = kamlog(&data, &["import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), format!(
        "kamlog: line 5, event {}, field data.amount: floating-point number 12.5 is not allowed; amounts are decimal strings such as \"1250.50\"\nkamlog: import rejected: 1 bad line(s) in {}; nothing was stored\n",
        events[4]["event_id"].as_str().unwrap(), file.display()
    ));
    assert!(kamlog(&data, &["export"]).stdout.is_empty());

    // A rule violation (not a shape error) also stores nothing of the file.
    events[4] = ev(
        "acme",
        "value_delivered",
        "2024-02-01T00:00:00Z",
        json!({"promise_id": "p-1", "amount": "12.5"}),
    );
    std::fs::write(&file, jsonl(&events)).unwrap();
    let o = kamlog(&data, &["import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "kamlog: line 5, event {}, field data.promise_id: unknown promise \"p-1\"\n",
            events[4]["event_id"].as_str().unwrap()
        )
    );
    assert!(kamlog(&data, &["export"]).stdout.is_empty());
}

#[test]
fn append_reads_stdin_and_honours_expected_version() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let o = kamlog_stdin(
        &data,
        &["append", "--expected-version", "0", "--json"],
        jsonl(&base_account("acme")).as_bytes(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["stored"], json!(4));
    assert_eq!(v["events"][3]["version"], json!(4));
    assert_eq!(v["events"][3]["position"], json!(4));
    let more = jsonl(&[ev(
        "acme",
        "account_closed",
        "2024-03-01T00:00:00Z",
        json!({}),
    )]);
    let o = kamlog_stdin(
        &data,
        &["append", "--expected-version", "2", "-"],
        more.as_bytes(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "kamlog: concurrency conflict on account acme: expected version 2, but it is at 4\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        kamlog(&data, &["append", "--expected-version", "x"])
            .status
            .code(),
        Some(2)
    );
    let o = kamlog(&data, &["import", "/nonexistent/file.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("kamlog: cannot open /nonexistent/file.jsonl: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn verify_names_the_position_of_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["import", REPLAY]).status.code(), Some(0));
    // Flip one byte inside the stored envelope at position 17, below kamlog (as bit rot or a
    // hand edit would). Events are packed in pages kept in the segment file DATA/pages (see
    // src/store/layout.rs and segment.rs); find the event by its id there.
    let export: Vec<Value> = stdout(&kamlog(&data, &["export"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let id17 = export[16]["event_id"].as_str().unwrap().to_string();
    let pages = data.join("pages");
    let mut bytes = std::fs::read(&pages).unwrap();
    let needle = format!("\"event_id\":\"{id17}\"");
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap()
        + 12;
    bytes[at] ^= 0x01;
    std::fs::write(&pages, &bytes).unwrap();
    let o = kamlog(&data, &["verify"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("kamlog: verify failed at position 17: hash mismatch: stored "),
        "{err}"
    );
    assert!(err.ends_with("(the event was altered)\n"), "{err}");
}

#[test]
fn verify_names_a_missing_position() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["import", REPLAY]).status.code(), Some(0));
    // The 40 events of one import fill pages of at most 32 events or about 16 KiB (keyed by
    // their first position); lose the last page, which starts at some position P.
    let first = {
        let db = sled::Config::new()
            .path(data.join("sled"))
            .segment_size(2 << 20)
            .open()
            .unwrap();
        let log = db.open_tree("log").unwrap();
        let (key, _) = log.scan_prefix(b"e").last().unwrap().unwrap();
        let first = u64::from_be_bytes(key[1..9].try_into().unwrap());
        assert!(first > 1 && first <= 40, "{first}");
        assert!(log.remove(key).unwrap().is_some());
        db.flush().unwrap();
        first
    };
    let o = kamlog(&data, &["verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "kamlog: verify failed at position {first}: missing (the log ends at position {}, but account northwind has its head at position 40)\n",
            first - 1
        )
    );
}

#[test]
fn a_command_that_only_reads_never_creates_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("typo");
    for args in [
        &["alerts"][..],
        &["accounts"],
        &["export"],
        &["log", "acme"],
        &["view", "acme", "stage"],
        &["verify"],
        &["rebuild"],
    ] {
        let o = kamlog(&data, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o),
            format!(
                "kamlog: no store at {}: a store is made by the first `append` or `import`; give --data DIR (or set KAMLOG_DATA) to use another\n",
                data.display()
            ),
            "{args:?}"
        );
        assert!(!data.exists(), "{args:?} created {}", data.display());
    }
}

#[test]
fn exporting_an_unknown_account_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["import", REPLAY]).status.code(), Some(0));
    let o = kamlog(&data, &["export", "--account", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "kamlog: no account nosuch in the store\n");
    assert!(o.stdout.is_empty());
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    // Far more output than a pipe buffers, so the writer meets the closed pipe.
    let file = dir.path().join("w.jsonl");
    let lines: Vec<String> = kamlog::workload::Workload::new(3, 4, 3000)
        .map(|v| v.to_string())
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    assert_eq!(
        kamlog(&data, &["import", file.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' --data '{}' export | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}",
            env!("CARGO_BIN_EXE_kamlog"),
            data.display()
        ))
        .output()
        .unwrap();
    assert_eq!(stderr(&o), "", "no panic message, no error");
    // Ended by SIGPIPE (128 + 13), as a Unix filter is; not a panic (101).
    assert_eq!(stdout(&o), "141\n");
}

#[test]
fn verify_checks_an_export_without_a_store_and_prints_the_chain_heads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let file = dir.path().join("w.jsonl");
    let lines: Vec<String> = kamlog::workload::Workload::new(5, 2, 300)
        .map(|v| v.to_string())
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    assert_eq!(
        kamlog(&data, &["import", file.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let whole = dir.path().join("whole.jsonl");
    std::fs::write(&whole, kamlog(&data, &["export"]).stdout).unwrap();
    let exported: Vec<Value> = std::fs::read_to_string(&whole)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The heads, from the file: each account's last event.
    let mut heads = std::collections::BTreeMap::new();
    for e in &exported {
        heads.insert(
            e["account_id"].as_str().unwrap().to_string(),
            (
                e["version"].as_u64().unwrap(),
                e["hash"].as_str().unwrap().to_string(),
            ),
        );
    }
    assert_eq!(heads.len(), 2);
    let nobody = dir.path().join("no-store-here");
    let o = kamlog(&nobody, &["verify", whole.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!nobody.exists());
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ok"], json!(true));
    assert_eq!(v["events"], json!(300));
    let got: Vec<(String, u64, String)> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account_id"].as_str().unwrap().to_string(),
                a["version"].as_u64().unwrap(),
                a["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, u64, String)> = heads
        .iter()
        .map(|(a, (v, h))| (a.clone(), *v, h.clone()))
        .collect();
    assert_eq!(got, want);
    // One account's export checks out on its own.
    let (one, (version, hash)) = heads.iter().next().unwrap();
    let part = dir.path().join("one.jsonl");
    std::fs::write(&part, kamlog(&data, &["export", "--account", one]).stdout).unwrap();
    let o = kamlog(&nobody, &["verify", part.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{one:<24} {version:>8}  {hash}")),
        "{}",
        stdout(&o)
    );
    // Altered: a changed value breaks that line's hash.
    let mut altered = exported.clone();
    altered[9]["occurred_at"] = json!("2001-01-01T00:00:00Z");
    let bad = dir.path().join("bad.jsonl");
    let text: Vec<String> = altered.iter().map(|e| e.to_string()).collect();
    std::fs::write(&bad, text.join("\n")).unwrap();
    let o = kamlog(&nobody, &["verify", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(&format!(
            "kamlog: verify failed at line 10 of {}: event {}: hash mismatch",
            bad.display(),
            exported[9]["event_id"].as_str().unwrap()
        )),
        "{}",
        stderr(&o)
    );
    // A line dropped from the middle of the whole export: a version gap in its account.
    let mut dropped: Vec<String> = exported.iter().map(|e| e.to_string()).collect();
    dropped.remove(150);
    std::fs::write(&bad, dropped.join("\n")).unwrap();
    let o = kamlog(&nobody, &["verify", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("follows version"), "{}", stderr(&o));
}

#[test]
fn mistyped_names_get_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["import", REPLAY]).status.code(), Some(0));
    let id = "9c9e3b08-9910-502d-839a-dc039aa35f70";
    let cases: [(&[&str], Option<String>, &str); 5] = [
        (
            &["append"],
            Some(format!(r#"{{"event_id":"{id}","account_id":"northwind","type":"interaction_loged","occurred_at":"2024-01-01T00:00:00Z","data":{{}}}}"#)),
            "kamlog: line 1, event 9c9e3b08-9910-502d-839a-dc039aa35f70, field type: unknown event type \"interaction_loged\"; did you mean interaction_logged?\n",
        ),
        (
            &["append"],
            Some(format!(r#"{{"event_id":"{id}","account_id":"northwind","type":"interaction_logged","occurred_at":"2024-01-01T00:00:00Z","data":{{"supplier_participant":[]}}}}"#)),
            "kamlog: line 1, event 9c9e3b08-9910-502d-839a-dc039aa35f70, field data.supplier_participant: unknown field for interaction_logged; did you mean supplier_participants?\n",
        ),
        (
            &["view", "northwind", "covrage"],
            None,
            "kamlog: unknown view covrage: one of coverage, stage, value, classification, economics, relationships, map, contracts; did you mean coverage?\n",
        ),
        (
            &["view", "northwnd", "coverage"],
            None,
            "kamlog: no account northwnd in the store; did you mean northwind?\n",
        ),
        (
            &["export", "--account", "nortwind"],
            None,
            "kamlog: no account nortwind in the store; did you mean northwind?\n",
        ),
    ];
    for (args, input, want) in cases {
        let o = match input {
            Some(i) => kamlog_stdin(&data, args, i.as_bytes()),
            None => kamlog(&data, args),
        };
        assert_eq!(stderr(&o), want, "{args:?}");
        assert_ne!(o.status.code(), Some(0));
    }
    // No suggestion when nothing is close.
    let o = kamlog(&data, &["view", "zzz", "coverage"]);
    assert_eq!(stderr(&o), "kamlog: no account zzz in the store\n");
}

#[test]
fn with_json_errors_are_json_on_stderr_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("missing");
    let o = kamlog(&data, &["alerts", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stderr(&o)).unwrap();
    assert_eq!(
        v,
        json!({"error": format!("no store at {}: a store is made by the first `append` or `import`; give --data DIR (or set KAMLOG_DATA) to use another", data.display()), "exit": 1})
    );
}

#[test]
fn view_headers_show_the_time_for_people() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["import", REPLAY]).status.code(), Some(0));
    let o = kamlog(
        &data,
        &["view", "northwind", "stage", "--as-of", "2025-06-01"],
    );
    assert_eq!(
        stdout(&o).lines().next().unwrap(),
        "northwind — stage as of 2025-06-01 00:00 UTC"
    );
    let o = kamlog(&data, &["alerts", "--as-of", "2025-06-01T10:30:15Z"]);
    assert_eq!(
        stdout(&o).lines().next().unwrap(),
        "open alerts as of 2025-06-01 10:30:15 UTC"
    );
}

#[test]
fn shell_completions_load_in_bash() {
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <('{}' completions bash) && complete -p kamlog",
            env!("CARGO_BIN_EXE_kamlog")
        ))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("-F _kamlog") && stdout(&o).ends_with("kamlog\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_overdue_promise_says_how_long_past_due() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["import", REPLAY]).status.code(), Some(0));
    // p-pallet is due 2024-09-30 (revised) and short of its promise: on 2024-10-31 it is
    // 31 days overdue.
    let o = kamlog(
        &data,
        &["view", "northwind", "value", "--as-of", "2024-10-31"],
    );
    let line = stdout(&o)
        .lines()
        .find(|l| l.starts_with("p-pallet"))
        .unwrap()
        .to_string();
    assert!(line.contains("OVERDUE 31 days"), "{line}");
}

#[test]
fn long_imports_show_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.jsonl");
    let lines: Vec<String> = kamlog::workload::Workload::new(8, 3, 3000)
        .map(|v| v.to_string())
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    // Not a terminal: nothing but the summary.
    let o = kamlog(
        &dir.path().join("a"),
        &["import", "--batch-size", "500", file.to_str().unwrap()],
    );
    assert_eq!(stderr(&o), "");
    assert_eq!(stdout(&o), "stored 3000 event(s) at positions 1–3000\n");
    // A terminal (script(1) gives the command a pseudo-terminal): a progress bar on it.
    let o = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "'{}' --data '{}' import --batch-size 500 '{}'",
            env!("CARGO_BIN_EXE_kamlog"),
            dir.path().join("b").display(),
            file.display()
        ))
        .arg("/dev/null")
        .output()
        .unwrap();
    let screen = stdout(&o);
    assert!(screen.contains("/3000 events stored"), "{screen}");
    assert!(
        screen.contains("stored 3000 event(s) at positions 1–3000"),
        "{screen}"
    );
}

#[test]
fn tables_for_people_fit_100_columns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["import", REPLAY]).status.code(), Some(0));
    for args in [
        &["accounts"][..],
        &["view", "northwind", "coverage", "--as-of", "2025-06-01"],
        &["view", "northwind", "stage", "--as-of", "2025-06-01"],
        &["view", "northwind", "value", "--as-of", "2024-10-31"],
        &[
            "view",
            "northwind",
            "classification",
            "--as-of",
            "2025-06-01",
        ],
        &["view", "northwind", "economics", "--as-of", "2025-06-01"],
        &[
            "view",
            "northwind",
            "relationships",
            "--as-of",
            "2025-06-01",
        ],
        &["view", "northwind", "map", "--as-of", "2025-06-01"],
        &["view", "northwind", "contracts", "--as-of", "2025-06-01"],
        &["log", "northwind"],
        &["alerts", "--as-of", "2025-06-01"],
        &["alerts", "--history", "--as-of", "2025-06-01"],
    ] {
        let o = kamlog(&data, args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        for line in stdout(&o).lines() {
            assert!(line.chars().count() <= 100, "{args:?}: {line}");
        }
    }
    // Alert details in words under their row, the subject's name beside its id.
    let o = kamlog(&data, &["alerts", "--as-of", "2025-06-01"]);
    let text = stdout(&o);
    // Mia Novak held decision_maker (+1); northwind is a star, not strategic: 3 + 1 = high.
    assert!(text.contains("\nnorthwind  champion_departed        high      s-mia (Mia Novak)     2025-03-15 17:00 (position 37)\n           unfilled roles champion, decision_maker\n"), "{text}");
    assert!(
        text.contains("           last interaction 2023-05-15 13:00 UTC\n"),
        "{text}"
    );
    // Members named in a detail show their names too (m-carl is Carl Diaz, replay event 10).
    assert!(
        text.contains("           covered by m-carl (Carl Diaz)\n"),
        "{text}"
    );
}

#[test]
fn risk_is_red_on_a_terminal_unless_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["import", REPLAY]).status.code(), Some(0));
    let on_terminal = |no_color: Option<&str>| {
        let mut c = Command::new("script");
        c.args(["-qec"])
            .arg(format!(
                "'{}' --data '{}' view northwind value --as-of 2024-10-31",
                env!("CARGO_BIN_EXE_kamlog"),
                data.display()
            ))
            .arg("/dev/null")
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        stdout(&c.output().unwrap())
    };
    assert!(on_terminal(None).contains("\x1b[31mOVERDUE\x1b[0m 31 days"));
    assert!(!on_terminal(Some("1")).contains('\x1b'));
    // Not a terminal: no colour.
    let o = kamlog(
        &data,
        &["view", "northwind", "value", "--as-of", "2024-10-31"],
    );
    assert!(!stdout(&o).contains('\x1b'));
}

#[test]
fn coverage_shows_names_beside_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert_eq!(kamlog(&data, &["import", REPLAY]).status.code(), Some(0));
    let o = kamlog(
        &data,
        &["view", "northwind", "coverage", "--as-of", "2024-08-01"],
    );
    let text = stdout(&o);
    // m-anna is Anna Berg, her designated successor m-carl is Carl Diaz (replay events 2, 10, 21).
    assert!(text.contains("m-anna (Anna Berg)"), "{text}");
    assert!(
        text.contains("s-olaf (Olaf Jensen)  m-carl (Carl Diaz)"),
        "{text}"
    );
}

#[test]
fn alert_severity_follows_its_points() {
    // SPEC 5 v2, by hand: s-1 (Sam) is the economic buyer and a key stakeholder.
    // - linked to m-1 only (2024-01-05): single_point_of_contact s-1 = 2 + 1 (economic buyer)
    //   = 3, medium, at its instant;
    // - classified 80/60 (2024-02-01): strategic, so the same open alert is 4, high, evaluated
    //   at the as-of time — and no new transition (a change of severity alone is not one);
    // - s-1 departs (2024-03-01): champion_departed s-1 = 3 + 1 (held economic_buyer when it
    //   departed) + 1 (strategic) = 5, critical.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let mut events = base_account("acme");
    events.push(ev(
        "acme",
        "relationship_linked",
        "2024-01-05T00:00:00Z",
        json!({"member_id": "m-1", "stakeholder_id": "s-1", "strength": 3}),
    ));
    events.push(ev(
        "acme",
        "account_classified",
        "2024-02-01T00:00:00Z",
        json!({"attractiveness": 80, "business_strength": 60}),
    ));
    events.push(ev(
        "acme",
        "stakeholder_departed",
        "2024-03-01T00:00:00Z",
        json!({"stakeholder_id": "s-1"}),
    ));
    let o = kamlog_stdin(&data, &["append"], jsonl(&events).as_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let alerts = |args: &[&str]| -> Vec<Value> {
        let mut a = vec!["alerts", "acme", "--json"];
        a.extend_from_slice(args);
        let v: Value = serde_json::from_str(&stdout(&kamlog(&data, &a))).unwrap();
        v["alerts"].as_array().unwrap().clone()
    };
    let find = |list: &[Value], kind: &str, subject: &str| -> Vec<String> {
        list.iter()
            .filter(|a| a["kind"] == kind && a["subject"] == subject)
            .map(|a| a["severity"].as_str().unwrap().to_string())
            .collect()
    };
    let early = alerts(&["--as-of", "2024-01-20"]);
    assert_eq!(find(&early, "single_point_of_contact", "s-1"), ["medium"]);
    let later = alerts(&["--as-of", "2024-02-15"]);
    assert_eq!(find(&later, "single_point_of_contact", "s-1"), ["high"]);
    let history = alerts(&["--as-of", "2024-02-15", "--history"]);
    assert_eq!(
        find(&history, "single_point_of_contact", "s-1"),
        ["medium"],
        "one transition, with the severity at its instant"
    );
    let end = alerts(&["--as-of", "2024-03-15"]);
    assert_eq!(find(&end, "champion_departed", "s-1"), ["critical"]);
}

#[test]
fn the_portfolio_is_ranked_by_risk_for_people() {
    // renewal-at-risk (SPEC 4.9): on 2024-08-01 umbra has two critical alerts and vega none,
    // so umbra comes first; on 2025-03-01 both have one high and no critical, and vega's
    // lapsed 50000 EUR of renewing value puts it first.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let events = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/replays/renewal-at-risk/events.jsonl"
    );
    assert!(kamlog(&data, &["import", events]).status.success());
    let order = |as_of: &str| -> Vec<String> {
        let o = kamlog(&data, &["accounts", "--as-of", as_of]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| *w == "umbra" || *w == "vega")
            .map(String::from)
            .collect()
    };
    assert_eq!(order("2024-08-01"), ["umbra", "vega"]);
    assert_eq!(order("2025-03-01"), ["vega", "umbra"]);
    // The same columns a person needs: the alerts by severity and the next renewal.
    let o = kamlog(&data, &["accounts", "--as-of", "2024-08-01"]);
    let text = stdout(&o);
    let umbra = text.lines().find(|l| l.starts_with("umbra")).unwrap();
    assert!(
        umbra.contains("2/1/0/0") && umbra.contains("2024-12-31 c-main"),
        "{umbra}"
    );
    // Before any account was opened, the portfolio is empty.
    let o = kamlog(&data, &["accounts", "--as-of", "2023-01-01", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["accounts"], json!([]));
}

#[test]
fn contract_rules_name_the_field_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let open = jsonl(&[
        ev(
            "acme",
            "account_opened",
            "2025-01-01T00:00:00Z",
            json!({"name": "Acme"}),
        ),
        ev(
            "acme",
            "contract_signed",
            "2025-01-02T00:00:00Z",
            json!({"contract_id": "c-1", "annual_value": "100", "currency": "EUR",
                   "start_date": "2025-01-01", "renewal_date": "2026-01-01"}),
        ),
    ]);
    assert!(kamlog_stdin(&data, &["append"], open.as_bytes())
        .status
        .success());
    let cases = [
        (
            ev("acme", "contract_signed", "2025-01-03T00:00:00Z",
                json!({"contract_id": "c-2", "annual_value": "1", "currency": "EUR",
                       "start_date": "2025-06-01", "renewal_date": "2025-06-01"})),
            "data.renewal_date: the renewal date 2025-06-01 must be later than the start date 2025-06-01",
        ),
        (
            ev("acme", "contract_renewed", "2025-01-03T00:00:00Z",
                json!({"contract_id": "c-1", "renewal_date": "2026-01-01"})),
            "data.renewal_date: the renewal date 2026-01-01 must be later than the contract's current renewal date 2026-01-01",
        ),
        (
            ev("acme", "contract_ended", "2025-01-03T00:00:00Z", json!({"contract_id": "c-9"})),
            "data.contract_id: unknown contract \"c-9\"",
        ),
        (
            ev("acme", "contract_signed", "2025-01-03T00:00:00Z",
                json!({"contract_id": "c-1", "annual_value": "1", "currency": "EUR",
                       "start_date": "2025-01-01", "renewal_date": "2027-01-01"})),
            "data.contract_id: contract id \"c-1\" was already used in this account",
        ),
    ];
    for (e, reason) in cases {
        let o = kamlog_stdin(&data, &["append"], jsonl(&[e]).as_bytes());
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(reason),
            "{}\nwanted: {reason}",
            stderr(&o)
        );
    }
    // An ended contract can be neither renewed nor ended again.
    let end = jsonl(&[ev(
        "acme",
        "contract_ended",
        "2025-02-01T00:00:00Z",
        json!({"contract_id": "c-1"}),
    )]);
    assert!(kamlog_stdin(&data, &["append"], end.as_bytes())
        .status
        .success());
    let renew = jsonl(&[ev(
        "acme",
        "contract_renewed",
        "2025-02-02T00:00:00Z",
        json!({"contract_id": "c-1", "renewal_date": "2027-01-01"}),
    )]);
    let o = kamlog_stdin(&data, &["append"], renew.as_bytes());
    assert!(
        stderr(&o).contains("contract \"c-1\" has ended"),
        "{}",
        stderr(&o)
    );
    let o = kamlog(&data, &["export"]);
    assert_eq!(
        stdout(&o).lines().count(),
        3,
        "only the accepted events are stored"
    );
}
