//! The end of the log on open: the pages an interrupted append left behind.
//!
//! An append writes its pages to the segment file, then applies the sled batch that points at
//! them; a flush syncs the file before sled, and only then is the append acknowledged. sled
//! may persist a batch on its own (its background flush) before the file was synced, so after
//! a crash the tree can point at pages that never reached the disk. Such an append was never
//! acknowledged. On open, the pages after the durability mark are checked against their
//! CRC; from the first append with a missing or damaged page on, the log is cut: its page
//! pointers, event ids and stream runs are removed, the heads of the accounts it touched are
//! set back to their last remaining event, and the query layer's checkpoints (a cache) are
//! dropped. A damaged page at or before the mark is not an interrupted append but damage,
//! and is refused with the position it concerns. Past the last page the file is cut too.
//!
//! A cluster's mirror is never synced (the cluster holds the truth) and has no mark: all its
//! pages are checked on open (a pass over the file), and what a cut drops is read again from
//! the cluster.
//!
//! The durability mark is compared with the log before this runs (`Store::open_inner`): a
//! log that lost durable events is refused before anything here could cut the file.

use super::layout::*;
use super::segment::{checksum, Pointer, POINTER_TAG};
use super::{decode_head, encode_head, storage};
use crate::error::{Error, Result};
use crate::event::StoredEvent;
use std::collections::HashMap;

/// The sled trees of the query layer's checkpoints: a cache over the log, dropped when the
/// log is cut.
pub const CHECKPOINT_TREES: [&str; 7] = [
    "checkpoint_slots",
    "checkpoint_finals",
    // Trees of older formats (one file per checkpoint; bodies inside sled), dropped on open.
    "checkpoint_index",
    "checkpoint_heads",
    "checkpoints",
    "checkpoint_final",
    "checkpoint_meta",
];

/// The directory (in the data directory) of the checkpoints' bodies, which only those trees
/// name: once the trees are empty, its files are swept.
pub const CHECKPOINT_DIR: &str = "checkpoints";

/// What opening found at the end of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tail {
    /// The segment file's length once repaired: where the next page goes.
    pub end: u64,
    /// The first position of the append that was dropped (or, checked without repair, that
    /// would be), if any.
    pub cut: Option<u64>,
}

/// Checks the pages from the one holding `marked` on (all pages without a mark) and cuts an
/// interrupted append. With `repair` false (`verify`, which must change nothing and reports
/// what it finds itself), nothing is cut or refused: `cut` then tells where an interrupted
/// append would be cut.
pub(crate) fn recover(db: &sled::Db, log: &Log, marked: Option<u64>, repair: bool) -> Result<Tail> {
    let file_len = log.segment.len()?;
    // The pages from the one holding the marked position on (the mark's own page included:
    // a damaged byte there is damage, refused below, not an interrupted append).
    let from = marked.unwrap_or(0);
    let start = match log.tree.range(event_key(0)..=event_key(from)).next_back() {
        Some(r) => be_u64(&r.map_err(storage)?.0[1..])?,
        None => 0,
    };
    let mut pages: Vec<(u64, Pointer)> = Vec::new();
    let mut bad: Option<usize> = None;
    for r in log.tree.range(event_key(start)..=event_key(u64::MAX)) {
        let (k, v) = r.map_err(storage)?;
        let first = be_u64(&k[1..])?;
        if v.first() != Some(&POINTER_TAG) {
            continue; // an inline page (an older store): written by one sled batch
        }
        let p = Pointer::decode(first, &v)?;
        pages.push((first, p));
        let ok = p.end() <= file_len
            && match log.segment.read(first, &p) {
                Ok(bytes) => checksum(&bytes) == p.crc,
                Err(Error::Corrupt(_)) => false, // past the end of the file
                Err(e) => return Err(e),         // an I/O error is not a lost page
            };
        if !ok {
            bad = Some(pages.len() - 1);
            break;
        }
    }
    let Some(bad) = bad else {
        let end = last_pointer_end(log)?;
        if repair && file_len > end {
            log.segment.truncate(end)?;
        }
        return Ok(Tail { end, cut: None });
    };
    // The append the bad page belongs to starts at the nearest page marked as a start.
    let (bad_first, _) = pages[bad];
    // None: it began at or before the mark's page, so it was acknowledged.
    let cut = pages[..=bad]
        .iter()
        .rev()
        .find(|(_, p)| p.starts_append)
        .map(|(first, _)| *first);
    let cut = cut.filter(|&c| marked.is_none_or(|m| c > m));
    if !repair {
        // Damage (no cut) is for `verify` to find and name.
        return Ok(Tail {
            end: last_pointer_end(log)?,
            cut,
        });
    }
    let Some(cut) = cut else {
        return Err(Error::Corrupt(format!(
            "the page holding position {bad_first} is missing or damaged in {}, and that \
             page was durable: the store is damaged; restore the data directory from a backup, \
             or import an export of it into a new one",
            log.segment.path().display()
        )));
    };
    cut_from(db, log, cut)?;
    let end = last_pointer_end(log)?;
    log.segment.truncate(end)?;
    Ok(Tail {
        end,
        cut: Some(cut),
    })
}

/// Where the last page pointed at ends (0 without pages in the file).
fn last_pointer_end(log: &Log) -> Result<u64> {
    let Some(r) = log.tree.scan_prefix([b'e']).next_back() else {
        return Ok(0);
    };
    let (k, v) = r.map_err(storage)?;
    if v.first() == Some(&POINTER_TAG) {
        Ok(Pointer::decode(be_u64(&k[1..])?, &v)?.end())
    } else {
        Ok(0) // an inline page is last: nothing of the file is used
    }
}

/// Removes every position from `cut` on, as one sled batch, and drops the checkpoints.
fn cut_from(db: &sled::Db, log: &Log, cut: u64) -> Result<()> {
    let mut batch = sled::Batch::default();
    for r in log.tree.range(event_key(cut)..=event_key(u64::MAX)) {
        batch.remove(r.map_err(storage)?.0);
    }
    for r in log.tree.range(ids_key(cut)..=ids_key(u64::MAX)) {
        batch.remove(r.map_err(storage)?.0);
    }
    // Runs: all of one append, so each lies wholly before or wholly after the cut.
    let mut kept_last: HashMap<String, u64> = HashMap::new();
    for r in log.tree.scan_prefix([b's']) {
        let (k, v) = r.map_err(storage)?;
        if k.len() < 10 || v.len() < 8 || v.len() % 8 != 0 {
            return Err(Error::Corrupt(
                "a stream run of the log is not valid".into(),
            ));
        }
        let account = String::from_utf8_lossy(&k[1..k.len() - 9]).into_owned();
        if be_u64(&v[..8])? >= cut {
            batch.remove(k);
        } else {
            let last = be_u64(&v[v.len() - 8..])?;
            let e = kept_last.entry(account).or_insert(last);
            *e = (*e).max(last);
        }
    }
    for r in log.tree.scan_prefix([b'h']) {
        let (k, v) = r.map_err(storage)?;
        let account = String::from_utf8_lossy(&k[1..]).into_owned();
        if decode_head(&account, &v)?.position < cut {
            continue;
        }
        match kept_last.get(&account) {
            None => batch.remove(k),
            Some(&position) => {
                let bytes = read_at(log, position)?.ok_or_else(|| {
                    Error::Corrupt(format!(
                        "account {account}'s stream points at missing position {position}"
                    ))
                })?;
                let e = StoredEvent::decode(&bytes).map_err(|e| {
                    Error::Corrupt(format!("event at position {position} cannot be read: {e}"))
                })?;
                batch.insert(k, encode_head(e.version, position, &e.hash));
            }
        }
    }
    // The checkpoints first: sled persists in order, so no crash can keep checkpoints of
    // events that the cut removed.
    for name in CHECKPOINT_TREES {
        db.open_tree(name)
            .and_then(|t| t.clear())
            .map_err(storage)?;
    }
    log.tree.apply_batch(batch).map_err(storage)?;
    Ok(())
}
