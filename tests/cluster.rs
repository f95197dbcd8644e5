//! The log on a three-node NATS JetStream cluster (SPEC 11), with real servers (nats-server
//! 2.12 or later, R3, `sync_interval: always`) and the real binary: two processes appending
//! at once while the stream leader is killed with SIGKILL, an export moved sled → cluster →
//! sled byte for byte, the feed published exactly once by two `serve` processes, and a
//! partition (network namespaces) in which the minority side refuses appends.

mod common;

use common::cluster::{Cluster, Net};
use common::{base_account, ev, jsonl, new_id};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KAMLOG: &str = env!("CARGO_BIN_EXE_kamlog");
const LOG_STREAM: &str = "KAMLOG_LOG";

/// Runs kamlog on a cluster store with its own cache directory; (exit code, stdout, stderr).
fn kamlog(store: &str, data: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    kamlog_in(None, store, data, args, stdin)
}

fn kamlog_in(
    netns: Option<&str>,
    store: &str,
    data: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (i32, String, String) {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, KAMLOG]);
            c
        }
        None => Command::new(KAMLOG),
    };
    let mut child = cmd
        .arg("--store")
        .arg(store)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("KAMLOG_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A sled store's command; (exit code, stdout, stderr).
fn kamlog_sled(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(KAMLOG)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("KAMLOG_STORE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stakeholder(account: &str, id: &str, at: &str) -> Value {
    ev(
        account,
        "stakeholder_added",
        at,
        json!({"stakeholder_id": id, "name": format!("Person {id}"), "function": "it",
               "level": "middle", "dmu_roles": [], "influence": 2, "attitude": 0}),
    )
}

/// The whole log read into a fresh cache, checked: positions 1..n in order, each account's
/// versions 1..k in order, no event id twice. Returns the events by id.
fn checked_export(store: &str, tmp: &Path) -> BTreeMap<String, Value> {
    let fresh = tmp.join(format!("export-{}", new_id()));
    let (code, out, err) = kamlog(store, &fresh, &["export"], None);
    assert_eq!(code, 0, "export: {err}");
    let mut by_id = BTreeMap::new();
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    for (i, line) in out.lines().enumerate() {
        let e: Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["position"], json!(i as u64 + 1), "positions are gap-free");
        let account = e["account_id"].as_str().unwrap().to_string();
        let v = versions.entry(account.clone()).or_insert(0);
        *v += 1;
        assert_eq!(
            e["version"],
            json!(*v),
            "versions of {account} are gap-free"
        );
        let id = e["event_id"].as_str().unwrap().to_string();
        assert!(by_id.insert(id.clone(), e).is_none(), "{id} stored twice");
    }
    by_id
}

#[test]
fn two_writers_lose_nothing_when_the_leader_is_killed_mid_append() {
    let mut cluster = Cluster::start();
    let url = cluster.url();
    let tmp = tempfile::tempdir().unwrap();
    let mut setup: Vec<Value> = base_account("shared");
    setup.extend(base_account("own-1"));
    setup.extend(base_account("own-2"));
    let (code, _, err) = kamlog(
        &url,
        &tmp.path().join("setup"),
        &["append"],
        Some(&jsonl(&setup)),
    );
    assert_eq!(code, 0, "{err}");
    let leader = cluster.leader(LOG_STREAM);

    // Two processes at a time, each appending one event per process run, alternating
    // between the shared account and its own.
    const EACH: usize = 24;
    let done = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (1..=2)
        .map(|w| {
            let url = url.clone();
            let data = tmp.path().join(format!("writer-{w}"));
            let done = done.clone();
            let killed = killed.clone();
            std::thread::spawn(move || {
                // (event id, acknowledged, started after the kill)
                let mut results = Vec::new();
                for n in 0..EACH {
                    let account = if n % 2 == 0 {
                        "shared".to_string()
                    } else {
                        format!("own-{w}")
                    };
                    let e = stakeholder(&account, &format!("s-w{w}-{n}"), "2024-02-01T00:00:00Z");
                    let after_kill = killed.load(Ordering::SeqCst);
                    let (code, _, err) = kamlog(
                        &url,
                        &data,
                        &["append"],
                        Some(&jsonl(std::slice::from_ref(&e))),
                    );
                    assert!(code == 0 || code == 1, "writer {w}: exit {code}: {err}");
                    if code != 0 {
                        eprintln!("writer {w}, append {n} not acknowledged: {}", err.trim());
                    }
                    results.push((
                        e["event_id"].as_str().unwrap().to_string(),
                        code == 0,
                        after_kill,
                    ));
                    done.fetch_add(1, Ordering::SeqCst);
                }
                results
            })
        })
        .collect();
    // Kill the stream leader with SIGKILL while both write; restart it later.
    while done.load(Ordering::SeqCst) < 12 {
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.nodes[leader].kill();
    killed.store(true, Ordering::SeqCst);
    while done.load(Ordering::SeqCst) < 32 {
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.restart(leader);
    let results: Vec<(String, bool, bool)> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();

    let acked: Vec<&String> = results.iter().filter(|r| r.1).map(|r| &r.0).collect();
    let acked_after_kill = results.iter().filter(|r| r.1 && r.2).count();
    assert!(
        acked_after_kill > 0,
        "appends resumed after the election: {results:?}"
    );
    // The restarted node catches up.
    let info = cluster.wait_all_current(LOG_STREAM, (setup.len() + acked.len()) as u64);
    let stored = checked_export(&url, tmp.path());
    for id in &acked {
        assert!(stored.contains_key(*id), "acknowledged {id} is missing");
    }
    assert_eq!(info.state.last_sequence, stored.len() as u64);
    assert_eq!(info.state.messages, stored.len() as u64);
    let (code, out, err) = kamlog(&url, &tmp.path().join("verify"), &["verify"], None);
    assert_eq!(code, 0, "verify: {out}{err}");
    eprintln!(
        "{} appends acknowledged of {} ({} after the leader was killed), {} events stored",
        acked.len(),
        results.len(),
        acked_after_kill,
        stored.len()
    );
}

#[test]
fn an_export_moves_sled_to_cluster_to_sled_with_identical_bytes() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let tmp = tempfile::tempdir().unwrap();
    // A sled store with more events than one atomic batch takes (so import batches).
    let workload = tmp.path().join("workload.jsonl");
    let gen = Command::new(env!("CARGO_BIN_EXE_kamlog-bench"))
        .args(["gen", "--events", "2500", "--accounts", "3", "--out"])
        .arg(&workload)
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let sled_a = tmp.path().join("sled-a");
    assert_eq!(
        kamlog_sled(&sled_a, &["import", workload.to_str().unwrap()]).0,
        0
    );
    let replay = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/replays/northwind-journey/events.jsonl"
    );
    assert_eq!(kamlog_sled(&sled_a, &["import", replay]).0, 0);
    let (code, export_a, _) = kamlog_sled(&sled_a, &["export"]);
    assert_eq!(code, 0);
    let n = export_a.lines().count();
    assert_eq!(n, 2540);
    let file_a = tmp.path().join("a.jsonl");
    std::fs::write(&file_a, &export_a).unwrap();

    // Into the cluster (batches of at most 1,000), out again from another process.
    let (code, _, err) = kamlog(
        &url,
        &tmp.path().join("c1"),
        &["import", file_a.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, export_c, _) = kamlog(&url, &tmp.path().join("c2"), &["export"], None);
    assert_eq!(code, 0);
    assert!(
        export_c == export_a,
        "the cluster's export differs from sled's"
    );
    let (code, out, err) = kamlog(&url, &tmp.path().join("c2"), &["verify"], None);
    assert_eq!(code, 0, "{out}{err}");

    // And back into a new sled store.
    let file_c = tmp.path().join("c.jsonl");
    std::fs::write(&file_c, &export_c).unwrap();
    let sled_b = tmp.path().join("sled-b");
    assert_eq!(
        kamlog_sled(&sled_b, &["import", file_c.to_str().unwrap()]).0,
        0
    );
    let (_, export_b, _) = kamlog_sled(&sled_b, &["export"]);
    assert!(
        export_b == export_a,
        "sled → cluster → sled changed the bytes"
    );
    assert_eq!(kamlog_sled(&sled_b, &["verify"]).0, 0);

    // The same rules: a duplicate from another process is a no-op; a stale expected version
    // is refused; an append over the atomic-batch limit is refused; nothing of those stored.
    let (code, out, err) = kamlog(
        &url,
        &tmp.path().join("c3"),
        &["append", "--json", replay],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["stored"], json!(0));
    assert_eq!(report["duplicates"], json!(40));
    let late = stakeholder("northwind", "s-late", "2025-06-01T00:00:00Z");
    let (code, _, err) = kamlog(
        &url,
        &tmp.path().join("c1"),
        &["append", "--expected-version", "39"],
        Some(&jsonl(std::slice::from_ref(&late))),
    );
    assert_eq!(code, 1, "stale expected version accepted: {err}");
    assert!(err.contains("expected"), "{err}");
    let many: Vec<Value> = (0..1001)
        .map(|i| stakeholder("northwind", &format!("s-bulk-{i}"), "2025-06-01T00:00:00Z"))
        .collect();
    let (code, _, err) = kamlog(
        &url,
        &tmp.path().join("c1"),
        &["append"],
        Some(&jsonl(&many)),
    );
    assert_eq!(code, 2, "an append of 1,001 events: {err}");
    assert!(err.contains("1000"), "{err}");
    let (code, _, err) = kamlog(
        &url,
        &tmp.path().join("c2"),
        &["append", "--expected-version", "40"],
        Some(&jsonl(&[late])),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(checked_export(&url, tmp.path()).len(), n + 1);

    // One account's personal values must fit in one message (1 MiB): 150 people with
    // 9,000-character names would not; refused at once, nothing stored.
    let mut big = vec![ev(
        "big",
        "account_opened",
        "2024-01-01T00:00:00Z",
        json!({"name": "Big"}),
    )];
    for i in 0..150 {
        big.push(ev(
            "big",
            "stakeholder_added",
            "2024-01-02T00:00:00Z",
            json!({"stakeholder_id": format!("s-{i}"), "name": "N".repeat(9000), "function": "it",
                   "level": "middle", "dmu_roles": [], "influence": 2, "attitude": 0}),
        ));
    }
    let (code, _, err) = kamlog(
        &url,
        &tmp.path().join("c1"),
        &["append"],
        Some(&jsonl(&big)),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("max_payload"), "{err}");
    assert_eq!(checked_export(&url, tmp.path()).len(), n + 1);
}

/// Every message of the feed stream: (subject, Nats-Msg-Id, payload).
fn feed_messages(url: &str) -> Vec<(String, String, Value)> {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::feed::read_stream(url))
}

#[test]
fn two_serve_processes_publish_the_feed_exactly_once() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let one = cluster.nodes[0].url();
    let tmp = tempfile::tempdir().unwrap();
    let serve = |name: &str| {
        Command::new(KAMLOG)
            .arg("--store")
            .arg(&url)
            .arg("--nats")
            .arg(&url)
            .arg("--data")
            .arg(tmp.path().join(name))
            .args(["serve", "--tick", "1"])
            .env_remove("KAMLOG_STORE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The log stream exists before the publishers start.
    let replay = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/replays/northwind-journey/events.jsonl"
    );
    let text = std::fs::read_to_string(replay).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first = lines[..20].join("\n") + "\n";
    let rest = lines[20..].join("\n") + "\n";
    assert_eq!(
        kamlog(&url, &tmp.path().join("w"), &["append"], Some(&first)).0,
        0
    );
    let mut a = serve("serve-a");
    let mut b = serve("serve-b");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        kamlog(&url, &tmp.path().join("w"), &["append"], Some(&rest)).0,
        0
    );
    let (_, export, _) = kamlog(&url, &tmp.path().join("w"), &["export"], None);
    let stored: Vec<kamlog::event::StoredEvent> = export
        .lines()
        .map(|l| kamlog::event::StoredEvent::decode(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(stored.len(), 40);
    // Wait until the feed holds every event and has been quiet for three seconds.
    let start = Instant::now();
    let mut last = (0, Instant::now());
    let msgs = loop {
        let msgs = feed_messages(&one);
        if msgs.len() != last.0 {
            last = (msgs.len(), Instant::now());
        }
        let events = common::feed::events_of(&msgs).len();
        if events >= 40 && last.1.elapsed() > Duration::from_secs(3) {
            break msgs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the feed holds {events} of 40 events"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    // The publishers also put the people's values in the personal bucket (SPEC 10).
    let personal = cluster
        .stream_info("KV_kamlog_personal")
        .map_or(0, |i| i.state.messages);
    assert!(personal > 0, "the personal bucket is empty");
    // Both serve processes are alive and stop on SIGTERM with status 0.
    for p in [&mut a, &mut b] {
        assert!(p.try_wait().unwrap().is_none(), "a serve process died");
        let _ = Command::new("kill")
            .args(["-TERM", &p.id().to_string()])
            .status();
    }
    for p in [&mut a, &mut b] {
        let status = p.wait().unwrap();
        assert!(status.success(), "serve exited with {status}");
    }
    common::feed::assert_exactly_once(&stored, &msgs);
    common::feed::assert_alternating(&msgs);
    let alerts: Vec<&(String, String, Value)> =
        msgs.iter().filter(|m| m.0.contains(".alerts.")).collect();
    let ids: HashSet<&str> = alerts.iter().map(|m| m.1.as_str()).collect();
    assert!(!alerts.is_empty(), "northwind raises alerts");
    assert_eq!(
        ids.len(),
        alerts.len(),
        "an alert transition was published twice"
    );
    // Alerts follow the events that caused them.
    let mut seen = 0u64;
    for m in &msgs {
        if m.0.starts_with("kamlog.events.") {
            seen = m.2["position"].as_u64().unwrap();
        } else if let Some(p) = m.2["position"].as_u64() {
            assert!(p <= seen, "alert of position {p} before its event");
        }
    }
}

#[test]
fn a_partitioned_minority_refuses_appends_and_nothing_acknowledged_is_lost() {
    let net = match Net::new() {
        Ok(n) => n,
        Err(why) => {
            eprintln!("skipped: network namespaces are not available here ({why})");
            return;
        }
    };
    let cluster = Cluster::start_in(&net);
    let url = cluster.url();
    let majority = format!("{},{}", cluster.nodes[0].url(), cluster.nodes[1].url());
    let minority = cluster.nodes[2].url();
    let tmp = tempfile::tempdir().unwrap();
    let base = base_account("acme");
    let (code, _, err) = kamlog(
        &url,
        &tmp.path().join("w"),
        &["append"],
        Some(&jsonl(&base)),
    );
    assert_eq!(code, 0, "{err}");
    cluster.wait_all_current(LOG_STREAM, base.len() as u64);

    // Node 3 alone on its side.
    net.set_link(2, false);
    let lost = stakeholder("acme", "s-minority", "2024-03-01T00:00:00Z");
    let (code, _, err) = kamlog_in(
        Some(&net.namespaces[2]),
        &minority,
        &tmp.path().join("minority"),
        &["append"],
        Some(&jsonl(std::slice::from_ref(&lost))),
    );
    assert_ne!(code, 0, "the minority side took an append");
    eprintln!("minority: {}", err.trim());
    let mut acked = Vec::new();
    for i in 0..5 {
        let e = stakeholder("acme", &format!("s-majority-{i}"), "2024-03-02T00:00:00Z");
        let (code, _, err) = kamlog(
            &majority,
            &tmp.path().join("w"),
            &["append"],
            Some(&jsonl(std::slice::from_ref(&e))),
        );
        assert_eq!(code, 0, "the majority side refused: {err}");
        acked.push(e["event_id"].as_str().unwrap().to_string());
    }

    // Healed: node 3 catches up; everything acknowledged is there, the refused event is not.
    net.set_link(2, true);
    let info = cluster.wait_all_current(LOG_STREAM, (base.len() + 5) as u64);
    let stored = checked_export(&url, tmp.path());
    assert_eq!(stored.len(), base.len() + 5);
    assert_eq!(info.state.last_sequence, stored.len() as u64);
    for id in &acked {
        assert!(stored.contains_key(id), "acknowledged {id} lost");
    }
    assert!(!stored.contains_key(lost["event_id"].as_str().unwrap()));
    let (code, out, err) = kamlog(&url, &tmp.path().join("verify"), &["verify"], None);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn appenders_sharing_one_process_commit_together_and_a_bad_request_fails_alone() {
    let cluster = Cluster::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = kamlog::store::jetstream::ClusterConfig {
        connection: kamlog::bus::Connection::new(&cluster.url()),
        prefix: "kamlog".into(),
        replicas: 3,
    };
    let store = kamlog::Store::open_cluster(tmp.path().join("p"), config, true).unwrap();
    let mut setup = Vec::new();
    for w in 0..8 {
        setup.extend(base_account(&format!("acct-{w}")));
    }
    common::append(&store, &setup).unwrap();
    // Eight threads append at once (the writer groups what waits into one batch); every
    // fifth request of each thread names a stakeholder that does not exist.
    let results: Vec<(bool, Result<kamlog::store::AppendOutcome, kamlog::Error>)> =
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|w| {
                    let store = store.clone();
                    s.spawn(move || {
                        (0..25)
                            .map(|n| {
                                let bad = n % 5 == 4;
                                let who = if bad { "s-nobody" } else { "s-1" };
                                let e = ev(
                                    &format!("acct-{w}"),
                                    "interaction_logged",
                                    "2024-02-01T00:00:00Z",
                                    json!({"interaction_id": format!("i-{n}"), "channel": "call",
                                           "supplier_participants": ["m-1"],
                                           "customer_participants": [who]}),
                                );
                                (bad, common::append(&store, &[e]))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
    let mut good = 0;
    for (bad, r) in &results {
        if *bad {
            let e = r.as_ref().expect_err("a bad request was stored");
            let text = e.to_string();
            assert!(text.contains("s-nobody"), "{text}");
        } else {
            assert_eq!(r.as_ref().expect("a good request failed").stored(), 1);
            good += 1;
        }
    }
    assert_eq!(good, 8 * 20);
    drop(store);
    let stored = checked_export(&cluster.url(), tmp.path());
    assert_eq!(stored.len(), setup.len() + good);
}

/// The files under `dir` whose bytes contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    out.push(p);
                }
            }
        }
    }
    out
}

#[test]
fn personal_values_are_shared_by_every_process_and_forget_erases_them_everywhere() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let replay = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/replays/northwind-journey/events.jsonl"
    );
    let olaf = [
        "Olaf Jensen",
        "Head of Procurement",
        "olaf@northwind.example",
    ];
    assert_eq!(kamlog(&url, &a, &["import", replay], None).0, 0);
    // Another process reveals what the first stored.
    let (code, shown, err) = kamlog(&url, &b, &["view", "northwind", "map", "--json"], None);
    assert_eq!(code, 0, "{err}");
    assert!(shown.contains("Olaf Jensen"), "{shown}");
    // The values are in the cluster's vault bucket only; no process's own files hold them.
    for v in olaf {
        assert!(
            holding(tmp.path(), v.as_bytes()).is_empty(),
            "{v} in a cache"
        );
        assert!(
            !holding(cluster.dir(), v.as_bytes()).is_empty(),
            "{v} nowhere"
        );
    }
    // Erased through the second process, gone for the first.
    let (code, out, err) = kamlog(
        &url,
        &b,
        &[
            "forget",
            "northwind",
            "--stakeholder",
            "s-olaf",
            "--reason",
            "GDPR art. 17",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, shown, _) = kamlog(&url, &a, &["view", "northwind", "map", "--json"], None);
    assert_eq!(code, 0);
    assert!(!shown.contains("Olaf Jensen"), "{shown}");
    assert!(
        shown.contains("\"erased\":true") || shown.contains("\"erased\": true"),
        "{shown}"
    );
    let (_, export, _) = kamlog(&url, &a, &["export"], None);
    for v in olaf {
        assert!(!export.contains(v));
        assert!(
            holding(tmp.path(), v.as_bytes()).is_empty(),
            "{v} in a cache"
        );
        // The vault stream's own files: the replaced revisions were erased at once.
        let held: Vec<_> = holding(cluster.dir(), v.as_bytes())
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("KV_kamlog_vault"))
            .collect();
        assert!(held.is_empty(), "{v} still in the vault stream: {held:?}");
    }
    // Each node's Raft log of the stream keeps the erased values until the node compacts it
    // after its next snapshot (nats-server's own timer, about 2 minutes): wait for that.
    let start = Instant::now();
    loop {
        let held: Vec<_> = olaf
            .iter()
            .flat_map(|v| holding(cluster.dir(), v.as_bytes()))
            .collect();
        if held.is_empty() {
            eprintln!(
                "the Raft logs were compacted {:.0} s after the erasure",
                start.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(420),
            "erased values still in the cluster's files after 7 minutes: {held:?}"
        );
        std::thread::sleep(Duration::from_secs(5));
    }
    let (code, out, err) = kamlog(&url, &a, &["verify"], None);
    assert_eq!(code, 0, "{out}{err}");
}
