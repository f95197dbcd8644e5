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

use super::*;
use crate::error::Location;
use crate::event::{format_recorded_at, NewEvent};
use crate::model::{fold_strict, AccountState, EventRef};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
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
        states: HashMap::new(),
        last_recorded: DateTime::<Utc>::MIN_UTC,
        ids: None,
        poisoned,
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

/// The writer's view of one account: its strict state and chain head.
struct Account {
    state: AccountState,
    head_hash: String,
}

struct Writer {
    /// Processed groups go to the flusher, which answers them once durable.
    flush_tx: Option<mpsc::Sender<Applied>>,
    flusher: Option<std::thread::JoinHandle<()>>,
    log: sled::Tree,
    next_position: u64,
    states: HashMap<String, Account>,
    last_recorded: DateTime<Utc>,
    /// Event id → position of every stored event, loaded on the first append.
    ids: Option<IdMap>,
    /// Set by the flusher when a flush failed (see [`Flusher`]).
    poisoned: Arc<Mutex<Option<String>>>,
}

fn reject(index: usize, event_id: Option<&str>, field: &str, reason: impl Into<String>) -> Error {
    Error::Rejected {
        at: Location {
            line: None,
            index,
            event_id: event_id.map(str::to_string),
            field: field.to_string(),
        },
        reason: reason.into(),
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
                        self.states.clear();
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

    fn load(&mut self, account: &str) -> Result<()> {
        if self.states.contains_key(account) {
            return Ok(());
        }
        let events = read_account(&self.log, account)?;
        let refs: Vec<EventRef> = events.iter().map(EventRef::from).collect();
        let state = fold_strict(account, &refs).map_err(|(i, e)| {
            Error::Corrupt(format!(
                "stored event at position {} of account {account} breaks a rule ({}: {})",
                events[i].position, e.field, e.reason
            ))
        })?;
        let head_hash = events
            .last()
            .map(|e| e.hash.clone())
            .unwrap_or_else(|| GENESIS.to_string());
        self.states
            .insert(account.to_string(), Account { state, head_hash });
        Ok(())
    }

    fn process(&mut self, req: &Request, recorded_at: &str) -> Result<AppendOutcome> {
        let mut touched: HashSet<String> = HashSet::new();
        let res = self.process_inner(req, recorded_at, &mut touched);
        if res.is_err() {
            for a in touched {
                self.states.remove(&a);
            }
        }
        res
    }

    fn stored_duplicate(&mut self, ev: &NewEvent) -> Result<Option<(u64, Value)>> {
        if self.ids.is_none() {
            self.ids = Some(load_ids(&self.log)?);
        }
        let ids = self.ids.as_ref().expect("loaded");
        let Some(&p) = ids.get(&id_bytes(&ev.event_id)) else {
            return Ok(None);
        };
        let bytes = read_at(&self.log, p)?.ok_or_else(|| {
            Error::Corrupt(format!("event id index points at missing position {p}"))
        })?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Corrupt(format!("event at position {p} cannot be read: {e}")))?;
        Ok(Some((p, v)))
    }

    fn process_inner(
        &mut self,
        req: &Request,
        recorded_at: &str,
        touched: &mut HashSet<String>,
    ) -> Result<AppendOutcome> {
        let events = &req.events;
        if events.len() > MAX_BATCH_EVENTS {
            return Err(reject(
                MAX_BATCH_EVENTS,
                None,
                "",
                format!(
                    "a batch holds at most {MAX_BATCH_EVENTS} events; this one has {}",
                    events.len()
                ),
            ));
        }
        if let Some(expected) = req.expected {
            let Some(first) = events.first() else {
                return Ok(AppendOutcome::default());
            };
            if let Some(other) = events.iter().find(|e| e.account_id != first.account_id) {
                return Err(Error::Usage(format!(
                    "an expected version applies to one account, but the batch holds {} and {}",
                    first.account_id, other.account_id
                )));
            }
            let actual = match self.log.get(head_key(&first.account_id)).map_err(storage)? {
                None => 0,
                Some(h) => decode_head(&first.account_id, &h)?.version,
            };
            if actual != expected {
                // A retried request whose events are all stored already is a no-op success.
                let mut all_dup = true;
                for ev in events {
                    match self.stored_duplicate(ev)? {
                        Some((_, stored)) if same_content(&stored, &ev.body) => {}
                        _ => all_dup = false,
                    }
                }
                if !all_dup {
                    return Err(Error::VersionConflict {
                        account: first.account_id.clone(),
                        expected,
                        actual,
                    });
                }
            }
        }

        let mut batch = sled::Batch::default();
        let mut out = Vec::with_capacity(events.len());
        let mut position = self.next_position;
        // event id → index in this request, for repeats inside the request
        let mut in_batch: IdMap<usize> = IdMap::default();
        // account → indices of its new events in this request, for retraction re-folds
        let mut pending: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut assigned: Vec<Option<(u64, u64)>> = vec![None; events.len()];
        // The page being filled (consecutive positions from page_first), each account's run
        // of new versions, and each account's new head.
        let mut page: Vec<Vec<u8>> = Vec::new();
        let mut page_bytes = 0usize;
        let mut page_first = position;
        let mut runs: HashMap<&str, (u64, Vec<u8>)> = HashMap::new();
        let mut heads: HashMap<&str, (u64, u64, String)> = HashMap::new();
        let mut page_ids: Vec<u8> = Vec::new();
        let mut new_ids: Vec<(u128, u64)> = Vec::new();

        for (i, ev) in events.iter().enumerate() {
            let id = ev.event_id.as_str();
            let id128 = id_bytes(id);
            if let Some(&j) = in_batch.get(&id128) {
                if events[j].body == ev.body {
                    let mut dup = out
                        .iter()
                        .find(|o: &&AppendedEvent| o.event_id == id)
                        .cloned()
                        .expect("earlier event recorded");
                    dup.duplicate = true;
                    out.push(dup);
                    continue;
                }
                return Err(reject(
                    i,
                    Some(id),
                    "event_id",
                    format!("the same event_id appears earlier in this batch (event #{}) with different content", j + 1),
                ));
            }
            if let Some((p, stored)) = self.stored_duplicate(ev)? {
                if same_content(&stored, &ev.body) {
                    out.push(AppendedEvent {
                        event_id: ev.event_id.clone(),
                        account_id: ev.account_id.clone(),
                        version: stored["version"].as_u64().unwrap_or(0),
                        position: p,
                        hash: stored["hash"].as_str().unwrap_or("").to_string(),
                        duplicate: true,
                    });
                    in_batch.insert(id128, i);
                    continue;
                }
                return Err(reject(
                    i,
                    Some(id),
                    "event_id",
                    format!("conflict: event_id is already stored at position {p} with different content"),
                ));
            }

            let account = ev.account_id.as_str();
            if !touched.contains(account) {
                touched.insert(account.to_string());
            }
            self.load(account)?;
            let version = self.states[account].state.version + 1;
            let ev_ref = EventRef {
                event_id: id,
                occurred_at: ev.occurred_at,
                version,
                position,
                data: &ev.data,
            };
            if matches!(ev.data, crate::event::EventData::EventRetracted(_)) {
                self.check_retraction(account, events, &pending, &assigned, ev_ref, i)?;
            } else {
                let acc = self.states.get_mut(account).expect("loaded");
                acc.state
                    .apply(ev_ref, true)
                    .map_err(|e| reject(i, Some(id), &e.field, e.reason))?;
            }

            let acc = self.states.get_mut(account).expect("loaded");
            let (recorded, prev) = (recorded_at, acc.head_hash.clone());
            let sealed = match &ev.restore {
                None => ev.seal(version, position, recorded, &prev),
                Some(r) => {
                    for (field, got, want) in [
                        ("position", r.position, position),
                        ("version", r.version, version),
                    ] {
                        if got != want {
                            return Err(reject(i, Some(id), field, format!(
                                "the exported event has {field} {got}, but this store would give it {want}; import an export into a fresh store, or remove the store fields (version, position, recorded_at, prev_hash, hash) to append it as new"
                            )));
                        }
                    }
                    if r.prev_hash != prev {
                        return Err(reject(
                            i,
                            Some(id),
                            "prev_hash",
                            "does not match the hash of the account's previous event in this store",
                        ));
                    }
                    let sealed = ev.seal(version, position, &r.recorded_at, &prev);
                    if sealed.hash != r.hash {
                        return Err(reject(i, Some(id), "hash", format!(
                            "does not match the event's content (computed {}); the exported event was altered", sealed.hash
                        )));
                    }
                    sealed
                }
            };
            acc.head_hash = sealed.hash.clone();
            page_bytes += sealed.json.len();
            page.push(sealed.json);
            page_ids.extend_from_slice(&id128.to_be_bytes());
            new_ids.push((id128, position));
            if page.len() == PAGE_EVENTS || page_bytes >= PAGE_BYTES {
                batch.insert(&event_key(page_first), encode_page(&page));
                batch.insert(&ids_key(page_first), std::mem::take(&mut page_ids));
                page.clear();
                page_bytes = 0;
                page_first = position + 1;
            }
            let run = runs.entry(account).or_insert_with(|| (version, Vec::new()));
            run.1.extend_from_slice(&position.to_be_bytes());
            heads.insert(account, (version, position, sealed.hash.clone()));
            out.push(AppendedEvent {
                event_id: ev.event_id.clone(),
                account_id: ev.account_id.clone(),
                version,
                position,
                hash: sealed.hash,
                duplicate: false,
            });
            assigned[i] = Some((version, position));
            in_batch.insert(id128, i);
            pending.entry(account).or_default().push(i);
            position += 1;
        }
        if position > self.next_position {
            if !page.is_empty() {
                batch.insert(&event_key(page_first), encode_page(&page));
                batch.insert(&ids_key(page_first), page_ids);
            }
            for (account, (first_version, positions)) in runs {
                batch.insert(stream_key(account, first_version), positions);
            }
            for (account, (version, position, hash)) in heads {
                batch.insert(head_key(account), encode_head(version, position, &hash));
            }
            self.log.apply_batch(batch).map_err(storage)?;
            self.next_position = position;
            if let Some(ids) = self.ids.as_mut() {
                ids.extend(new_ids);
            }
        }
        Ok(AppendOutcome { events: out })
    }

    /// A retraction is valid only if every later event of the account stays valid without its
    /// target: re-fold the whole stream (stored + this request's) strictly with it applied.
    fn check_retraction(
        &mut self,
        account: &str,
        events: &[NewEvent],
        pending: &HashMap<&str, Vec<usize>>,
        assigned: &[Option<(u64, u64)>],
        new: EventRef,
        index: usize,
    ) -> Result<()> {
        // First the checks that need no re-fold (target exists, is not a retraction, ...).
        {
            let mut probe = self.states[account].state.clone();
            probe
                .apply(new, true)
                .map_err(|e| reject(index, Some(new.event_id), &e.field, e.reason))?;
        }
        let stored = read_account(&self.log, account)?;
        let mut refs: Vec<EventRef> = stored.iter().map(EventRef::from).collect();
        for &j in pending.get(account).map(Vec::as_slice).unwrap_or(&[]) {
            let (version, position) = assigned[j].expect("assigned");
            refs.push(EventRef {
                event_id: &events[j].event_id,
                occurred_at: events[j].occurred_at,
                version,
                position,
                data: &events[j].data,
            });
        }
        refs.push(new);
        match fold_strict(account, &refs) {
            Ok(state) => {
                self.states.get_mut(account).expect("loaded").state = state;
                Ok(())
            }
            Err((k, e)) if k == refs.len() - 1 => {
                Err(reject(index, Some(new.event_id), &e.field, e.reason))
            }
            Err((k, e)) => Err(reject(
                index,
                Some(new.event_id),
                "data.target_event_id",
                format!(
                    "retracting it would leave a later event invalid: version {} ({}, event {}): {}: {}",
                    refs[k].version,
                    refs[k].data.type_name(),
                    refs[k].event_id,
                    e.field,
                    e.reason
                ),
            )),
        }
    }
}

/// Whether a stored envelope holds the same submitted content as a new event's body.
fn same_content(stored: &Value, body: &serde_json::Map<String, Value>) -> bool {
    let Value::Object(stored) = stored else {
        return false;
    };
    let mut n = 0;
    for (k, v) in stored {
        if matches!(
            k.as_str(),
            "version" | "position" | "recorded_at" | "prev_hash" | "hash"
        ) {
            continue;
        }
        n += 1;
        if body.get(k) != Some(v) {
            return false;
        }
    }
    n == body.len()
}
