//! Importing a JSONL file: a checking pass, then a pipelined storing pass.
//!
//! Pass 1 ([`check_file`]) parses and validates the shape of every line, keeping nothing, so
//! that a malformed file stores nothing. Pass 2 ([`store_file`]) parses the file again on a
//! reader thread, handing batches of events to the caller's thread, which appends them: the
//! parse of batch k+1 overlaps the write of batch k. Each batch is atomic; if a rule fails in
//! a later batch the earlier ones stay stored, and re-running the import is a no-op for them
//! (appends are idempotent by `event_id`).

use crate::error::{Error, Result};
use crate::event::jsonl::JsonlReader;
use crate::event::NewEvent;
use crate::store::Store;
use std::collections::BTreeSet;
use std::io::BufReader;
use std::path::Path;

/// What pass 1 found.
#[derive(Debug, Default)]
pub struct FileCheck {
    pub events: usize,
    /// Up to the first two distinct accounts (enough to tell one account from several).
    pub accounts: BTreeSet<String>,
    /// The rejected lines' errors, at most `max_errors` of them.
    pub errors: Vec<Error>,
    /// How many lines were rejected in all.
    pub bad_lines: usize,
}

/// What pass 2 stored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub stored: usize,
    pub duplicates: usize,
    pub first_position: Option<u64>,
    pub last_position: Option<u64>,
}

/// Opens an input file with a large read buffer.
pub(crate) fn open(path: &Path) -> Result<BufReader<std::fs::File>> {
    std::fs::File::open(path)
        .map(|f| BufReader::with_capacity(1 << 20, f))
        .map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))
}

/// Pass 1: checks the shape of every line of a file.
pub fn check_file(path: &Path, max_errors: usize) -> Result<FileCheck> {
    let mut check = FileCheck::default();
    for (_, r) in JsonlReader::new(open(path)?) {
        match r {
            Ok(ev) => {
                check.events += 1;
                if check.accounts.len() < 2 {
                    check.accounts.insert(ev.account_id);
                }
            }
            Err(e @ Error::Io(_)) => return Err(e),
            Err(e) => {
                check.bad_lines += 1;
                if check.errors.len() < max_errors {
                    check.errors.push(e);
                }
            }
        }
    }
    Ok(check)
}

/// Pass 2: stores a file in atomic batches of `batch_size` events, parsing ahead on a
/// second thread.
pub fn store_file(
    store: &Store,
    path: &Path,
    batch_size: usize,
    expected: Option<u64>,
) -> Result<ImportSummary> {
    store_file_with_progress(store, path, batch_size, expected, &mut |_| {})
}

/// [`store_file`], calling `stored` with the number of events of each batch once it is
/// durable (for a progress display).
pub fn store_file_with_progress(
    store: &Store,
    path: &Path,
    batch_size: usize,
    expected: Option<u64>,
    stored: &mut dyn FnMut(usize),
) -> Result<ImportSummary> {
    let input = open(path)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(Vec<NewEvent>, Vec<usize>)>>(0);
    let reader = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(batch_size);
        let mut lines = Vec::with_capacity(batch_size);
        for (n, r) in JsonlReader::new(input) {
            match r {
                Ok(ev) => {
                    batch.push(ev);
                    lines.push(n);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
            if batch.len() == batch_size {
                let full = (std::mem::take(&mut batch), std::mem::take(&mut lines));
                if tx.send(Ok(full)).is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(Ok((batch, lines)));
        }
    });
    let mut summary = ImportSummary::default();
    let mut stored_through: Option<usize> = None;
    let result = (|| {
        for msg in rx.iter() {
            let (batch, lines) = msg?;
            let first_line = lines.first().copied().unwrap_or(0);
            let last_line = lines.last().copied().unwrap_or(0);
            let outcome = store.append(batch, expected).map_err(|e| {
                let e = e.with_lines(&lines);
                match (e, stored_through) {
                    (Error::Rejected { at, reason }, Some(through)) => Error::Rejected {
                        at,
                        reason: format!(
                            "{reason} (lines 1–{through} were stored by earlier batches; nothing from line {first_line} on was)"
                        ),
                    },
                    (Error::Storage(m), Some(through)) => Error::Storage(format!(
                        "{m} (lines 1–{through} were stored by earlier batches; the batch from line {first_line} on was not acknowledged)"
                    )),
                    (e, _) => e,
                }
            })?;
            for e in outcome.events.iter().filter(|e| !e.duplicate) {
                summary.first_position = Some(
                    summary
                        .first_position
                        .map_or(e.position, |p| p.min(e.position)),
                );
                summary.last_position = Some(
                    summary
                        .last_position
                        .map_or(e.position, |p| p.max(e.position)),
                );
            }
            stored(outcome.events.len());
            summary.stored += outcome.stored();
            summary.duplicates += outcome.duplicates();
            stored_through = Some(last_line);
        }
        Ok(())
    })();
    drop(rx);
    let _ = reader.join();
    result.map(|_| summary)
}
