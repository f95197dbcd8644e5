//! The mirror of a cluster's log: on a cluster (SPEC 11) every kamlog process keeps its own
//! copy of the log in the sled layout of [`super::layout`], under its cache directory, and
//! reads from it exactly as from a sled store. The cluster is the truth: the writer appends
//! there first and files the acknowledged events here; between requests it reads what other
//! processes appended (`Writer::catch_up`). A mirror whose last event is not the cluster's
//! event at that position (the stream was replaced, or lost acknowledged messages) is dropped
//! and read again from the start; the personal-data vault beside it stays.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Why a mirror was refused at open (it is then dropped and read again).
pub(crate) const STALE: &str = "the local mirror no longer matches the cluster's log";

/// Whether an error is the refusal of a stale mirror.
pub(crate) fn is_stale(e: &Error) -> bool {
    matches!(e, Error::Corrupt(m) if m == STALE)
}

/// Removes a mirror's sled files and segment file (its copy of the log and its checkpoints).
pub(crate) fn discard(dir: &Path) -> Result<()> {
    let sled = dir.join("sled");
    if sled.exists() {
        std::fs::remove_dir_all(&sled)
            .map_err(|e| Error::Io(format!("cannot remove {}: {e}", sled.display())))?;
    }
    let checkpoints = dir.join(super::tail::CHECKPOINT_DIR);
    if checkpoints.exists() {
        std::fs::remove_dir_all(&checkpoints)
            .map_err(|e| Error::Io(format!("cannot remove {}: {e}", checkpoints.display())))?;
    }
    let pages = dir.join(super::segment::FILE);
    if pages.exists() {
        std::fs::remove_file(&pages)
            .map_err(|e| Error::Io(format!("cannot remove {}: {e}", pages.display())))?;
    }
    Ok(())
}

/// A temporary directory, removed on drop.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new() -> Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("kamlog-mirror-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Scratch(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
