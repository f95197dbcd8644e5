//! Disk space: a store never lets sled run the disk dry (SPEC: bad conditions get a clear
//! error and lose nothing).
//!
//! sled marks itself failed after a write error and a store opened on a full disk may not
//! open at all, so kamlog acts before that happens:
//! - appends are refused, with a clear error and nothing stored, while the disk holding the
//!   store has less than [`LOW_WATER`] bytes free (plus an estimate for the request); a running
//!   process accepts appends again as soon as space is freed, without a restart;
//! - a reserve file (`reserve`, [`RESERVE_BYTES`]) in the data directory holds space back;
//!   opening a store on a disk with less than [`LOW_WATER`] free releases it, so that the
//!   store (and `verify`, and `export`) can always be opened; it is made again once there is
//!   room for it and the low-water mark besides.

use crate::error::{Error, Result};
use std::path::Path;

/// Space held back by the reserve file.
pub const RESERVE_BYTES: u64 = 8 << 20;
/// Appends are refused below this much free space (two of sled's 8 MiB log segments).
pub const LOW_WATER: u64 = 16 << 20;
/// Estimated bytes written per appended event (the event, its index entries and checkpoints).
const PER_EVENT: u64 = 2 << 10;
const RESERVE_FILE: &str = "reserve";

fn free(dir: &Path) -> Result<u64> {
    fs2::available_space(dir).map_err(|e| {
        Error::Io(format!(
            "cannot read the free space of the disk holding {}: {e}",
            dir.display()
        ))
    })
}

const MIB: u64 = 1 << 20;

/// Before sled opens: releases the reserve if the disk is nearly full.
pub fn before_open(dir: &Path) -> Result<()> {
    let reserve = dir.join(RESERVE_FILE);
    if reserve.exists() && free(dir)? < LOW_WATER {
        std::fs::remove_file(&reserve)
            .map_err(|e| Error::Io(format!("cannot release {}: {e}", reserve.display())))?;
        eprintln!(
            "kamlog: the disk holding {} is nearly full; released its {} MiB reserve so that the store opens (appends stay refused until {} MiB are free)",
            dir.display(),
            RESERVE_BYTES / MIB,
            LOW_WATER / MIB
        );
    }
    Ok(())
}

/// Before an append of `events` events: refuses it if the disk is too full; makes the reserve
/// again when there is room for it.
pub fn before_append(dir: &Path, events: usize) -> Result<()> {
    let need = LOW_WATER + events as u64 * PER_EVENT;
    let available = free(dir)?;
    if available < need {
        return Err(Error::Storage(format!(
            "the disk holding {} is nearly full: {} MiB free, an append of {events} event(s) needs {} MiB; nothing was stored. Free space and try again (no restart needed)",
            dir.display(),
            available / MIB,
            need.div_ceil(MIB)
        )));
    }
    let reserve = dir.join(RESERVE_FILE);
    if available >= need + RESERVE_BYTES && !reserve.exists() {
        // Best effort: a reserve that cannot be made now is made by a later append.
        let _ = make_reserve(&reserve);
    }
    Ok(())
}

fn make_reserve(path: &Path) -> std::io::Result<()> {
    use fs2::FileExt;
    let tmp = path.with_extension("tmp");
    let f = std::fs::File::create(&tmp)?;
    f.allocate(RESERVE_BYTES)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
