//! `kamlog append` and `kamlog import`: JSONL in, events stored.
//!
//! `append` stores its whole input as one atomic batch (at most
//! [`crate::store::MAX_BATCH_EVENTS`] events). `import` first checks every line of the file
//! (nothing is stored if any line is malformed), then stores it in atomic batches of
//! `--batch-size` events in file order; a file no longer than one batch is all-or-nothing.
//! If a rule fails in a later batch, the batches before it stay stored, the message says
//! which lines are in, and re-running the import after the fix is a no-op for them
//! (appends are idempotent by `event_id`).

use super::Out;
use crate::error::Error;
use crate::event::jsonl::JsonlReader;
use crate::event::NewEvent;
use crate::query::Query;
use crate::store::{AppendOutcome, Store, MAX_BATCH_EVENTS};
use crate::view::Policy;
use std::path::Path;

pub const DEFAULT_IMPORT_BATCH: usize = 10_000;
/// Shape errors listed before `import` stops listing.
const MAX_LISTED_ERRORS: usize = 20;

/// Reads all events of an input, failing on the first bad line.
fn read_all(input: impl std::io::BufRead) -> Result<(Vec<NewEvent>, Vec<usize>), Error> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for (n, r) in JsonlReader::new(input) {
        events.push(r?);
        lines.push(n);
        if events.len() > MAX_BATCH_EVENTS {
            return Err(Error::Usage(format!(
                "append takes at most {MAX_BATCH_EVENTS} events in one atomic batch; use `kamlog import` for larger files"
            )));
        }
    }
    Ok((events, lines))
}

/// `kamlog append --json` (and, with `"ok": true`, the API's typed append reply).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct AppendReport {
    pub stored: usize,
    pub duplicates: usize,
    pub events: Vec<EventAck>,
}

/// One event of an [`AppendReport`]: where it is stored (or was already).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct EventAck {
    pub event_id: String,
    pub account_id: String,
    pub version: u64,
    pub position: u64,
    pub hash: String,
    pub duplicate: bool,
}

impl AppendReport {
    pub fn of(outcome: &AppendOutcome) -> AppendReport {
        AppendReport {
            stored: outcome.stored(),
            duplicates: outcome.duplicates(),
            events: outcome
                .events
                .iter()
                .map(|e| EventAck {
                    event_id: e.event_id.clone(),
                    account_id: e.account_id.clone(),
                    version: e.version,
                    position: e.position,
                    hash: e.hash.clone(),
                    duplicate: e.duplicate,
                })
                .collect(),
        }
    }
}

/// `kamlog import --json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub stored: usize,
    pub duplicates: usize,
    pub first_position: Option<u64>,
    pub last_position: Option<u64>,
}

pub fn report(outcome: &AppendOutcome, json: bool, out: &mut Out) {
    let (stored, dups) = (outcome.stored(), outcome.duplicates());
    if json {
        outln!(
            out,
            "{}",
            serde_json::to_string(&AppendReport::of(outcome)).expect("serializes")
        );
    } else {
        print_summary(
            stored,
            dups,
            outcome
                .events
                .iter()
                .filter(|e| !e.duplicate)
                .map(|e| e.position),
            out,
        );
    }
}

pub fn print_summary(
    stored: usize,
    dups: usize,
    positions: impl Iterator<Item = u64>,
    out: &mut Out,
) {
    let (mut lo, mut hi) = (u64::MAX, 0);
    for p in positions {
        lo = lo.min(p);
        hi = hi.max(p);
    }
    let range = if stored > 0 {
        format!(" at positions {lo}–{hi}")
    } else {
        String::new()
    };
    let dup = if dups > 0 {
        format!("; {dups} already stored (identical, skipped)")
    } else {
        String::new()
    };
    outln!(out, "stored {stored} event(s){range}{dup}");
}

/// `append`: the JSONL `input` as one atomic batch.
pub fn append(
    store: &Store,
    policy: &Policy,
    input: &[u8],
    expected: Option<u64>,
    json: bool,
    out: &mut Out,
) -> Result<i32, Error> {
    let (events, lines) = read_all(input)?;
    let outcome = store
        .append(events, expected)
        .map_err(|e| e.with_lines(&lines))?;
    // Leave every checkpoint current, so that no read pays for this append.
    let accounts: std::collections::BTreeSet<&str> = outcome
        .events
        .iter()
        .map(|e| e.account_id.as_str())
        .collect();
    Query::new(store, policy)?.refresh_accounts(accounts)?;
    report(&outcome, json, out);
    Ok(0)
}

pub fn import(
    store: &Store,
    policy: &Policy,
    file: &Path,
    batch_size: usize,
    expected: Option<u64>,
    json: bool,
    out: &mut Out,
) -> Result<i32, Error> {
    if batch_size == 0 || batch_size > MAX_BATCH_EVENTS {
        return Err(Error::Usage(format!(
            "--batch-size must be 1 to {MAX_BATCH_EVENTS}"
        )));
    }
    // A cluster takes at most its atomic-batch limit per append (SPEC 11).
    let batch_size = batch_size.min(store.max_batch());
    // Pass 1: check the shape of every line, so that a malformed file stores nothing.
    let check = crate::import::check_file(file, MAX_LISTED_ERRORS)?;
    if check.bad_lines > 0 {
        for e in &check.errors {
            errln!(out, "kamlog: {e}");
        }
        if check.bad_lines > check.errors.len() {
            errln!(
                out,
                "kamlog: … and {} more",
                check.bad_lines - check.errors.len()
            );
        }
        errln!(
            out,
            "kamlog: import rejected: {} bad line(s) in {}; nothing was stored",
            check.bad_lines,
            file.display()
        );
        return Ok(1);
    }
    if expected.is_some() && check.accounts.len() > 1 {
        return Err(Error::Usage(
            "--expected-version needs a file with a single account".into(),
        ));
    }
    if expected.is_some() && check.events > batch_size {
        return Err(Error::Usage(format!(
            "--expected-version needs the file in one atomic batch: raise --batch-size to at least {}",
            check.events
        )));
    }
    // Pass 2: store in atomic batches.
    // Progress on stderr, drawn only when it is a terminal.
    let bar = indicatif::ProgressBar::new(check.events as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events stored ({eta} left)")
            .expect("a valid template"),
    );
    let s = crate::import::store_file_with_progress(store, file, batch_size, expected, &mut |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    // The writer's caches hold every account's state and every event id: the checkpoints
    // are built without them.
    store.release_caches()?;
    let spinner =
        indicatif::ProgressBar::new_spinner().with_message("building the history checkpoints");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    Query::new(store, policy)?.refresh_all()?;
    spinner.finish_and_clear();
    if json {
        outln!(
            out,
            "{}",
            serde_json::json!({
                "stored": s.stored, "duplicates": s.duplicates,
                "first_position": s.first_position, "last_position": s.last_position,
            })
        );
    } else {
        print_summary(
            s.stored,
            s.duplicates,
            s.first_position.into_iter().chain(s.last_position),
            out,
        );
    }
    Ok(0)
}
