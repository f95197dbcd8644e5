//! kamlog side by side with the usual in-house event store (a PostgreSQL table of JSONB events
//! with a unique (stream, version) key) and with the parsing limit, in one process run.
//!
//! `cargo bench --bench peer -- [--events N] [--accounts N] [--seed S] [--pg CONNSTR]`
//!
//! One deterministic workload is generated; then, on the same machine and disk:
//! 1. kamlog on sled: bulk import, durable single-event appends from 1 and 8 writers, full
//!    rebuild, "now" and `--as-of` views of the largest account;
//! 2. PostgreSQL: the same load by COPY and by batched INSERT, the same durable appends
//!    (`synchronous_commit = on`), the same rebuild and views (rows read, parsed and folded by
//!    kamlog's own code, so the only difference is the store);
//! 3. the limit: the export file read, parsed (serde_json) and hashed (SHA-256), no store.
//!
//! The benchmark creates and drops its own database. If PostgreSQL cannot be reached it says
//! so and runs the rest. Nothing is asserted: figures are printed, as a Markdown table at the end.

use clap::Parser;
use kamlog::event::jsonl::JsonlReader;
use kamlog::event::payload::EventData;
use kamlog::event::{NewEvent, StoredEvent};
use kamlog::history::Checkpoint;
use kamlog::model::{AccountState, EventRef};
use kamlog::query::{render, Query};
use kamlog::view::ViewKind;
use kamlog::view::{Policy, Selection};
use kamlog::workload::Workload;
use kamlog::Store;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "peer")]
struct Args {
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 100)]
    accounts: usize,
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Durable single-event appends per writer (1 writer, then 8).
    #[arg(long, default_value_t = 1000)]
    appends: usize,
    /// Events per transaction in kamlog import and the batched INSERT load.
    #[arg(long, default_value_t = 50_000)]
    batch_size: usize,
    /// Timed runs of each view.
    #[arg(long, default_value_t = 50)]
    view_runs: usize,
    /// libpq-style connection string of a PostgreSQL server (the benchmark creates and drops
    /// its own database on it).
    #[arg(
        long,
        default_value = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    )]
    pg: String,
    /// Working directory (default: a new directory under the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// A throughput (events/s) or a latency summary.
#[derive(Clone, Copy)]
enum Figure {
    Rate(f64),
    Latency {
        p50: Duration,
        p99: Duration,
        rate: f64,
    },
}

impl Figure {
    fn text(self) -> String {
        match self {
            Figure::Rate(r) => format!("{r:.0} events/s"),
            Figure::Latency { p50, p99, rate } => {
                format!("{rate:.0}/s; p50 {:.2} ms, p99 {:.2} ms", ms(p50), ms(p99))
            }
        }
    }
    /// The number compared in ratios: throughput, or 1/p50 for latencies.
    fn speed(self) -> f64 {
        match self {
            Figure::Rate(r) => r,
            Figure::Latency { rate, .. } => rate,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn latency(mut lat: Vec<Duration>, total: Duration) -> Figure {
    let n = lat.len();
    lat.sort();
    Figure::Latency {
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        rate: n as f64 / total.as_secs_f64(),
    }
}

impl Row {
    /// A throughput row: one event per operation.
    fn rate(
        what: &'static str,
        kamlog: Figure,
        peer_label: &'static str,
        peer: Option<Figure>,
    ) -> Row {
        Row {
            what,
            kamlog,
            peer_label,
            peer,
            per_op: 1,
        }
    }
}

struct Row {
    what: &'static str,
    kamlog: Figure,
    peer_label: &'static str,
    peer: Option<Figure>,
    /// Events each operation of the figure handles (1, or the account's events for a view):
    /// the ratio to the limit compares events handled per second.
    per_op: u64,
}

fn main() {
    let args = Args::parse();
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kamlog-peer-bench-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create working directory");
    let policy = Policy::default();

    // The workload.
    let input = dir.join("workload.jsonl");
    let bytes = gen(&args, &input);
    println!(
        "workload: {} events over {} accounts (seed {}), {} bytes/event, {}",
        args.events,
        args.accounts,
        args.seed,
        bytes / args.events.max(1),
        input.display()
    );

    // PostgreSQL, if it answers.
    let mut pg = match Peer::connect(&args.pg) {
        Ok(p) => Some(p),
        Err(e) => {
            println!(
                "PostgreSQL: not reachable at `{}` ({e}); its figures are skipped",
                args.pg
            );
            None
        }
    };

    let mut rows = Vec::new();

    // 1. Bulk load.
    let data = dir.join("store");
    let store = Store::open(&data).expect("open store");
    let import = kamlog_import(&store, &input, args.batch_size);
    println!("kamlog import: {}", import.text());
    let export = dir.join("export.jsonl");
    export_store(&store, &export);
    let limit = parse_and_hash(&export);
    println!("limit (read + parse + hash the export): {}", limit.text());
    let (copy, insert) = match pg.as_mut() {
        Some(p) => {
            let copy = p.load_copy(&input);
            println!("PostgreSQL COPY: {}", copy.text());
            let insert = p.load_insert(&input, args.batch_size);
            println!("PostgreSQL batched INSERT: {}", insert.text());
            (Some(copy), Some(insert))
        }
        None => (None, None),
    };
    rows.push(Row::rate("bulk load", import, "COPY", copy));
    rows.push(Row::rate("bulk load", import, "batched INSERT", insert));

    // 2. Rebuild (on the store just loaded, and the PostgreSQL table as the batched-INSERT
    // load left it: the same rows as COPY's).
    let fold = kamlog_fold(&store);
    println!("kamlog fold (every account's state): {}", fold.text());
    let rebuild = kamlog_rebuild(&store, &policy);
    println!(
        "kamlog rebuild (every view, snapshots written): {}",
        rebuild.text()
    );
    let (pfold, prebuild) = match pg.as_mut() {
        Some(p) => {
            let f = p.fold();
            println!("PostgreSQL fold: {}", f.text());
            let r = p.rebuild(&policy);
            println!(
                "PostgreSQL rebuild (every view, kept in memory): {}",
                r.text()
            );
            (Some(f), Some(r))
        }
        None => (None, None),
    };
    rows.push(Row::rate(
        "rebuild: fold all states",
        fold,
        "rows → kamlog fold",
        pfold,
    ));
    rows.push(Row::rate(
        "rebuild: all views",
        rebuild,
        "rows → kamlog views",
        prebuild,
    ));

    // 3. Views of the largest account.
    let (account, size) = largest_account(&store);
    let events = store.account_events(&account).expect("read account");
    let first = events.first().expect("events").occurred_at;
    let last = events.iter().map(|e| e.occurred_at).max().expect("events");
    let now = Selection::as_of(last + chrono::Duration::days(1));
    let past = Selection::as_of(first + (last - first) / 2);
    drop(events);
    println!("views of {account} ({size} events), five requests per run, one per kind:");
    for (label, sel, runs) in [
        ("view: now", &now, args.view_runs),
        ("view: --as-of mid-history", &past, args.view_runs.min(20)),
    ] {
        let k = kamlog_view(&store, &account, sel, &policy, runs);
        let p = pg.as_mut().map(|p| p.view(&account, sel, &policy, runs));
        println!(
            "  {label}: kamlog {}{}",
            k.text(),
            p.map(|p| format!(", PostgreSQL {}", p.text()))
                .unwrap_or_default()
        );
        rows.push(Row {
            what: label,
            kamlog: k,
            peer_label: "rows → kamlog view",
            peer: p,
            per_op: size,
        });
    }
    drop(store);

    // 4. Durable single-event appends.
    for writers in [1usize, 8] {
        let k = kamlog_appends(
            &dir.join(format!("append-{writers}")),
            writers,
            args.appends,
        );
        println!("kamlog appends, {writers} writer(s): {}", k.text());
        let p = pg.as_mut().map(|p| p.appends(writers, args.appends));
        if let Some(p) = p {
            println!("PostgreSQL appends, {writers} writer(s): {}", p.text());
        }
        let what = if writers == 1 {
            "durable appends, 1 writer"
        } else {
            "durable appends, 8 writers"
        };
        rows.push(Row::rate(what, k, "INSERT, synchronous_commit=on", p));
    }

    if let Some(p) = pg {
        p.drop_database();
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    println!("| measure | kamlog | peer (PostgreSQL) | kamlog ÷ peer | limit | kamlog ÷ limit |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let k = r.kamlog;
        let peer = r
            .peer
            .map(|p| format!("{}: {}", r.peer_label, p.text()))
            .unwrap_or_else(|| "not run".into());
        let vs_peer = r
            .peer
            .map(|p| format!("{:.2}×", k.speed() / p.speed()))
            .unwrap_or_else(|| "–".into());
        let vs_limit = format!(
            "{:.1} %",
            100.0 * k.speed() * r.per_op as f64 / limit.speed()
        );
        let limit_text = if r.per_op == 1 {
            limit.text()
        } else {
            format!("{} (a view = {} events)", limit.text(), r.per_op)
        };
        println!(
            "| {} | {} | {peer} | {vs_peer} | {limit_text} | {vs_limit} |",
            r.what,
            k.text()
        );
    }
}

fn gen(args: &Args, out: &Path) -> u64 {
    let mut w = BufWriter::new(std::fs::File::create(out).expect("create workload"));
    let mut bytes = 0u64;
    for ev in Workload::new(args.seed, args.accounts, args.events) {
        let line = ev.to_string();
        bytes += line.len() as u64 + 1;
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
    bytes
}

/// The path of `kamlog import`: the checking pass, then the pipelined storing pass.
fn kamlog_import(store: &Store, input: &Path, batch_size: usize) -> Figure {
    let start = Instant::now();
    let check = kamlog::import::check_file(input, 1).expect("read input");
    assert_eq!(check.bad_lines, 0, "{:?}", check.errors);
    let s = kamlog::import::store_file(store, input, batch_size, None).expect("import");
    Figure::Rate(s.stored as f64 / start.elapsed().as_secs_f64())
}

fn export_store(store: &Store, out: &Path) {
    let mut w = BufWriter::new(std::fs::File::create(out).expect("create export"));
    store
        .scan_from(1, |_, bytes| {
            w.write_all(bytes).unwrap();
            w.write_all(b"\n").unwrap();
            Ok(())
        })
        .expect("scan");
    w.flush().unwrap();
}

/// The limit: read the export, parse every line into a JSON value, hash it. No store.
fn parse_and_hash(export: &Path) -> Figure {
    use sha2::{Digest, Sha256};
    let start = Instant::now();
    let mut r = BufReader::new(std::fs::File::open(export).expect("open export"));
    let mut line = Vec::new();
    let mut n = 0u64;
    let mut acc = 0u8;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).expect("read") == 0 {
            break;
        }
        let v: serde_json::Value = serde_json::from_slice(&line).expect("parse");
        std::hint::black_box(&v);
        acc ^= Sha256::digest(&line)[0];
        n += 1;
    }
    std::hint::black_box(acc);
    Figure::Rate(n as f64 / start.elapsed().as_secs_f64())
}

fn kamlog_fold(store: &Store) -> Figure {
    let start = Instant::now();
    let mut states: HashMap<String, AccountState> = HashMap::new();
    let mut n = 0u64;
    store
        .scan_from(1, |_, bytes| {
            let e = StoredEvent::decode(bytes).expect("decode");
            fold_one(&mut states, &e);
            n += 1;
            Ok(())
        })
        .expect("scan");
    std::hint::black_box(&states);
    Figure::Rate(n as f64 / start.elapsed().as_secs_f64())
}

fn fold_one(states: &mut HashMap<String, AccountState>, e: &StoredEvent) {
    let st = states
        .entry(e.account_id.clone())
        .or_insert_with(|| AccountState::new(&e.account_id));
    let _ = st.apply(EventRef::from(e), false);
}

fn kamlog_rebuild(store: &Store, policy: &Policy) -> Figure {
    let n = store.last_position().expect("read");
    let start = Instant::now();
    Query::new(store, policy)
        .and_then(|q| q.rebuild_all())
        .expect("rebuild");
    Figure::Rate(n as f64 / start.elapsed().as_secs_f64())
}

fn largest_account(store: &Store) -> (String, u64) {
    store
        .heads()
        .expect("heads")
        .into_iter()
        .map(|h| (h.account_id, h.version))
        .max_by_key(|(a, v)| (*v, std::cmp::Reverse(a.clone())))
        .expect("an account")
}

fn kamlog_view(
    store: &Store,
    account: &str,
    sel: &Selection,
    policy: &Policy,
    runs: usize,
) -> Figure {
    let q = Query::new(store, policy).expect("query");
    let mut lat = Vec::with_capacity(runs);
    let start = Instant::now();
    for _ in 0..runs {
        let t = Instant::now();
        for kind in ViewKind::ALL {
            let v = q.view(account, kind, sel).expect("view");
            std::hint::black_box(v);
        }
        lat.push(t.elapsed());
    }
    latency(lat, start.elapsed())
}

/// One interaction per append, as a KAM team logs them.
fn interaction(writer: usize, i: usize) -> NewEvent {
    let line = format!(
        r#"{{"event_id":"{}","account_id":"w{writer}","type":"interaction_logged","occurred_at":"2024-02-01T00:00:00Z","data":{{"interaction_id":"i-{i}","channel":"call","supplier_participants":["m-1"],"customer_participants":["s-1"],"summary":"weekly call with the account's IT lead about the rollout plan"}}}}"#,
        uuid::Uuid::new_v4()
    );
    kamlog::event::validate::parse_line(&line).expect("valid interaction")
}

fn setup_lines(writers: usize) -> Vec<String> {
    (0..writers)
        .flat_map(|w| {
            let a = format!("w{w}");
            [
                format!(r#"{{"event_id":"{}","account_id":"{a}","type":"account_opened","occurred_at":"2024-01-01T00:00:00Z","data":{{"name":"A"}}}}"#, uuid::Uuid::new_v4()),
                format!(r#"{{"event_id":"{}","account_id":"{a}","type":"team_member_assigned","occurred_at":"2024-01-01T00:00:00Z","data":{{"member_id":"m-1","name":"M","function":"sales","team_role":"account_lead"}}}}"#, uuid::Uuid::new_v4()),
                format!(r#"{{"event_id":"{}","account_id":"{a}","type":"stakeholder_added","occurred_at":"2024-01-01T00:00:00Z","data":{{"stakeholder_id":"s-1","name":"S","function":"it","level":"senior","dmu_roles":[],"influence":3,"attitude":0}}}}"#, uuid::Uuid::new_v4()),
            ]
        })
        .collect()
}

fn kamlog_appends(data: &Path, writers: usize, count: usize) -> Figure {
    let _ = std::fs::remove_dir_all(data);
    let store = Store::open(data).expect("open store");
    let setup = setup_lines(writers).join("\n");
    let events = JsonlReader::new(setup.as_bytes())
        .map(|(_, r)| r.expect("valid setup"))
        .collect();
    store.append(events, None).expect("setup");
    let figure = timed_writers(writers, count, |_| {
        let store = store.clone();
        move |_: usize, ev: NewEvent| {
            store.append(vec![ev], None).expect("append");
        }
    });
    drop(store);
    let _ = std::fs::remove_dir_all(data);
    figure
}

/// `writers` threads, each making `count` timed single-event appends of [`interaction`]s
/// through the append function `open` gives it (called in its thread).
fn timed_writers<O, A>(writers: usize, count: usize, open: O) -> Figure
where
    O: Fn(usize) -> A + Sync,
    A: FnMut(usize, NewEvent),
{
    let start = Instant::now();
    let lat: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let open = &open;
                s.spawn(move || {
                    let mut append = open(w);
                    let mut lat = Vec::with_capacity(count);
                    for i in 0..count {
                        let ev = interaction(w, i);
                        let t = Instant::now();
                        append(i, ev);
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer"))
            .collect()
    });
    latency(lat, start.elapsed())
}

/// The in-house event store: one table, JSONB payloads, (stream, version) unique.
struct Peer {
    admin: Client,
    db: String,
    conn: String,
    client: Client,
}

const TABLE: &str = "
    DROP TABLE IF EXISTS events;
    CREATE TABLE events (
        position    bigserial PRIMARY KEY,
        stream      text NOT NULL,
        version     int NOT NULL,
        type        text NOT NULL,
        event_id    uuid NOT NULL UNIQUE,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        actor       text,
        data        jsonb NOT NULL,
        UNIQUE (stream, version)
    );";

impl Peer {
    fn connect(conn: &str) -> Result<Peer, String> {
        let mut admin = Client::connect(conn, NoTls).map_err(pg_error)?;
        let db = format!("kamlog_bench_{}", std::process::id());
        // Separate statements: CREATE DATABASE cannot run inside the implicit transaction
        // of a multi-statement query.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .and_then(|_| admin.batch_execute(&format!("CREATE DATABASE {db}")))
            .map_err(pg_error)?;
        let conn = format!("{conn} dbname={db}");
        let mut client = Client::connect(&conn, NoTls).map_err(pg_error)?;
        client
            .batch_execute("SET synchronous_commit = on")
            .and_then(|_| client.batch_execute(TABLE))
            .map_err(pg_error)?;
        Ok(Peer {
            admin,
            db,
            conn,
            client,
        })
    }

    fn drop_database(mut self) {
        drop(self.client);
        if let Err(e) = self
            .admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.db))
        {
            println!("PostgreSQL: could not drop {}: {e}", self.db);
        }
    }

    /// The same input, parsed and validated by kamlog's own reader; versions assigned per
    /// stream as a client of the in-house store would.
    fn parsed(input: &Path) -> impl Iterator<Item = (NewEvent, i32)> {
        let r = BufReader::new(std::fs::File::open(input).expect("open input"));
        let mut versions: HashMap<String, i32> = HashMap::new();
        JsonlReader::new(r).map(move |(_, ev)| {
            let ev = ev.expect("valid input");
            let v = versions.entry(ev.account_id.clone()).or_insert(0);
            *v += 1;
            (ev, *v)
        })
    }

    fn load_copy(&mut self, input: &Path) -> Figure {
        self.client.batch_execute(TABLE).expect("table");
        let start = Instant::now();
        let mut n = 0u64;
        let mut w = self
            .client
            .copy_in("COPY events (stream, version, type, event_id, occurred_at, data) FROM STDIN")
            .expect("copy");
        let mut buf = Vec::with_capacity(1 << 20);
        for (ev, version) in Self::parsed(input) {
            // Text format: tab-separated, backslash escaped. Ids cannot hold tabs or
            // newlines (they are validated) and canonical JSON has neither raw.
            let data = kamlog::event::json::canonical(&ev.body["data"]);
            write!(
                buf,
                "{}\t{version}\t{}\t{}\t{}\t",
                ev.account_id,
                ev.type_name(),
                ev.event_id,
                ev.occurred_at.to_rfc3339()
            )
            .unwrap();
            for b in data.bytes() {
                if b == b'\\' {
                    buf.push(b'\\');
                }
                buf.push(b);
            }
            buf.push(b'\n');
            if buf.len() > (1 << 20) {
                w.write_all(&buf).expect("copy data");
                buf.clear();
            }
            n += 1;
        }
        w.write_all(&buf).expect("copy data");
        w.finish().expect("copy finish");
        Figure::Rate(n as f64 / start.elapsed().as_secs_f64())
    }

    fn load_insert(&mut self, input: &Path, batch_size: usize) -> Figure {
        const ROWS: usize = 500;
        self.client.batch_execute(TABLE).expect("table");
        let sql = sql_rows(ROWS);
        let start = Instant::now();
        let full = self.client.prepare(&sql).expect("prepare");
        let mut n = 0u64;
        let mut pending: Vec<(NewEvent, i32)> = Vec::with_capacity(ROWS);
        let mut tx = self.client.transaction().expect("begin");
        let mut in_tx = 0usize;
        let mut it = Self::parsed(input).peekable();
        while it.peek().is_some() {
            pending.clear();
            pending.extend(it.by_ref().take(ROWS));
            let owned: Vec<InsertRow> = pending
                .iter()
                .map(|(ev, v)| {
                    (
                        ev.account_id.clone(),
                        *v,
                        ev.type_name(),
                        uuid::Uuid::parse_str(&ev.event_id).expect("uuid"),
                        ev.occurred_at,
                        ev.body["data"].clone(),
                    )
                })
                .collect();
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                Vec::with_capacity(owned.len() * 6);
            for (a, v, t, id, at, d) in &owned {
                params.extend_from_slice(&[a, v, t, id, at, d]);
            }
            if owned.len() == ROWS {
                tx.execute(&full, &params).expect("insert");
            } else {
                let short = sql_rows(owned.len());
                tx.execute(short.as_str(), &params).expect("insert");
            }
            n += owned.len() as u64;
            in_tx += owned.len();
            if in_tx >= batch_size {
                tx.commit().expect("commit");
                tx = self.client.transaction().expect("begin");
                in_tx = 0;
            }
        }
        tx.commit().expect("commit");
        Figure::Rate(n as f64 / start.elapsed().as_secs_f64())
    }

    /// Reads every row in position order, as a rebuild does, handing each decoded event on.
    fn scan(&mut self, mut f: impl FnMut(StoredEvent)) -> u64 {
        let mut rows = self
            .client
            .query_raw(
                "SELECT position, stream, version, type, event_id, occurred_at, recorded_at, \
                 actor, data FROM events ORDER BY position",
                std::iter::empty::<i32>(),
            )
            .expect("select");
        let mut n = 0;
        while let Some(row) = rows.next().expect("row") {
            f(from_row(&row));
            n += 1;
        }
        n
    }

    fn fold(&mut self) -> Figure {
        let start = Instant::now();
        let mut states: HashMap<String, AccountState> = HashMap::new();
        let n = self.scan(|e| fold_one(&mut states, &e));
        std::hint::black_box(&states);
        Figure::Rate(n as f64 / start.elapsed().as_secs_f64())
    }

    fn rebuild(&mut self, policy: &Policy) -> Figure {
        let start = Instant::now();
        let mut by_account: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
        let n = self.scan(|e| by_account.entry(e.account_id.clone()).or_default().push(e));
        let mut snaps = Vec::with_capacity(by_account.len());
        for (account, events) in by_account {
            let (taken, last) = Checkpoint::start(&account, policy).walk_all(
                events.iter().collect(),
                kamlog::query::CHECKPOINT_EVERY,
                policy,
            );
            snaps.push((taken, last));
        }
        std::hint::black_box(&snaps);
        Figure::Rate(n as f64 / start.elapsed().as_secs_f64())
    }

    fn view(&mut self, account: &str, sel: &Selection, policy: &Policy, runs: usize) -> Figure {
        let stmt = self
            .client
            .prepare(
                "SELECT position, stream, version, type, event_id, occurred_at, recorded_at, \
                 actor, data FROM events WHERE stream = $1 ORDER BY version",
            )
            .expect("prepare");
        let mut lat = Vec::with_capacity(runs);
        let start = Instant::now();
        for _ in 0..runs {
            let t = Instant::now();
            // One request per kind, as `kamlog view A KIND` or the API serves them: each
            // reads the account's events.
            for kind in ViewKind::ALL {
                let events: Vec<StoredEvent> = self
                    .client
                    .query(&stmt, &[&account])
                    .expect("select")
                    .iter()
                    .map(from_row)
                    .collect();
                let selected = kamlog::view::select(&events, sel);
                let w = Checkpoint::start(account, policy).walk_to(selected, sel.as_of, policy);
                std::hint::black_box(render(kind, &w, sel, policy));
            }
            lat.push(t.elapsed());
        }
        latency(lat, start.elapsed())
    }

    /// Single-event appends, each its own durable transaction, from W connections.
    fn appends(&mut self, writers: usize, count: usize) -> Figure {
        self.client.batch_execute(TABLE).expect("table");
        let setup = setup_lines(writers).join("\n");
        let mut versions = vec![0i32; writers];
        for (_, ev) in JsonlReader::new(setup.as_bytes()) {
            let ev = ev.expect("valid setup");
            let w: usize = ev.account_id[1..].parse().expect("writer");
            versions[w] += 1;
            insert_one(&mut self.client, &ev, versions[w]);
        }
        let conn = self.conn.clone();
        timed_writers(writers, count, |w| {
            let mut c = Client::connect(&conn, NoTls).expect("connect");
            c.batch_execute("SET synchronous_commit = on").expect("set");
            let first = versions[w];
            move |i: usize, ev: NewEvent| insert_one(&mut c, &ev, first + 1 + i as i32)
        })
    }
}

/// One row's parameters for the batched INSERT.
type InsertRow<'a> = (
    String,
    i32,
    &'a str,
    uuid::Uuid,
    chrono::DateTime<chrono::Utc>,
    serde_json::Value,
);

/// A PostgreSQL error with the server's message, when there is one.
fn pg_error(e: postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

fn sql_rows(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (stream, version, type, event_id, occurred_at, data) VALUES ",
    );
    for r in 0..rows {
        let b = r * 6;
        if r > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(${},${},${},${},${},${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6
        ));
    }
    sql
}

fn insert_one(c: &mut Client, ev: &NewEvent, version: i32) {
    let id = uuid::Uuid::parse_str(&ev.event_id).expect("uuid");
    c.execute(
        "INSERT INTO events (stream, version, type, event_id, occurred_at, data) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &ev.account_id,
            &version,
            &ev.type_name(),
            &id,
            &ev.occurred_at,
            &ev.body["data"],
        ],
    )
    .expect("insert");
}

fn from_row(row: &postgres::Row) -> StoredEvent {
    let type_name: &str = row.get(3);
    let data: serde_json::Value = row.get(8);
    let id: uuid::Uuid = row.get(4);
    StoredEvent {
        position: row.get::<_, i64>(0) as u64,
        account_id: row.get(1),
        version: row.get::<_, i32>(2) as u64,
        event_id: id.to_string(),
        occurred_at: row.get(5),
        recorded_at: row.get(6),
        actor: row.get(7),
        hash: String::new(),
        prev_hash: String::new(),
        data: EventData::decode(type_name, &data).expect("payload"),
    }
}
