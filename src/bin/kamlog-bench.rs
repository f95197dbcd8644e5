//! `kamlog-bench`: the benchmarks behind BENCHMARKS.md.
//!
//! Run `cargo run --release --bin kamlog-bench -- help` for the commands. Each prints its
//! figures; nothing here is asserted (performance is measured, not tested).

use clap::{Parser, Subcommand};
use kamlog::event::jsonl::JsonlReader;
use kamlog::workload::Workload;
use kamlog::Store;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "kamlog-bench")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a deterministic workload as JSONL.
    Gen {
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 1000)]
        accounts: usize,
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a JSONL file into a fresh store (the path of `kamlog import`), timed.
    Import {
        file: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = kamlog::command::append::DEFAULT_IMPORT_BATCH)]
        batch_size: usize,
        /// Keep the log on this NATS JetStream cluster (as `kamlog --store`); the stream
        /// `<PREFIX>_LOG` of `--prefix` must not exist yet for import and append.
        #[arg(long)]
        store: Option<String>,
        #[arg(long, default_value = "kamlog")]
        prefix: String,
    },
    /// Full rebuild of every account's checkpoints from the log of an existing store.
    Rebuild {
        #[arg(long)]
        data: PathBuf,
        /// Keep the log on this NATS JetStream cluster (as `kamlog --store`); the stream
        /// `<PREFIX>_LOG` of `--prefix` must not exist yet for import and append.
        #[arg(long)]
        store: Option<String>,
        #[arg(long, default_value = "kamlog")]
        prefix: String,
        /// Events gathered per pass over the log (default: what `kamlog rebuild` uses).
        #[arg(long)]
        chunk: Option<u64>,
    },
    /// View latency on one large account: "now" from the snapshot, and --as-of in the past.
    View {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        events: u64,
        #[arg(long, default_value_t = 200)]
        runs: usize,
    },
    /// Publishing to a local JetStream (a nats-server started on a free port): drain
    /// throughput of a backlog, and end-to-end latency from append to a subscriber.
    Bus {
        #[arg(long, default_value_t = 20_000)]
        events: u64,
        #[arg(long, default_value_t = 200)]
        samples: usize,
        #[arg(long, default_value = "/usr/sbin/nats-server")]
        nats_server: PathBuf,
    },
    /// The feed's lag under sustained appends: clients append one event per API request at
    /// `rate` events/s for `secs` seconds through `kamlog serve` (in process, a nats-server
    /// started on a free port); a subscriber notes when each event message arrives.
    FeedLag {
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        secs: u64,
        #[arg(long, default_value_t = 50)]
        accounts: usize,
        #[arg(long, default_value = "/usr/sbin/nats-server")]
        nats_server: PathBuf,
    },
    /// The history engine on one busy account (every event type, late data, retractions):
    /// each question's median time against reading the account's events once.
    History {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// The account review of the busy account: `kamlog report` and the web's account page
    /// (over HTTP from a real server on loopback), median times.
    Review {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Single-event durable appends from W concurrent writers: latency percentiles.
    Append {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 1)]
        writers: usize,
        /// Appends per writer.
        #[arg(long, default_value_t = 2000)]
        count: usize,
        /// Keep the log on this NATS JetStream cluster (as `kamlog --store`); the stream
        /// `<PREFIX>_LOG` of `--prefix` must not exist yet for import and append.
        #[arg(long)]
        store: Option<String>,
        #[arg(long, default_value = "kamlog")]
        prefix: String,
    },
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let args = Args::parse();
    match args.cmd {
        Cmd::History { data, events, runs } => history(&data, events, runs),
        Cmd::Review { data, events, runs } => review(&data, events, runs),
        Cmd::Gen {
            seed,
            accounts,
            events,
            out,
        } => gen(seed, accounts, events, &out),
        Cmd::Import {
            file,
            data,
            batch_size,
            store,
            prefix,
        } => import(&file, &open_fresh(&data, store, &prefix), batch_size),
        Cmd::Append {
            data,
            writers,
            count,
            store,
            prefix,
        } => append(&open_fresh(&data, store, &prefix), writers, count),
        Cmd::Rebuild {
            data,
            store,
            prefix,
            chunk,
        } => rebuild(&data, store, &prefix, chunk),
        Cmd::Bus {
            events,
            samples,
            nats_server,
        } => bus(events, samples, &nats_server),
        Cmd::View { data, events, runs } => view(&data, events, runs),
        Cmd::FeedLag {
            rate,
            secs,
            accounts,
            nats_server,
        } => feed_lag(rate, secs, accounts, &nats_server),
    }
}

fn gen(seed: u64, accounts: usize, events: u64, out: &Path) {
    let f = std::fs::File::create(out).expect("create output");
    let mut w = BufWriter::new(f);
    let mut bytes = 0usize;
    for ev in Workload::new(seed, accounts, events) {
        let line = ev.to_string();
        bytes += line.len() + 1;
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
    println!(
        "wrote {events} events over {accounts} accounts (seed {seed}) to {}: {} bytes, {} bytes/event",
        out.display(),
        bytes,
        bytes as u64 / events.max(1)
    );
}

/// A store on `--store`'s cluster, else a fresh sled store in `data`.
fn open_cluster(data: &Path, url: &str, prefix: &str) -> Store {
    let config = kamlog::store::jetstream::ClusterConfig {
        connection: kamlog::bus::Connection::new(url),
        prefix: prefix.to_string(),
        replicas: 3,
    };
    Store::open_cluster(data, config, true).expect("open the cluster store")
}

/// An empty store: sled in a fresh `data`, or a cluster's (its mirror in a fresh `data`).
fn open_fresh(data: &Path, store: Option<String>, prefix: &str) -> Store {
    let _ = std::fs::remove_dir_all(data);
    let s = match store {
        Some(url) => open_cluster(data, &url, prefix),
        None => Store::open(data).expect("open store"),
    };
    assert_eq!(s.last_position().unwrap(), 0, "the store is not empty");
    s
}

fn import(file: &Path, store: &Store, batch_size: usize) {
    let batch_size = batch_size.min(store.max_batch());
    // The path of `kamlog import`: a checking pass over the whole file, then the pipelined
    // storing pass.
    let start = Instant::now();
    let check = kamlog::import::check_file(file, 1).expect("read input");
    assert_eq!(check.bad_lines, 0, "{:?}", check.errors);
    let checked = start.elapsed().as_secs_f64();
    let s = kamlog::import::store_file(store, file, batch_size, None).expect("import");
    let secs = start.elapsed().as_secs_f64();
    let n = s.stored as u64;
    println!(
        "import: {n} events in {secs:.2} s = {:.0} events/s (checking pass {checked:.2} s, storing pass {:.2} s = {:.0} events/s); peak RSS {:.0} MiB",
        n as f64 / secs,
        secs - checked,
        n as f64 / (secs - checked),
        peak_rss_mib()
    );
}

fn append(store: &Store, writers: usize, count: usize) {
    // One opened and staffed account per writer; then each writer logs interactions.
    let setup: Vec<String> = (0..writers)
        .flat_map(|w| {
            let a = format!("w{w}");
            [
                format!(r#"{{"event_id":"{}","account_id":"{a}","type":"account_opened","occurred_at":"2024-01-01T00:00:00Z","data":{{"name":"A"}}}}"#, uuid::Uuid::new_v4()),
                format!(r#"{{"event_id":"{}","account_id":"{a}","type":"team_member_assigned","occurred_at":"2024-01-01T00:00:00Z","data":{{"member_id":"m-1","name":"M","function":"sales","team_role":"account_lead"}}}}"#, uuid::Uuid::new_v4()),
                format!(r#"{{"event_id":"{}","account_id":"{a}","type":"stakeholder_added","occurred_at":"2024-01-01T00:00:00Z","data":{{"stakeholder_id":"s-1","name":"S","function":"it","level":"senior","dmu_roles":[],"influence":3,"attitude":0}}}}"#, uuid::Uuid::new_v4()),
            ]
        })
        .collect();
    let events = JsonlReader::new(setup.join("\n").as_bytes())
        .map(|(_, r)| r.unwrap())
        .collect();
    store.append(events, None).unwrap();
    let start = Instant::now();
    let mut all: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                s.spawn(move || {
                    let mut lat = Vec::with_capacity(count);
                    for i in 0..count {
                        let line = format!(
                            r#"{{"event_id":"{}","account_id":"w{w}","type":"interaction_logged","occurred_at":"2024-02-01T00:00:00Z","data":{{"interaction_id":"i-{i}","channel":"call","supplier_participants":["m-1"],"customer_participants":["s-1"],"summary":"weekly call"}}}}"#,
                            uuid::Uuid::new_v4()
                        );
                        let ev = kamlog::event::validate::parse_line(&line).unwrap();
                        let t = Instant::now();
                        store.append(vec![ev], None).unwrap();
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    println!(
        "append: {writers} writer(s) × {count} durable single-event appends: {:.0} appends/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        (writers * count) as f64 / secs,
        percentile(&all, 0.50).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

fn rebuild(data: &Path, cluster: Option<String>, prefix: &str, chunk: Option<u64>) {
    // On a cluster: a cold start, the mirror read from the cluster into a fresh `data`.
    let start = Instant::now();
    let store = match &cluster {
        Some(url) => {
            let _ = std::fs::remove_dir_all(data);
            open_cluster(data, url, prefix)
        }
        None => Store::open(data).expect("open store"),
    };
    let n = store.last_position().expect("read");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "open: {n} events in {secs:.2} s{}",
        if cluster.is_some() {
            format!(
                " (the log read from the cluster into a new mirror: {:.0} events/s)",
                n as f64 / secs
            )
        } else {
            String::new()
        }
    );
    // The limit: every stored envelope read, parsed by serde_json into a value and hashed
    // with SHA-256 (what any consumer of an export must at least do).
    let start = Instant::now();
    store
        .scan_from(1, |_, bytes| {
            let v: serde_json::Value = serde_json::from_slice(bytes).expect("json");
            std::hint::black_box((v, kamlog::event::json::sha256_hex(bytes)));
            Ok(())
        })
        .expect("scan");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "limit (parse + hash every stored envelope): {n} events in {secs:.2} s = {:.0} events/s",
        n as f64 / secs
    );
    // The fold alone: one sequential pass over the log, every event folded into its
    // account's state (what "now" views read).
    let start = Instant::now();
    let mut states: std::collections::HashMap<String, kamlog::model::AccountState> =
        Default::default();
    let mut accounts_seen = std::collections::HashSet::new();
    store
        .scan_from(1, |_, bytes| {
            let e = kamlog::event::StoredEvent::decode(bytes).expect("decode");
            accounts_seen.insert(e.account_id.clone());
            let st = states
                .entry(e.account_id.clone())
                .or_insert_with(|| kamlog::model::AccountState::new(&e.account_id));
            let _ = st.apply(kamlog::model::EventRef::from(&e), false);
            Ok(())
        })
        .expect("scan");
    std::hint::black_box(&states);
    let secs = start.elapsed().as_secs_f64();
    drop(states);
    let heads = accounts_seen;
    println!(
        "fold: {n} events, {} accounts in {secs:.2} s = {:.0} events/s",
        heads.len(),
        n as f64 / secs
    );
    let start = Instant::now();
    let policy = kamlog::view::Policy::default();
    let accounts = kamlog::query::Query::new(&store, &policy)
        .map(|q| match chunk {
            Some(events) => q.with_build_chunk(events),
            None => q,
        })
        .and_then(|q| q.rebuild_all())
        .expect("rebuild");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "rebuild: {n} events, {accounts} accounts in {secs:.2} s = {:.0} events/s; peak RSS {:.0} MiB",
        n as f64 / secs,
        peak_rss_mib()
    );
}

fn view(data: &Path, events: u64, runs: usize) {
    use kamlog::view::{Policy, Selection, ViewKind};
    let _ = std::fs::remove_dir_all(data);
    let store = Store::open(data).expect("open store");
    let lines: Vec<String> = Workload::new(7, 1, events).map(|v| v.to_string()).collect();
    let batch: Vec<_> = JsonlReader::new(lines.join("\n").as_bytes())
        .map(|(_, r)| r.unwrap())
        .collect();
    store.append(batch, None).expect("append");
    let account = "acct-00000";
    let policy = Policy::default();
    let all = store.account_events(account).unwrap();
    let last = all.iter().map(|e| e.occurred_at).max().unwrap();
    let first = all.first().unwrap().occurred_at;
    let now = Selection::as_of(last + chrono::Duration::days(1));
    let past = Selection::as_of(first + (last - first) / 2);
    let q = kamlog::query::Query::new(&store, &policy).unwrap();
    q.refresh(account).unwrap();
    let snap = q.walked(account, &now).unwrap();
    println!(
        "  final checkpoint: state {} KiB, stage history {} KiB, alert transitions {} ({} KiB)",
        serde_json::to_vec(&snap.state).unwrap().len() / 1024,
        serde_json::to_vec(&snap.stage).unwrap().len() / 1024,
        snap.alerts.transitions.len(),
        serde_json::to_vec(&snap.alerts).unwrap().len() / 1024
    );
    let measure = |kind: ViewKind, sel: &Selection, runs: usize| {
        let mut lat = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let v = q.view(account, kind, sel).unwrap();
            std::hint::black_box(v);
            lat.push(t.elapsed());
        }
        lat.sort();
        (
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
        )
    };
    println!("view: one account of {events} events");
    for kind in ViewKind::ALL {
        let (p50, p99) = measure(kind, &now, runs);
        println!(
            "  {:<15} now (snapshot): p50 {p50:.3} ms, p99 {p99:.3} ms",
            kind.name()
        );
    }
    for kind in ViewKind::ALL {
        let (p50, p99) = measure(kind, &past, runs.min(20));
        println!(
            "  {:<15} --as-of mid-history (replay): p50 {p50:.1} ms, p99 {p99:.1} ms",
            kind.name()
        );
    }
}

/// A `nats-server -js` on a free loopback port, storing in `dir`, and its URL, once it listens.
fn start_nats(nats_server: &Path, dir: &Path) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = std::process::Command::new(nats_server)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nats-server");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, format!("nats://127.0.0.1:{port}"))
}

fn bus(events: u64, samples: usize, nats_server: &Path) {
    let dir = std::env::temp_dir().join(format!("kamlog-bench-bus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut server, url) = start_nats(nats_server, &dir.join("js"));
    let store = Store::open(dir.join("data")).expect("open store");
    let lines: Vec<String> = Workload::new(5, 100, events)
        .map(|v| v.to_string())
        .collect();
    for chunk in lines.chunks(50_000) {
        let batch: Vec<_> = JsonlReader::new(chunk.join("\n").as_bytes())
            .map(|(_, r)| r.unwrap())
            .collect();
        store.append(batch, None).expect("append");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use futures_util::StreamExt;
        let client = async_nats::connect(url.as_str()).await.unwrap();
        let mut sub = client.subscribe("kamlog.events.lat.>").await.unwrap();
        client.flush().await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut opts = kamlog::bus::ServeOptions::new(&url);
        opts.tick = Duration::from_secs(3600);
        let serving = tokio::spawn(kamlog::bus::serve(store.clone(), opts, async {
            let _ = rx.await;
        }));
        let start = Instant::now();
        while kamlog::bus::checkpoint(&store).unwrap() < events {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "bus: drained a backlog of {events} events over 100 accounts in {secs:.2} s = {:.0} events/s (alert transitions and KV views follow once caught up)",
            events as f64 / secs
        );
        // End to end: one append at a time, until a subscriber receives it.
        let open = |id: String| format!(r#"{{"event_id":"{id}","account_id":"lat","type":"account_opened","occurred_at":"2024-01-01T00:00:00Z","data":{{"name":"L"}}}}"#);
        let first = kamlog::event::validate::parse_line(&open(uuid::Uuid::new_v4().to_string())).unwrap();
        store.append(vec![first], None).unwrap();
        let _ = sub.next().await;
        let mut lat = Vec::with_capacity(samples);
        for i in 0..samples {
            let line = format!(
                r#"{{"event_id":"{}","account_id":"lat","type":"stage_assessed","occurred_at":"2024-01-02T00:00:{:02}Z","data":{{"stage":"basic"}}}}"#,
                uuid::Uuid::new_v4(),
                i % 60
            );
            let ev = kamlog::event::validate::parse_line(&line).unwrap();
            let t = Instant::now();
            let s2 = store.clone();
            tokio::task::spawn_blocking(move || s2.append(vec![ev], None).unwrap()).await.unwrap();
            let _ = sub.next().await;
            lat.push(t.elapsed());
        }
        lat.sort();
        println!(
            "bus: end-to-end append → subscriber, {samples} single events: p50 {:.2} ms, p99 {:.2} ms",
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3
        );
        let _ = tx.send(());
        let _ = serving.await;
    });
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The median of `runs` timings of `f`.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut lat: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    lat.sort();
    percentile(&lat, 0.5).as_secs_f64() * 1e3
}

/// The busy benchmark account's id.
const BUSY: &str = "busy";

/// A fresh store at `data` holding the busy account (`events` events over six years, every
/// event type), imported as `kamlog import` does; returns it and the import's milliseconds.
fn busy_store(data: &Path, events: usize) -> (Store, f64) {
    let _ = std::fs::remove_dir_all(data);
    let lines = kamlog::workload::busy_account(7, BUSY, events);
    let file = data.with_extension("jsonl");
    std::fs::write(
        &file,
        lines
            .iter()
            .map(|v| v.to_string() + "\n")
            .collect::<String>(),
    )
    .expect("write the workload");
    let store = Store::open(data).expect("open store");
    let t = Instant::now();
    kamlog::import::store_file(&store, &file, 50_000, None).expect("import");
    (store, t.elapsed().as_secs_f64() * 1e3)
}

/// GET `path` from a server on loopback over plain HTTP/1.1; the status and the body's size.
fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, usize) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .find("\r\n\r\n")
        .map(|i| buf.len() - i - 4)
        .unwrap_or(0);
    (status, body)
}

/// The account review of the busy account: `kamlog report` in process (gathering the review
/// and writing the HTML), and the web's account page and portfolio over HTTP from a real
/// server on loopback, each against reading the account's events once.
fn review(data: &Path, events: usize, runs: usize) {
    use kamlog::query::Query;
    use kamlog::review::Review;
    use kamlog::view::{Policy, Selection};
    let (store, _) = busy_store(data, events);
    let policy = Policy::default();
    let q = Query::new(&store, &policy).expect("query");
    q.refresh_all().expect("refresh");
    let all = store.account_events(BUSY).expect("read");
    let first = all.iter().map(|e| e.occurred_at).min().unwrap();
    let last = all.iter().map(|e| e.occurred_at).max().unwrap();
    println!(
        "review: account {BUSY}, {} events from {first} to {last}",
        all.len()
    );
    let read = median_ms(runs, || {
        std::hint::black_box(store.account_events(BUSY).unwrap());
    });
    println!("  read the account's events once: {read:.1} ms (the unit of the ratios below)");
    let row = |what: &str, ms: f64| println!("  {what:<58} {ms:>9.1} ms {:>7.2}x", ms / read);
    let now = Selection::as_of(last + chrono::Duration::days(30));
    let mut size = 0;
    let report_now = median_ms(runs, || {
        let r = Review::gather(&q, BUSY, &now, None).unwrap();
        size = kamlog::review::document(&r).len();
    });
    row(&format!("report, now ({} KiB)", size / 1024), report_now);
    let since = now.as_of - chrono::Duration::days(kamlog::review::DEFAULT_SINCE_DAYS);
    let changes = median_ms(runs, || {
        let f = kamlog::query::timeline::Filter {
            since: Some(since),
            until: Some(now.as_of),
            ..Default::default()
        };
        std::hint::black_box(q.log(BUSY, &now, &f).unwrap());
    });
    row(
        "  of which: what changed in the last 90 days (log --since)",
        changes,
    );
    let gathered = Review::gather(&q, BUSY, &now, None).unwrap();
    let draw = median_ms(runs, || {
        std::hint::black_box(kamlog::review::document(&gathered));
    });
    row("  of which: drawing the HTML", draw);
    let span = last - first;
    let mut worst = (0.0, String::new());
    for i in 1..=8 {
        let t = first + span * i / 9;
        let ms = median_ms(runs, || {
            let r = Review::gather(&q, BUSY, &Selection::as_of(t), None).unwrap();
            std::hint::black_box(kamlog::review::document(&r));
        });
        if ms > worst.0 {
            worst = (ms, t.format("%Y-%m-%d").to_string());
        }
    }
    row(
        &format!("worst report --as-of (8 instants; {})", worst.1),
        worst.0,
    );
    // The web server, as `kamlog web` runs it, on a free loopback port.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = kamlog::web::router(store.clone(), &kamlog::web::WebOptions::new("127.0.0.1:0"));
    rt.spawn(async move { axum::serve(listener, app).await });
    let (status, bytes) = http_get(addr, "/accounts/busy");
    assert_eq!(status, 200, "the account page");
    let page_now = median_ms(runs, || {
        std::hint::black_box(http_get(addr, "/accounts/busy"));
    });
    row(
        &format!("GET /accounts/busy, now ({} KiB)", bytes / 1024),
        page_now,
    );
    let mut worst = (0.0, String::new());
    for i in 1..=8 {
        let t = (first + span * i / 9)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let path = format!("/accounts/busy?as_of={t}");
        assert_eq!(http_get(addr, &path).0, 200, "{path}");
        let ms = median_ms(runs, || {
            std::hint::black_box(http_get(addr, &path));
        });
        if ms > worst.0 {
            worst = (ms, t[..10].to_string());
        }
    }
    row(
        &format!("worst GET /accounts/busy?as_of= (8 instants; {})", worst.1),
        worst.0,
    );
    let portfolio = median_ms(runs, || {
        std::hint::black_box(http_get(addr, "/"));
    });
    row("GET / (the portfolio)", portfolio);
    println!("  peak RSS {:.0} MiB", peak_rss_mib());
}

fn history(data: &Path, events: usize, runs: usize) {
    use kamlog::query::{timeline::Filter, Query};
    use kamlog::view::{Policy, Selection, ViewKind};
    let account = BUSY;
    let (store, stored_ms) = busy_store(data, events);
    let policy = Policy::default();
    let t = Instant::now();
    let q = Query::new(&store, &policy).expect("query");
    q.refresh_all().expect("refresh");
    let refresh_ms = t.elapsed().as_secs_f64() * 1e3;
    let all = store.account_events(account).expect("read");
    let n = all.len();
    let first = all.iter().map(|e| e.occurred_at).min().unwrap();
    let last = all.iter().map(|e| e.occurred_at).max().unwrap();
    let late = all
        .windows(2)
        .filter(|w| w[1].occurred_at < w[0].occurred_at)
        .count();
    let retractions = all
        .iter()
        .filter(|e| e.type_name() == "event_retracted")
        .count();
    let types: std::collections::BTreeSet<&str> = all.iter().map(|e| e.type_name()).collect();
    println!(
        "history: account {account}, {n} events from {first} to {last}, {} event types, {late} late, {retractions} retractions",
        types.len()
    );
    println!(
        "  import: stored in {stored_ms:.0} ms, checkpoints made current in {refresh_ms:.0} ms"
    );
    let read = median_ms(runs, || {
        std::hint::black_box(store.account_events(account).unwrap());
    });
    println!("  read the account's events once: {read:.1} ms (the unit of the ratios below)");
    let row = |what: &str, ms: f64| println!("  {what:<58} {ms:>9.1} ms {:>7.2}x", ms / read);
    let now = Selection::as_of(last + chrono::Duration::days(30));
    let first_read = {
        let t = Instant::now();
        let q = Query::new(&store, &policy).unwrap();
        for k in ViewKind::ALL {
            std::hint::black_box(q.view(account, k, &now).unwrap());
        }
        std::hint::black_box(q.alerts(Some(account), &now, false).unwrap());
        t.elapsed().as_secs_f64() * 1e3
    };
    row(
        "first read after import (8 views + open alerts, now)",
        first_read,
    );
    let rebuild = median_ms(runs, || {
        std::hint::black_box(q.rebuild_all().unwrap());
    });
    row("full rebuild (every checkpoint from the log)", rebuild);
    let view_now = median_ms(runs, || {
        std::hint::black_box(q.view(account, ViewKind::Stage, &now).unwrap());
    });
    row("view stage, now", view_now);
    for k in [ViewKind::Relationships, ViewKind::Map, ViewKind::Contracts] {
        let ms = median_ms(runs, || {
            std::hint::black_box(q.view(account, k, &now).unwrap());
        });
        row(&format!("view {}, now", k.name()), ms);
    }
    let span = last - first;
    let mut worst: [(f64, String); 4] = Default::default();
    for i in 1..=8 {
        let t = first + span * i / 9;
        let as_of = Selection::as_of(t);
        let k = all[n * i as usize / 9].recorded_at;
        let known = Selection {
            as_of: k.max(t),
            known_at: Some(k),
        };
        let figures = [
            median_ms(runs, || {
                std::hint::black_box(q.view(account, ViewKind::Stage, &as_of).unwrap());
            }),
            median_ms(runs, || {
                std::hint::black_box(q.view(account, ViewKind::Coverage, &known).unwrap());
            }),
            median_ms(runs, || {
                std::hint::black_box(q.alerts(Some(account), &as_of, true).unwrap());
            }),
            median_ms(runs, || {
                std::hint::black_box(q.view(account, ViewKind::Map, &as_of).unwrap());
            }),
        ];
        for (w, f) in worst.iter_mut().zip(figures) {
            if f > w.0 {
                *w = (f, t.format("%Y-%m-%d").to_string());
            }
        }
    }
    row(
        &format!("worst view stage --as-of (8 instants; {})", worst[0].1),
        worst[0].0,
    );
    row(
        &format!(
            "worst view coverage --known-at (8 instants; {})",
            worst[1].1
        ),
        worst[1].0,
    );
    row(
        &format!(
            "worst alerts --as-of --history (8 instants; {})",
            worst[2].1
        ),
        worst[2].0,
    );
    row(
        &format!("worst view map --as-of (8 instants; {})", worst[3].1),
        worst[3].0,
    );
    let log = median_ms(runs, || {
        std::hint::black_box(q.log(account, &now, &Filter::default()).unwrap());
    });
    row("log (the whole audit timeline)", log);
    // One interaction logged late: it occurred in the middle of the history, between two
    // people still on the account (the rules check them at the end of the stream).
    let mid = first + span / 2;
    let end = q.walked(account, &now).unwrap().state;
    let member = end
        .members
        .iter()
        .find(|(_, m)| m.active)
        .map(|(id, _)| id.clone());
    let stakeholder = end
        .stakeholders
        .iter()
        .find(|(_, s)| s.active)
        .map(|(id, _)| id.clone());
    let late_line = serde_json::json!({"event_id": "00000000-0000-4000-8000-00000000beef",
        "account_id": account, "type": "interaction_logged", "occurred_at": mid.to_rfc3339(),
        "data": {"interaction_id": "i-late", "channel": "call",
                 "supplier_participants": [member], "customer_participants": [stakeholder]}});
    let batch: Vec<_> = JsonlReader::new(late_line.to_string().as_bytes())
        .map(|(_, r)| r.unwrap())
        .collect();
    let t = Instant::now();
    let appended = store.append(batch, None);
    let append_ms = t.elapsed().as_secs_f64() * 1e3;
    if let Err(e) = appended {
        println!("  (the late interaction was refused: {e})");
    }
    let t = Instant::now();
    q.refresh(account).unwrap();
    let refresh_late = t.elapsed().as_secs_f64() * 1e3;
    row("a late interaction: append (durable)", append_ms);
    row(
        "a late interaction: checkpoints brought up to date",
        refresh_late,
    );
    let after = median_ms(runs, || {
        for k in ViewKind::ALL {
            std::hint::black_box(q.view(account, k, &now).unwrap());
        }
    });
    row("reads after it (5 views, now)", after);
    let after_past = median_ms(runs, || {
        std::hint::black_box(
            q.view(account, ViewKind::Stage, &Selection::as_of(mid + span / 4))
                .unwrap(),
        );
    });
    row(
        "reads after it (view stage --as-of after the late event)",
        after_past,
    );
    println!("  peak RSS {:.0} MiB", peak_rss_mib());
}

/// SPEC 6 v2: the feed keeps up with sustained appends (lag under a second at 1,000/s).
fn feed_lag(rate: u64, secs: u64, accounts: usize, nats_server: &Path) {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let dir = std::env::temp_dir().join(format!("kamlog-feed-lag-{}", std::process::id()));
    let (mut server, url) = start_nats(nats_server, &dir.join("js"));
    let store = Store::open(dir.join("data")).expect("open store");
    let total = rate * secs;
    // Each account's events in order, sent by its own client task.
    // Event i of the workload is due at i / rate seconds (each account's events keep their order).
    let mut per_account: HashMap<String, Vec<(u64, serde_json::Value)>> = HashMap::new();
    for (i, e) in Workload::new(9, accounts, total).enumerate() {
        per_account
            .entry(e["account_id"].as_str().unwrap().to_string())
            .or_default()
            .push((i as u64, e));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use futures_util::StreamExt;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(kamlog::bus::serve(
            store.clone(),
            kamlog::bus::ServeOptions::new(&url),
            async {
                let _ = rx.await;
            },
        ));
        let client = async_nats::connect(url.as_str()).await.unwrap();
        let mut sub = client.subscribe("kamlog.events.>").await.unwrap();
        client.flush().await.unwrap();
        // Until serve's API answers.
        while client.request("kamlog_api.alerts", "{}".into()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let arrived: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
        let a2 = arrived.clone();
        let watcher = tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let id = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default();
                a2.lock().unwrap().insert(id, Instant::now());
            }
        });
        let start = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let mut tasks = Vec::new();
        for (_, events) in per_account {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut acks = Vec::with_capacity(events.len());
                for (i, e) in events {
                    let due = start + interval.mul_f64(i as f64);
                    tokio::time::sleep_until(due.into()).await;
                    let asked = Instant::now();
                    let reply = client
                        .request("kamlog_api.append", format!("{e}\n").into())
                        .await
                        .expect("append request");
                    assert!(
                        reply.headers.is_none(),
                        "the append failed: {:?}",
                        reply.headers
                    );
                    acks.push((
                        e["event_id"].as_str().unwrap().to_string(),
                        Instant::now(),
                        asked.elapsed(),
                    ));
                }
                acks
            }));
        }
        let mut acks = Vec::new();
        for t in tasks {
            acks.extend(t.await.unwrap());
        }
        let sent_secs = start.elapsed().as_secs_f64();
        let wait = Instant::now();
        while arrived.lock().unwrap().len() < acks.len() && wait.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let arrived = arrived.lock().unwrap().clone();
        let mut lags: Vec<Duration> = acks
            .iter()
            .filter_map(|(id, acked, _)| {
                arrived.get(id).map(|t| t.saturating_duration_since(*acked))
            })
            .collect();
        let mut latency: Vec<Duration> = acks.iter().map(|a| a.2).collect();
        latency.sort();
        println!(
            "feed-lag: append request → reply: p50 {:.1} ms, p99 {:.1} ms",
            percentile(&latency, 0.5).as_secs_f64() * 1e3,
            percentile(&latency, 0.99).as_secs_f64() * 1e3
        );
        lags.sort();
        println!(
            "feed-lag: {} appends (one event per API request) over {sent_secs:.1} s = {:.0} appends/s acknowledged; {} of them in the stream",
            acks.len(),
            acks.len() as f64 / sent_secs,
            lags.len()
        );
        println!(
            "feed-lag: acknowledgement → event message at a subscriber: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&lags, 0.5).as_secs_f64() * 1e3,
            percentile(&lags, 0.99).as_secs_f64() * 1e3,
            lags.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
        watcher.abort();
        let _ = tx.send(());
        let _ = serving.await;
    });
    let _ = server.kill();
    let _ = server.wait();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
