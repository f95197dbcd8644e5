//! The single writer thread: validation, position and version assignment, hash chaining, the
//! atomic sled batch, and the group-committed flush.
//!
//! Callers send a request and block on its reply. The thread takes every request already
//! waiting, applies each as its own atomic batch, and hands the group to the flusher thread,
//! which flushes (sled flush + fdatasync) once for everything applied so far and only then
//! replies: an acknowledged event is on disk. While a flush waits on the disk the writer
//! applies the next requests, so the next flush covers them all (group commit).
//!
//! The thread caches each touched account's strict [`AccountState`] and head so that
//! validation does not re-read the stream. A request that fails part-way evicts the accounts
//! it touched; they are rebuilt from the log on next use (the log is the truth).

use super::accept::{Ledger, Rules};
use super::*;
use crate::event::{format_recorded_at, NewEvent};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often, at most, the durability mark is rewritten while appends go on.
const MARK_EVERY: Duration = Duration::from_secs(1);

/// One event of an append, as stored (or as found, for a duplicate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedEvent {
    pub event_id: String,
    pub account_id: String,
    pub version: u64,
    pub position: u64,
    pub hash: String,
    /// True when the event was already stored with identical content (a no-op).
    pub duplicate: bool,
}

/// The result of an append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    pub events: Vec<AppendedEvent>,
}

impl AppendOutcome {
    /// Events newly stored by this append.
    pub fn stored(&self) -> usize {
        self.events.iter().filter(|e| !e.duplicate).count()
    }
    /// Events that were already stored (idempotent repeats).
    pub fn duplicates(&self) -> usize {
        self.events.iter().filter(|e| e.duplicate).count()
    }
}

struct Request {
    events: Vec<NewEvent>,
    expected: Option<u64>,
    reply: mpsc::SyncSender<Result<AppendOutcome>>,
}

pub(crate) struct WriterHandle {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl WriterHandle {
    pub(crate) fn append(
        &self,
        events: Vec<NewEvent>,
        expected: Option<u64>,
    ) -> Result<AppendOutcome> {
        let (reply, rx) = mpsc::sync_channel(1);
        let tx = self
            .tx
            .lock()
            .map_err(|_| Error::Storage("the writer lock is poisoned".into()))?
            .clone()
            .ok_or_else(|| Error::Storage("the store is closed".into()))?;
        tx.send(Request {
            events,
            expected,
            reply,
        })
        .map_err(|_| Error::Storage("the writer has stopped".into()))?;
        rx.recv()
            .map_err(|_| Error::Storage("the writer stopped before answering".into()))?
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut t) = self.thread.lock() {
            if let Some(t) = t.take() {
                let _ = t.join();
            }
        }
    }
}

pub(crate) fn spawn(
    db: sled::Db,
    log: sled::Tree,
    dir: PathBuf,
    sync: Durable,
    durable: Arc<AtomicU64>,
    marked: Option<u64>,
    vault: Arc<crate::personal::Vault>,
) -> Result<WriterHandle> {
    // What sled recovered may still sit only in the page cache (a process killed between its
    // write and our fdatasync): make it durable before counting it as such.
    sync.flush(&db)?;
    let last = last_position(&log)?;
    durable.store(last, Ordering::SeqCst);
    let poisoned: Arc<Mutex<Option<String>>> = Arc::default();
    let (flush_tx, flush_rx) = mpsc::channel::<Applied>();
    let mut flusher = Flusher {
        sync,
        db,
        log: log.clone(),
        dir,
        durable,
        poisoned: poisoned.clone(),
        marked,
        last_mark: Instant::now(),
    };
    let flusher = std::thread::Builder::new()
        .name("kamlog-flusher".into())
        .spawn(move || flusher.run(flush_rx))
        .map_err(|e| Error::Io(format!("cannot start the flusher thread: {e}")))?;
    let mut writer = Writer {
        flush_tx: Some(flush_tx),
        flusher: Some(flusher),
        next_position: last + 1,
        log,
        rules: Rules::default(),
        last_recorded: DateTime::<Utc>::MIN_UTC,
        ids: None,
        poisoned,
        vault,
    };
    // Keep recorded_at increasing across restarts too (the clock may have gone back).
    if let Some(bytes) = read_at(&writer.log, last)? {
        if let Ok(e) = crate::event::StoredEvent::decode(&bytes) {
            writer.last_recorded = e.recorded_at;
        }
    }
    let (tx, rx) = mpsc::channel::<Request>();
    let thread = std::thread::Builder::new()
        .name("kamlog-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| Error::Io(format!("cannot start the writer thread: {e}")))?;
    Ok(WriterHandle {
        tx: Mutex::new(Some(tx)),
        thread: Mutex::new(Some(thread)),
    })
}

/// A reply and the result it will carry once the flusher has made the group durable.
type Answer = (
    mpsc::SyncSender<Result<AppendOutcome>>,
    Result<AppendOutcome>,
);

/// One processed group, handed from the writer to the flusher.
struct Applied {
    answers: Vec<Answer>,
    /// Whether any request of the group stored events.
    wrote: bool,
    /// The last position applied when the group was done.
    through: u64,
    /// The requests' events, freed by the flusher (which mostly waits on the disk) rather
    /// than by the writer: on a bulk import, freeing them was a tenth of the writer's time.
    garbage: Vec<Vec<NewEvent>>,
}

/// The flusher thread: makes applied groups durable (sled flush + fdatasync) and only then
/// answers them, in order. While it waits on the disk the writer goes on applying the next
/// requests, which the next flush covers all at once: group commit as in a database's WAL.
struct Flusher {
    sync: Durable,
    db: sled::Db,
    log: sled::Tree,
    /// The data directory, where the durability mark is kept.
    dir: PathBuf,
    /// The last position made durable (shared with readers such as the bus publisher).
    durable: Arc<AtomicU64>,
    /// Set when a flush failed: durability can no longer be promised, so nothing more is
    /// acknowledged until the store is reopened.
    poisoned: Arc<Mutex<Option<String>>>,
    /// The position the mark last recorded (moved up to the durable position at the next
    /// chance, at the latest when the store closes), and when; `None`: never rewrite it.
    marked: Option<u64>,
    last_mark: Instant,
}

impl Flusher {
    fn run(&mut self, rx: mpsc::Receiver<Applied>) {
        while let Ok(first) = rx.recv() {
            let mut items = vec![first];
            while let Ok(more) = rx.try_recv() {
                items.push(more);
            }
            let wrote = items.iter().any(|i| i.wrote);
            let through = items.iter().map(|i| i.through).max().unwrap_or(0);
            if wrote {
                let failed = poison_reason(&self.poisoned)
                    .map(|why| format!("an earlier flush failed ({why})"))
                    .or_else(|| match self.sync.flush(&self.db) {
                        Ok(()) => {
                            self.durable.store(through, Ordering::SeqCst);
                            None
                        }
                        Err(e) => {
                            let why = match e {
                                Error::Storage(m) => m,
                                other => other.to_string(),
                            };
                            if let Ok(mut p) = self.poisoned.lock() {
                                *p = Some(why.clone());
                            }
                            Some(why)
                        }
                    });
                if let Some(why) = failed {
                    for (_, res) in items.iter_mut().flat_map(|i| i.answers.iter_mut()) {
                        if res.as_ref().is_ok_and(|o| o.stored() > 0) {
                            *res = Err(Error::Storage(format!(
                                "the events could not be made durable: {why}"
                            )));
                        }
                    }
                }
            }
            // Every reply goes out before anything is freed.
            let mut garbage = Vec::new();
            for item in items {
                for (reply, res) in item.answers {
                    let _ = reply.send(res);
                }
                garbage.push(item.garbage);
            }
            drop(garbage);
            if self.last_mark.elapsed() >= MARK_EVERY {
                self.write_mark();
            }
        }
        // The store is closing: everything acknowledged has been flushed.
        self.write_mark();
    }

    /// Records the last durable position in the mark file (see `mark`), unless nothing new
    /// has been made durable since the last time.
    fn write_mark(&mut self) {
        let position = self.durable.load(Ordering::SeqCst);
        if self.marked.is_none_or(|m| position <= m) {
            return;
        }
        self.last_mark = Instant::now();
        let Ok(Some(bytes)) = read_at(&self.log, position) else {
            return;
        };
        let Ok(e) = crate::event::StoredEvent::decode(&bytes) else {
            return;
        };
        // A mark that cannot be written (a full disk, say) only makes the check on open
        // weaker; the events themselves are durable, so the append is not failed for it.
        if super::mark::write(
            &self.dir,
            &super::mark::Mark {
                position,
                hash: e.hash,
            },
        )
        .is_ok()
        {
            self.marked = Some(position);
        }
    }
}

/// Why appends are refused, if a flush has failed (a poisoned lock counts as failed).
fn poison_reason(poisoned: &Mutex<Option<String>>) -> Option<String> {
    match poisoned.lock() {
        Ok(p) => p.clone(),
        Err(_) => Some("the flusher lock is poisoned".into()),
    }
}

struct Writer {
    /// Processed groups go to the flusher, which answers them once durable.
    flush_tx: Option<mpsc::Sender<Applied>>,
    flusher: Option<std::thread::JoinHandle<()>>,
    log: sled::Tree,
    next_position: u64,
    /// The rules of an append, with their cache of account states.
    rules: Rules,
    last_recorded: DateTime<Utc>,
    /// Event id → position of every stored event, loaded on the first append.
    ids: Option<IdMap>,
    /// Set by the flusher when a flush failed (see [`Flusher`]).
    poisoned: Arc<Mutex<Option<String>>>,
    /// Where new events' personal values go, before the events.
    vault: Arc<crate::personal::Vault>,
}

/// What the rules read from the sled log.
struct SledLedger<'a> {
    log: &'a sled::Tree,
    ids: &'a mut Option<IdMap>,
    vault: &'a crate::personal::Vault,
}

impl Ledger for SledLedger<'_> {
    fn version(&mut self, account: &str) -> Result<u64> {
        match self.log.get(head_key(account)).map_err(storage)? {
            None => Ok(0),
            Some(h) => Ok(decode_head(account, &h)?.version),
        }
    }

    fn find(&mut self, event_id: &str) -> Result<Option<(u64, Value)>> {
        if self.ids.is_none() {
            *self.ids = Some(load_ids(self.log)?);
        }
        let ids = self.ids.as_ref().expect("loaded");
        let Some(&p) = ids.get(&id_bytes(event_id)) else {
            return Ok(None);
        };
        let bytes = read_at(self.log, p)?.ok_or_else(|| {
            Error::Corrupt(format!("event id index points at missing position {p}"))
        })?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Corrupt(format!("event at position {p} cannot be read: {e}")))?;
        Ok(Some((p, v)))
    }

    fn events(&mut self, account: &str) -> Result<Vec<crate::event::StoredEvent>> {
        read_account(self.log, account)
    }

    fn salt(&mut self, account: &str, event_id: &str, field: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .vault
            .account(account)?
            .salt(event_id, field)
            .map(<[u8]>::to_vec))
    }
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            let mut group = vec![first];
            while group.len() < 4096 {
                match rx.try_recv() {
                    Ok(r) => group.push(r),
                    Err(_) => break,
                }
            }
            // recorded_at strictly increases from one group to the next, so that a known-at
            // time separates what was known before a group from the group itself.
            let now = Utc::now().max(self.last_recorded + chrono::Duration::microseconds(1));
            self.last_recorded = now;
            let recorded_at = format_recorded_at(now);
            let mut answers = Vec::with_capacity(group.len());
            let mut garbage = Vec::with_capacity(group.len());
            let mut wrote = false;
            for req in group {
                let res = match poison_reason(&self.poisoned) {
                    Some(why) => {
                        self.rules.forget_all();
                        Err(Error::Storage(format!(
                            "an earlier flush failed ({why}); reopen the store"
                        )))
                    }
                    None => self.process(&req, &recorded_at),
                };
                wrote |= res.as_ref().is_ok_and(|o| o.stored() > 0);
                answers.push((req.reply, res));
                garbage.push(req.events);
            }
            let applied = Applied {
                answers,
                wrote,
                through: self.next_position - 1,
                garbage,
            };
            if let Some(tx) = &self.flush_tx {
                if let Err(mpsc::SendError(lost)) = tx.send(applied) {
                    for (reply, _) in lost.answers {
                        let _ = reply.send(Err(Error::Storage(
                            "the flusher has stopped; reopen the store".into(),
                        )));
                    }
                }
            }
        }
        // The store is closing: let the flusher finish what it holds.
        self.flush_tx.take();
        if let Some(f) = self.flusher.take() {
            let _ = f.join();
        }
    }

    /// Checks a request against the rules and writes what passes as one atomic sled batch:
    /// pages of consecutive events, each account's run of new versions, the new heads and
    /// the event-id pages.
    fn process(&mut self, req: &Request, recorded_at: &str) -> Result<AppendOutcome> {
        let mut ledger = SledLedger {
            log: &self.log,
            ids: &mut self.ids,
            vault: &self.vault,
        };
        let accepted = self.rules.accept(
            &mut ledger,
            &req.events,
            req.expected,
            self.next_position,
            recorded_at,
        )?;
        let Some(last) = accepted.sealed.last() else {
            return Ok(accepted.outcome);
        };
        let through = last.position;
        let mut batch = sled::Batch::default();
        let mut page: Vec<&[u8]> = Vec::new();
        let mut page_bytes = 0usize;
        let mut page_first = self.next_position;
        let mut page_ids: Vec<u8> = Vec::new();
        let mut new_ids: Vec<(u128, u64)> = Vec::with_capacity(accepted.sealed.len());
        let mut runs: HashMap<&str, (u64, Vec<u8>)> = HashMap::new();
        let mut heads: HashMap<&str, (u64, u64, &str)> = HashMap::new();
        for s in &accepted.sealed {
            let id128 = id_bytes(&req.events[s.index].event_id);
            page_bytes += s.event.json.len();
            page.push(&s.event.json);
            page_ids.extend_from_slice(&id128.to_be_bytes());
            new_ids.push((id128, s.position));
            if page.len() == PAGE_EVENTS || page_bytes >= PAGE_BYTES {
                batch.insert(&event_key(page_first), encode_page(&page));
                batch.insert(&ids_key(page_first), std::mem::take(&mut page_ids));
                page.clear();
                page_bytes = 0;
                page_first = s.position + 1;
            }
            let run = runs
                .entry(s.account.as_str())
                .or_insert_with(|| (s.version, Vec::new()));
            run.1.extend_from_slice(&s.position.to_be_bytes());
            heads.insert(s.account.as_str(), (s.version, s.position, &s.event.hash));
        }
        if !page.is_empty() {
            batch.insert(&event_key(page_first), encode_page(&page));
            batch.insert(&ids_key(page_first), page_ids);
        }
        for (account, (first_version, positions)) in runs {
            batch.insert(stream_key(account, first_version), positions);
        }
        for (account, (version, position, hash)) in heads {
            batch.insert(head_key(account), encode_head(version, position, hash));
        }
        // The personal values first, durable: an event in the log never lacks its values
        // (a crash in between leaves values whose event was never acknowledged, harmless).
        if let Err(e) = self.vault.add(&accepted.personal) {
            self.rules.forget_all();
            return Err(e);
        }
        if let Err(e) = self.log.apply_batch(batch) {
            self.rules.forget_all();
            return Err(storage(e));
        }
        self.next_position = through + 1;
        if let Some(ids) = self.ids.as_mut() {
            ids.extend(new_ids);
        }
        Ok(accepted.outcome)
    }
}
