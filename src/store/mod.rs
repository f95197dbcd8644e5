//! The event store: an append-only log of sealed envelopes on sled.
//!
//! Durability and atomicity, the promises this module makes:
//! - **One writer.** All appends go through one thread ([`writer`]), which assigns gap-free
//!   global `position`s and per-account `version`s, validates each event with the strict fold
//!   of [`crate::model`], and builds the hash chain.
//! - **Atomic batches.** One append request (one account or several) becomes one
//!   `sled::Batch` on one tree, which sled applies atomically, also across a crash: after a
//!   restart either every event of the request is there, or none is.
//! - **Durable before acknowledged.** The writer calls `flush` after applying a group of
//!   requests and only then answers them. Requests that arrive while a flush runs wait and
//!   share the next flush (group commit), so concurrent appenders pay for one fsync together.
//! - **Readers never block the writer**: they read sled directly.
//!
//! The key layout of the `log` tree (pages of events, runs of stream positions, the event-id
//! index and the heads) is described in [`layout`].
//!
//! Other trees (`meta`, and those of later modules such as the query layer's checkpoints and the bus checkpoint)
//! hold caches and progress markers, never the truth.

pub mod accept;
mod format;
pub mod jetstream;
mod layout;
mod lock;
mod segment;
pub mod tail;
mod writer;

pub use layout::PageIndex;
pub(crate) use layout::*;
pub(crate) use writer::release_deferred;

pub use writer::{AppendOutcome, AppendedEvent};

use crate::error::{Error, Result};
use crate::event::{StoredEvent, GENESIS_HASH};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest number of events in one append request.
pub const MAX_BATCH_EVENTS: usize = 100_000;

/// The head of an account's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub account_id: String,
    pub version: u64,
    pub position: u64,
    pub hash: String,
}

/// The sled-backed event store. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    /// sled's log file, opened again only to `fdatasync` it after a flush (see [`Durable`]).
    durable: Durable,
    /// The last position made durable by the writer's flusher.
    durable_position: Arc<std::sync::atomic::AtomicU64>,
    log: Log,
    writer: writer::WriterHandle,
    dir: PathBuf,
    vault: Arc<crate::personal::Vault>,
    /// The cluster holding the log, when this store's sled tree is only a mirror of it.
    cluster: Option<Arc<jetstream::Cluster>>,
    /// Where an append interrupted by a power cut begins, found (not cut) when the store was
    /// opened for `verify`.
    interrupted: Option<u64>,
    /// Where the append that a power cut interrupted began, when opening dropped it.
    dropped: Option<u64>,
    _lock: lock::DirLock,
    /// A directory removed when the store closes (the throw-away mirror of `verify`);
    /// declared last so that it goes after everything that uses it.
    _scratch: Option<mirror::Scratch>,
}

pub(crate) fn encode_head(version: u64, position: u64, hash: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(80);
    v.extend_from_slice(&version.to_be_bytes());
    v.extend_from_slice(&position.to_be_bytes());
    v.extend_from_slice(hash.as_bytes());
    v
}

pub(crate) fn decode_head(account: &str, bytes: &[u8]) -> Result<Head> {
    if bytes.len() != 80 {
        return Err(Error::Corrupt(format!(
            "head of account {account} is {} bytes, expected 80",
            bytes.len()
        )));
    }
    Ok(Head {
        account_id: account.to_string(),
        version: u64::from_be_bytes(bytes[0..8].try_into().expect("8 bytes")),
        position: u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes")),
        hash: String::from_utf8_lossy(&bytes[16..]).into_owned(),
    })
}

impl Store {
    /// Opens (creating if needed) the store in `dir`. Fails with [`Error::InUse`] when another
    /// process holds it, and with [`Error::Corrupt`] when the log no longer holds what the
    /// durability mark recorded (see `mark`).
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(dir.as_ref(), true)
    }

    /// Whether `dir` holds a store (its sled files, or the durability mark of one whose files
    /// are gone, which opening then reports as damaged).
    pub fn exists(dir: impl AsRef<Path>) -> bool {
        let dir = dir.as_ref();
        dir.join("sled").join("db").exists() || dir.join(mark::FILE).exists()
    }

    /// Opens the store for [`Store::verify`], which compares the log with the durability mark
    /// itself, after its own checks, so as to name the first break exactly. A store opened
    /// this way never rewrites the mark.
    pub fn open_for_verify(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(dir.as_ref(), false)
    }

    /// Opens the store whose log is on a NATS JetStream cluster (SPEC 11), with `cache` as
    /// this process's own directory for the mirror of the log, the checkpoints and the vault.
    /// `create` makes the log stream if the cluster has none (a command that only reads
    /// fails instead). A mirror that no longer matches the cluster's log is dropped and
    /// read again.
    pub fn open_cluster(
        cache: impl AsRef<Path>,
        config: jetstream::ClusterConfig,
        create: bool,
    ) -> Result<Store> {
        let cluster = Arc::new(jetstream::Cluster::connect(config)?);
        if !cluster.exists()? {
            if !create {
                return Err(Error::Io(format!(
                    "no store on the cluster at {}: the stream {} does not exist; a store is made by the first `append` or `import`",
                    cluster.config().connection,
                    cluster.config().stream()
                )));
            }
            cluster.create()?;
        }
        let mirror_dir = cluster.config().mirror_dir(cache.as_ref());
        match Store::open_inner(&mirror_dir, false, Some(cluster.clone())) {
            Err(e) if mirror::is_stale(&e) => {
                mirror::discard(&mirror_dir)?;
                Store::open_inner(&mirror_dir, false, Some(cluster))
            }
            other => other,
        }
    }

    /// Opens a cluster's log into a fresh mirror in a temporary directory, removed when the
    /// store closes: what `verify` reads is then the cluster's bytes, not a cache.
    pub fn open_cluster_fresh(config: jetstream::ClusterConfig) -> Result<Store> {
        let scratch = mirror::Scratch::new()?;
        let store = Store::open_cluster(scratch.path(), config, false)?;
        let mut store = store;
        match Arc::get_mut(&mut store.inner) {
            Some(inner) => inner._scratch = Some(scratch),
            None => unreachable!("a store just opened has one owner"),
        }
        Ok(store)
    }

    /// The cluster holding the log, if the log is not in sled.
    pub fn cluster(&self) -> Option<&jetstream::Cluster> {
        self.inner.cluster.as_deref()
    }

    /// The most events one append may hold on this store.
    pub fn max_batch(&self) -> usize {
        match self.inner.cluster {
            Some(_) => jetstream::MAX_ATOMIC_EVENTS,
            None => MAX_BATCH_EVENTS,
        }
    }

    fn open_with(dir: &Path, check_mark: bool) -> Result<Store> {
        Store::open_inner(dir, check_mark, None)
    }

    fn open_inner(
        dir: &Path,
        check_mark: bool,
        cluster: Option<Arc<jetstream::Cluster>>,
    ) -> Result<Store> {
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::Io(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let lock = lock::DirLock::acquire(&dir)?;
        space::before_open(&dir)?;
        let sled_dir = dir.join("sled");
        // A store with a durability mark whose sled files are gone is damaged; opening sled
        // would quietly create an empty one in their place.
        if !sled_dir.join("db").exists() {
            mark::check_missing(&dir)?;
        }
        let db = open_sled(&sled_dir)?;
        let tree = db
            .open_tree("log")
            .map_err(|e| Error::Storage(format!("cannot open the log tree: {e}")))?;
        // Whether opening may change the store: not for `verify`, which reports what it
        // finds; a mirror of a cluster always (it refills from the cluster).
        let repair = check_mark || cluster.is_some();
        // A store of a format this kamlog refuses gets no segment file.
        format::check(&db, &tree, repair)?;
        let segment = Arc::new(segment::Segment::open(&dir)?);
        let durable = Durable::open(&sled_dir, segment.clone())?;
        let log = Log { tree, segment };
        // The position the mark records (0 without one), for the flusher to move it up from;
        // none when the mark is not checked (`verify`), which then never rewrites it: a mark
        // that disagrees with the log is evidence, not something to overwrite. Checked before
        // anything is cut below: a log that lost durable events is refused untouched.
        let marked = if check_mark {
            Some(mark::check(&dir, &log)?.map_or(0, |m| m.position))
        } else {
            None
        };
        // An append interrupted before its pages reached the disk is dropped (see `tail`);
        // `verify` changes nothing and reports what it finds. A mirror of a cluster is checked
        // whole and refills from the cluster.
        // (`verify` reads the mark itself, and names a damaged one.)
        let mark_position = match marked {
            Some(m) => Some(m),
            None if cluster.is_none() => mark::read(&dir).ok().flatten().map(|m| m.position),
            None => None,
        };
        let tail = tail::recover(&db, &log, mark_position.filter(|&m| m > 0), repair)?;
        let vault = Arc::new(match &cluster {
            // On a cluster the vault's records are there, shared by every process.
            Some(c) => crate::personal::Vault::open_shared(
                &dir.join("vault"),
                Arc::new(cluster_vault::ClusterVault::open(c.clone())?),
            )?,
            None => crate::personal::Vault::open(&dir.join("vault"))?,
        });
        // (A mirror's cut is refilled from the cluster: nothing to tell.)
        let dropped = tail.cut.filter(|_| check_mark && cluster.is_none());
        let durable_position = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let writer = writer::spawn(writer::Parts {
            db: db.clone(),
            log: log.clone(),
            segment_end: tail.end,
            dir: dir.clone(),
            sync: durable.try_clone()?,
            durable: durable_position.clone(),
            marked,
            vault: vault.clone(),
            cluster: cluster.clone(),
        })?;
        let store = Store {
            inner: Arc::new(Inner {
                db,
                durable,
                durable_position,
                log,
                writer,
                dir,
                vault,
                cluster,
                interrupted: tail.cut.filter(|_| !repair),
                dropped,
                _lock: lock,
                _scratch: None,
            }),
        };
        store.finish_erasures()?;
        Ok(store)
    }

    /// The first position of an append that opening the store dropped: a power cut had left
    /// its pages unwritten, and it was never acknowledged (see `tail`).
    pub fn dropped_on_open(&self) -> Option<u64> {
        self.inner.dropped
    }

    /// Finishes the erasures a crash interrupted (SPEC 10: all or nothing): one whose
    /// `personal_data_erased` is in the log has its vault entries removed now; one whose event
    /// never made it erased nothing and is dropped.
    fn finish_erasures(&self) -> Result<()> {
        let vault = self.vault();
        for intent in vault.pending_erasures()? {
            let stored = self
                .account_events(&intent.account_id)?
                .iter()
                .any(|e| e.event_id == intent.event_id);
            if stored {
                vault.erase(&intent.account_id, &intent.person)?;
            } else if self.inner.cluster.is_some()
                && intent.begun_at.is_some_and(|t| {
                    chrono::Utc::now() - t
                        < chrono::Duration::seconds(
                            3 * jetstream::UNAVAILABLE_AFTER.as_secs() as i64,
                        )
                })
            {
                // Another process's `forget` may still be appending its event: leave it.
                continue;
            }
            vault.end_erasure(&intent)?;
        }
        Ok(())
    }

    /// The personal-data vault (SPEC 10).
    pub fn vault(&self) -> &crate::personal::Vault {
        &self.inner.vault
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The sled database, for modules that keep their own trees (checkpoints, the bus checkpoint).
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    /// Appends a batch atomically: every event is stored, or none. Returns once the events are
    /// durable on disk. `expected_version` requires all events to belong to one account whose
    /// current version it must equal.
    pub fn append(
        &self,
        events: Vec<crate::event::NewEvent>,
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome> {
        space::before_append(&self.inner.dir, events.len())?;
        if self.inner.cluster.is_some() && events.len() > jetstream::MAX_ATOMIC_EVENTS {
            return Err(Error::Usage(format!(
                "an append to a cluster holds at most {} events (JetStream's atomic batch limit); this one has {}: use `kamlog import`, which batches within it",
                jetstream::MAX_ATOMIC_EVENTS,
                events.len()
            )));
        }
        self.inner.writer.append(events, expected_version)
    }

    /// Drops what the writer and the vault keep cached for appends (every account's state,
    /// every event id, vault entries): after a large import, before other work needs the
    /// memory. They are read again when next needed.
    pub fn release_caches(&self) -> Result<()> {
        self.inner.writer.release_caches()?;
        self.inner.vault.clear_cache();
        Ok(())
    }

    /// The last global position (0 for an empty store).
    pub fn last_position(&self) -> Result<u64> {
        last_position(&self.inner.log)
    }

    /// The last position known durable (flushed and synced). An event above it may be
    /// readable for a moment before its append is acknowledged; what is published or
    /// otherwise handed on must not go past this.
    pub fn durable_position(&self) -> u64 {
        self.inner
            .durable_position
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The stored envelope bytes at a position.
    pub fn raw_at(&self, position: u64) -> Result<Option<Vec<u8>>> {
        read_at(&self.inner.log, position)
    }

    /// Calls `f` with each stored envelope from `position` on, in position order, without
    /// copying it out of its page. Stops at the first error `f` returns.
    pub fn scan_from<F>(&self, position: u64, f: F) -> Result<()>
    where
        F: FnMut(u64, &[u8]) -> Result<()>,
    {
        self.scan_between(position, u64::MAX, f)
    }

    /// [`Store::scan_from`] for the positions `from..=to` only.
    pub fn scan_between<F>(&self, from: u64, to: u64, mut f: F) -> Result<()>
    where
        F: FnMut(u64, &[u8]) -> Result<()>,
    {
        for r in pages_from(&self.inner.log, from) {
            let (first, bytes) = r?;
            if first > to {
                break;
            }
            let page = Page::new(first, bytes)?;
            for i in 0..page.len() as u64 {
                let p = first + i;
                if p >= from && p <= to {
                    f(p, page.get(p).expect("within the page"))?;
                }
            }
        }
        Ok(())
    }

    /// Where each page of the log lies now, for repeated [`Store::scan_positions`].
    pub fn page_index(&self) -> Result<PageIndex> {
        page_index(&self.inner.log)
    }

    /// Calls `f` with the stored envelope at each of `positions` (ascending, as an account's
    /// stream gives them; all within `index`), reading only the pages that hold one of them.
    pub fn scan_positions<F>(&self, index: &PageIndex, positions: &[u64], f: F) -> Result<()>
    where
        F: FnMut(u64, &[u8]) -> Result<()>,
    {
        scan_positions(&self.inner.log, index, positions, f)
    }

    /// Stored envelopes from a position on, in position order (copied; see [`Store::scan_from`]
    /// for the zero-copy form).
    pub fn raw_from(&self, position: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_ {
        pages_from(&self.inner.log, position).flat_map(move |r| {
            let items: Vec<Result<(u64, Vec<u8>)>> =
                match r.and_then(|(first, bytes)| Page::new(first, bytes)) {
                    Err(e) => vec![Err(e)],
                    Ok(page) => (0..page.len() as u64)
                        .map(|i| page.first + i)
                        .filter(|p| *p >= position)
                        .map(|p| Ok((p, page.get(p).expect("within the page").to_vec())))
                        .collect(),
                };
            items
        })
    }

    /// Decoded events from a position on.
    pub fn events_from(&self, position: u64) -> impl Iterator<Item = Result<StoredEvent>> + '_ {
        self.raw_from(position).map(|r| {
            let (p, bytes) = r?;
            StoredEvent::decode(&bytes)
                .map_err(|e| Error::Corrupt(format!("event at position {p} cannot be read: {e}")))
        })
    }

    /// The heads of all accounts, sorted by account id.
    pub fn heads(&self) -> Result<Vec<Head>> {
        let mut out = Vec::new();
        for r in self.inner.log.tree.scan_prefix([b'h']) {
            let (k, v) = r.map_err(storage)?;
            let account = String::from_utf8_lossy(&k[1..]).into_owned();
            out.push(decode_head(&account, &v)?);
        }
        Ok(out)
    }

    /// The head of one account, if it exists.
    pub fn head(&self, account: &str) -> Result<Option<Head>> {
        match self
            .inner
            .log
            .tree
            .get(head_key(account))
            .map_err(storage)?
        {
            None => Ok(None),
            Some(v) => Ok(Some(decode_head(account, &v)?)),
        }
    }

    /// Positions of an account's events, in version order.
    pub fn account_positions(&self, account: &str) -> Result<Vec<u64>> {
        stream_positions(&self.inner.log.tree, account)
    }

    /// An account's events in version order.
    pub fn account_events(&self, account: &str) -> Result<Vec<StoredEvent>> {
        read_account(&self.inner.log, account)
    }

    /// Number of entries of each index, for `verify`.
    pub(crate) fn log(&self) -> &Log {
        &self.inner.log
    }

    /// Forces everything written so far to disk.
    pub fn flush(&self) -> Result<()> {
        self.inner.durable.flush(&self.inner.db)
    }
}

/// Making sled's writes durable.
///
/// sled 0.34's `flush` writes its buffers and, on Linux, waits with `sync_file_range`, which
/// survives a killed process but commits neither the file's metadata (its growing length) nor
/// the drive's write cache: a power cut can still lose what was "flushed" (only sled's
/// background thread calls `fsync`, every 500 ms). So after every flush kamlog also calls
/// `fdatasync` on the log file (through its own descriptor: it acts on the file, not the
/// descriptor), and only then acknowledges. The segment file holding the pages is synced
/// first, so that a page is on disk before any sled record that points at it can be.
pub(crate) struct Durable {
    file: std::fs::File,
    segment: Arc<segment::Segment>,
}

impl Durable {
    fn open(sled_dir: &Path, segment: Arc<segment::Segment>) -> Result<Durable> {
        let path = sled_dir.join("db");
        let file = std::fs::File::open(&path)
            .map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))?;
        // A new store's files must not vanish with their directory entries: sync the sled
        // directory and the data directory once, at open.
        for dir in [Some(sled_dir), sled_dir.parent()].into_iter().flatten() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::Io(format!("cannot sync {}: {e}", dir.display())))?;
        }
        Ok(Durable { file, segment })
    }

    pub(crate) fn try_clone(&self) -> Result<Durable> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| Error::Io(format!("cannot duplicate the log file handle: {e}")))?;
        Ok(Durable {
            file,
            segment: self.segment.clone(),
        })
    }

    /// The segment file's `fdatasync`, sled's flush, then sled's `fdatasync`.
    pub(crate) fn flush(&self, db: &sled::Db) -> Result<()> {
        self.segment.sync()?;
        db.flush().map_err(storage)?;
        writer::release_deferred();
        self.file
            .sync_data()
            .map_err(|e| Error::Storage(format!("I/O error: {e}")))
    }
}

pub(crate) fn storage(e: sled::Error) -> Error {
    Error::Storage(sled_error_text(&e))
}

/// sled's error as a reader would want it: an I/O error by its OS message ("No space left
/// on device (os error 28)") rather than its debug form.
pub(crate) fn sled_error_text(e: &sled::Error) -> String {
    match e {
        // sled keeps the OS error only in its debug text; its kind reads better.
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            "I/O error: no space left on device (the disk is full)".to_string()
        }
        sled::Error::Io(io) if io.raw_os_error().is_none() => {
            format!("I/O error: {}", io.kind())
        }
        sled::Error::Io(io) => format!("I/O error: {io}"),
        other => other.to_string(),
    }
}

/// The last global position in the log (0 when empty).
pub(crate) fn last_position(log: &Log) -> Result<u64> {
    match log.tree.scan_prefix([b'e']).next_back() {
        None => Ok(0),
        Some(r) => {
            let (k, v) = r.map_err(storage)?;
            let first = be_u64(&k[1..])?;
            Ok(first + page_count(first, &v)? - 1)
        }
    }
}

/// Genesis hash re-exported for the verifier.
pub(crate) const GENESIS: &str = GENESIS_HASH;

/// sled's log segment size. sled writes through in-memory buffers of this size (a dozen
/// may wait for the disk during an import), and values over a quarter of it go to separate
/// blob files. The events' pages and the checkpoints' bodies are not in sled (see `segment`
/// and the query layer's cache): what is, is small. 2 MiB rather than 8: a 1M-event import peaks ~70 MiB lower, no slower.
const SEGMENT_SIZE: usize = 2 << 20;
/// sled's page cache (its default is 1 GiB). sled holds only pointers, indexes, heads and
/// the checkpoints' index; they are read far less than the pages.
const CACHE_BYTES: u64 = 64 << 20;

/// The segment size an existing sled directory was made with (sled refuses to open it with
/// another; stores made before the 2 MiB segments used 8 MiB), read from sled's `conf` file
/// (`segment_size: N` on a line of its own).
fn existing_segment_size(path: &Path) -> Option<usize> {
    let conf = std::fs::read(path.join("conf")).ok()?;
    let text = String::from_utf8_lossy(&conf);
    text.lines()
        .find_map(|l| l.strip_prefix("segment_size: "))
        .and_then(|n| n.trim().parse().ok())
}

fn open_sled(path: &Path) -> Result<sled::Db> {
    // sled panics on some corrupted files instead of returning an error; catch that so that a
    // damaged store gives a clear message rather than a crash.
    let p = path.to_path_buf();
    let segment_size = existing_segment_size(path).unwrap_or(SEGMENT_SIZE);
    let res = std::panic::catch_unwind(move || {
        sled::Config::new()
            .path(&p)
            .segment_size(segment_size)
            .cache_capacity(CACHE_BYTES)
            .open()
    });
    match res {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(Error::Storage(format!(
            "cannot open the store at {}: {}",
            path.display(),
            sled_error_text(&e)
        ))),
        Err(_) => Err(Error::Storage(format!(
            "cannot open the store at {}: its files are damaged (sled panicked while recovering)",
            path.display()
        ))),
    }
}

mod cluster_vault;
pub(crate) mod mark;
mod mirror;
pub mod space;
pub mod verify;
pub mod verify_export;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sled_directory_opens_with_the_segment_size_it_was_made_with() {
        let dir = std::env::temp_dir().join(format!("kamlog-sled-size-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (old, new) = (dir.join("old"), dir.join("new"));
        {
            // What kamlog wrote before the 2 MiB segments.
            let db = sled::Config::new()
                .path(&old)
                .segment_size(8 << 20)
                .open()
                .unwrap();
            db.insert(b"k", b"v".as_slice()).unwrap();
            db.flush().unwrap();
        }
        assert_eq!(existing_segment_size(&old), Some(8 << 20));
        let db = open_sled(&old).unwrap();
        assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        drop(db);
        assert_eq!(existing_segment_size(&new), None);
        drop(open_sled(&new).unwrap());
        assert_eq!(existing_segment_size(&new), Some(SEGMENT_SIZE));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
