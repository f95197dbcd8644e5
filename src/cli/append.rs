//! `kamlog append` and `kamlog import`: JSONL in, events stored.
//!
//! `append` stores its whole input as one atomic batch (at most
//! [`crate::store::MAX_BATCH_EVENTS`] events). `import` first checks every line of the file
//! (nothing is stored if any line is malformed), then stores it in atomic batches of
//! `--batch-size` events in file order; a file no longer than one batch is all-or-nothing.
//! If a rule fails in a later batch, the batches before it stay stored, the message says
//! which lines are in, and re-running the import after the fix is a no-op for them
//! (appends are idempotent by `event_id`).

use crate::error::Error;
use crate::event::jsonl::JsonlReader;
use crate::event::NewEvent;
use crate::store::{AppendOutcome, Store, MAX_BATCH_EVENTS};
use std::io::BufReader;
use std::path::Path;

pub const DEFAULT_IMPORT_BATCH: usize = 50_000;
/// Shape errors listed before `import` stops listing.
const MAX_LISTED_ERRORS: usize = 20;

fn open(path: &Path) -> Result<BufReader<std::fs::File>, Error> {
    std::fs::File::open(path)
        .map(|f| BufReader::with_capacity(1 << 20, f))
        .map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))
}

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

fn report(outcome: &AppendOutcome, json: bool) {
    let (stored, dups) = (outcome.stored(), outcome.duplicates());
    if json {
        let events: Vec<_> = outcome
            .events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "event_id": e.event_id, "account_id": e.account_id, "version": e.version,
                    "position": e.position, "hash": e.hash, "duplicate": e.duplicate,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"stored": stored, "duplicates": dups, "events": events})
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
        );
    }
}

fn print_summary(stored: usize, dups: usize, positions: impl Iterator<Item = u64>) {
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
    println!("stored {stored} event(s){range}{dup}");
}

pub fn append(store: &Store, file: &str, expected: Option<u64>, json: bool) -> Result<i32, Error> {
    let (events, lines) = if file == "-" {
        read_all(std::io::stdin().lock())?
    } else {
        read_all(open(Path::new(file))?)?
    };
    let outcome = store
        .append(events, expected)
        .map_err(|e| e.with_lines(&lines))?;
    report(&outcome, json);
    Ok(0)
}

pub fn import(
    store: &Store,
    file: &Path,
    batch_size: usize,
    expected: Option<u64>,
    json: bool,
) -> Result<i32, Error> {
    if batch_size == 0 || batch_size > MAX_BATCH_EVENTS {
        return Err(Error::Usage(format!(
            "--batch-size must be 1 to {MAX_BATCH_EVENTS}"
        )));
    }
    // Pass 1: check the shape of every line, so that a malformed file stores nothing.
    let mut errors = Vec::new();
    let mut total = 0usize;
    let mut accounts = std::collections::BTreeSet::new();
    for (_, r) in JsonlReader::new(open(file)?) {
        match r {
            Ok(ev) => {
                total += 1;
                if expected.is_some() && accounts.len() < 2 {
                    accounts.insert(ev.account_id);
                }
            }
            Err(e @ Error::Io(_)) => return Err(e),
            Err(e) => {
                if errors.len() < MAX_LISTED_ERRORS {
                    errors.push(e.to_string());
                } else {
                    errors.push(String::new());
                }
            }
        }
    }
    if !errors.is_empty() {
        let n = errors.len();
        for e in errors.iter().filter(|e| !e.is_empty()) {
            eprintln!("kamlog: {e}");
        }
        if n > MAX_LISTED_ERRORS {
            eprintln!("kamlog: … and {} more", n - MAX_LISTED_ERRORS);
        }
        eprintln!(
            "kamlog: import rejected: {n} bad line(s) in {}; nothing was stored",
            file.display()
        );
        return Ok(1);
    }
    if expected.is_some() && accounts.len() > 1 {
        return Err(Error::Usage(
            "--expected-version needs a file with a single account".into(),
        ));
    }
    if expected.is_some() && total > batch_size {
        return Err(Error::Usage(format!(
            "--expected-version needs the file in one atomic batch: raise --batch-size to at least {total}"
        )));
    }
    // Pass 2: store in atomic batches.
    let (mut stored, mut dups) = (0usize, 0usize);
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    let mut batch = Vec::with_capacity(batch_size.min(total));
    let mut lines = Vec::with_capacity(batch_size.min(total));
    let mut first_line_in = 0usize;
    let mut flush = |batch: &mut Vec<NewEvent>, lines: &mut Vec<usize>| -> Result<(), Error> {
        let outcome = store
            .append(std::mem::take(batch), expected)
            .map_err(|e| {
                let e = e.with_lines(lines);
                if first_line_in > 0 {
                    Error::Rejected {
                        at: match &e { Error::Rejected { at, .. } => at.clone(), _ => Default::default() },
                        reason: format!("{} (lines before {} were stored by earlier batches; nothing of this batch was)",
                            match &e { Error::Rejected { reason, .. } => reason.clone(), other => other.to_string() },
                            lines.first().copied().unwrap_or(0)),
                    }
                } else {
                    e
                }
            })?;
        for e in &outcome.events {
            if !e.duplicate {
                lo = lo.min(e.position);
                hi = hi.max(e.position);
            }
        }
        stored += outcome.stored();
        dups += outcome.duplicates();
        first_line_in = lines.last().copied().unwrap_or(0);
        lines.clear();
        Ok(())
    };
    for (n, r) in JsonlReader::new(open(file)?) {
        batch.push(r?);
        lines.push(n);
        if batch.len() == batch_size {
            flush(&mut batch, &mut lines)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut lines)?;
    }
    if json {
        println!(
            "{}",
            serde_json::json!({
                "stored": stored, "duplicates": dups,
                "first_position": if stored > 0 { Some(lo) } else { None },
                "last_position": if stored > 0 { Some(hi) } else { None },
            })
        );
    } else {
        print_summary(stored, dups, [lo, hi].into_iter().filter(|_| stored > 0));
    }
    Ok(0)
}
