//! The personal-data vault (SPEC 10 v2): where personal values and their salts live, apart
//! from the log, and where deletion is real.
//!
//! sled cannot be that place: it is log-structured, and a removed key's bytes stay in its
//! segment files until they are rewritten (tests/personal.rs shows a removed value still in
//! sled's files). So the vault is a directory of plain files, `DATA/vault/<h>.jsonl` with `<h>`
//! the SHA-256 of the account id, one per account ([`super::account_file`]): new values are
//! appended to it (one `syncfs` for every file a batch touched); taking values out writes the
//! account's file anew without them (written, synced, renamed over the old one, the directory
//! synced; unlinked when no one is left): the old file's inode is freed, and no file under the
//! data directory holds the values any more.
//!
//! An erasure is all or nothing across a crash: `forget` first writes an intent file
//! (`<h>.forget`: the account, the person, the erasure event's id), then appends the
//! `personal_data_erased` event, then rewrites the vault file, then removes the intent. On the
//! next open, [`Vault::pending_erasures`] lists the intents left behind: the store finishes
//! each whose event is in the log and drops the others (nothing was erased).
//!
//! When the log is on a cluster (SPEC 11) the same account files and intents live in the
//! cluster instead ([`Shared`]: a replicated key-value bucket), so that every process reveals
//! and erases the same values; replaced revisions are erased there (JetStream's secure
//! delete: in the background after an add, all of them before an erasure returns). No file
//! under the process's own directory then holds a personal value.

use super::account_file::{self, AccountFile as File};
use super::{Committed, Entry};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How many accounts' entries a process keeps read (the cache starts again when full).
const CACHED_ACCOUNTS: usize = 256;

/// One account's entries, with the lookups the store and the views need.
#[derive(Debug, Default)]
pub struct AccountVault {
    pub persons: BTreeMap<String, Vec<Entry>>,
    /// Commitment → value.
    values: HashMap<String, String>,
    /// (event id, field) → salts (more than one only on a cluster, where two processes may
    /// have committed the same event with their own salts before one of them stored it).
    salts: HashMap<(String, String), Vec<Vec<u8>>>,
}

impl AccountVault {
    fn of(file: File) -> AccountVault {
        let mut v = AccountVault::default();
        for entries in file.persons.values() {
            for e in entries {
                if let (Some(c), Ok(salt)) = (e.commitment(), hex::decode(&e.salt)) {
                    v.values.insert(c, e.value.clone());
                    v.salts
                        .entry((e.event_id.clone(), e.field.clone()))
                        .or_default()
                        .push(salt);
                }
            }
        }
        v.persons = file.persons;
        v
    }

    /// The value a commitment stands for, if the vault holds it.
    pub fn value(&self, commitment: &str) -> Option<&str> {
        self.values.get(commitment).map(String::as_str)
    }

    /// The salts the vault holds for an event's personal field (one, but on a cluster).
    pub fn salts(&self, event_id: &str, field: &str) -> &[Vec<u8>] {
        self.salts
            .get(&(event_id.to_string(), field.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// Every entry, person by person.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.persons.values().flatten()
    }
}

/// An erasure begun and not yet known to be finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub account_id: String,
    pub person: String,
    pub event_id: String,
    /// When the erasure began: on a cluster another process must not end an intent whose
    /// `forget` may still be running (see `Store::finish_erasures`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begun_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A stored record: its bytes and revision.
pub type Record = (Vec<u8>, u64);

/// Where the vault's records live when the log is on a cluster: a key-value store with
/// revisions (keys `a.<h>` for account files, `f.<h>` for erasure intents).
pub trait Shared: Send + Sync + std::fmt::Debug {
    /// The current bytes and revision of a key, if it holds any.
    fn get(&self, key: &str) -> Result<Option<Record>>;
    /// Writes `bytes` if the key is still at `revision` (0: holds nothing); `None` when another
    /// process wrote it first. Any earlier revision is erased before this returns.
    fn put(&self, key: &str, bytes: &[u8], revision: u64) -> Result<Option<u64>>;
    /// Several keys' current bytes and revisions at once.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Record>>>;
    /// Writes several keys in one atomic step, each only if still at its revision (0: holds
    /// nothing); `false` (nothing written) when another process wrote one of them first.
    /// The replaced revisions are left for [`Shared::erase_revisions`].
    fn put_many(&self, writes: &[(String, Vec<u8>, u64)]) -> Result<bool>;
    /// Securely erases the given revisions (messages), possibly in the background; ones
    /// already gone are fine. Whatever is left is erased by [`Shared::scrub`].
    fn erase_revisions(&self, revisions: &[u64]) -> Result<()>;
    /// Removes a key and erases every revision it had.
    fn remove(&self, key: &str) -> Result<()>;
    /// Erases every revision of a key but the current one (what a crash between a write and
    /// the erasure of its predecessor may have left).
    fn scrub(&self, key: &str) -> Result<()>;
    /// The keys starting with `prefix`.
    fn keys(&self, prefix: &str) -> Result<Vec<String>>;
}

/// The vault of a store.
#[derive(Debug)]
pub struct Vault {
    dir: PathBuf,
    cache: Mutex<HashMap<String, Arc<AccountVault>>>,
    /// Held while a local file is changed: an append (the writer's thread) and a rewrite (an
    /// erasure, on the caller's) must not interleave, or the rewrite would drop lines appended
    /// after it read the file.
    changing: Mutex<()>,
    /// On a cluster: the records live there, not in `dir` (which then holds nothing).
    shared: Option<Arc<dyn Shared>>,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{what} {}: {e}", path.display()))
}

/// Syncs a directory (its entries: a rename or an unlink).
fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("cannot sync the vault directory", dir, e))
}

/// Makes every file written so far on the vault's filesystem durable (Linux `syncfs`; one
/// call for all of a batch's files instead of one `fsync` each).
fn sync_filesystem(dir: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir).map_err(|e| io("cannot open", dir, e))?;
    // SAFETY: `d` is an open file descriptor for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(io(
            "cannot sync the filesystem of",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Removes a file; one that is not there is fine.
fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("cannot remove", path, e)),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file, synced, renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| io("cannot write", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("cannot rename into", path, e))
}

impl Vault {
    /// The vault in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Vault> {
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create the vault", dir, e))?;
        Ok(Vault {
            dir: dir.to_path_buf(),
            cache: Mutex::new(HashMap::new()),
            changing: Mutex::new(()),
            shared: None,
        })
    }

    /// The vault of a store whose log is on a cluster: its records in `shared`.
    pub fn open_shared(dir: &Path, shared: Arc<dyn Shared>) -> Result<Vault> {
        let mut v = Vault::open(dir)?;
        v.shared = Some(shared);
        Ok(v)
    }

    /// A shared account file and its revision (0: none yet).
    fn shared_file(shared: &dyn Shared, account: &str) -> Result<(File, u64)> {
        let key = format!("a.{}", Vault::stem(account));
        match shared.get(&key)? {
            None => Ok((File::empty(account), 0)),
            Some((bytes, rev)) => {
                let file = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Corrupt(format!(
                        "the cluster's vault record {key} cannot be read: {e}"
                    ))
                })?;
                Ok((file, rev))
            }
        }
    }

    /// Changes a shared account file with `change` (which says whether it changed
    /// anything), again if another process wrote it meanwhile.
    fn update_shared(
        shared: &dyn Shared,
        account: &str,
        mut change: impl FnMut(&mut File) -> bool,
    ) -> Result<()> {
        let key = format!("a.{}", Vault::stem(account));
        loop {
            let (mut file, rev) = Vault::shared_file(shared, account)?;
            if !change(&mut file) {
                return Ok(());
            }
            let bytes = serde_json::to_vec(&file).expect("vault files serialize");
            if shared.put(&key, &bytes, rev)?.is_some() {
                return Ok(());
            }
        }
    }

    fn stem(account: &str) -> String {
        hex::encode(Sha256::digest(account.as_bytes()))
    }

    fn path(&self, account: &str) -> PathBuf {
        self.dir.join(format!("{}.jsonl", Vault::stem(account)))
    }

    /// Where a store written before the line layout kept the account's values.
    fn legacy_path(&self, account: &str) -> PathBuf {
        self.dir.join(format!("{}.json", Vault::stem(account)))
    }

    fn read(&self, account: &str) -> Result<File> {
        let path = self.path(account);
        match std::fs::read(&path) {
            Ok(bytes) => return File::parse(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot read", &path, e)),
        }
        let legacy = self.legacy_path(account);
        match std::fs::read(&legacy) {
            Ok(bytes) => File::parse_object(&bytes, &legacy),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::empty(account)),
            Err(e) => Err(io("cannot read", &legacy, e)),
        }
    }

    /// Writes an account's file anew (or removes it when it holds no one), and removes a
    /// file of the earlier layout. The caller syncs the directory.
    fn write(&self, account: &str, file: File) -> Result<()> {
        let path = self.path(account);
        if file.persons.is_empty() {
            remove_if_there(&path)?;
        } else {
            write_atomically(&path, &file.to_lines())?;
        }
        remove_if_there(&self.legacy_path(account))?;
        self.cache
            .lock()
            .expect("vault cache")
            .insert(account.to_string(), Arc::new(AccountVault::of(file)));
        Ok(())
    }

    /// Forgets every account's entries read so far.
    pub fn clear_cache(&self) {
        self.cache.lock().expect("vault cache").clear();
    }

    /// One account's entries (read from its file on first use; on a cluster, from the
    /// cluster at every call, so that an erasure by another process shows at once).
    pub fn account(&self, account: &str) -> Result<Arc<AccountVault>> {
        if let Some(shared) = &self.shared {
            let (file, _) = Vault::shared_file(shared.as_ref(), account)?;
            return Ok(Arc::new(AccountVault::of(file)));
        }
        // Read under the lock: an append drops the accounts it touched from the cache once
        // they are durable, and must not find a stale copy put back after that.
        let mut cache = self.cache.lock().expect("vault cache");
        if let Some(v) = cache.get(account) {
            return Ok(v.clone());
        }
        let v = Arc::new(AccountVault::of(self.read(account)?));
        if cache.len() >= CACHED_ACCOUNTS {
            cache.clear();
        }
        cache.insert(account.to_string(), v.clone());
        Ok(v)
    }

    /// Stores committed values (an append's, before its events are written): appended to
    /// each account's file, then one `syncfs` for all of them (an import touches many
    /// accounts per batch), and the directory synced if a file is new. Durable when this
    /// returns.
    pub fn add(&self, committed: &[Committed]) -> Result<()> {
        let mut by_account: BTreeMap<&str, Vec<&Committed>> = BTreeMap::new();
        for c in committed {
            by_account.entry(&c.account_id).or_default().push(c);
        }
        if by_account.is_empty() {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            // Every account's record read at once, written in one atomic batch, each expected
            // at the revision read (again, all of it, if another process wrote one meanwhile);
            // then the replaced revisions erased.
            let keys: Vec<String> = by_account
                .keys()
                .map(|a| format!("a.{}", Vault::stem(a)))
                .collect();
            loop {
                let current = shared.get_many(&keys)?;
                let mut writes = Vec::with_capacity(keys.len());
                for (((account, items), key), cur) in by_account.iter().zip(&keys).zip(current) {
                    let (mut file, rev) = match cur {
                        None => (
                            File {
                                account_id: account.to_string(),
                                persons: BTreeMap::new(),
                            },
                            0,
                        ),
                        Some((bytes, rev)) => (
                            serde_json::from_slice::<File>(&bytes).map_err(|e| {
                                Error::Corrupt(format!(
                                    "the cluster's vault record {key} cannot be read: {e}"
                                ))
                            })?,
                            rev,
                        ),
                    };
                    for c in items {
                        // Kept beside any other salt for the same field: another process may
                        // have stored the event with its own (see `Vault::retract`).
                        let list = file.persons.entry(c.person.clone()).or_default();
                        if !list.contains(&c.entry) {
                            list.push(c.entry.clone());
                        }
                    }
                    let bytes = serde_json::to_vec(&file).expect("vault files serialize");
                    writes.push((key.clone(), bytes, rev));
                }
                if shared.put_many(&writes)? {
                    let replaced: Vec<u64> =
                        writes.iter().map(|w| w.2).filter(|r| *r > 0).collect();
                    return shared.erase_revisions(&replaced);
                }
            }
        }
        let _changing = self.changing.lock().expect("vault writes");
        let mut created = false;
        for (account, items) in &by_account {
            // The earlier layout's file first: it is almost never there, so one `stat` per
            // account in the usual case.
            if self.legacy_path(account).exists() && !self.path(account).exists() {
                // A file of the earlier layout: written anew in lines, with the new values.
                let mut file = self.read(account)?;
                for c in items {
                    file.add(&c.person, c.entry.clone());
                }
                self.write(account, file)?;
                created = true;
                continue;
            }
            let mut lines = Vec::new();
            for c in items {
                lines.extend(account_file::entry_line(&c.person, &c.entry));
            }
            let path = self.path(account);
            created |= account_file::append(&path, account, &lines)
                .map_err(|e| io("cannot append to", &path, e))?;
        }
        sync_filesystem(&self.dir)?;
        if created {
            sync_dir(&self.dir)?;
        }
        let mut cache = self.cache.lock().expect("vault cache");
        for account in by_account.keys() {
            cache.remove(*account);
        }
        Ok(())
    }

    /// Takes back entries [`Vault::add`] stored for an append that was then refused as a
    /// whole (on a cluster: another process appended first), exactly those (same salt), so
    /// that no value is left for an event that is not in the log.
    pub fn retract(&self, committed: &[Committed]) -> Result<()> {
        let mut by_account: BTreeMap<&str, Vec<&Committed>> = BTreeMap::new();
        for c in committed {
            by_account.entry(&c.account_id).or_default().push(c);
        }
        for (account, items) in by_account {
            let drop_them = |file: &mut File| {
                let mut changed = false;
                for c in &items {
                    if let Some(list) = file.persons.get_mut(&c.person) {
                        let before = list.len();
                        list.retain(|e| e != &c.entry);
                        changed |= list.len() != before;
                        if list.is_empty() {
                            file.persons.remove(&c.person);
                        }
                    }
                }
                changed
            };
            match &self.shared {
                Some(shared) => {
                    Vault::update_shared(shared.as_ref(), account, drop_them)?;
                    shared.scrub(&format!("a.{}", Vault::stem(account)))?;
                }
                None => {
                    let _changing = self.changing.lock().expect("vault writes");
                    let mut file = self.read(account)?;
                    if drop_them(&mut file) {
                        self.write(account, file)?;
                        sync_dir(&self.dir)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes every entry of a person; durable when this returns.
    pub fn erase(&self, account: &str, person: &str) -> Result<()> {
        if let Some(shared) = &self.shared {
            Vault::update_shared(shared.as_ref(), account, |file| {
                file.persons.remove(person).is_some()
            })?;
            return shared.scrub(&format!("a.{}", Vault::stem(account)));
        }
        let _changing = self.changing.lock().expect("vault writes");
        let mut file = self.read(account)?;
        if file.persons.remove(person).is_some() {
            self.write(account, file)?;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn intent_stem(account: &str, person: &str) -> String {
        hex::encode(Sha256::digest(format!("{account}\0{person}").as_bytes()))
    }

    fn intent_path(&self, account: &str, person: &str) -> PathBuf {
        self.dir
            .join(format!("{}.forget", Vault::intent_stem(account, person)))
    }

    fn intent_key(&self, account: &str, person: &str) -> String {
        format!("f.{}", Vault::intent_stem(account, person))
    }

    /// Records that an erasure begins (before its event is appended).
    pub fn begin_erasure(&self, intent: &Intent) -> Result<()> {
        if let Some(shared) = &self.shared {
            let key = self.intent_key(&intent.account_id, &intent.person);
            let bytes = serde_json::to_vec(intent).expect("intents serialize");
            loop {
                let rev = shared.get(&key)?.map_or(0, |(_, r)| r);
                if shared.put(&key, &bytes, rev)?.is_some() {
                    return Ok(());
                }
            }
        }
        let path = self.intent_path(&intent.account_id, &intent.person);
        write_atomically(
            &path,
            &serde_json::to_vec(intent).expect("intents serialize"),
        )?;
        sync_dir(&self.dir)
    }

    /// Records that an erasure is over (finished, or never to happen).
    pub fn end_erasure(&self, intent: &Intent) -> Result<()> {
        if let Some(shared) = &self.shared {
            return shared.remove(&self.intent_key(&intent.account_id, &intent.person));
        }
        let path = self.intent_path(&intent.account_id, &intent.person);
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("cannot remove", &path, e)),
        }
    }

    /// The erasures a crash left unfinished.
    pub fn pending_erasures(&self) -> Result<Vec<Intent>> {
        let mut out = Vec::new();
        if let Some(shared) = &self.shared {
            for key in shared.keys("f.")? {
                if let Some((bytes, _)) = shared.get(&key)? {
                    match serde_json::from_slice(&bytes) {
                        Ok(i) => out.push(i),
                        Err(_) => shared.remove(&key)?,
                    }
                }
            }
            return Ok(out);
        }
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io("cannot list", &self.dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| io("cannot list", &self.dir, e))?.path();
            match path.extension().and_then(|x| x.to_str()) {
                Some("forget") => {
                    let bytes = std::fs::read(&path).map_err(|e| io("cannot read", &path, e))?;
                    match serde_json::from_slice(&bytes) {
                        Ok(i) => out.push(i),
                        // A torn intent: its event was never appended (the intent is synced
                        // first), so nothing was erased.
                        Err(_) => std::fs::remove_file(&path)
                            .map_err(|e| io("cannot remove", &path, e))?,
                    }
                }
                // A temporary file a crash left behind: the rename never happened.
                Some("tmp") => {
                    std::fs::remove_file(&path).map_err(|e| io("cannot remove", &path, e))?
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The accounts that have a vault file.
    pub fn accounts(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if let Some(shared) = &self.shared {
            for key in shared.keys("a.")? {
                if let Some((bytes, _)) = shared.get(&key)? {
                    let f: File = serde_json::from_slice(&bytes).map_err(|e| {
                        Error::Corrupt(format!(
                            "the cluster's vault record {key} cannot be read: {e}"
                        ))
                    })?;
                    if !f.persons.is_empty() {
                        out.push(f.account_id);
                    }
                }
            }
            out.sort();
            return Ok(out);
        }
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io("cannot list", &self.dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| io("cannot list", &self.dir, e))?.path();
            let ext = path.extension().and_then(|x| x.to_str());
            if matches!(ext, Some("jsonl" | "json")) {
                let bytes = std::fs::read(&path).map_err(|e| io("cannot read", &path, e))?;
                let f = match ext {
                    Some("jsonl") => File::parse(&bytes, &path)?,
                    _ => File::parse_object(&bytes, &path)?,
                };
                out.push(f.account_id);
            }
        }
        // An account whose file of the earlier layout was not yet removed appears twice.
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(account: &str, person: &str, event: &str, value: &str) -> Committed {
        Committed {
            account_id: account.into(),
            person: person.into(),
            entry: Entry {
                event_id: event.into(),
                field: "name".into(),
                value: value.into(),
                salt: "0a".into(),
            },
        }
    }

    #[test]
    fn a_file_of_the_earlier_layout_is_read_then_replaced_by_lines_and_erasure_leaves_neither() {
        let dir = std::env::temp_dir().join(format!("kamlog-vault-legacy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let vault = Vault::open(&dir).unwrap();
        let mut old = File::empty("acme");
        old.add("stakeholder:s-1", committed("acme", "", "e1", "Olaf").entry);
        let legacy = vault.legacy_path("acme");
        std::fs::write(&legacy, serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(vault.accounts().unwrap(), vec!["acme".to_string()]);
        assert_eq!(vault.account("acme").unwrap().persons, old.persons);

        vault
            .add(&[committed("acme", "member:m-1", "e2", "Anna")])
            .unwrap();
        assert!(!legacy.exists(), "the earlier file is replaced");
        let now = vault.account("acme").unwrap();
        assert_eq!(now.persons.len(), 2);
        assert_eq!(now.persons["member:m-1"][0].value, "Anna");
        assert_eq!(vault.accounts().unwrap(), vec!["acme".to_string()]);

        vault.erase("acme", "stakeholder:s-1").unwrap();
        vault.erase("acme", "member:m-1").unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "no file is left: {left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
