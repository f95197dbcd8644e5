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
use super::jetstream::Cluster;
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

/// How often a writer on a cluster reads what other processes appended, when idle.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// Events read from a cluster per mirror batch.
const CATCH_UP_CHUNK: u64 = 10_000;

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
    /// Once the request's group is written, drop the caches the rules keep (every account's
    /// state and the event-id index); they are read again when next needed.
    release: bool,
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
        self.send(events, expected, false)
    }

    /// Has the writer drop its caches (after a large import: they hold every account's
    /// state and every event id, and the next appends may be few).
    pub(crate) fn release_caches(&self) -> Result<()> {
        self.send(Vec::new(), None, true).map(|_| ())
    }

    fn send(
        &self,
        events: Vec<NewEvent>,
        expected: Option<u64>,
        release: bool,
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
            release,
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

/// What the writer works on.
pub(crate) struct Parts {
    pub db: sled::Db,
    pub log: Log,
    /// Where the segment file's next page goes.
    pub segment_end: u64,
    /// The data directory (for the durability mark).
    pub dir: PathBuf,
    pub sync: Durable,
    /// The last durable position, shared with readers.
    pub durable: Arc<AtomicU64>,
    /// The position the mark records; `None`: never rewrite it.
    pub marked: Option<u64>,
    pub vault: Arc<crate::personal::Vault>,
    /// The cluster whose log this sled tree mirrors (SPEC 11), if any.
    pub cluster: Option<Arc<Cluster>>,
}

pub(crate) fn spawn(parts: Parts) -> Result<WriterHandle> {
    let Parts {
        db,
        log,
        segment_end,
        dir,
        sync,
        durable,
        marked,
        vault,
        cluster,
    } = parts;
    // What sled recovered may still sit only in the page cache (a process killed between its
    // write and our fdatasync): make it durable before counting it as such. (A mirror of a
    // cluster's log is a cache: the cluster holds the truth.)
    if cluster.is_none() {
        sync.flush(&db)?;
    }
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
        local: cluster.is_none(),
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
        segment_end,
        rules: Rules::default(),
        last_recorded: DateTime::<Utc>::MIN_UTC,
        ids: None,
        poisoned,
        vault,
        cluster,
        follow_error: None,
    };
    // Keep recorded_at increasing across restarts too (the clock may have gone back).
    // (A last page that does not read is reported by `verify`, which opens without repair.)
    if let Some(bytes) = read_at(&writer.log, last).ok().flatten() {
        if let Ok(e) = crate::event::StoredEvent::decode(&bytes) {
            writer.last_recorded = e.recorded_at;
        }
    }
    // A process on a cluster checks that its mirror is a prefix of the cluster's log, and
    // reads what the others appended before it answers anything.
    if let Some(cluster) = &writer.cluster {
        // A last page that no longer reads (a power cut took the unsynced segment file's
        // tail: a mirror is never synced) makes the mirror stale too.
        let mine = read_at(&writer.log, last).ok().flatten();
        if last > 0 && cluster.message(last)? != mine {
            return Err(Error::Corrupt(super::mirror::STALE.into()));
        }
    }
    writer.catch_up()?;
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
    log: Log,
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
    /// False for the mirror of a cluster's log: the cluster made the events durable before it
    /// acknowledged them, and the mirror is a cache that refills from it.
    local: bool,
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
                    .or_else(|| match self.flush() {
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

    fn flush(&self) -> Result<()> {
        if self.local {
            self.sync.flush(&self.db)
        } else {
            Ok(())
        }
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
    log: Log,
    /// Where the next page goes in the segment file.
    segment_end: u64,
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
    /// The cluster holding the log, when this sled tree is only its mirror (SPEC 11).
    cluster: Option<Arc<Cluster>>,
    /// The last error met while following the cluster (reported once, not at every tick).
    follow_error: Option<String>,
}

/// What the rules read from the sled log.
struct SledLedger<'a> {
    log: &'a Log,
    ids: &'a mut Option<IdMap>,
    vault: &'a crate::personal::Vault,
}

impl Ledger for SledLedger<'_> {
    fn version(&mut self, account: &str) -> Result<u64> {
        match self.log.tree.get(head_key(account)).map_err(storage)? {
            None => Ok(0),
            Some(h) => Ok(decode_head(account, &h)?.version),
        }
    }

    fn find(&mut self, event_id: &str) -> Result<Option<(u64, Value)>> {
        if self.ids.is_none() {
            *self.ids = Some(load_ids(&self.log.tree)?);
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

    fn salts(&mut self, account: &str, event_id: &str, field: &str) -> Result<Vec<Vec<u8>>> {
        Ok(self.vault.account(account)?.salts(event_id, field).to_vec())
    }
}

impl Writer {
    /// The next request, or `None` once the store is closing. On a cluster, the writer
    /// follows the log between requests: every [`FOLLOW_EVERY`] without one it reads what
    /// other processes appended.
    fn next_request(&mut self, rx: &mpsc::Receiver<Request>) -> Option<Request> {
        if self.cluster.is_none() {
            return rx.recv().ok();
        }
        loop {
            match rx.recv_timeout(FOLLOW_EVERY) {
                Ok(r) => return Some(r),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => match self.catch_up() {
                    Ok(_) => self.follow_error = None,
                    Err(e) => {
                        let why = e.to_string();
                        if self.follow_error.as_ref() != Some(&why) {
                            eprintln!("kamlog: following the cluster's log: {why}");
                            self.follow_error = Some(why);
                        }
                    }
                },
            }
        }
    }

    fn run(&mut self, rx: mpsc::Receiver<Request>) {
        while let Some(first) = self.next_request(&rx) {
            let mut group = vec![first];
            while group.len() < 4096 {
                match rx.try_recv() {
                    Ok(r) => group.push(r),
                    Err(_) => break,
                }
            }
            // recorded_at strictly increases from one group to the next, so that a known-at
            // time separates what was known before a group from the group itself.
            let now = self.next_recorded();
            self.last_recorded = now;
            let recorded_at = format_recorded_at(now);
            let mut answers = Vec::with_capacity(group.len());
            let mut garbage = Vec::with_capacity(group.len());
            let mut wrote = false;
            let results: Vec<Result<AppendOutcome>> = match self.cluster.clone() {
                Some(cluster) => self.process_group_on_cluster(&cluster, &group),
                None => group
                    .iter()
                    .map(|req| match poison_reason(&self.poisoned) {
                        Some(why) => {
                            self.rules.forget_all();
                            Err(Error::Storage(format!(
                                "an earlier flush failed ({why}); reopen the store"
                            )))
                        }
                        None => self.process(req, &recorded_at),
                    })
                    .collect(),
            };
            if group.iter().any(|r| r.release) {
                self.rules.forget_all();
                self.ids = None;
            }
            for (req, res) in group.into_iter().zip(results) {
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

    /// The next `recorded_at`: now, but strictly after the last one (the clock may go back,
    /// and on a cluster another process's clock may be ahead).
    fn next_recorded(&self) -> DateTime<Utc> {
        Utc::now().max(self.last_recorded + chrono::Duration::microseconds(1))
    }

    /// Checks a request against the rules over what the sled tree holds, assigning positions
    /// from the next one.
    fn accept(
        &mut self,
        events: &[NewEvent],
        expected: Option<u64>,
        recorded_at: &str,
    ) -> Result<super::accept::Accepted> {
        let mut ledger = SledLedger {
            log: &self.log,
            ids: &mut self.ids,
            vault: &self.vault,
        };
        self.rules.accept(
            &mut ledger,
            events,
            expected,
            self.next_position,
            recorded_at,
        )
    }

    /// Checks a request against the rules and writes what passes as one atomic sled batch:
    /// pages of consecutive events, each account's run of new versions, the new heads and
    /// the event-id pages. On a cluster the events are first appended there (see
    /// [`Writer::process_on_cluster`]).
    fn process(&mut self, req: &Request, recorded_at: &str) -> Result<AppendOutcome> {
        let accepted = self.accept(&req.events, req.expected, recorded_at)?;
        if accepted.sealed.is_empty() {
            return Ok(accepted.outcome);
        }
        // The personal values first, durable: an event in the log never lacks its values
        // (a crash in between leaves values whose event was never acknowledged, harmless).
        if let Err(e) = self.vault.add(&accepted.personal) {
            self.rules.forget_all();
            return Err(e);
        }
        let rows = Row::of_sealed(&req.events, &accepted.sealed);
        if let Err(e) = self.write_rows(&rows) {
            self.rules.forget_all();
            return Err(e);
        }
        Ok(accepted.outcome)
    }

    /// A request on a cluster: checked by the same rules against the mirror, then appended
    /// to the cluster as one atomic batch expected right after the mirror's last position.
    /// If another process appended first, the batch is refused whole; the writer reads the
    /// new events and checks the request again (now perhaps a duplicate, or a stale expected
    /// version). If the answer is lost (a leader killed mid-append), the writer waits for the
    /// cluster, reads the log, and looks whether its batch is there before trying again.
    fn process_on_cluster(
        &mut self,
        cluster: &Cluster,
        events: &[NewEvent],
        expected: Option<u64>,
    ) -> Result<AppendOutcome> {
        let deadline = Instant::now() + super::jetstream::UNAVAILABLE_AFTER;
        loop {
            let now = self.next_recorded();
            let recorded_at = format_recorded_at(now);
            let accepted = self.accept(events, expected, &recorded_at)?;
            if accepted.sealed.is_empty() {
                return Ok(accepted.outcome);
            }
            if let Err(e) = self.vault.add(&accepted.personal) {
                self.rules.forget_all();
                return Err(e);
            }
            let messages: Vec<(&str, &[u8])> = accepted
                .sealed
                .iter()
                .map(|s| (s.account.as_str(), s.event.json.as_slice()))
                .collect();
            let first = self.next_position;
            let last = accepted.sealed.last().expect("not empty");
            let (last_position, last_json) = (last.position, last.event.json.clone());
            match cluster.append(first - 1, &messages) {
                Ok(super::jetstream::Appended::Stored(_)) => {
                    self.last_recorded = now;
                    let rows = Row::of_sealed(events, &accepted.sealed);
                    if let Err(e) = self.write_rows(&rows) {
                        // The events are in the cluster: the mirror refills on the next read.
                        self.rules.forget_all();
                        return Err(e);
                    }
                    return Ok(accepted.outcome);
                }
                Ok(super::jetstream::Appended::Moved) => {
                    // Not stored, for certain: take this attempt's personal values back (the
                    // next attempt commits with new salts, or finds the event stored).
                    self.rules.forget_all();
                    self.vault.retract(&accepted.personal)?;
                    self.catch_up()?;
                }
                Err(e @ Error::Usage(_)) => {
                    self.rules.forget_all();
                    return Err(e);
                }
                Err(e) => {
                    // The outcome is unknown: read the log once the cluster answers again.
                    self.rules.forget_all();
                    loop {
                        if Instant::now() >= deadline {
                            return Err(e);
                        }
                        std::thread::sleep(Duration::from_millis(250));
                        if self.catch_up().is_ok() {
                            break;
                        }
                    }
                    if read_at(&self.log, last_position)?.as_deref() == Some(&last_json[..]) {
                        // Stored after all (the batch is atomic: all of it).
                        return Ok(accepted.outcome);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Storage(format!(
                    "the cluster at {} did not take the append within {:?}",
                    cluster.config().connection,
                    super::jetstream::UNAVAILABLE_AFTER
                )));
            }
        }
    }

    /// A group of requests on a cluster (group commit): those without an expected version,
    /// up to the atomic-batch limit together, are checked as one request and appended as one
    /// batch, one round trip to the cluster for all of them; each gets its own part of the
    /// answer. If the rules refuse the combined request, each is processed alone, so that a
    /// bad request never fails the others (and its error names its own lines).
    fn process_group_on_cluster(
        &mut self,
        cluster: &Cluster,
        group: &[Request],
    ) -> Vec<Result<AppendOutcome>> {
        let mut results: Vec<Option<Result<AppendOutcome>>> = group.iter().map(|_| None).collect();
        let mut together = Vec::new();
        let mut total = 0;
        for (i, req) in group.iter().enumerate() {
            if req.expected.is_none()
                && total + req.events.len() <= super::jetstream::MAX_ATOMIC_EVENTS
            {
                total += req.events.len();
                together.push(i);
            }
        }
        if together.len() >= 2 {
            let events: Vec<NewEvent> = together
                .iter()
                .flat_map(|&i| group[i].events.iter().cloned())
                .collect();
            match self.process_on_cluster(cluster, &events, None) {
                Ok(outcome) => {
                    let mut parts = outcome.events.into_iter();
                    for &i in &together {
                        let n = group[i].events.len();
                        results[i] = Some(Ok(AppendOutcome {
                            events: parts.by_ref().take(n).collect(),
                        }));
                    }
                }
                Err(Error::Rejected { .. }) => {}
                Err(e) => {
                    // The cluster failed (not the rules): every request of the batch shares
                    // its error.
                    let why = match e {
                        Error::Storage(m) => m,
                        other => other.to_string(),
                    };
                    for &i in &together {
                        results[i] = Some(Err(Error::Storage(why.clone())));
                    }
                }
            }
        }
        group
            .iter()
            .zip(results)
            .map(|(req, r)| {
                r.unwrap_or_else(|| self.process_on_cluster(cluster, &req.events, req.expected))
            })
            .collect()
    }

    /// Reads into the mirror what the cluster holds beyond it, in chunks, each one atomic
    /// sled batch. Returns whether anything was read.
    pub(crate) fn catch_up(&mut self) -> Result<bool> {
        let Some(cluster) = self.cluster.clone() else {
            return Ok(false);
        };
        let end = cluster.last_sequence()?;
        let have = self.next_position - 1;
        if end < have {
            return Err(Error::Corrupt(format!(
                "the cluster's log ends at position {end} but this process has read up to {have}: the stream {} lost events or was replaced",
                cluster.config().stream()
            )));
        }
        if end == have {
            return Ok(false);
        }
        while self.next_position <= end {
            let from = self.next_position;
            let to = (from + CATCH_UP_CHUNK - 1).min(end);
            let mut events = Vec::with_capacity((to - from + 1) as usize);
            cluster.read(from, to, |seq, bytes| {
                let e = crate::event::StoredEvent::decode(bytes).map_err(|e| {
                    Error::Corrupt(format!(
                        "the cluster's event at position {seq} cannot be read: {e}"
                    ))
                })?;
                if e.position != seq {
                    return Err(Error::Corrupt(format!(
                        "the cluster's message at sequence {seq} holds the event of position {}",
                        e.position
                    )));
                }
                events.push((e, bytes.to_vec()));
                Ok(())
            })?;
            let rows: Vec<Row> = events
                .iter()
                .map(|(e, json)| Row {
                    id: id_bytes(&e.event_id),
                    account: &e.account_id,
                    version: e.version,
                    position: e.position,
                    json,
                    hash: &e.hash,
                })
                .collect();
            self.rules.forget_all();
            self.write_rows(&rows)?;
            if let Some((e, _)) = events.last() {
                self.last_recorded = self.last_recorded.max(e.recorded_at);
            }
        }
        // Readers (the publisher among them) may now go up to here.
        if let Some(tx) = &self.flush_tx {
            let _ = tx.send(Applied {
                answers: Vec::new(),
                wrote: true,
                through: end,
                garbage: Vec::new(),
            });
        }
        Ok(true)
    }

    /// Writes stored events (consecutive positions from `next_position` on): their pages to
    /// the segment file, then everything that points at them as one atomic sled batch.
    fn write_rows(&mut self, rows: &[Row]) -> Result<()> {
        let Some(last) = rows.last() else {
            return Ok(());
        };
        let through = last.position;
        let mut batch = sled::Batch::default();
        let mut pages = Pages::new(self.segment_end);
        let mut page: Vec<&[u8]> = Vec::new();
        let mut page_bytes = 0usize;
        let mut page_first = self.next_position;
        let mut page_ids: Vec<u8> = Vec::new();
        let mut new_ids: Vec<(u128, u64)> = Vec::with_capacity(rows.len());
        let mut runs: HashMap<&str, (u64, Vec<u8>)> = HashMap::new();
        let mut heads: HashMap<&str, (u64, u64, &str)> = HashMap::new();
        for r in rows {
            page_bytes += r.json.len();
            page.push(r.json);
            page_ids.extend_from_slice(&r.id.to_be_bytes());
            new_ids.push((r.id, r.position));
            if page.len() == PAGE_EVENTS || page_bytes >= PAGE_BYTES {
                batch.insert(&event_key(page_first), &pages.add(&page)[..]);
                batch.insert(&ids_key(page_first), std::mem::take(&mut page_ids));
                page.clear();
                page_bytes = 0;
                page_first = r.position + 1;
            }
            let run = runs
                .entry(r.account)
                .or_insert_with(|| (r.version, Vec::new()));
            run.1.extend_from_slice(&r.position.to_be_bytes());
            heads.insert(r.account, (r.version, r.position, r.hash));
        }
        if !page.is_empty() {
            batch.insert(&event_key(page_first), &pages.add(&page)[..]);
            batch.insert(&ids_key(page_first), page_ids);
        }
        for (account, (first_version, positions)) in runs {
            batch.insert(stream_key(account, first_version), positions);
        }
        for (account, (version, position, hash)) in heads {
            batch.insert(head_key(account), encode_head(version, position, hash));
        }
        // The pages first: nothing points at them until the batch is applied, and a failed
        // write or batch leaves `segment_end` where it was, for the next append to overwrite.
        self.log.segment.write(self.segment_end, &pages.bytes)?;
        self.log.tree.apply_batch(batch).map_err(storage)?;
        release_deferred();
        self.segment_end += pages.bytes.len() as u64;
        self.next_position = through + 1;
        if let Some(ids) = self.ids.as_mut() {
            ids.extend(new_ids);
        }
        Ok(())
    }
}

/// Hands this thread's deferred frees on to be run. sled 0.34 frees a replaced write buffer
/// (a whole log segment, `SEGMENT_SIZE`) and replaced tree nodes through crossbeam-epoch,
/// which keeps up to 64 such frees per thread before it runs any: during an import that held
/// ~95 MiB of sled's spent buffers. Called after each sled batch and flush.
pub(crate) fn release_deferred() {
    crossbeam_epoch::pin().flush();
}

/// The pages of one append, laid out for the segment file from a given offset on.
struct Pages {
    start: u64,
    bytes: Vec<u8>,
}

impl Pages {
    fn new(start: u64) -> Pages {
        Pages {
            start,
            bytes: Vec::new(),
        }
    }

    /// Adds a page; returns the pointer the tree stores for it.
    fn add(&mut self, events: &[&[u8]]) -> [u8; super::segment::Pointer::LEN] {
        let at = self.bytes.len();
        encode_page(&mut self.bytes, events);
        let page = &self.bytes[at..];
        super::segment::Pointer {
            offset: self.start + at as u64,
            len: page.len() as u32,
            crc: super::segment::checksum(page),
            count: events.len() as u32,
            starts_append: at == 0,
        }
        .encode()
    }
}

/// One stored event as the sled layout files it.
struct Row<'a> {
    id: u128,
    account: &'a str,
    version: u64,
    position: u64,
    json: &'a [u8],
    hash: &'a str,
}

impl<'a> Row<'a> {
    /// The rows of a request's newly sealed events.
    fn of_sealed(events: &[NewEvent], sealed: &'a [super::accept::Sealed]) -> Vec<Row<'a>> {
        sealed
            .iter()
            .map(|s| Row {
                id: id_bytes(&events[s.index].event_id),
                account: &s.account,
                version: s.version,
                position: s.position,
                json: &s.event.json,
                hash: &s.event.hash,
            })
            .collect()
    }
}
