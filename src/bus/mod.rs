//! The NATS JetStream feed and request/reply API (SPEC 6), run by `kamlog serve`.
//!
//! - **Publisher.** The log is the outbox: positions are gap-free, so the publisher needs only a
//!   checkpoint (sled tree `bus`, key `checkpoint`). It publishes every event, in position
//!   order, to `kamlog.events.<account>.<type>` with `Nats-Msg-Id` = `event_id` and the
//!   account's chain head in headers (`Kamlog-Position`, `Kamlog-Version`, `Kamlog-Hash`),
//!   waits for JetStream's acknowledgements, and only then advances the checkpoint. On start it
//!   also reads the last event message already in the stream and resumes after the larger of
//!   the two positions, so a restart long after JetStream's duplicate window duplicates nothing.
//! - **Alerts as learned.** After an account's events are published, its open alerts now are
//!   compared with the open alerts last published (sled tree `bus_alerts`); each difference is
//!   a transition, published to `kamlog.alerts.<account>.<kind>` with a stable `Nats-Msg-Id`
//!   (a hash of account, kind, subject, state and cause). A timer does the same for
//!   time-driven changes (a due date passing, a link aging out), with `at` as the cause.
//! - **Views for dashboards** in the key-value bucket `kamlog_views`: `<account>.<view>`.
//! - **API** (the async-nats `service` API, discoverable by `nats micro`): service `kamlog`
//!   with endpoints `kamlog_api.append` (JSONL body; optional header `Kamlog-Expected-Version`),
//!   `kamlog_api.view` and `kamlog_api.alerts` (JSON bodies). The API subjects stay outside
//!   `kamlog.>` so that the `KAMLOG` stream does not capture requests.

use crate::error::{Error, Result};
use crate::event::jsonl::JsonlReader;
use crate::query::Query;
use crate::store::Store;
use crate::view::{time_str, Policy, Selection, ViewKind};
use async_nats::jetstream::{self, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use chrono::Utc;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub const STREAM: &str = "KAMLOG";
pub const KV_BUCKET: &str = "kamlog_views";
pub const API_PREFIX: &str = "kamlog_api";

/// Options of `kamlog serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub url: String,
    /// How often time-driven alerts are re-evaluated.
    pub tick: Duration,
    /// JetStream's de-duplication window for the stream.
    pub duplicate_window: Duration,
    pub policy: Policy,
}

impl ServeOptions {
    pub fn new(url: &str) -> Self {
        ServeOptions {
            url: url.to_string(),
            tick: Duration::from_secs(60),
            duplicate_window: Duration::from_secs(120),
            policy: Policy::default(),
        }
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("{} kamlog serve: {}", time_str(Utc::now()), msg.as_ref());
}

fn bus_err(e: impl std::fmt::Display) -> Error {
    Error::Bus(e.to_string())
}

fn checkpoint_tree(store: &Store) -> Result<sled::Tree> {
    store
        .db()
        .open_tree("bus")
        .map_err(|e| Error::Storage(e.to_string()))
}

/// The durable publish checkpoint (last position acknowledged by JetStream).
pub fn checkpoint(store: &Store) -> Result<u64> {
    Ok(checkpoint_tree(store)?
        .get(b"checkpoint")
        .map_err(|e| Error::Storage(e.to_string()))?
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0))
}

fn set_checkpoint(store: &Store, position: u64) -> Result<()> {
    let t = checkpoint_tree(store)?;
    t.insert(b"checkpoint", &position.to_be_bytes())
        .map_err(|e| Error::Storage(e.to_string()))?;
    t.flush().map_err(|e| Error::Storage(e.to_string()))?;
    Ok(())
}

/// The position of the last event message in the stream (0 if none), read backwards from
/// the stream's last sequence past any alert messages.
async fn stream_last_position(js: &jetstream::Context) -> Result<u64> {
    let mut s = js.get_stream(STREAM).await.map_err(bus_err)?;
    let info = s.info().await.map_err(bus_err)?;
    let (first, mut seq) = (info.state.first_sequence, info.state.last_sequence);
    let mut looked = 0;
    while seq >= first && seq > 0 && looked < 100_000 {
        match s.get_raw_message(seq).await {
            Ok(m) if m.subject.starts_with("kamlog.events.") => {
                let p = m
                    .headers
                    .get("Kamlog-Position")
                    .and_then(|v| v.as_str().parse::<u64>().ok());
                if let Some(p) = p {
                    return Ok(p);
                }
            }
            Ok(_) => {}
            Err(_) => {} // deleted or purged message
        }
        seq -= 1;
        looked += 1;
    }
    Ok(0)
}

async fn ensure_stream(js: &jetstream::Context, opts: &ServeOptions) -> Result<()> {
    js.get_or_create_stream(stream::Config {
        name: STREAM.to_string(),
        subjects: vec!["kamlog.>".to_string()],
        duplicate_window: opts.duplicate_window,
        ..Default::default()
    })
    .await
    .map_err(bus_err)?;
    Ok(())
}

async fn kv(js: &jetstream::Context) -> Result<jetstream::kv::Store> {
    if let Ok(kv) = js.get_key_value(KV_BUCKET).await {
        return Ok(kv);
    }
    // A KV bucket is a stream `KV_<bucket>` on `$KV.<bucket>.>`. It is created as a stream
    // here because async-nats' `create_key_value` sends settings that the Debian server
    // (2.9.10) answers in a shape the client does not parse.
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{KV_BUCKET}"),
        subjects: vec![format!("$KV.{KV_BUCKET}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(bus_err)?;
    js.get_key_value(KV_BUCKET).await.map_err(bus_err)
}

/// A stable message id for an alert transition.
pub fn transition_id(account: &str, kind: &str, subject: &str, state: &str, cause: &str) -> String {
    crate::event::json::sha256_hex(
        format!("{account}\n{kind}\n{subject}\n{state}\n{cause}").as_bytes(),
    )
}

fn alerts_tree(store: &Store) -> Result<sled::Tree> {
    store
        .db()
        .open_tree("bus_alerts")
        .map_err(|e| Error::Storage(e.to_string()))
}

/// Compares an account's open alerts now with those last published; publishes the
/// transitions, then remembers the new open set.
async fn publish_alerts(
    store: &Store,
    js: &jetstream::Context,
    account: &str,
    cause: Value,
    policy: &Policy,
) -> Result<usize> {
    let sel = Selection::as_of(Utc::now());
    let tracker = Query::new(store, policy)?.walked(account, &sel)?.alerts;
    let now: BTreeMap<String, Value> = tracker
        .open_alerts()
        .into_iter()
        .map(|a| (format!("{}\u{0}{}", a.kind, a.subject), a.detail))
        .collect();
    let tree = alerts_tree(store)?;
    let before: BTreeMap<String, Value> = tree
        .get(account.as_bytes())
        .map_err(|e| Error::Storage(e.to_string()))?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default();
    let keys: BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    let cause_str = cause.to_string();
    let mut acks = Vec::new();
    for k in keys {
        let (state, detail) = match (before.get(k), now.get(k)) {
            (None, Some(d)) => ("raised", d),
            (Some(d), None) => ("resolved", d),
            _ => continue,
        };
        let (kind, subject) = k.split_once('\u{0}').unwrap_or((k, ""));
        let mut msg = json!({"account_id": account, "kind": kind, "subject": subject, "state": state, "detail": detail});
        if let Value::Object(c) = &cause {
            for (ck, cv) in c {
                msg[ck] = cv.clone();
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            transition_id(account, kind, subject, state, &cause_str).as_str(),
        );
        let ack = js
            .publish_with_headers(
                format!("kamlog.alerts.{account}.{kind}"),
                headers,
                Bytes::from(msg.to_string()),
            )
            .await
            .map_err(bus_err)?;
        acks.push(ack);
    }
    let n = acks.len();
    for a in acks {
        a.await.map_err(bus_err)?;
    }
    if n > 0 || before.len() != now.len() {
        tree.insert(
            account.as_bytes(),
            serde_json::to_vec(&now).map_err(bus_err)?,
        )
        .map_err(|e| Error::Storage(e.to_string()))?;
        tree.flush().map_err(|e| Error::Storage(e.to_string()))?;
    }
    Ok(n)
}

/// Puts an account's latest views in the key-value bucket.
async fn publish_views(
    store: &Store,
    kv: &jetstream::kv::Store,
    account: &str,
    policy: &Policy,
) -> Result<()> {
    let sel = Selection::as_of(Utc::now());
    let views = Query::new(store, policy)?.views(account, &sel)?;
    for (kind, v) in ViewKind::ALL.into_iter().zip(views) {
        kv.put(
            format!("{account}.{}", kind.name()),
            Bytes::from(v.to_json().to_string()),
        )
        .await
        .map_err(bus_err)?;
    }
    Ok(())
}

/// Publishes every event after the resume point; returns the new checkpoint.
async fn publish_backlog(
    store: &Store,
    js: &jetstream::Context,
    kv: &jetstream::kv::Store,
    from: u64,
    policy: &Policy,
) -> Result<u64> {
    let mut done = from;
    let mut pending: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        // Only what is durable: an event applied but not yet flushed could still be lost
        // by a crash, and its position reused.
        let durable = store.durable_position();
        let mut batch = Vec::new();
        if durable > done {
            for r in store
                .events_from(done + 1)
                .take((durable - done).min(2048) as usize)
            {
                batch.push(r?);
            }
        }
        if batch.is_empty() {
            for (account, position) in std::mem::take(&mut pending) {
                publish_alerts(store, js, &account, json!({"position": position}), policy).await?;
                publish_views(store, kv, &account, policy).await?;
            }
            return Ok(done);
        }
        let mut acks = Vec::with_capacity(batch.len());
        let mut touched: BTreeMap<String, u64> = BTreeMap::new();
        for e in &batch {
            let raw = store
                .raw_at(e.position)?
                .ok_or_else(|| Error::Corrupt(format!("position {} is missing", e.position)))?;
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", e.event_id.as_str());
            headers.insert("Kamlog-Position", e.position.to_string().as_str());
            headers.insert("Kamlog-Version", e.version.to_string().as_str());
            headers.insert("Kamlog-Hash", e.hash.as_str());
            let subject = format!("kamlog.events.{}.{}", e.account_id, e.type_name());
            acks.push(
                js.publish_with_headers(subject, headers, Bytes::from(raw))
                    .await
                    .map_err(bus_err)?,
            );
            touched.insert(e.account_id.clone(), e.position);
        }
        for a in acks {
            a.await.map_err(bus_err)?;
        }
        done = batch.last().map(|e| e.position).unwrap_or(done);
        set_checkpoint(store, done)?;
        pending.extend(touched);
        if store.durable_position() > done {
            continue;
        }
        // Caught up: what the new events changed in each touched account's alerts and views.
        // (Done once per catch-up rather than per batch, so that a long backlog drains at the
        // speed of publishing. A crash before this point is covered by the full alert pass at
        // start and on every tick.)
        for (account, position) in std::mem::take(&mut pending) {
            publish_alerts(store, js, &account, json!({"position": position}), policy).await?;
            publish_views(store, kv, &account, policy).await?;
        }
    }
}

/// The publisher: runs until `stop` is notified; reconnects and retries with backoff.
async fn publisher(
    store: Store,
    client: async_nats::Client,
    opts: ServeOptions,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
) {
    let js = jetstream::new(client);
    let mut backoff = Duration::from_millis(100);
    // The first round does a full alert pass (anything learned but not published before a
    // crash or restart).
    let mut last_tick = std::time::Instant::now() - opts.tick;
    loop {
        let round = async {
            ensure_stream(&js, &opts).await?;
            let kv = kv(&js).await?;
            let start = checkpoint(&store)?.max(stream_last_position(&js).await?);
            let done = publish_backlog(&store, &js, &kv, start, &opts.policy).await?;
            if last_tick.elapsed() >= opts.tick {
                last_tick = std::time::Instant::now();
                let at = json!({"at": time_str(Utc::now())});
                for h in store.heads()? {
                    publish_alerts(&store, &js, &h.account_id, at.clone(), &opts.policy).await?;
                }
            }
            Ok::<u64, Error>(done)
        };
        match round.await {
            Ok(_) => backoff = Duration::from_millis(100),
            Err(e) => {
                log(format!(
                    "publishing failed ({e}); retrying in {} ms",
                    backoff.as_millis()
                ));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.notified() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            // Appends made in this process by the library (not through the API) are picked up
            // by this short poll; the API wakes the publisher at once.
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            _ = stop.notified() => return,
        }
    }
}

/// Answers one API request.
async fn handle(
    store: &Store,
    endpoint: &str,
    headers: Option<&HeaderMap>,
    body: &[u8],
    policy: &Policy,
) -> Result<Value> {
    match endpoint {
        "append" => {
            let expected = headers
                .and_then(|h| h.get("Kamlog-Expected-Version"))
                .map(|v| {
                    v.as_str().parse::<u64>().map_err(|_| {
                        Error::Usage("Kamlog-Expected-Version must be a number".into())
                    })
                })
                .transpose()?;
            let mut events = Vec::new();
            let mut lines = Vec::new();
            for (n, r) in JsonlReader::new(body) {
                events.push(r?);
                lines.push(n);
            }
            let store = store.clone();
            let policy = policy.clone();
            let out = tokio::task::spawn_blocking(move || {
                let out = store
                    .append(events, expected)
                    .map_err(|e| e.with_lines(&lines))?;
                let accounts: BTreeSet<&str> =
                    out.events.iter().map(|e| e.account_id.as_str()).collect();
                Query::new(&store, &policy)?.refresh_accounts(accounts)?;
                Ok::<_, Error>(out)
            })
            .await
            .map_err(bus_err)??;
            Ok(
                json!({"ok": true, "stored": out.stored(), "duplicates": out.duplicates(),
                "events": out.events.iter().map(|e| json!({"event_id": e.event_id, "account_id": e.account_id,
                    "version": e.version, "position": e.position, "hash": e.hash, "duplicate": e.duplicate})).collect::<Vec<_>>()}),
            )
        }
        "view" | "alerts" => {
            let req: Value = serde_json::from_slice(body)
                .map_err(|e| Error::Usage(format!("request is not JSON: {e}")))?;
            let time = |field: &str| {
                req[field]
                    .as_str()
                    .map(|s| crate::query::parse_time(field, s))
                    .transpose()
            };
            let sel = crate::query::selection(time("as_of")?, time("known_at")?, Utc::now());
            let q = Query::new(store, policy)?;
            if endpoint == "view" {
                let account = req["account"]
                    .as_str()
                    .ok_or_else(|| Error::Usage("view needs \"account\"".into()))?;
                let kind = req["view"]
                    .as_str()
                    .and_then(ViewKind::parse)
                    .ok_or_else(|| {
                        Error::Usage(
                            "view needs \"view\": coverage|stage|value|classification|economics"
                                .into(),
                        )
                    })?;
                if store.head(account)?.is_none() {
                    return Err(Error::Usage(format!("no account {account} in the store")));
                }
                Ok(q.view(account, kind, &sel)?.to_json())
            } else {
                let doc = q.alerts(
                    req["account"].as_str(),
                    &sel,
                    req["history"].as_bool().unwrap_or(false),
                )?;
                Ok(serde_json::to_value(doc).map_err(bus_err)?)
            }
        }
        other => Err(Error::Usage(format!("unknown endpoint {other}"))),
    }
}

/// The request/reply API.
async fn api(
    store: Store,
    client: async_nats::Client,
    policy: Policy,
    wake: Arc<Notify>,
) -> Result<()> {
    use async_nats::service::ServiceExt;
    use futures_util::StreamExt;
    let service = client
        .service_builder()
        .description("kamlog: key account relationship history")
        .start("kamlog", env!("CARGO_PKG_VERSION"))
        .await
        .map_err(bus_err)?;
    let group = service.group(API_PREFIX);
    let mut endpoints = Vec::new();
    for name in ["append", "view", "alerts"] {
        let ep = group.endpoint(name).await.map_err(bus_err)?;
        endpoints.push(ep.map(move |r| (name, r)));
    }
    let mut all = futures_util::stream::select_all(endpoints);
    while let Some((name, request)) = all.next().await {
        let store = store.clone();
        let policy = policy.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            let res = handle(
                &store,
                name,
                request.message.headers.as_ref(),
                &request.message.payload,
                &policy,
            )
            .await;
            if name == "append" {
                wake.notify_one();
            }
            let reply = match res {
                Ok(v) => Ok(Bytes::from(v.to_string())),
                // Errors are replies too, with the message in the body.
                Err(e) => Ok(Bytes::from(
                    json!({"ok": false, "error": e.to_string()}).to_string(),
                )),
            };
            let _ = request.respond(reply).await;
        });
    }
    Ok(())
}

/// Runs `kamlog serve` until `shutdown` completes.
pub async fn serve(
    store: Store,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let url = opts.url.clone();
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .event_callback(|event| async move { log(format!("nats: {event}")) })
        .connect(url.as_str())
        .await
        .map_err(bus_err)?;
    log(format!(
        "serving the store at {} on {url}",
        store.dir().display()
    ));
    let wake = Arc::new(Notify::new());
    let stop = Arc::new(Notify::new());
    let publisher = tokio::spawn(publisher(
        store.clone(),
        client.clone(),
        opts.clone(),
        wake.clone(),
        stop.clone(),
    ));
    let api = tokio::spawn(api(
        store.clone(),
        client.clone(),
        opts.policy.clone(),
        wake,
    ));
    shutdown.await;
    log("stopping");
    stop.notify_waiters();
    api.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), publisher).await;
    let _ = client.flush().await;
    store.flush()?;
    Ok(())
}

/// A request to a running `kamlog serve` (the CLI's `--nats` mode).
pub async fn request(
    url: &str,
    endpoint: &str,
    headers: Option<HeaderMap>,
    body: Vec<u8>,
) -> Result<Value> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(Duration::from_secs(60)))
        .connect(url)
        .await
        .map_err(|e| Error::Bus(format!("cannot reach NATS at {url}: {e}")))?;
    let subject = format!("{API_PREFIX}.{endpoint}");
    let msg = match headers {
        Some(h) => {
            client
                .request_with_headers(subject, h, Bytes::from(body))
                .await
        }
        None => client.request(subject, Bytes::from(body)).await,
    }
    .map_err(|e| Error::Bus(format!("no answer from kamlog serve on {url}: {e}")))?;
    serde_json::from_slice(&msg.payload).map_err(|e| Error::Bus(format!("bad reply: {e}")))
}
