//! `kamlog replay DIR`: replay a scenario folder into a fresh temporary store and compare
//! every `expected/` file with the program's `--json` output at the scenario's `as_of`.
//!
//! Expected files: `expected/<account>.<view>.json` (a view), `expected/alerts.json` (open
//! alerts of every account), `expected/alerts.history.json` (every transition),
//! `expected/accounts.json` (the portfolio, `accounts --json`), each at the
//! scenario's `as_of`. A file named `<name>@<label>.json` is checked at the checkpoint
//! `<label>` of `scenario.json`'s `checkpoints` object instead
//! (`{"label": {"as_of": T, "known_at": K}}`, `known_at` optional). Decimal strings are
//! compared as numbers and timestamps as instants; anything else exactly.

use crate::error::Error;
use crate::query::Query;
use crate::store::Store;
use crate::view::{Policy, Selection, ViewKind};
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::Path;
use std::str::FromStr;

/// Compares two JSON documents; pushes one line per difference.
pub fn compare(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => compare(&format!("{path}.{k}"), ev, av, out),
                    None => out.push(format!("{path}.{k}: expected {ev}, missing")),
                }
            }
            for k in a.keys().filter(|k| !e.contains_key(*k)) {
                out.push(format!("{path}.{k}: not expected, got {}", a[k]));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a.iter()).enumerate() {
                compare(&format!("{path}[{i}]"), ev, av, out);
            }
            if e.len() != a.len() {
                out.push(format!(
                    "{path}: expected {} items, got {}",
                    e.len(),
                    a.len()
                ));
                for (i, x) in a.iter().enumerate().skip(e.len()) {
                    out.push(format!("{path}[{i}]: not expected, got {x}"));
                }
                for (i, x) in e.iter().enumerate().skip(a.len()) {
                    out.push(format!("{path}[{i}]: expected {x}, missing"));
                }
            }
        }
        (Value::String(e), Value::String(a)) if e != a => {
            let same_number =
                matches!((Decimal::from_str(e), Decimal::from_str(a)), (Ok(x), Ok(y)) if x == y);
            let same_instant = matches!(
                (chrono::DateTime::parse_from_rfc3339(e), chrono::DateTime::parse_from_rfc3339(a)),
                (Ok(x), Ok(y)) if x == y
            );
            if !same_number && !same_instant {
                out.push(format!("{path}: expected \"{e}\", got \"{a}\""));
            }
        }
        (e, a) if e != a => out.push(format!("{path}: expected {e}, got {a}")),
        _ => {}
    }
}

/// Replays a scenario; returns the mismatch lines (empty when everything matches).
pub fn replay(dir: &Path, policy: &Policy) -> Result<Vec<String>, Error> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| Error::Io(format!("cannot read {}: {e}", p.display())))
    };
    let scenario: Value = serde_json::from_str(&read(&dir.join("scenario.json"))?)
        .map_err(|e| Error::Io(format!("{}: {e}", dir.join("scenario.json").display())))?;
    let as_of = scenario["as_of"]
        .as_str()
        .ok_or_else(|| Error::Io(format!("{}: no as_of", dir.join("scenario.json").display())))?;
    let default_sel = Selection::as_of(super::parse_time_arg("as_of", as_of)?);
    let checkpoint = |label: &str| -> Result<Selection, Error> {
        let c = &scenario["checkpoints"][label];
        let t = c["as_of"]
            .as_str()
            .ok_or_else(|| Error::Io(format!("scenario.json: checkpoint {label} has no as_of")))?;
        Ok(Selection {
            as_of: super::parse_time_arg("as_of", t)?,
            known_at: c["known_at"]
                .as_str()
                .map(|k| super::parse_time_arg("known_at", k))
                .transpose()?,
        })
    };
    let tmp = std::env::temp_dir().join(format!(
        "kamlog-replay-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let result = (|| {
        let store = Store::open(&tmp)?;
        let events = dir.join("events.jsonl");
        let check = crate::import::check_file(&events, 20)?;
        if let Some(e) = check.errors.into_iter().next() {
            return Err(e);
        }
        crate::import::store_file(&store, &events, crate::store::MAX_BATCH_EVENTS, None)?;
        let q = Query::new(&store, policy)?;
        q.refresh_all()?;
        let mut diffs = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(dir.join("expected"))
            .map_err(|e| {
                Error::Io(format!(
                    "cannot read {}: {e}",
                    dir.join("expected").display()
                ))
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let expected: Value = serde_json::from_str(&read(&file)?)
                .map_err(|e| Error::Io(format!("{}: {e}", file.display())))?;
            let full = name.trim_end_matches(".json");
            let (stem, sel) = match full.split_once('@') {
                Some((stem, label)) => (stem, checkpoint(label)?),
                None => (full, default_sel),
            };
            let actual = match stem {
                "alerts" | "alerts.history" => {
                    serde_json::to_value(q.alerts(None, &sel, stem == "alerts.history")?)
                        .expect("alerts serialize")
                }
                "accounts" => serde_json::to_value(crate::command::accounts::portfolio(&q, &sel)?)
                    .expect("accounts serialize"),
                _ => {
                    let (account, view) = stem.rsplit_once('.').ok_or_else(|| {
                        Error::Io(format!("{name}: expected <account>.<view>.json"))
                    })?;
                    let kind = ViewKind::parse(view)
                        .ok_or_else(|| Error::Io(format!("{name}: unknown view {view}")))?;
                    q.view(account, kind, &sel)?.to_json()
                }
            };
            let mut d = Vec::new();
            compare("$", &expected, &actual, &mut d);
            diffs.extend(d.into_iter().map(|l| format!("expected/{name}: {l}")));
        }
        Ok(diffs)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

pub fn run(dir: &Path, policy: &Policy, json: bool) -> Result<i32, Error> {
    let diffs = replay(dir, policy)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": dir.display().to_string(), "ok": diffs.is_empty(), "mismatches": diffs})
        );
    } else if diffs.is_empty() {
        println!("ok: {} matches every expected file", dir.display());
    } else {
        for d in &diffs {
            eprintln!("{d}");
        }
        eprintln!(
            "kamlog: replay {}: {} mismatch(es)",
            dir.display(),
            diffs.len()
        );
    }
    Ok(if diffs.is_empty() { 0 } else { 1 })
}
