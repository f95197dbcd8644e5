//! The NATS JetStream feed and API against a real `nats-server -js`, started by each test on a
//! free port in a temporary directory (and killed by it for the fault tests).
//!
//! Each test ends by reading the whole stream back and counting every message.

mod common;

use async_nats::jetstream;
use common::feed::*;
use common::nats::{free_port, Nats};
use common::*;
use kamlog::bus::{self, ServeOptions};
use kamlog::Store;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A schema published under `schemas/`.
fn published_schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn workload(seed: u64, accounts: usize, n: u64) -> Vec<Value> {
    kamlog::workload::Workload::new(seed, accounts, n).collect()
}

async fn append_async(store: &Store, events: Vec<Value>) {
    let store = store.clone();
    tokio::task::spawn_blocking(move || append(&store, &events).unwrap())
        .await
        .unwrap();
}

fn serve_in_process(
    store: &Store,
    url: &str,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut opts = ServeOptions::new(url);
    opts.tick = Duration::from_secs(1);
    let store = store.clone();
    let h = tokio::spawn(async move {
        bus::serve(store, opts, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (h, tx)
}

fn all_events(store: &Store) -> Vec<kamlog::event::StoredEvent> {
    store.events_from(1).map(|e| e.unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_once_in_order_with_headers_and_alerts_follow() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start_on(free_port(), &dir.path().join("js"));
    let store = Store::open(dir.path().join("data")).unwrap();
    let (h, stop) = serve_in_process(&store, &nats.url());
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/replays/champion-departs/events.jsonl"
    ))
    .unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    append_async(&store, events).await;
    wait_for_events(&nats.url(), 12, 30).await;
    // Alert transitions of the account are published after its events are acknowledged.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs = read_stream(&nats.url()).await;
    // The latest views are in the key-value bucket.
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value(bus::KV_BUCKET).await.unwrap();
    let coverage: Value = serde_json::from_slice(
        &kv.get("globex.coverage")
            .await
            .unwrap()
            .expect("a coverage entry"),
    )
    .unwrap();
    assert_eq!(coverage["account_id"], json!("globex"));
    assert_eq!(
        coverage["key_stakeholders"][0]["stakeholder_id"],
        json!("s-eli")
    );
    stop.send(()).unwrap();
    h.await.unwrap();
    assert_exactly_once(&all_events(&store), &msgs);
    let alerts: Vec<&Value> = msgs
        .iter()
        .filter(|m| m.0.starts_with("kamlog.alerts.globex."))
        .map(|m| &m.2)
        .collect();
    // SPEC 6 v2: the business-time transitions, in order: first those of the replay's
    // hand-derived history (up to its as-of, 2024-04-01), then only time-driven ones.
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/replays/champion-departs/expected/alerts.history.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let expected = expected["alerts"].as_array().unwrap();
    assert!(alerts.len() >= expected.len(), "{alerts:#?}");
    // SPEC 10: a name in an alert message is a commitment, which the vault opens to the name
    // of the hand-derived detail.
    let vault = store.vault().account("globex").unwrap();
    for (m, e) in alerts.iter().zip(expected) {
        for field in [
            "account_id",
            "kind",
            "subject",
            "severity",
            "state",
            "position",
            "at",
        ] {
            assert_eq!(m[field], e[field], "{field} of {m}");
        }
        let mut detail = m["detail"].clone();
        if let Some(c) = detail.get("name").and_then(Value::as_str) {
            assert!(
                kamlog::personal::is_commitment(c),
                "a value on the bus: {m}"
            );
            detail["name"] = json!(vault.value(c).expect("the vault opens it"));
        }
        assert_eq!(detail, e["detail"], "detail of {m}");
    }
    for m in &alerts[expected.len()..] {
        assert!(
            m["position"].is_null(),
            "only time-driven changes after the replay: {m}"
        );
        assert!(m["at"].as_str().unwrap() > "2024-04-01", "{m}");
    }
    for m in msgs.iter().filter(|m| m.0.starts_with("kamlog.alerts.")) {
        assert_eq!(
            m.0,
            format!("kamlog.alerts.globex.{}", m.2["kind"].as_str().unwrap())
        );
        // The id is derived from what the transition is.
        assert_eq!(
            m.1,
            bus::transition_id(
                "globex",
                m.2["kind"].as_str().unwrap(),
                m.2["subject"].as_str().unwrap(),
                m.2["state"].as_str().unwrap(),
                kamlog::query::parse_time("at", m.2["at"].as_str().unwrap()).unwrap()
            )
        );
    }
    assert_alternating(&msgs);
    // Every message validates against its published schema (an independent validator).
    let envelope = published_schema("envelope.schema.json");
    let alert = published_schema("alert-message.schema.json");
    for m in &msgs {
        let schema = if m.0.contains(".alerts.") {
            &alert
        } else {
            &envelope
        };
        let errors: Vec<String> = schema.iter_errors(&m.2).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", m.0);
    }
    assert!(published_schema("view.coverage.schema.json").is_valid(&coverage));
    // Alert messages name their account and kind in headers too.
    let js2 = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let s = js2.get_stream(bus::STREAM).await.unwrap();
    for seq in 1..=msgs.len() as u64 {
        let m = s.get_raw_message(seq).await.unwrap();
        if m.subject.starts_with("kamlog.alerts.") {
            let kind = m.subject.rsplit('.').next().unwrap().to_string();
            assert_eq!(m.headers.get("Kamlog-Account").unwrap().as_str(), "globex");
            assert_eq!(m.headers.get("Kamlog-Kind").unwrap().as_str(), kind);
        }
    }
    drop(nats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_and_restarted_while_appending_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start_on(free_port(), &dir.path().join("js"));
    let store = Store::open(dir.path().join("data")).unwrap();
    let (h, stop) = serve_in_process(&store, &nats.url());
    let events = workload(11, 3, 300);
    for (i, chunk) in events.chunks(10).enumerate() {
        append_async(&store, chunk.to_vec()).await;
        if i == 10 {
            nats.kill();
        }
        if i == 18 {
            nats.restart();
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let msgs = wait_for_events(&nats.url(), 300, 60).await;
    stop.send(()).unwrap();
    h.await.unwrap();
    assert_exactly_once(&all_events(&store), &msgs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_unreachable_at_start_then_the_backlog_drains() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let store = Store::open(dir.path().join("data")).unwrap();
    let (h, stop) = serve_in_process(&store, &format!("nats://127.0.0.1:{port}"));
    // Appends succeed while NATS is down.
    append_async(&store, workload(12, 2, 60)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(kamlog::bus::checkpoint(&store).unwrap(), 0);
    let nats = Nats::start_on(port, &dir.path().join("js"));
    let msgs = wait_for_events(&nats.url(), 60, 60).await;
    stop.send(()).unwrap();
    h.await.unwrap();
    assert_exactly_once(&all_events(&store), &msgs);
    assert_eq!(kamlog::bus::checkpoint(&store).unwrap(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_mid_publish_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start_on(free_port(), &dir.path().join("js"));
    let data = dir.path().join("data");
    let total = 20_000;
    {
        let store = Store::open(&data).unwrap();
        for chunk in workload(13, 30, total).chunks(5_000) {
            append(&store, chunk).unwrap();
        }
    }
    let serve = || {
        Command::new(env!("CARGO_BIN_EXE_kamlog"))
            .arg("--data")
            .arg(&data)
            .args(["--nats", &nats.url(), "serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = serve();
    // Kill it with SIGKILL once publishing has started, before it has finished.
    let start = Instant::now();
    loop {
        if stream_count(&nats.url()).await > 0 || start.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let published_before = events_of(&read_stream(&nats.url()).await).len();
    let mut child = serve();
    let msgs = wait_for_events(&nats.url(), total as usize, 300).await;
    // The first alert pass (every account's business-time transitions) follows the events.
    let start = Instant::now();
    while !read_stream(&nats.url())
        .await
        .iter()
        .any(|m| m.0.starts_with("kamlog.alerts."))
        && start.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // SIGTERM stops it cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(
        exit.code(),
        Some(0),
        "serve did not stop cleanly on SIGTERM"
    );
    let store = Store::open(&data).unwrap();
    assert!(
        published_before > 0 && published_before < total as usize,
        "not killed mid-publish: {published_before}"
    );
    eprintln!("{published_before} of {total} events were published before the kill");
    assert_exactly_once(&all_events(&store), &msgs);
    // Started against an existing store, serve published its accounts' business-time alert
    // transitions too, never twice in a row.
    let msgs = read_stream(&nats.url()).await;
    assert!(msgs.iter().any(|m| m.0.starts_with("kamlog.alerts.")));
    assert_alternating(&msgs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_append_view_and_a_malformed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start_on(free_port(), &dir.path().join("js"));
    let store = Store::open(dir.path().join("data")).unwrap();
    let (h, stop) = serve_in_process(&store, &nats.url());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/replays/value-journey/events.jsonl"
    ))
    .unwrap();
    let reply = bus::request(
        &bus::Connection::new(&nats.url()),
        "append",
        None,
        text.clone().into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(reply["ok"], json!(true));
    assert_eq!(reply["stored"], json!(13));
    assert_eq!(reply["events"][12]["position"], json!(13));
    // Read the view back (replays/value-journey: p-a is overdue at 2024-10-15).
    let v = bus::request(
        &bus::Connection::new(&nats.url()),
        "view",
        None,
        json!({"account": "initech", "view": "value", "as_of": "2024-10-15T00:00:00Z"})
            .to_string()
            .into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(v["promises"][0]["promise_id"], json!("p-a"));
    assert_eq!(v["promises"][0]["status"], json!("overdue"));
    assert_eq!(v["promises"][0]["shortfall"], json!("29999.5"));
    // A malformed batch: one good event and one with a float amount. Nothing is stored.
    let good = ev(
        "initech",
        "account_closed",
        "2024-11-01T00:00:00Z",
        json!({}),
    );
    let bad = json!({"event_id": new_id(), "account_id": "initech", "type": "value_delivered",
        "occurred_at": "2024-11-02T00:00:00Z", "data": {"promise_id": "p-a", "amount": 1.5}});
    let body = format!("{good}\n{bad}\n");
    let reply = bus::request(
        &bus::Connection::new(&nats.url()),
        "append",
        None,
        body.into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(reply["ok"], json!(false));
    assert_eq!(reply["error"], json!(format!(
        "line 2, event {}, field data.amount: floating-point number 1.5 is not allowed; amounts are decimal strings such as \"1250.50\"",
        bad["event_id"].as_str().unwrap())));
    assert_eq!(store.last_position().unwrap(), 13);
    // An expected-version conflict is an error reply too.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Kamlog-Expected-Version", "3");
    let reply = bus::request(
        &bus::Connection::new(&nats.url()),
        "append",
        Some(headers),
        format!("{good}\n").into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(
        reply["error"],
        json!("concurrency conflict on account initech: expected version 3, but it is at 13")
    );
    // A command through the API: its call and reply validate against their schemas.
    let call = json!({"command": "view", "account": "initech", "view": "value", "json": true});
    assert!(published_schema("api.call.schema.json").is_valid(&call));
    let reply = bus::request(
        &bus::Connection::new(&nats.url()),
        "read.view",
        None,
        call.to_string().into_bytes(),
    )
    .await
    .unwrap();
    assert!(
        published_schema("api.reply.schema.json").is_valid(&reply),
        "{reply}"
    );
    assert_eq!(reply["exit"], json!(0));
    let doc: Value = serde_json::from_str(reply["stdout"].as_str().unwrap()).unwrap();
    assert!(
        published_schema("view.value.schema.json").is_valid(&doc),
        "{doc}"
    );
    // On the wire a failure carries the standard service error headers, and counts in the
    // service's statistics.
    let nc = async_nats::connect(nats.url()).await.unwrap();
    let raw = nc
        .request(
            format!("{}.append", bus::API_PREFIX),
            format!("{good}\n{bad}\n").into(),
        )
        .await
        .unwrap();
    let headers = raw.headers.expect("error headers");
    assert_eq!(
        headers.get("Nats-Service-Error-Code").unwrap().as_str(),
        "422"
    );
    assert!(headers
        .get("Nats-Service-Error")
        .unwrap()
        .as_str()
        .starts_with("line 2, event "));
    let stats = nc.request("$SRV.STATS.kamlog", "".into()).await.unwrap();
    let stats: Value = serde_json::from_slice(&stats.payload).unwrap();
    let append = stats["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == format!("{}.append", bus::API_PREFIX))
        .unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(append["num_errors"], json!(3), "{stats}");
    // Every endpoint names the schemas of its request and reply in its metadata.
    let info = nc.request("$SRV.INFO.kamlog", "".into()).await.unwrap();
    let info: Value = serde_json::from_slice(&info.payload).unwrap();
    let endpoints = info["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 3 + 9, "{info}");
    for e in endpoints {
        let schema = e["metadata"]["reply_schema"]
            .as_str()
            .unwrap_or_else(|| panic!("{e}"));
        if !schema.contains('<') {
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("schemas")
                    .join(schema)
                    .exists(),
                "{schema}"
            );
        }
    }
    let view = endpoints
        .iter()
        .find(|e| e["subject"] == "kamlog_api.read.view")
        .unwrap();
    assert_eq!(
        view["metadata"]["request_schema"],
        json!("api.call.schema.json")
    );
    // A request over the batch limit is refused before it is parsed: nothing stored.
    let body = "{}\n".repeat(100_001);
    let reply = bus::request(
        &bus::Connection::new(&nats.url()),
        "append",
        None,
        body.into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(
        reply["error"],
        json!("the request holds 100001 lines; one append takes at most 100000 events: send it in parts (or use import)")
    );
    assert_eq!(store.last_position().unwrap(), 13);
    stop.send(()).unwrap();
    h.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_names_the_subjects_the_stream_the_bucket_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start_on(free_port(), &dir.path().join("js"));
    let store = Store::open(dir.path().join("data")).unwrap();
    let names = bus::Names::new("acme");
    let mut opts = ServeOptions::new(&nats.url());
    opts.names = names.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = tokio::spawn(bus::serve(store.clone(), opts, async {
        let _ = rx.await;
    }));
    let body = jsonl(&base_account("globex")).into_bytes();
    let start = Instant::now();
    let reply = loop {
        match bus::request_to(
            &bus::Connection::new(&nats.url()),
            &names,
            "append",
            None,
            body.clone(),
        )
        .await
        {
            Ok(r) => break r,
            Err(e) if start.elapsed() < Duration::from_secs(20) => {
                eprintln!("waiting for serve: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(reply["ok"], json!(true), "{reply}");
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let start = Instant::now();
    let mut subjects = Vec::new();
    while subjects.len() < 4 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(s) = js.get_stream("ACME").await {
            subjects.clear();
            for seq in 1..=8 {
                if let Ok(m) = s.get_raw_message(seq).await {
                    if m.subject.starts_with("acme.events.") {
                        subjects.push(m.subject.to_string());
                    }
                }
            }
        }
    }
    assert_eq!(
        subjects,
        [
            "acme.events.globex.account_opened",
            "acme.events.globex.team_member_assigned",
            "acme.events.globex.stakeholder_added",
            "acme.events.globex.stakeholder_added"
        ]
    );
    assert!(
        js.get_stream(bus::STREAM).await.is_err(),
        "no KAMLOG stream"
    );
    // The views bucket is named from the prefix too (put after the alert pass).
    let start = Instant::now();
    let kv = loop {
        if let Ok(kv) = js.get_key_value("acme_views").await {
            if kv.get("globex.coverage").await.ok().flatten().is_some() {
                break kv;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no acme_views entry"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(kv);
    // The default API names answer nothing here.
    assert!(bus::request(
        &bus::Connection::new(&nats.url()),
        "view",
        None,
        b"{}".to_vec()
    )
    .await
    .is_err());
    tx.send(()).unwrap();
    h.await.unwrap().unwrap();
}
