//! The request/reply API of `kamlog serve` (the async-nats `service` API, discoverable by
//! `nats micro`), and its client side (the CLI's `--nats` mode). Service `kamlog`:
//! - every command of SPEC 7 on a store, `<prefix>_api.read.<command>` for those that only
//!   read and `<prefix>_api.write.<command>` for those that change the store (SPEC 6 v2), with
//!   a [`Call`] body (`{"command", …its arguments, "json"}`) and a [`Reply`] answer (`exit`,
//!   `stdout`, `stderr`): exactly what the CLI prints on `--data`, run by the same code;
//! - the typed endpoints of SPEC 6 v1, kept for programs: `<prefix>_api.append` (a JSONL body,
//!   optional header `Kamlog-Expected-Version`), `<prefix>_api.view` and `<prefix>_api.alerts`
//!   (JSON bodies, JSON documents back).
//!
//! Every request is answered on a blocking thread, so a long view or a large append never
//! stalls the runtime that runs the publisher and the other requests. A request is bounded
//! before it is parsed: at most [`MAX_REQUEST_BYTES`] and [`MAX_BATCH_EVENTS`] lines.

use super::connection::{
    is_permission_violation, server_error_words, ConnectFailure, Connection, CONNECT_TIMEOUT,
};
use super::{bus_err, Names};
use crate::command::{Call, Reply, Request};
use crate::error::{Error, Result};
use crate::event::jsonl::JsonlReader;
use crate::query::Query;
use crate::store::{Store, MAX_BATCH_EVENTS};
use crate::view::{Policy, ViewKind};
use async_nats::HeaderMap;
use bytes::Bytes;
use chrono::Utc;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The largest request body accepted (the server's `max_payload` is usually far lower).
pub const MAX_REQUEST_BYTES: usize = 64 << 20;

/// Refuses a request body that is too large before anything of it is parsed.
fn bounded(body: &[u8]) -> Result<()> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(Error::Usage(format!(
            "the request is {} bytes; the most accepted is {MAX_REQUEST_BYTES} bytes: send it in parts",
            body.len()
        )));
    }
    let lines = body.iter().filter(|b| **b == b'\n').count()
        + usize::from(body.last().is_some_and(|b| *b != b'\n'));
    if lines > MAX_BATCH_EVENTS {
        return Err(Error::Usage(format!(
            "the request holds {lines} lines; one append takes at most {MAX_BATCH_EVENTS} events: send it in parts (or use import)"
        )));
    }
    Ok(())
}

/// Answers one API request (on a blocking thread).
fn handle(
    store: &Store,
    endpoint: &str,
    headers: Option<&HeaderMap>,
    body: &[u8],
    policy: &Policy,
) -> Result<Value> {
    bounded(body)?;
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
            // The touched accounts' checkpoints are brought up to date by the publisher's alert
            // pass that follows (or by the first read): the append answers once durable.
            let out = store
                .append(events, expected)
                .map_err(|e| e.with_lines(&lines))?;
            Ok(
                json!({"ok": true, "stored": out.stored(), "duplicates": out.duplicates(),
                "events": out.events.iter().map(|e| json!({"event_id": e.event_id, "account_id": e.account_id,
                    "version": e.version, "position": e.position, "hash": e.hash, "duplicate": e.duplicate})).collect::<Vec<_>>()}),
            )
        }
        "view" | "alerts" => {
            let req: Value = serde_json::from_slice(body)
                .map_err(|e| Error::Usage(format!("the request is not JSON: {e}")))?;
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
                        Error::Usage(format!(
                            "view needs \"view\": {}",
                            ViewKind::ALL.map(|k| k.name()).join("|")
                        ))
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

/// The `Nats-Service-Error-Code` of a failure: its HTTP-like status ([`Error::status`]).
pub fn error_code(e: &Error) -> usize {
    usize::from(e.status())
}

/// Which endpoint a request came in on.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// A typed endpoint of SPEC 6 v1: `append`, `view` or `alerts`.
    Typed(&'static str),
    /// A command of the CLI, on its `read` or `write` endpoint.
    Command {
        access: &'static str,
        name: &'static str,
    },
}

impl Route {
    fn writes(self) -> bool {
        match self {
            Route::Typed(name) | Route::Command { name, .. } => Request::WRITERS.contains(&name),
        }
    }
}

/// Runs a command of the CLI for a `--nats` client: the same code as on `--data`.
fn run_command(
    store: &Store,
    access: &str,
    command: &str,
    body: &[u8],
    policy: &Policy,
) -> Result<Value> {
    bounded(body)?;
    let call: Call = serde_json::from_slice(body)
        .map_err(|e| Error::Usage(format!("the request is not a {command} call: {e}")))?;
    if call.request.name() != command || call.request.writes() != (access == "write") {
        return Err(Error::Usage(format!(
            "a {} request sent to the {access}.{command} endpoint",
            call.request.name()
        )));
    }
    let reply = crate::command::capture(store, policy, &call.request, call.json, call.color)?;
    serde_json::to_value(reply).map_err(bus_err)
}

/// Serves the API until the task is aborted.
pub(super) async fn run(
    store: Store,
    client: async_nats::Client,
    names: Names,
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
    let group = service.group(names.api.clone());
    let mut endpoints = Vec::new();
    // Each endpoint names the schemas (under `schemas/`) of its request and reply.
    let meta = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    for (name, request, reply) in [
        (
            "append",
            "JSONL, each line envelope.schema.json",
            "append.schema.json",
        ),
        (
            "view",
            "{account, view, as_of?, known_at?}",
            "view.<view>.schema.json",
        ),
        (
            "alerts",
            "{account?, as_of?, known_at?, history?}",
            "alerts.schema.json",
        ),
    ] {
        let ep = group
            .endpoint_builder()
            .metadata(meta(&[("request", request), ("reply_schema", reply)]))
            .add(name)
            .await
            .map_err(bus_err)?;
        endpoints.push(ep.map(move |r| (Route::Typed(name), r)).boxed());
    }
    for (access, writes) in [("read", false), ("write", true)] {
        let g = service.group(format!("{}.{access}", names.api));
        for name in Request::NAMES {
            if Request::WRITERS.contains(&name) == writes {
                let ep = g
                    .endpoint_builder()
                    .metadata(meta(&[
                        ("request_schema", "api.call.schema.json"),
                        ("reply_schema", "api.reply.schema.json"),
                        ("access", access),
                    ]))
                    .add(name)
                    .await
                    .map_err(bus_err)?;
                let route = Route::Command { access, name };
                endpoints.push(ep.map(move |r| (route, r)).boxed());
            }
        }
    }
    let mut all = futures_util::stream::select_all(endpoints);
    while let Some((route, request)) = all.next().await {
        let store = store.clone();
        let policy = policy.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            let headers = request.message.headers.clone();
            let payload = request.message.payload.clone();
            let res = tokio::task::spawn_blocking(move || match route {
                Route::Command { access, name } => {
                    run_command(&store, access, name, &payload, &policy)
                }
                Route::Typed(name) => handle(&store, name, headers.as_ref(), &payload, &policy),
            })
            .await
            .unwrap_or_else(|e| Err(Error::Bus(format!("the request failed: {e}"))));
            if route.writes() {
                wake.notify_one();
            }
            let reply = match res {
                Ok(v) => Ok(Bytes::from(v.to_string())),
                // A failure sets the standard Nats-Service-Error and -Code headers (and counts
                // in `$SRV.STATS`).
                Err(e) => Err(async_nats::service::error::Error {
                    code: error_code(&e),
                    status: e.to_string().replace(['\r', '\n'], " "),
                }),
            };
            let _ = request.respond(reply).await;
        });
    }
    Ok(())
}

/// Runs a command through a running `kamlog serve`: what it printed and its exit status. A
/// failure comes back as the error it was (a usage error stays one).
pub async fn call(conn: &Connection, names: &Names, call: &Call) -> Result<Reply> {
    let access = if call.request.writes() {
        "write"
    } else {
        "read"
    };
    let endpoint = format!("{access}.{}", call.request.name());
    let body = serde_json::to_vec(call).map_err(bus_err)?;
    let v = request_to(conn, names, &endpoint, None, body).await?;
    if v["ok"] == Value::Bool(false) {
        let msg = v["error"]
            .as_str()
            .unwrap_or("the request failed")
            .to_string();
        return Err(match v["code"].as_u64() {
            Some(400) => Error::Usage(msg),
            Some(404) => Error::NotFound(msg),
            _ => Error::Bus(msg),
        });
    }
    serde_json::from_value(v).map_err(|e| {
        Error::Bus(format!(
            "the reply of kamlog serve is not a command's output: {e}"
        ))
    })
}

/// A request to a running `kamlog serve` with the default names (the CLI's `--nats` mode).
pub async fn request(
    conn: &Connection,
    endpoint: &str,
    headers: Option<HeaderMap>,
    body: Vec<u8>,
) -> Result<Value> {
    request_to(conn, &Names::default(), endpoint, headers, body).await
}

/// A request to a running `kamlog serve` whose names derive from a `--nats-prefix`. A failure
/// (the `Nats-Service-Error` headers) comes back as `{"ok": false, "error", "code"}`; a refused
/// connection, a TLS failure or a permission violation (this user may not publish to the
/// endpoint's subject, or receive its reply) is an error naming the server and the subject.
pub async fn request_to(
    conn: &Connection,
    names: &Names,
    endpoint: &str,
    headers: Option<HeaderMap>,
    body: Vec<u8>,
) -> Result<Value> {
    // The server reports a permission violation asynchronously (the request itself would only
    // time out): the connection's events are watched beside the request.
    let (violations, mut violated) = tokio::sync::mpsc::unbounded_channel::<String>();
    let events_conn = conn.clone();
    let client = conn
        .connect(move |o| {
            o.connection_timeout(CONNECT_TIMEOUT)
                .request_timeout(Some(Duration::from_secs(60)))
                .event_callback(move |event| {
                    if let async_nats::Event::ServerError(e) = &event {
                        if is_permission_violation(e) {
                            let _ = violations.send(server_error_words(&events_conn, e));
                        }
                    }
                    async {}
                })
        })
        .await
        .map_err(ConnectFailure::into_error)?;
    let subject = format!("{}.{endpoint}", names.api);
    let sent = async {
        match headers {
            Some(h) => {
                client
                    .request_with_headers(subject.clone(), h, Bytes::from(body))
                    .await
            }
            None => client.request(subject.clone(), Bytes::from(body)).await,
        }
    };
    let msg = tokio::select! {
        r = sent => r.map_err(|e| Error::Bus(format!("no answer from kamlog serve on {conn} ({subject}): {e}")))?,
        Some(words) = violated.recv() => {
            return Err(Error::Bus(format!("{words}: this user may not call {subject}, so the request was not delivered")));
        }
    };
    if let Some(status) = msg
        .headers
        .as_ref()
        .and_then(|h| h.get(async_nats::service::NATS_SERVICE_ERROR))
    {
        let code = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::service::NATS_SERVICE_ERROR_CODE))
            .and_then(|c| c.as_str().parse::<u64>().ok());
        return Ok(json!({"ok": false, "error": status.as_str(), "code": code}));
    }
    serde_json::from_slice(&msg.payload)
        .map_err(|e| Error::Bus(format!("the reply of kamlog serve is not JSON: {e}")))
}
