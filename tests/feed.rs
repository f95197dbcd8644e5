//! The feed under faults (SPEC 6 v2), against real processes: a `nats-server -js` and the
//! `kamlog serve` binary, both SIGKILLed by pid and restarted, while clients append through
//! the API; the stream deleted by an operator; SIGTERM during an alert pass on a large store.
//!
//! What must hold comes from SPEC 6: every acknowledged event is stored; the stream holds every
//! stored event exactly once, at its position, with no hole; no alert transition appears twice
//! in a row; serve answers while an alert pass runs and exits promptly on SIGTERM.

mod common;

use async_nats::jetstream;
use common::feed::*;
use common::nats::{free_port, Nats};
use kamlog::bus;
use kamlog::Store;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `kamlog serve` child process, its stderr appended to a log file.
struct Serve {
    child: Option<Child>,
    data: PathBuf,
    url: String,
    log: PathBuf,
}

impl Serve {
    fn start(data: &Path, url: &str, log: &Path) -> Serve {
        let mut s = Serve {
            child: None,
            data: data.to_path_buf(),
            url: url.to_string(),
            log: log.to_path_buf(),
        };
        s.restart();
        s
    }
    fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kamlog"))
            .arg("--data")
            .arg(&self.data)
            .args(["--nats", &self.url, "serve", "--tick", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
    }
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    /// SIGTERM, then the time it took to exit (None if it had not exited after `limit`).
    fn terminate(&mut self, limit: Duration) -> Option<(Duration, Option<i32>)> {
        let mut c = self.child.take()?;
        let sent = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        while sent.elapsed() < limit {
            if let Some(status) = c.try_wait().unwrap() {
                return Some((sent.elapsed(), status.code()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One client: appends its events one request at a time through the API, retrying (the same
/// event id) until each is acknowledged; returns the acknowledged ids.
async fn client(url: String, events: Vec<Value>) -> Vec<String> {
    let nc = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(2)))
        .retry_on_initial_connect()
        .connect(url)
        .await
        .unwrap();
    let mut acked = Vec::new();
    for e in events {
        let body = format!("{e}\n");
        loop {
            // An error is serve or NATS down: try again.
            if let Ok(reply) = nc
                .request(format!("{}.append", bus::API_PREFIX), body.clone().into())
                .await
            {
                let failure = reply
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Service-Error-Code"))
                    .map(|c| c.as_str().to_string());
                match failure {
                    None => {
                        let v: Value = serde_json::from_slice(&reply.payload).unwrap();
                        assert_eq!(v["ok"], true, "{v}");
                        acked.push(e["event_id"].as_str().unwrap().to_string());
                        break;
                    }
                    // Only an unavailable store may refuse; a rule (400) must never.
                    Some(code) => assert_ne!(code, "400", "an append was rejected: {reply:?}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    acked
}

/// Events of one account of its own for client `i`.
fn client_events(i: u64, n: u64) -> Vec<Value> {
    kamlog::workload::Workload::new(100 + i, 1, n)
        .map(|mut e| {
            e["account_id"] = Value::String(format!("client-{i}"));
            e
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_through_the_api_survive_kills_of_nats_and_serve_and_a_deleted_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start_on(free_port(), &dir.path().join("js"));
    let url = nats.url();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let serve = Arc::new(Mutex::new(Serve::start(&data, &url, &log)));
    let clients: Vec<_> = (0..4)
        .map(|i| tokio::spawn(client(url.clone(), client_events(i, 150))))
        .collect();
    // Eight SIGKILLs of each, alternating, while the clients append; the stream deleted once.
    let (mut nats_kills, mut serve_kills) = (0, 0);
    for cycle in 0..16 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        if cycle % 2 == 0 {
            nats.kill();
            nats_kills += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
            nats.restart();
        } else {
            serve.lock().unwrap().kill();
            serve_kills += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
            serve.lock().unwrap().restart();
        }
        if cycle == 9 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let js = jetstream::new(async_nats::connect(&url).await.unwrap());
            // Deleted by an operator: the store must refill it.
            let _ = js.delete_stream(bus::STREAM).await;
        }
    }
    let mut acked = BTreeSet::new();
    for c in clients {
        acked.extend(c.await.unwrap());
    }
    assert_eq!(acked.len(), 600);
    // Each event is stored once (a retried append is a duplicate), so the stream must come to
    // hold 600 event messages.
    let msgs = wait_for_events(&url, acked.len(), 300).await;
    let stop = serve.lock().unwrap().terminate(Duration::from_secs(10));
    let text = serve.lock().unwrap().log_text();
    let (took, code) =
        stop.unwrap_or_else(|| panic!("serve did not exit within 10 s of SIGTERM:\n{text}"));
    assert_eq!(code, Some(0), "{text}");
    eprintln!(
        "{nats_kills} nats-server and {serve_kills} serve SIGKILLs; serve exited {} ms after SIGTERM",
        took.as_millis()
    );
    let store = Store::open(&data).unwrap();
    let stored: Vec<_> = store.events_from(1).map(|e| e.unwrap()).collect();
    let ids: BTreeSet<String> = stored.iter().map(|e| e.event_id.clone()).collect();
    assert!(
        acked.is_subset(&ids),
        "an acknowledged event is missing from the store"
    );
    assert_exactly_once(&stored, &msgs);
    assert_alternating(&msgs);
    assert!(
        text.contains("refilling"),
        "the deleted stream was not noticed:\n{text}"
    );
}

/// A store of `n` events over `accounts` accounts, appended by the library (so that serve
/// finds no checkpoints and its first alert pass has to build every account's history).
fn large_store(data: &Path, accounts: usize, n: u64) {
    let store = Store::open(data).unwrap();
    let events: Vec<Value> = kamlog::workload::Workload::new(31, accounts, n).collect();
    for chunk in events.chunks(20_000) {
        common::append(&store, chunk).unwrap();
    }
}

/// Waits until serve's log holds `what` (or `secs` pass); returns whether it did.
fn wait_for_log(serve: &Serve, what: &str, secs: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if serve.log_text().contains(what) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_views_and_stops_during_an_alert_pass_over_a_large_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    large_store(&data, 60, 100_000);
    let nats = Nats::start_on(free_port(), &dir.path().join("js"));
    let mut serve = Serve::start(&data, &nats.url(), &dir.path().join("serve.log"));
    assert!(
        wait_for_log(&serve, "alert pass over 60 accounts started", 120),
        "{}",
        serve.log_text()
    );
    // A view while the pass runs: answered before the pass finishes.
    let nc = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(60)))
        .connect(nats.url())
        .await
        .unwrap();
    let asked = Instant::now();
    let reply = nc
        .request(
            format!("{}.view", bus::API_PREFIX),
            r#"{"account":"acct-00007","view":"classification"}"#.into(),
        )
        .await
        .unwrap();
    let took = asked.elapsed();
    let v: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(v["account_id"], "acct-00007", "{v}");
    let text = serve.log_text();
    assert!(
        !text.contains("alert pass over 60 accounts finished"),
        "the pass ended before the view was answered, so this proves nothing:\n{text}"
    );
    eprintln!(
        "view answered in {} ms during the alert pass",
        took.as_millis()
    );
    // SIGTERM while the pass is still running.
    let (stopped, code) = serve.terminate(Duration::from_secs(10)).unwrap_or_else(|| {
        panic!(
            "serve did not exit within 10 s of SIGTERM:\n{}",
            serve.log_text()
        )
    });
    assert_eq!(code, Some(0), "{}", serve.log_text());
    assert!(
        !serve.log_text().contains("finished"),
        "the pass had ended before SIGTERM:\n{}",
        serve.log_text()
    );
    eprintln!(
        "serve exited {} ms after SIGTERM during the pass",
        stopped.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_on_sigterm_while_nats_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    large_store(&data, 2, 200);
    // Nothing listens on this port.
    let url = format!("nats://127.0.0.1:{}", free_port());
    let mut serve = Serve::start(&data, &url, &dir.path().join("serve.log"));
    assert!(
        wait_for_log(&serve, "serving the store", 30),
        "{}",
        serve.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let (stopped, code) = serve.terminate(Duration::from_secs(10)).unwrap_or_else(|| {
        panic!(
            "serve did not exit within 10 s of SIGTERM:\n{}",
            serve.log_text()
        )
    });
    assert_eq!(code, Some(0), "{}", serve.log_text());
    eprintln!(
        "serve exited {} ms after SIGTERM with NATS down",
        stopped.as_millis()
    );
}
