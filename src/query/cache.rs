//! The persisted checkpoints of every account: a cache over the log, never the truth.
//!
//! Per account: regular checkpoints keyed by their business instant, the final checkpoint
//! (at the account's last event instant) and a small meta record saying which stream version
//! and policy they were built from. A change of policy or a damaged record means a rebuild,
//! never a wrong answer.
//!
//! The checkpoints' bodies (a few hundred KiB each) are files in `<data>/checkpoints/`, each
//! under a name never used twice (an id from sled); sled holds only which file is which: the
//! tree `checkpoint_index` (account, instant → file id) and `checkpoint_heads` (account →
//! meta record and the final checkpoint's file id). sled keeps what it writes in memory
//! until reads evict it and rewrites its blobs when it compacts, so large values there cost
//! the rebuild a third of its memory and a tenth of its time; files cost one write each.
//!
//! Crashes: sled persists its batches in order, so the index never names a checkpoint that a
//! later batch dropped; a file it names is written before the batch that names it, but it is
//! not synced (the cache is rebuilt at need), so after a power cut it may be missing or
//! torn. Such a file does not decode and counts as absent. As names are never reused, a file
//! that decodes is the one the index meant (the directory is swept whenever the trees are
//! empty, so a new sled's ids never meet an older file). Files that no index names (ones a
//! crash orphaned between the index and the removal) are removed when the cache is cleared.

use crate::error::{Error, Result};
use crate::history::Checkpoint;
use crate::store::Store;
use crate::view::Policy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The trees' names, as the store knows them (it drops them when it cuts the log's tail).
const INDEX: &str = crate::store::tail::CHECKPOINT_TREES[0];
const HEADS: &str = crate::store::tail::CHECKPOINT_TREES[1];
/// The directory of the bodies, in the data directory.
const DIR: &str = crate::store::tail::CHECKPOINT_DIR;

/// What the cached checkpoints of an account were built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The account's stream version the final checkpoint includes.
    pub version: u64,
    pub policy: Policy,
    /// The final checkpoint's instant (the latest `occurred_at`) and the latest `recorded_at`.
    pub last_instant: DateTime<Utc>,
    pub max_recorded: DateTime<Utc>,
}

/// An account's record in `checkpoint_heads`.
#[derive(Serialize, Deserialize)]
struct Head {
    meta: Meta,
    /// The file of the final checkpoint.
    last: u64,
}

/// The checkpoints of a store.
pub struct Cache {
    db: sled::Db,
    index: sled::Tree,
    heads: sled::Tree,
    dir: PathBuf,
}

fn storage(e: sled::Error) -> Error {
    Error::Storage(e.to_string())
}

/// Key of a regular checkpoint: account, a zero byte, the instant in order-preserving bytes.
fn key(account: &str, t: DateTime<Utc>) -> Vec<u8> {
    let mut k = prefix(account);
    let micros = t.timestamp_micros() as u64 ^ (1 << 63);
    k.extend_from_slice(&micros.to_be_bytes());
    k
}

fn prefix(account: &str) -> Vec<u8> {
    let mut k = account.as_bytes().to_vec();
    k.push(0);
    k
}

/// The file id an index value holds (`None` for a value of another format).
fn file_id(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.try_into().ok()?))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Storage(format!("cannot encode a checkpoint: {e}")))
}

impl Cache {
    pub fn open(store: &Store) -> Result<Cache> {
        let db = store.db();
        let dir = store.dir().join(DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
        // Trees of the format before the files (bodies inside sled): dropped, they are
        // rebuilt from the log.
        for old in crate::store::tail::CHECKPOINT_TREES[2..].iter() {
            if db.tree_names().iter().any(|n| n.as_ref() == old.as_bytes()) {
                db.drop_tree(old).map_err(storage)?;
            }
        }
        let cache = Cache {
            db: db.clone(),
            index: db.open_tree(INDEX).map_err(storage)?,
            heads: db.open_tree(HEADS).map_err(storage)?,
            dir,
        };
        // With nothing indexed (a new or cut store, a mirror made again), no file is named:
        // sweep them, so that no id sled hands out again can find an older file.
        if cache.index.is_empty() && cache.heads.is_empty() {
            clear_dir(&cache.dir)?;
        }
        Ok(cache)
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}.ck"))
    }

    /// The checkpoint in file `id`, `None` if it is missing or does not decode (a crash, or
    /// an older format: it is rebuilt).
    fn read(&self, id: u64) -> Result<Option<Checkpoint>> {
        let path = self.path(id);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Writes a checkpoint to a new file; returns its id.
    fn write(&self, c: &Checkpoint) -> Result<u64> {
        let id = self.db.generate_id().map_err(storage)?;
        let path = self.path(id);
        std::fs::write(&path, encode(c)?).map_err(|e| {
            Error::Storage(format!("cannot write checkpoint {}: {e}", path.display()))
        })?;
        Ok(id)
    }

    fn remove(&self, ids: impl IntoIterator<Item = u64>) {
        // A file left behind only takes space until the cache is cleared.
        for id in ids {
            let _ = std::fs::remove_file(self.path(id));
        }
    }

    fn head(&self, account: &str) -> Result<Option<Head>> {
        Ok(self
            .heads
            .get(account.as_bytes())
            .map_err(storage)?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    pub fn meta(&self, account: &str) -> Result<Option<Meta>> {
        Ok(self.head(account)?.map(|h| h.meta))
    }

    /// The final checkpoint.
    pub fn last(&self, account: &str) -> Result<Option<Checkpoint>> {
        match self.head(account)? {
            Some(h) => self.read(h.last),
            None => Ok(None),
        }
    }

    /// The latest regular checkpoint at or before `t` that `serves` accepts.
    pub fn latest(
        &self,
        account: &str,
        t: DateTime<Utc>,
        serves: impl Fn(&Checkpoint) -> bool,
    ) -> Result<Option<Checkpoint>> {
        let range = prefix(account)..=key(account, t);
        for r in self.index.range(range).rev() {
            let (_, v) = r.map_err(storage)?;
            let Some(id) = file_id(&v) else { continue };
            if let Some(c) = self.read(id)? {
                if serves(&c) {
                    return Ok(Some(c));
                }
            }
        }
        Ok(None)
    }

    /// Drops the regular checkpoints at or after `from` (all of them with `None`).
    pub fn invalidate(&self, account: &str, from: Option<DateTime<Utc>>) -> Result<()> {
        let start = match from {
            Some(t) => key(account, t),
            None => prefix(account),
        };
        let mut end = prefix(account);
        *end.last_mut().expect("non-empty") = 1;
        let mut batch = sled::Batch::default();
        let (mut removed, mut files) = (0, Vec::new());
        for r in self.index.range(start..end) {
            let (k, v) = r.map_err(storage)?;
            files.extend(file_id(&v));
            batch.remove(k);
            removed += 1;
        }
        if removed == 0 {
            return Ok(());
        }
        self.index.apply_batch(batch).map_err(storage)?;
        self.remove(files);
        Ok(())
    }

    /// Saves new regular checkpoints, the final one and the meta record.
    pub fn save(
        &self,
        account: &str,
        taken: &[Checkpoint],
        last: &Checkpoint,
        meta: &Meta,
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        for c in taken {
            if let Some(t) = c.instant() {
                batch.insert(key(account, t), &self.write(c)?.to_be_bytes());
            }
        }
        let head = Head {
            meta: meta.clone(),
            last: self.write(last)?,
        };
        let before = self.head(account)?.map(|h| h.last);
        self.index.apply_batch(batch).map_err(storage)?;
        self.heads
            .insert(account.as_bytes(), encode(&head)?)
            .map_err(storage)?;
        self.remove(before);
        crate::store::release_deferred();
        Ok(())
    }

    /// Forgets every account's checkpoints, and removes every checkpoint file.
    pub fn clear(&self) -> Result<()> {
        for t in [&self.index, &self.heads] {
            t.clear().map_err(storage)?;
        }
        clear_dir(&self.dir)
    }
}

/// Removes the files of a checkpoint directory.
fn clear_dir(dir: &Path) -> Result<()> {
    let io = |e: std::io::Error| Error::Io(format!("cannot clear {}: {e}", dir.display()));
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|x| x == "ck") {
            std::fs::remove_file(&path).map_err(io)?;
        }
    }
    Ok(())
}
