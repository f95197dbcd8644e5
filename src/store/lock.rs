//! An exclusive lock on the data directory, so that a second process gets a clear
//! "in use by pid N" error instead of sled's generic lock failure.

use crate::error::{Error, Result};
use fs2::FileExt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Held for as long as the store is open; the OS releases it when the process dies.
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join("kamlog.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))?;
        if file.try_lock_exclusive().is_err() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(Error::InUse(format!(
                "data directory {} is in use by {} (stop it, or reach it with --nats through `kamlog serve`)",
                dir.display(),
                if holder.is_empty() { "another process".to_string() } else { format!("pid {holder}") }
            )));
        }
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| write!(file, "{}", std::process::id()))
            .and_then(|_| file.flush())
            .map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))?;
        Ok(DirLock { _file: file })
    }
}
