//! `kamlog verify`: recheck the whole store; exit 1 with the first break.

use super::Out;
use crate::error::Error;
use crate::store::Store;

pub fn run(store: &Store, json: bool, out: &mut Out) -> Result<i32, Error> {
    let r = store.verify()?;
    if json {
        let v = serde_json::json!({
            "ok": r.first_break.is_none(),
            "events": r.events,
            "accounts": r.accounts,
            "first_break": r.first_break.as_ref().map(|b| serde_json::json!({"position": b.position, "problem": b.problem})),
        });
        outln!(out, "{v}");
    }
    match &r.first_break {
        None => {
            if !json {
                outln!(
                    out,
                    "ok: {} events in {} accounts; every hash, version and position checks out",
                    r.events,
                    r.accounts
                );
            }
            Ok(0)
        }
        Some(b) => {
            errln!(out, "kamlog: verify failed at {b}");
            Ok(1)
        }
    }
}

/// `kamlog verify FILE.jsonl`: checks an export without a store.
pub fn run_file(path: &std::path::Path, json: bool, out: &mut Out) -> Result<i32, Error> {
    let input = crate::import::open(path)?;
    let r = crate::store::verify_export::verify_export(input, &path.display().to_string())?;
    if json {
        let v = serde_json::json!({
            "ok": r.first_break.is_none(),
            "events": r.events,
            "accounts": r.heads.iter().map(|(a, (v, h))| serde_json::json!({"account_id": a, "version": v, "hash": h})).collect::<Vec<_>>(),
            "first_break": r.first_break.as_ref().map(|(line, problem)| serde_json::json!({"line": line, "problem": problem})),
        });
        outln!(out, "{v}");
    }
    match &r.first_break {
        None => {
            if !json {
                outln!(
                    out,
                    "ok: {} events in {} accounts; every hash, prev_hash link and version checks out",
                    r.events,
                    r.heads.len()
                );
                outln!(out, "{:<24} {:>8}  chain head (hash)", "account", "version");
                for (a, (v, h)) in &r.heads {
                    outln!(out, "{a:<24} {v:>8}  {h}");
                }
            }
            Ok(0)
        }
        Some((line, problem)) => {
            errln!(
                out,
                "kamlog: verify failed at line {line} of {}: {problem}",
                path.display()
            );
            Ok(1)
        }
    }
}
