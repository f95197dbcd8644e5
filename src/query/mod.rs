//! The read side: the one door through which the CLI, `serve` and the web pages ask about
//! accounts. It selects the events a question sees (`--as-of`, `--known-at`), resumes the
//! history engine from the nearest checkpoint, and answers with typed views, alerts and the
//! audit timeline.
//!
//! - [`cache`]: the persisted checkpoints, kept current by [`Query::refresh`] after every
//!   append, so that no read pays for a rebuild;
//! - [`timeline`]: the audit timeline as an answer (filters, JSON shape).
//!
//! Nothing here prints; renderers (the CLI, the bus, the web) turn the answers into text.

pub mod cache;
pub mod timeline;

use crate::alert::{AlertList, AlertsDoc};
use crate::error::{Error, Result};
use crate::event::{EventData, StoredEvent};
use crate::history::{Checkpoint, Walked};
use crate::store::{Head, PageIndex, Store};
use crate::view::{self, Policy, Selection, View, ViewKind};
use cache::{Cache, Meta};
use chrono::{DateTime, Utc};

/// Events between two regular checkpoints of an account.
pub const CHECKPOINT_EVERY: usize = 512;

/// At most this many events are gathered per pass over the log when the checkpoints of new
/// accounts are built (an import): the import keeps its writer's caches as well, and peaks
/// under 500 MiB on the 1M workload with this.
pub const BUILD_CHUNK_EVENTS: u64 = 100_000;

/// The same for a full rebuild, which holds nothing else: fewer passes over the log (each
/// reads nearly every page) for ~200 MiB more at the peak (BENCHMARKS.md).
pub const REBUILD_CHUNK_EVENTS: u64 = 250_000;

/// Questions about the accounts of one store, under one policy.
pub struct Query<'a> {
    store: &'a Store,
    policy: &'a Policy,
    cache: Cache,
    every: usize,
    /// At most this many events gathered per pass over the log (`None`: the operation's
    /// default, [`BUILD_CHUNK_EVENTS`] or [`REBUILD_CHUNK_EVENTS`]).
    chunk: Option<u64>,
    /// Whether answers show personal values from the vault (SPEC 10); the bus's views
    /// bucket does not: there, people keep their commitments.
    reveal: bool,
}

impl<'a> Query<'a> {
    pub fn new(store: &'a Store, policy: &'a Policy) -> Result<Query<'a>> {
        Ok(Query {
            store,
            policy,
            cache: Cache::open(store)?,
            every: CHECKPOINT_EVERY,
            chunk: None,
            reveal: true,
        })
    }

    /// Answers that keep the commitments in place of personal values (for the bus, whose
    /// values go only to the personal bucket).
    pub fn concealed(mut self) -> Query<'a> {
        self.reveal = false;
        self
    }

    /// The vault's entries of an account, when answers reveal them.
    pub(crate) fn vault_of(
        &self,
        account: &str,
    ) -> Result<Option<std::sync::Arc<crate::personal::vault::AccountVault>>> {
        if self.reveal {
            self.store.vault().account(account).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Takes a regular checkpoint every `n` events (tests use small numbers).
    pub fn with_checkpoint_every(mut self, n: usize) -> Query<'a> {
        self.every = n.max(1);
        self
    }

    /// Gathers at most `events` events per pass over the log when checkpoints are built
    /// from it (tests use small numbers, to make many passes).
    pub fn with_build_chunk(mut self, events: u64) -> Query<'a> {
        self.chunk = Some(events.max(1));
        self
    }

    pub fn policy(&self) -> &Policy {
        self.policy
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    /// The account's head, or an error naming the account when it does not exist.
    pub fn require_account(&self, account: &str) -> Result<Head> {
        match self.store.head(account)? {
            Some(h) => Ok(h),
            None => Err(Error::NotFound(format!(
                "no account {account} in the store{}",
                crate::suggest::hint(account, self.account_ids()?.iter().map(String::as_str))
            ))),
        }
    }

    /// The heads of every account, sorted by account id.
    pub fn store_heads(&self) -> Result<Vec<Head>> {
        self.store.heads()
    }

    /// Every account's id, sorted.
    pub fn account_ids(&self) -> Result<Vec<String>> {
        Ok(self
            .store_heads()?
            .into_iter()
            .map(|h| h.account_id)
            .collect())
    }

    /// The account's state and histories at a selection's as-of time.
    pub fn walked(&self, account: &str, sel: &Selection) -> Result<Walked> {
        self.walked_reading(account, sel, &EventsOnce::default())
    }

    /// [`Query::walked`], reading the account's events (when it must) through `events`, so
    /// that several answers about one account read them once.
    pub fn walked_reading(
        &self,
        account: &str,
        sel: &Selection,
        events: &EventsOnce,
    ) -> Result<Walked> {
        let mut w = self.walked_sealed(account, sel, events)?;
        if let Some(vault) = self.vault_of(account)? {
            crate::personal::reveal::state(&mut w.state, &vault);
            // Whoever is erased now is shown erased at every time (SPEC 10): the values are
            // gone from the past too.
            if let Some(last) = self.cache.last(account)? {
                for (person, position) in last.position.state.erased {
                    w.state.erased.entry(person).or_insert(position);
                }
            }
        }
        Ok(w)
    }

    /// The walk's result as the log holds it: commitments in place of personal values.
    fn walked_sealed(&self, account: &str, sel: &Selection, events: &EventsOnce) -> Result<Walked> {
        let head = self.require_account(account)?;
        let meta = self.current(account, &head)?;
        // The final checkpoint serves every selection that sees all events: only time moves.
        let sees_all =
            sel.as_of >= meta.last_instant && sel.known_at.is_none_or(|k| k >= meta.max_recorded);
        if sees_all {
            if let Some(last) = self.cache.last(account)? {
                return Ok(last.walk_to(Vec::new(), sel.as_of, self.policy));
            }
        }
        let events = events.get(self.store, account)?;
        let selected = view::select(events, sel);
        let from = self
            .cache
            .latest(account, sel.as_of, |c| c.serves(sel))?
            .unwrap_or_else(|| Checkpoint::start(account, self.policy));
        Ok(from.walk_to(selected, sel.as_of, self.policy))
    }

    /// One view of an account at a selection.
    pub fn view(&self, account: &str, kind: ViewKind, sel: &Selection) -> Result<View> {
        let w = self.walked(account, sel)?;
        Ok(render(kind, &w, sel, self.policy))
    }

    /// Every view of an account at a selection (one walk).
    pub fn views(&self, account: &str, sel: &Selection) -> Result<Vec<View>> {
        let w = self.walked(account, sel)?;
        Ok(ViewKind::ALL
            .into_iter()
            .map(|k| render(k, &w, sel, self.policy))
            .collect())
    }

    /// The open alerts (or every transition) of one account or all.
    pub fn alerts(
        &self,
        account: Option<&str>,
        sel: &Selection,
        history: bool,
    ) -> Result<AlertsDoc> {
        let accounts = match account {
            Some(a) => {
                self.require_account(a)?;
                vec![a.to_string()]
            }
            None => self.account_ids()?,
        };
        let mut open = Vec::new();
        let mut transitions = Vec::new();
        for a in &accounts {
            let w = self.walked(a, sel)?;
            if history {
                let mut t = w.alerts.transitions;
                self.reveal_details(a, t.iter_mut().map(|x| &mut x.detail))?;
                transitions.extend(t);
            } else {
                open.extend(self.open_alerts(a, &w, sel)?);
            }
        }
        Ok(AlertsDoc {
            as_of: sel.as_of,
            known_at: sel.known_at,
            alerts: if history {
                AlertList::History(transitions)
            } else {
                AlertList::Open(open)
            },
        })
    }

    /// An account's open alerts at `sel` from its walk, personal values in their details
    /// revealed as in every answer (SPEC 10).
    pub fn open_alerts(
        &self,
        account: &str,
        w: &Walked,
        sel: &Selection,
    ) -> Result<Vec<crate::alert::Alert>> {
        let mut open = w.alerts.open_alerts(&w.state, sel.as_of, self.policy);
        self.reveal_details(account, open.iter_mut().map(|x| &mut x.detail))?;
        Ok(open)
    }

    /// Alert details with the vault's values in place of commitments (`null` where it holds
    /// none), when answers reveal them.
    fn reveal_details<'d>(
        &self,
        account: &str,
        details: impl Iterator<Item = &'d mut serde_json::Value>,
    ) -> Result<()> {
        if let Some(v) = self.vault_of(account)? {
            details.for_each(|d| crate::personal::reveal::json(d, &v));
        }
        Ok(())
    }

    /// The meta record of an account's checkpoints, brought up to the head first.
    fn current(&self, account: &str, head: &Head) -> Result<Meta> {
        if let Some(m) = self.cache.meta(account)? {
            if m.version == head.version && &m.policy == self.policy {
                return Ok(m);
            }
        }
        self.refresh(account)?;
        self.cache
            .meta(account)?
            .ok_or_else(|| Error::Storage(format!("the checkpoints of {account} were not saved")))
    }

    /// Brings an account's checkpoints up to its head: extends them with events that occurred
    /// after the last one, or, after late data or a retraction, rebuilds from the latest
    /// checkpoint before the earliest change.
    pub fn refresh(&self, account: &str) -> Result<()> {
        let Some(head) = self.store.head(account)? else {
            return Ok(());
        };
        let meta = self
            .cache
            .meta(account)?
            .filter(|m| &m.policy == self.policy);
        if let Some(m) = &meta {
            if m.version == head.version {
                return Ok(());
            }
        }
        let last = match &meta {
            Some(m) if m.version < head.version => self
                .cache
                .last(account)?
                .filter(|c| c.position.max_version == m.version),
            _ => None,
        };
        let (Some(meta), Some(last)) = (meta, last) else {
            return self.rebuild(account);
        };
        let positions = self.store.account_positions(account)?;
        let mut new_events = Vec::new();
        for p in positions.iter().skip(meta.version as usize) {
            let bytes = self
                .store
                .raw_at(*p)?
                .ok_or_else(|| Error::Corrupt(format!("position {p} is missing")))?;
            new_events.push(StoredEvent::decode(&bytes).map_err(Error::Corrupt)?);
        }
        let earliest = new_events.iter().map(|e| e.occurred_at).min();
        // The walk can go on from the final checkpoint with the new events alone when it will
        // never have to refold: they come after the last instant, in stream order, and
        // retract nothing.
        let in_order = new_events
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at);
        let retraction = new_events
            .iter()
            .any(|e| matches!(e.data, EventData::EventRetracted(_)));
        match earliest {
            Some(o) if o > meta.last_instant && in_order && !retraction => {
                self.walk_and_save(account, last, new_events.iter().collect(), false)
            }
            Some(from) => {
                // Late data or a retraction changes everything from the earliest new
                // `occurred_at` on; the checkpoints before it stand.
                self.cache.invalidate(account, Some(from))?;
                let start = self
                    .cache
                    .latest(account, from, |c| c.instant().is_some_and(|t| t < from))?
                    .unwrap_or_else(|| Checkpoint::start(account, self.policy));
                let events = self.store.account_events(account)?;
                self.walk_and_save(account, start, events.iter().collect(), false)
            }
            None => Ok(()),
        }
    }

    /// Rebuilds an account's checkpoints from its events.
    pub fn rebuild(&self, account: &str) -> Result<()> {
        self.cache.invalidate(account, None)?;
        let events = self.store.account_events(account)?;
        self.walk_and_save(
            account,
            Checkpoint::start(account, self.policy),
            events.iter().collect(),
            true,
        )
    }

    /// Walks and saves an account's checkpoints. With `overlap` (a core would otherwise be
    /// idle: one account walked alone), each regular checkpoint is copied to a second thread
    /// that encodes it while the walk goes on; otherwise it is encoded in place, uncopied.
    fn walk_and_save(
        &self,
        account: &str,
        from: Checkpoint,
        events: Vec<&StoredEvent>,
        overlap: bool,
    ) -> Result<()> {
        let (taken, last) = if overlap {
            std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::channel::<Checkpoint>();
                let encoder = s.spawn(move || {
                    let mut taken = cache::Taken::default();
                    for c in rx {
                        taken.push(c.as_ref());
                    }
                    taken
                });
                let last = from.walk_all_into(events, self.every, self.policy, |c| {
                    let _ = tx.send(c.to_owned());
                });
                drop(tx);
                (encoder.join().expect("the encoder does not panic"), last)
            })
        } else {
            let mut taken = cache::Taken::default();
            let last = from.walk_all_into(events, self.every, self.policy, |c| taken.push(c));
            (taken, last)
        };
        let (Some(last_instant), Some(max_recorded)) =
            (last.position.instant, last.position.max_recorded)
        else {
            return Ok(());
        };
        let meta = Meta {
            version: last.position.max_version,
            policy: self.policy.clone(),
            last_instant,
            max_recorded,
        };
        self.cache.save(account, taken, &last, &meta)
    }

    /// Brings the checkpoints of these accounts up to date (after an append).
    pub fn refresh_accounts<'s>(&self, accounts: impl IntoIterator<Item = &'s str>) -> Result<()> {
        for a in accounts {
            self.refresh(a)?;
        }
        Ok(())
    }

    /// Brings every account's checkpoints up to date, accounts in parallel: those that have
    /// none (a first import) are built from one sequential read of the log, the others
    /// extended or rebuilt one by one.
    pub fn refresh_all(&self) -> Result<usize> {
        let heads = self.store.heads()?;
        let mut fresh = Vec::new();
        let mut stale = Vec::new();
        for h in heads {
            match self.cache.meta(&h.account_id)? {
                Some(m) if &m.policy == self.policy => {
                    if m.version != h.version {
                        stale.push(h.account_id);
                    }
                }
                _ => fresh.push(h),
            }
        }
        let n = fresh.len() + stale.len();
        self.build_from_log(fresh, self.chunk.unwrap_or(BUILD_CHUNK_EVENTS))?;
        self.each_in_parallel(&stale, |a| self.refresh(a))?;
        self.store.flush()?;
        Ok(n)
    }

    /// Recomputes every account's checkpoints from the log, accounts in parallel; returns how
    /// many accounts.
    pub fn rebuild_all(&self) -> Result<usize> {
        let old = self.cache.forget_all()?;
        let heads = self.store.heads()?;
        let n = heads.len();
        self.build_from_log(heads, self.chunk.unwrap_or(REBUILD_CHUNK_EVENTS))?;
        self.store.flush()?;
        self.cache.remove(old)?;
        Ok(n)
    }

    /// Builds the checkpoints of these accounts from scratch, reading the log sequentially.
    /// Accounts are taken in groups of at most `chunk` events (so that memory
    /// stays bounded): a reader thread gathers each group's stored envelopes, undecoded, by one
    /// pass over the pages that hold them (their positions come from the accounts' stream
    /// index) while the group before it is decoded and walked on every core.
    fn build_from_log(&self, heads: Vec<Head>, chunk: u64) -> Result<()> {
        let mut chunks: Vec<Vec<Head>> = Vec::new();
        let mut size = 0u64;
        for h in heads {
            if chunks.is_empty() || size + h.version > chunk {
                chunks.push(Vec::new());
                size = 0;
            }
            size += h.version;
            chunks.last_mut().expect("pushed").push(h);
        }
        std::thread::scope(|s| {
            // A rendezvous channel: at most one gathered group waits while one is walked.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Gathered>>(0);
            let store = self.store;
            let reader = s.spawn(move || {
                let index = match store.page_index() {
                    Ok(index) => index,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                // The walks wait for the first group: it is read on every core (a pass over
                // the log reads nearly every page; 0.6 s of one core on the 1M workload).
                let cores = cores();
                for (k, chunk) in chunks.into_iter().enumerate() {
                    let parts = if k == 0 { cores } else { 1 };
                    let gathered = Gathered::read(store, &index, &chunk, parts);
                    let failed = gathered.is_err();
                    if tx.send(gathered).is_err() || failed {
                        return;
                    }
                }
            });
            let result = (|| {
                for gathered in rx.iter() {
                    let gathered = gathered?;
                    let ids: Vec<String> = gathered.accounts.keys().cloned().collect();
                    // Fewer accounts than cores: each walk encodes on a core of its own.
                    let overlap = ids.len() < cores();
                    let gathered = std::sync::Mutex::new(gathered);
                    self.each_in_parallel(&ids, |a| {
                        let raw = gathered
                            .lock()
                            .expect("not poisoned")
                            .accounts
                            .remove(a)
                            .unwrap_or_default();
                        let events = RawEvents::decode_all(&raw)?;
                        drop(raw);
                        self.cache.invalidate(a, None)?;
                        self.walk_and_save(
                            a,
                            Checkpoint::start(a, self.policy),
                            events.iter().collect(),
                            overlap,
                        )
                    })?;
                }
                Ok(())
            })();
            drop(rx); // a reader still sending stops
            let _ = reader.join();
            result
        })
    }

    /// Runs `f` for every account on as many threads as the machine has cores; the first
    /// error stops the others.
    fn each_in_parallel(
        &self,
        ids: &[String],
        f: impl Fn(&str) -> Result<()> + Sync,
    ) -> Result<()> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::Mutex::new(None);
        let workers = cores();
        std::thread::scope(|s| {
            for _ in 0..workers.min(ids.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(a) = ids.get(i) else { break };
                    if let Err(e) = f(a) {
                        next.store(ids.len(), std::sync::atomic::Ordering::Relaxed);
                        failed.lock().expect("not poisoned").get_or_insert(e);
                        break;
                    }
                });
            }
        });
        match failed.into_inner().expect("not poisoned") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// How many threads run at once on this machine.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A group of accounts' stored envelopes, gathered by one pass over the pages that hold them
/// and kept as bytes until a worker decodes one account (so only the accounts being walked are held
/// decoded).
struct Gathered {
    /// Each account's envelopes, in parts that follow each other in position order.
    accounts: std::collections::HashMap<String, Vec<RawEvents>>,
}

/// One account's stored envelopes, back to back, with their positions.
#[derive(Default)]
struct RawEvents {
    bytes: Vec<u8>,
    /// (position, end offset in `bytes`) of each envelope, in stream order.
    ends: Vec<(u64, usize)>,
}

impl Gathered {
    /// Reads the pages that hold these accounts' events, in one pass over the log (an account's
    /// positions come from its stream index, so the pages with none of them are skipped).
    /// With `parts` > 1, that many threads each read a part of the positions (each account's
    /// envelopes are then in as many parts, in position order).
    fn read(store: &Store, index: &PageIndex, chunk: &[Head], parts: usize) -> Result<Gathered> {
        // (position, index into `chunk`) of every wanted event, in position order: those the
        // heads include (the index holds every page up to them).
        let mut wanted: Vec<(u64, usize)> = Vec::new();
        for (i, h) in chunk.iter().enumerate() {
            let positions = store.account_positions(&h.account_id)?;
            wanted.extend(
                positions
                    .into_iter()
                    .take(h.version as usize)
                    .map(|p| (p, i)),
            );
        }
        wanted.sort_unstable();
        let positions: Vec<u64> = wanted.iter().map(|w| w.0).collect();
        let n = positions.len();
        let parts = parts.clamp(1, n.max(1));
        // The envelopes of `wanted[range]`.
        let gather = |range: std::ops::Range<usize>| -> Result<Vec<RawEvents>> {
            let mut raw: Vec<RawEvents> = chunk
                .iter()
                .map(|h| {
                    // Room for envelopes of up to 1 KiB without moving them as the part grows
                    // (untouched room costs no memory).
                    let events = (h.version as usize).div_ceil(parts);
                    RawEvents {
                        bytes: Vec::with_capacity(events * 1024),
                        ends: Vec::with_capacity(events),
                    }
                })
                .collect();
            let mut next = range.start;
            store.scan_positions(index, &positions[range], |p, bytes| {
                let r = &mut raw[wanted[next].1];
                next += 1;
                r.bytes.extend_from_slice(bytes);
                r.ends.push((p, r.bytes.len()));
                Ok(())
            })?;
            Ok(raw)
        };
        let read: Vec<Vec<RawEvents>> = if parts == 1 {
            vec![gather(0..n)?]
        } else {
            std::thread::scope(|s| {
                let gather = &gather;
                let threads: Vec<_> = (0..parts)
                    .map(|k| s.spawn(move || gather(k * n / parts..(k + 1) * n / parts)))
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().expect("a reader part does not panic"))
                    .collect::<Result<Vec<_>>>()
            })?
        };
        // Part by part, each account's envelopes of that part.
        let mut raw: Vec<Vec<RawEvents>> = chunk.iter().map(|_| Vec::new()).collect();
        for part in read {
            for (r, p) in raw.iter_mut().zip(part) {
                r.push(p);
            }
        }
        let accounts = chunk
            .iter()
            .map(|h| h.account_id.clone())
            .zip(raw)
            .collect();
        Ok(Gathered { accounts })
    }
}

impl RawEvents {
    /// The events of an account's parts, decoded for the walk (without their hash chain:
    /// see [`StoredEvent::decode_for_walk`]).
    fn decode_all(parts: &[RawEvents]) -> Result<Vec<StoredEvent>> {
        let mut events = Vec::with_capacity(parts.iter().map(|r| r.ends.len()).sum());
        for r in parts {
            let mut start = 0;
            for &(p, end) in &r.ends {
                events.push(
                    StoredEvent::decode_for_walk(&r.bytes[start..end]).map_err(|e| {
                        Error::Corrupt(format!("event at position {p} cannot be read: {e}"))
                    })?,
                );
                start = end;
            }
        }
        Ok(events)
    }
}

/// An account's stored events, read from the store at most once, on first use.
#[derive(Debug, Default)]
pub struct EventsOnce(std::cell::OnceCell<Vec<crate::event::StoredEvent>>);

impl EventsOnce {
    /// The account's events (stream order), read now if not yet.
    pub fn get(&self, store: &Store, account: &str) -> Result<&[crate::event::StoredEvent]> {
        if let Some(v) = self.0.get() {
            return Ok(v);
        }
        let v = store.account_events(account)?;
        Ok(self.0.get_or_init(|| v))
    }
}

/// A view from a walk's result.
pub fn render(kind: ViewKind, w: &Walked, sel: &Selection, policy: &Policy) -> View {
    let state = &w.state;
    match kind {
        ViewKind::Coverage => View::Coverage(view::coverage::view(state, sel, policy)),
        ViewKind::Stage => View::Stage(view::stage::view(
            state,
            w.stage.once_cooperative,
            w.stage.history.clone(),
            sel,
            policy,
        )),
        ViewKind::Value => View::Value(view::value::view(state, sel)),
        ViewKind::Classification => View::Classification(view::classification::view(state, sel)),
        ViewKind::Economics => View::Economics(view::economics::view(state, sel)),
        ViewKind::Relationships => {
            View::Relationships(view::relationships::view(state, sel, policy))
        }
        ViewKind::Map => View::Map(view::map::view(state, sel, policy)),
        ViewKind::Contracts => View::Contracts(view::contracts::view(state, sel, policy)),
    }
}

/// The selection from `--as-of` / `--known-at` (an as-of time defaults to the known-at time
/// when only that is given, else to `now`).
pub fn selection(
    as_of: Option<DateTime<Utc>>,
    known_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Selection {
    Selection {
        as_of: as_of.or(known_at).unwrap_or(now),
        known_at,
    }
}

/// Parses a time given by a person or a client: RFC 3339, or a bare date meaning midnight UTC
/// at the start of that day. `what` names the option or field in the error.
pub fn parse_time(what: &str, s: &str) -> Result<DateTime<Utc>> {
    if let Some(d) = crate::event::validate::parse_date(s) {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Error::Usage(format!(
                "{what} {s}: not an RFC 3339 time such as 2025-06-30T00:00:00Z ({e})"
            ))
        })
}
