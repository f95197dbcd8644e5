//! The persisted checkpoints of every account: a cache over the log, never the truth.
//!
//! Per account: regular checkpoints keyed by their business instant, the final checkpoint
//! (at the account's last event instant) and a small meta record saying which stream version
//! and policy they were built from. A change of policy or a damaged record means a rebuild,
//! never a wrong answer.
//!
//! The checkpoints' bodies (a few hundred KiB each) are files in `<data>/checkpoints/`: each
//! save (one walk of one account) writes one file, under a name never used twice (an id from
//! sled), holding the walk's checkpoints back to back. sled holds only where each one lies:
//! the tree `checkpoint_slots` (account, instant → file, offset, length) and
//! `checkpoint_finals` (account → meta record and the final checkpoint's slot). sled keeps
//! what it writes in memory until reads evict it and rewrites its blobs when it compacts, so
//! large values there cost the rebuild a third of its memory and a tenth of its time; one
//! file per checkpoint cost a rebuild 3,000 file creations, each a search of the file
//! system's free inodes; one file per save costs a third of that.
//!
//! Crashes: sled persists its batches in order, so the index never names a checkpoint that a
//! later batch dropped; a file it names is written before the batch that names it, but it is
//! not synced (the cache is rebuilt at need), so after a power cut it may be missing or
//! torn. A slot that cannot be read whole or does not decode counts as absent. As names are
//! never reused, a slot that decodes is the one the index meant (the directory is swept
//! whenever the trees are empty, so a new sled's ids never meet an older file). A file is
//! removed once no slot of its account names it; files that no slot names (ones a crash
//! orphaned between the index and the removal) are removed when the cache is cleared.

use crate::error::{Error, Result};
use crate::history::{Checkpoint, CheckpointRef};
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

/// Where a checkpoint's body lies: a file, and a range of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    file: u64,
    offset: u64,
    len: u64,
}

impl Slot {
    /// The slot an index value holds (`None` for a value of another format).
    fn decode(value: &[u8]) -> Option<Slot> {
        let n = |i: usize| Some(u64::from_be_bytes(value.get(i..i + 8)?.try_into().ok()?));
        (value.len() == 24).then_some(())?;
        Some(Slot {
            file: n(0)?,
            offset: n(8)?,
            len: n(16)?,
        })
    }

    fn encode(&self) -> [u8; 24] {
        let mut v = [0; 24];
        v[..8].copy_from_slice(&self.file.to_be_bytes());
        v[8..16].copy_from_slice(&self.offset.to_be_bytes());
        v[16..].copy_from_slice(&self.len.to_be_bytes());
        v
    }
}

/// A regular checkpoint's instant and slot.
type Placed = (DateTime<Utc>, Slot);

/// An account's record in `checkpoint_finals`.
#[derive(Serialize, Deserialize)]
struct Head {
    meta: Meta,
    /// Where the final checkpoint lies.
    last: Slot,
}

/// A walk's regular checkpoints, encoded back to back as they are reached (the body of the
/// file a save writes), each with its instant and place in the body.
#[derive(Default)]
pub struct Taken {
    body: Vec<u8>,
    /// (instant, offset, length) of each checkpoint in `body`.
    at: Vec<(DateTime<Utc>, u64, u64)>,
    /// The first encoding error, if any (the save reports it).
    failed: Option<Error>,
}

impl Taken {
    /// Encodes a checkpoint (one without an instant, the start, is not kept).
    pub fn push(&mut self, c: CheckpointRef<'_>) {
        let Some(t) = c.instant() else { return };
        if self.failed.is_some() {
            return;
        }
        let offset = self.body.len() as u64;
        match encode_into(&mut self.body, &c) {
            Ok(()) => self.at.push((t, offset, self.body.len() as u64 - offset)),
            Err(e) => self.failed = Some(e),
        }
    }
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

/// The keys just past an account's regular checkpoints.
fn prefix_end(account: &str) -> Vec<u8> {
    let mut end = prefix(account);
    *end.last_mut().expect("non-empty") = 1;
    end
}

fn encode_into<T: Serialize>(out: &mut Vec<u8>, v: &T) -> Result<()> {
    serde_json::to_writer(out, v)
        .map_err(|e| Error::Storage(format!("cannot encode a checkpoint: {e}")))
}

impl Cache {
    pub fn open(store: &Store) -> Result<Cache> {
        let db = store.db();
        let dir = store.dir().join(DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
        // Trees of older formats (bodies inside sled, one file per checkpoint): dropped, they
        // are rebuilt from the log.
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

    fn path(&self, file: u64) -> PathBuf {
        self.dir.join(format!("{file:016x}.ck"))
    }

    /// The checkpoint in a slot, `None` if its file is missing, shorter than the slot, or the
    /// bytes do not decode (a crash, or an older format: it is rebuilt).
    fn read(&self, slot: Slot) -> Result<Option<Checkpoint>> {
        use std::os::unix::fs::FileExt;
        let path = self.path(slot.file);
        let io = |e: std::io::Error| Error::Io(format!("cannot read {}: {e}", path.display()));
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let size = file.metadata().map_err(io)?.len();
        if slot
            .offset
            .checked_add(slot.len)
            .is_none_or(|end| end > size)
        {
            return Ok(None);
        }
        let mut bytes = vec![0; slot.len as usize];
        file.read_exact_at(&mut bytes, slot.offset).map_err(io)?;
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// Writes the regular checkpoints and the final one back to back to a new file; returns
    /// each regular one's instant and slot, and the final one's slot.
    fn write(&self, taken: Taken, last: &Checkpoint) -> Result<(Vec<Placed>, Slot)> {
        let Taken {
            mut body,
            at,
            failed,
        } = taken;
        if let Some(e) = failed {
            return Err(e);
        }
        let file = self.db.generate_id().map_err(storage)?;
        let offset = body.len() as u64;
        encode_into(&mut body, last)?;
        let last = Slot {
            file,
            offset,
            len: body.len() as u64 - offset,
        };
        let path = self.path(file);
        std::fs::write(&path, body).map_err(|e| {
            Error::Storage(format!("cannot write checkpoint {}: {e}", path.display()))
        })?;
        let slots = at
            .into_iter()
            .map(|(t, offset, len)| (t, Slot { file, offset, len }))
            .collect();
        Ok((slots, last))
    }

    /// The files that an account's slots name.
    fn files_of(&self, account: &str) -> Result<std::collections::BTreeSet<u64>> {
        let mut files = std::collections::BTreeSet::new();
        for r in self.index.range(prefix(account)..prefix_end(account)) {
            let (_, v) = r.map_err(storage)?;
            files.extend(Slot::decode(&v).map(|s| s.file));
        }
        files.extend(self.head(account)?.map(|h| h.last.file));
        Ok(files)
    }

    /// Removes those of `files` that the account's slots no longer name (a file left behind
    /// only takes space until the cache is cleared).
    fn remove_unnamed(
        &self,
        account: &str,
        mut files: std::collections::BTreeSet<u64>,
    ) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        for named in self.files_of(account)? {
            files.remove(&named);
        }
        for file in files {
            let _ = std::fs::remove_file(self.path(file));
        }
        Ok(())
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
            let Some(slot) = Slot::decode(&v) else {
                continue;
            };
            if let Some(c) = self.read(slot)? {
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
        let mut batch = sled::Batch::default();
        let (mut removed, mut files) = (0, std::collections::BTreeSet::new());
        for r in self.index.range(start..prefix_end(account)) {
            let (k, v) = r.map_err(storage)?;
            files.extend(Slot::decode(&v).map(|s| s.file));
            batch.remove(k);
            removed += 1;
        }
        if removed == 0 {
            return Ok(());
        }
        self.index.apply_batch(batch).map_err(storage)?;
        self.remove_unnamed(account, files)
    }

    /// Saves new regular checkpoints, the final one and the meta record (the checkpoints in
    /// one new file).
    pub fn save(&self, account: &str, taken: Taken, last: &Checkpoint, meta: &Meta) -> Result<()> {
        let (slots, last) = self.write(taken, last)?;
        let head = Head {
            meta: meta.clone(),
            last,
        };
        let mut batch = sled::Batch::default();
        let mut replaced = std::collections::BTreeSet::new();
        for (t, slot) in &slots {
            let k = key(account, *t);
            if let Some(v) = self.index.get(&k).map_err(storage)? {
                replaced.extend(Slot::decode(&v).map(|s| s.file));
            }
            batch.insert(k, &slot.encode());
        }
        replaced.extend(self.head(account)?.map(|h| h.last.file));
        self.index.apply_batch(batch).map_err(storage)?;
        let mut encoded = Vec::new();
        encode_into(&mut encoded, &head)?;
        self.heads
            .insert(account.as_bytes(), encoded)
            .map_err(storage)?;
        self.remove_unnamed(account, replaced)?;
        crate::store::release_deferred();
        Ok(())
    }

    /// Forgets every account's checkpoints, and removes every checkpoint file.
    pub fn clear(&self) -> Result<()> {
        let files = self.forget_all()?;
        remove_files(files)
    }

    /// Forgets every account's checkpoints and returns the files there are, which no slot
    /// names any more, for [`Cache::remove`] once the new ones are written. (Files created
    /// just after as many were removed make ext4 search past every inode freed in the last
    /// minute: a rebuild that removed its 1,000 files first spent 3.6 % of its time there.)
    pub fn forget_all(&self) -> Result<Vec<PathBuf>> {
        for t in [&self.index, &self.heads] {
            t.clear().map_err(storage)?;
        }
        files_in(&self.dir)
    }

    /// Removes files that [`Cache::forget_all`] returned.
    pub fn remove(&self, files: Vec<PathBuf>) -> Result<()> {
        remove_files(files)
    }
}

/// The checkpoint files in a directory.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |e: std::io::Error| Error::Io(format!("cannot list {}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|x| x == "ck") {
            files.push(path);
        }
    }
    Ok(files)
}

/// Removes files (those already gone are no error).
fn remove_files(files: Vec<PathBuf>) -> Result<()> {
    for path in files {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io(format!("cannot remove {}: {e}", path.display())))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Removes the files of a checkpoint directory.
fn clear_dir(dir: &Path) -> Result<()> {
    remove_files(files_in(dir)?)
}
