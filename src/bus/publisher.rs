//! The publisher of `kamlog serve` (SPEC 6): the log is the outbox.
//!
//! Positions are gap-free, so the feed is "every event after the last one in the stream". The
//! publisher [syncs](resync) on start and after every failure: it reads where the stream ends
//! (a missing or emptied stream is refilled from the store; a stream that lost its tail is
//! refilled from there), reconciles its record of published alerts with the stream, and resumes
//! after the stream's last event. Events go out in position order through the [`Feed`], which
//! stores each message only directly after its predecessor, so no hole can open.
//!
//! Alert transitions and the dashboard views are computed off the async runtime (a blocking
//! task, one at a time): after events are published, for the accounts they touched; and on
//! start and every tick, for every account (time-driven changes). Events keep flowing while a
//! pass runs; its transitions are published when it finishes, behind the events that caused
//! them (a pass only publishes transitions whose cause is already in the stream).

use super::alerts::{self, Message, Published};
use super::feed::Feed;
use super::kv::Views;
use super::{log, ServeOptions};
use crate::error::{Error, Result};
use crate::event::StoredEvent;
use crate::query::Query;
use crate::store::{storage, Store};
use crate::view::{Selection, ViewKind};
use async_nats::HeaderMap;
use bytes::Bytes;
use chrono::Utc;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The most events sent before their acknowledgements are awaited.
const EVENT_BATCH: u64 = 2048;

fn meta_tree(store: &Store) -> Result<sled::Tree> {
    store.db().open_tree("bus").map_err(storage)
}

fn get_meta(store: &Store, key: &str) -> Result<u64> {
    Ok(meta_tree(store)?
        .get(key.as_bytes())
        .map_err(storage)?
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0))
}

fn set_meta(store: &Store, key: &str, v: u64) -> Result<()> {
    meta_tree(store)?
        .insert(key.as_bytes(), &v.to_be_bytes())
        .map_err(storage)?;
    Ok(())
}

/// The last position the publisher saw acknowledged in the stream (informational: the
/// publisher resumes after the stream's last event, not after this).
pub fn checkpoint(store: &Store) -> Result<u64> {
    get_meta(store, "checkpoint")
}

/// What an alert pass computed.
struct Pass {
    /// The stream generation it was planned against (a sync in between discards it).
    generation: u64,
    accounts: Vec<(String, Vec<Message>, Published)>,
    views: Vec<(String, Bytes)>,
    /// Every account it was asked about (queued again if publishing it fails).
    asked: Vec<String>,
}

struct Publisher {
    store: Store,
    opts: ServeOptions,
    feed: Feed,
    views: Option<Views>,
    /// The personal-data bucket (SPEC 10).
    personal: Option<super::personal::Personal>,
    stop: watch::Receiver<bool>,
    synced: bool,
    generation: u64,
    /// The last position in the stream.
    done: u64,
    /// Accounts whose alerts and views are due.
    pending: BTreeSet<String>,
    next_full_pass: Instant,
    pass: Option<JoinHandle<Result<Pass>>>,
}

/// Runs the publisher until `stop` turns true.
pub(super) async fn run(
    store: Store,
    client: async_nats::Client,
    opts: ServeOptions,
    wake: std::sync::Arc<tokio::sync::Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .ack_timeout(Duration::from_secs(5))
        .build(client);
    let mut p = Publisher {
        feed: Feed::new(js, opts.names.clone(), opts.duplicate_window),
        store,
        opts,
        views: None,
        personal: None,
        stop: stop.clone(),
        synced: false,
        generation: 0,
        done: 0,
        pending: BTreeSet::new(),
        next_full_pass: Instant::now(),
        pass: None,
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        // A round waits on NATS (up to its timeouts) and is given up at once on stop: what it
        // leaves half done is made good by the next start's sync.
        let round = tokio::select! {
            r = p.round() => r,
            _ = stop.changed() => return,
        };
        let more = match round {
            Ok(more) => {
                backoff = Duration::from_millis(100);
                more
            }
            Err(e) => {
                p.synced = false;
                log(format!(
                    "publishing failed ({e}); retrying in {} ms",
                    backoff.as_millis()
                ));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        if more {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            // Appends made in this process by the library (not through the API) are picked up
            // by this short poll, as is the end of an alert pass; the API wakes it at once.
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            _ = stop.changed() => return,
        }
    }
}

impl Publisher {
    /// One round: sync if needed, publish events, publish a finished alert pass, start the
    /// next. Returns whether events are still waiting.
    async fn round(&mut self) -> Result<bool> {
        if !self.synced {
            self.resync().await?;
        }
        let more = self.publish_events().await?;
        if self.pass.as_ref().is_some_and(|h| h.is_finished()) {
            let h = self.pass.take().expect("checked");
            let pass = h
                .await
                .map_err(|e| Error::Bus(format!("the alert pass stopped: {e}")))??;
            if pass.generation == self.generation {
                let asked = pass.asked.clone();
                if let Err(e) = self.publish_pass(pass).await {
                    self.pending.extend(asked);
                    return Err(e);
                }
            } else {
                self.pending.extend(pass.asked);
            }
        }
        self.start_pass();
        Ok(more)
    }

    /// Reads where the stream ends and makes the record of published alerts agree with it.
    async fn resync(&mut self) -> Result<()> {
        self.generation += 1;
        let end = self.feed.sync().await?;
        let store = self.store.clone();
        let recorded = get_meta(&store, "alerts_through")?;
        if end.last_position == 0 && checkpoint(&store)? > 0 {
            log("the stream holds no event: refilling it from the store");
            alerts::clear(&store)?;
        } else if recorded > end.last_seq {
            log(format!(
                "the stream ends at sequence {} but {recorded} messages were acknowledged: it lost its tail; refilling from position {}",
                end.last_seq,
                end.last_position + 1
            ));
            for (account, mut p) in alerts::all(&store)? {
                if p.truncate(end.last_seq) {
                    alerts::save(&store, &account, &p)?;
                }
            }
        } else if recorded < end.last_seq {
            // Stored but not recorded before the process stopped: read them back.
            let prefix = format!("{}.alerts.", self.opts.names.prefix);
            for (seq, subject, payload) in self
                .feed
                .read(
                    recorded.max(end.first_seq.saturating_sub(1)) + 1,
                    end.last_seq,
                )
                .await?
            {
                if !subject.starts_with(prefix.as_str()) {
                    continue;
                }
                if let Some(m) = Message::parse(&payload) {
                    let mut p = alerts::load(&store, &m.account_id)?;
                    p.note(&m, seq);
                    alerts::save(&store, &m.account_id, &p)?;
                }
            }
        }
        set_meta(&store, "alerts_through", end.last_seq)?;
        set_meta(&store, "checkpoint", end.last_position)?;
        let mut durable = store.durable_position();
        // On a cluster another process may have published events this process's mirror has
        // not read yet: wait for the mirror (it follows the log every 200 ms).
        let waited = Instant::now();
        while end.last_position > durable
            && store.cluster().is_some()
            && waited.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
            durable = store.durable_position();
        }
        if end.last_position > durable {
            return Err(Error::Bus(format!(
                "the stream {} holds position {} but this store ends at {durable}: it is another store's stream (use another --nats-prefix)",
                self.opts.names.stream, end.last_position
            )));
        }
        self.done = end.last_position;
        if self.views.is_none() {
            self.views = Some(Views::open(self.feed.js(), &self.opts.names).await?);
        }
        if self.personal.is_none() {
            self.personal =
                Some(super::personal::Personal::open(self.feed.js(), &self.opts.names).await?);
        }
        self.synced = true;
        Ok(())
    }

    /// Publishes up to one batch of the events after the stream's last one.
    async fn publish_events(&mut self) -> Result<bool> {
        let durable = self.store.durable_position();
        if durable <= self.done {
            return Ok(false);
        }
        let to = durable.min(self.done + EVENT_BATCH);
        let mut batch = Vec::with_capacity((to - self.done) as usize);
        self.store.scan_between(self.done + 1, to, |p, bytes| {
            let e = StoredEvent::decode(bytes).map_err(|e| {
                Error::Corrupt(format!("event at position {p} cannot be read: {e}"))
            })?;
            batch.push((e, Bytes::copy_from_slice(bytes)));
            Ok(())
        })?;
        let prefix = &self.opts.names.prefix;
        for (e, raw) in &batch {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", e.event_id.as_str());
            headers.insert("Kamlog-Position", e.position.to_string().as_str());
            headers.insert("Kamlog-Version", e.version.to_string().as_str());
            headers.insert("Kamlog-Hash", e.hash.as_str());
            let subject = format!("{prefix}.events.{}.{}", e.account_id, e.type_name());
            self.feed.send(subject, headers, raw.clone()).await?;
        }
        let seqs = self.feed.settle().await?;
        self.publish_personal(&batch).await?;
        self.done = to;
        set_meta(&self.store, "checkpoint", to)?;
        if let Some(last) = seqs.last() {
            set_meta(&self.store, "alerts_through", *last)?;
        }
        for (e, _) in batch {
            self.pending.insert(e.account_id);
        }
        Ok(durable > to)
    }

    /// The personal values of a published batch's people to the personal bucket, and their
    /// erasure from it (SPEC 10).
    async fn publish_personal(&self, batch: &[(StoredEvent, Bytes)]) -> Result<()> {
        let Some(bucket) = &self.personal else {
            return Ok(());
        };
        // The vaults are read off the runtime: on a cluster a read is a blocking request.
        let accounts: BTreeSet<String> = batch
            .iter()
            .filter(|(e, _)| crate::personal::subject(&e.data).is_some())
            .map(|(e, _)| e.account_id.clone())
            .collect();
        let store = self.store.clone();
        let vaults = tokio::task::spawn_blocking(move || {
            accounts
                .into_iter()
                .map(|a| store.vault().account(&a).map(|v| (a, v)))
                .collect::<Result<std::collections::HashMap<_, _>>>()
        })
        .await
        .map_err(|e| Error::Bus(format!("reading the vault failed: {e}")))??;
        for (e, _) in batch {
            if let crate::event::EventData::PersonalDataErased(d) = &e.data {
                bucket.erase(&e.account_id, &d.subject, &d.id).await?;
            } else if let Some((subject, id)) = crate::personal::subject(&e.data) {
                if let Some(vault) = vaults.get(&e.account_id) {
                    bucket.put(&e.account_id, subject, id, vault).await?;
                }
            }
        }
        Ok(())
    }

    /// Starts an alert pass if none runs and one is due.
    fn start_pass(&mut self) {
        if self.pass.is_some() || !self.synced {
            return;
        }
        let full = Instant::now() >= self.next_full_pass;
        if !full && self.pending.is_empty() {
            return;
        }
        let touched: Vec<String> = std::mem::take(&mut self.pending).into_iter().collect();
        if full {
            self.next_full_pass = Instant::now() + self.opts.tick;
        }
        let (store, policy, stop) = (
            self.store.clone(),
            self.opts.policy.clone(),
            self.stop.clone(),
        );
        let (generation, through) = (self.generation, self.done);
        self.pass = Some(tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let accounts: Vec<String> = if full {
                store.heads()?.into_iter().map(|h| h.account_id).collect()
            } else {
                touched.clone()
            };
            if full {
                log(format!(
                    "alert pass over {} started",
                    crate::command::count(accounts.len(), "account", "accounts")
                ));
            }
            // Views and alert details on the bus keep commitments: personal values go only to
            // the personal bucket (SPEC 10).
            let q = Query::new(&store, &policy)?.concealed();
            let sel = Selection::as_of(Utc::now());
            let mut pass = Pass {
                generation,
                accounts: Vec::new(),
                views: Vec::new(),
                asked: accounts.clone(),
            };
            let touched: BTreeSet<String> = touched.into_iter().collect();
            for a in accounts {
                if *stop.borrow() {
                    return Err(Error::Bus("stopping".into()));
                }
                let w = q.walked(&a, &sel)?;
                let published = alerts::load(&store, &a)?;
                let msgs = alerts::plan(&a, &w.alerts.transitions, &published, through);
                if !msgs.is_empty() {
                    pass.accounts.push((a.clone(), msgs, published));
                }
                if touched.contains(&a) {
                    for kind in ViewKind::ALL {
                        let v = crate::query::render(kind, &w, &sel, &policy);
                        pass.views.push((
                            format!("{a}.{}", kind.name()),
                            Bytes::from(v.to_json().to_string()),
                        ));
                    }
                }
            }
            if full {
                log(format!(
                    "alert pass over {} finished in {} ms",
                    crate::command::count(pass.asked.len(), "account", "accounts"),
                    started.elapsed().as_millis()
                ));
            }
            Ok(pass)
        }));
    }

    /// Publishes a finished pass: its transitions, then its views.
    async fn publish_pass(&mut self, pass: Pass) -> Result<()> {
        let prefix = self.opts.names.prefix.clone();
        let mut sent = 0;
        for (_, msgs, published) in &pass.accounts {
            for m in msgs {
                let mut headers = HeaderMap::new();
                headers.insert("Nats-Msg-Id", m.id(published).as_str());
                headers.insert("Kamlog-Account", m.account_id.as_str());
                headers.insert("Kamlog-Kind", m.kind.as_str());
                self.feed
                    .send(
                        format!("{prefix}.alerts.{}.{}", m.account_id, m.kind),
                        headers,
                        Bytes::from(serde_json::to_vec(&m.body()).map_err(super::bus_err)?),
                    )
                    .await?;
                sent += 1;
            }
        }
        if sent > 0 {
            let seqs = self.feed.settle().await?;
            let mut seqs = seqs.into_iter();
            for (account, msgs, mut published) in pass.accounts {
                for m in &msgs {
                    published.note(m, seqs.next().expect("one sequence per message"));
                }
                alerts::save(&self.store, &account, &published)?;
            }
            set_meta(&self.store, "alerts_through", self.feed.last_seq())?;
        }
        // The views go to the bucket beside the stream, concurrently, so that the events that
        // keep arriving are not held up by them; a failed put is logged (the next pass of the
        // account puts it again).
        if let Some(v) = &self.views {
            let v = v.clone();
            tokio::spawn(async move {
                let puts = pass.views.into_iter().map(|(key, value)| v.put(key, value));
                for r in futures_util::future::join_all(puts).await {
                    if let Err(e) = r {
                        log(format!("a view was not put in the bucket: {e}"));
                    }
                }
            });
        }
        Ok(())
    }
}
