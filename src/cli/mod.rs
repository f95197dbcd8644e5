//! The command-line interface: argument parsing, one file per command, and the mapping of
//! library errors to messages and exit codes (0 success, 1 rejected input or failed check,
//! 2 usage error).

mod accounts;
mod alerts;
mod append;
mod export;
mod log;
mod replay;
mod schemas;
mod verify;
mod view;

pub use replay::{compare as compare_json, replay as replay_scenario};

use crate::error::Error;
use crate::query::Query;
use crate::store::Store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "kamlog",
    version,
    about = "Event-sourced relationship history for key account management"
)]
pub struct Cli {
    /// The data directory (the embedded sled store), created on first use.
    #[arg(
        long,
        global = true,
        env = "KAMLOG_DATA",
        default_value = "./kamlog-data"
    )]
    pub data: PathBuf,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    /// A policy file (JSON) overriding the default thresholds of SPEC 4.
    #[arg(long, global = true)]
    pub policy: Option<PathBuf>,
    /// Reach a running `kamlog serve` through NATS at this URL instead of opening --data
    /// (append, view and alerts); for `serve`, the NATS server to publish to.
    #[arg(long, global = true)]
    pub nats: Option<String>,
    /// The prefix of the feed's subjects (`<prefix>.events.…`), from which the stream
    /// (upper case), the views bucket (`<prefix>_views`) and the API (`<prefix>_api`) are
    /// named: several stores can share one NATS system.
    #[arg(long, global = true, default_value = "kamlog", value_parser = nats_prefix)]
    pub nats_prefix: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Append events (JSONL) from a file or standard input as one atomic batch.
    Append {
        /// The JSONL file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Require the account's current version to be N (a single account only).
        #[arg(long)]
        expected_version: Option<u64>,
    },
    /// Import a JSONL file: every line is checked first; then it is stored in atomic batches.
    Import {
        file: PathBuf,
        /// Events per atomic batch once the whole file has been checked.
        #[arg(long, default_value_t = append::DEFAULT_IMPORT_BATCH)]
        batch_size: usize,
        /// Require the account's current version to be N (a single account only).
        #[arg(long)]
        expected_version: Option<u64>,
    },
    /// Print the stored envelopes as JSONL, in position order.
    Export {
        /// Only this account's events.
        #[arg(long)]
        account: Option<String>,
    },
    /// The audit timeline of an account: each event and what it changed in the views.
    Log {
        account: String,
        /// Only events of this type.
        #[arg(long = "type")]
        type_name: Option<String>,
        /// Only events that name this team member.
        #[arg(long)]
        member: Option<String>,
        /// Only events that name this stakeholder.
        #[arg(long)]
        stakeholder: Option<String>,
        /// Only events that occurred at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only events that occurred at or before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// System time: the timeline as kamlog knew it then (events with recorded_at ≤ T).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Recheck every hash, version and position of the store and report the first break; or,
    /// given an exported JSONL file, check it without a store and print each account's chain head.
    Verify {
        /// An export (`kamlog export`, whole or `--account`) to check instead of the store.
        file: Option<PathBuf>,
    },
    /// Accounts with version, stage, quadrant and open alert count.
    Accounts,
    /// One view of an account: coverage, stage, value, classification or economics.
    View {
        account: String,
        view: String,
        /// Business time: the world as it was at T (events with occurred_at ≤ T).
        #[arg(long)]
        as_of: Option<String>,
        /// System time: what kamlog knew at T (events with recorded_at ≤ T).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Open alerts (or every transition with --history), for one account or all.
    Alerts {
        account: Option<String>,
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long)]
        known_at: Option<String>,
        /// Every raised/resolved transition in business time instead of the open alerts.
        #[arg(long)]
        history: bool,
    },
    /// Replay a scenario folder into a fresh temporary store and compare with its expectations.
    Replay { dir: PathBuf },
    /// Recompute every account's snapshot from the log.
    Rebuild,
    /// Publish events and alert transitions to NATS JetStream and answer API requests, until
    /// stopped (SIGINT/SIGTERM). Needs --nats URL.
    Serve {
        /// Seconds between re-evaluations of time-driven alerts.
        #[arg(long, default_value_t = 60)]
        tick: u64,
    },
    /// Write the JSON Schemas generated from the catalog into a directory.
    Schemas {
        #[arg(default_value = "schemas")]
        dir: PathBuf,
    },
}

/// Runs the program with the process arguments; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kamlog: {e}");
            match e {
                Error::Usage(_) => 2,
                _ => 1,
            }
        }
    }
}

fn run(cli: Cli) -> Result<i32, Error> {
    if !matches!(cli.command, Command::Serve { .. }) {
        ends_quietly_on_a_closed_pipe();
    }
    let json = cli.json;
    let policy = match &cli.policy {
        Some(p) => crate::view::Policy::from_file(p).map_err(Error::Usage)?,
        None => crate::view::Policy::default(),
    };
    if let Some(url) = cli.nats.clone() {
        if !matches!(cli.command, Command::Serve { .. }) {
            return remote(&url, &cli.nats_prefix, cli.command, json);
        }
    }
    match cli.command {
        Command::Serve { tick } => {
            let url = cli
                .nats
                .clone()
                .ok_or_else(|| Error::Usage("serve needs --nats URL".into()))?;
            let store = Store::open(&cli.data)?;
            let mut opts = crate::bus::ServeOptions::new(&url);
            opts.names = crate::bus::Names::new(&cli.nats_prefix);
            opts.tick = std::time::Duration::from_secs(tick.max(1));
            opts.policy = policy;
            let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Io(e.to_string()))?;
            let served = rt.block_on(crate::bus::serve(store, opts, shutdown_signal()));
            // A view or an alert pass still running on a blocking thread is not waited for:
            // what it computes is derived data, and every acknowledged append is durable.
            rt.shutdown_timeout(std::time::Duration::from_millis(500));
            served?;
            Ok(0)
        }
        Command::Schemas { dir } => schemas::run(&dir),
        Command::Append {
            file,
            expected_version,
        } => {
            let store = Store::open(&cli.data)?;
            append::append(&store, &policy, &file, expected_version, json)
        }
        Command::Import {
            file,
            batch_size,
            expected_version,
        } => {
            let store = Store::open(&cli.data)?;
            append::import(&store, &policy, &file, batch_size, expected_version, json)
        }
        Command::Export { account } => {
            let store = existing(&cli.data, false)?;
            export::run(&store, account.as_deref())
        }
        Command::Log {
            account,
            type_name,
            member,
            stakeholder,
            since,
            until,
            known_at,
        } => {
            let store = existing(&cli.data, false)?;
            let q = Query::new(&store, &policy)?;
            let sel = view::selection(None, known_at.as_deref())?;
            let time =
                |flag: &str, v: Option<String>| v.map(|s| parse_time_arg(flag, &s)).transpose();
            let filter = crate::query::timeline::Filter {
                type_name,
                member,
                stakeholder,
                since: time("--since", since)?,
                until: time("--until", until)?,
            };
            log::run(&q, &account, sel, &filter, json)
        }
        Command::Accounts => {
            let store = existing(&cli.data, false)?;
            accounts::run(&Query::new(&store, &policy)?, json)
        }
        Command::View {
            account,
            view: kind,
            as_of,
            known_at,
        } => {
            let sel = view::selection(as_of.as_deref(), known_at.as_deref())?;
            let kind = view::kind(&kind)?;
            let store = existing(&cli.data, false)?;
            view::run(&Query::new(&store, &policy)?, &account, kind, sel, json)
        }
        Command::Alerts {
            account,
            as_of,
            known_at,
            history,
        } => {
            let sel = view::selection(as_of.as_deref(), known_at.as_deref())?;
            let store = existing(&cli.data, false)?;
            alerts::run(
                &Query::new(&store, &policy)?,
                account.as_deref(),
                sel,
                history,
                json,
            )
        }
        Command::Replay { dir } => replay::run(&dir, &policy, json),
        Command::Rebuild => {
            let store = existing(&cli.data, false)?;
            let n = Query::new(&store, &policy)?.rebuild_all()?;
            if json {
                println!("{}", serde_json::json!({"accounts": n}));
            } else {
                println!("rebuilt the checkpoints of {n} account(s) from the log");
            }
            Ok(0)
        }
        Command::Verify { file: Some(file) } => verify::run_file(&file, json),
        Command::Verify { file: None } => {
            let store = existing(&cli.data, true)?;
            verify::run(&store, json)
        }
    }
}

/// Opens the store of a command that only reads: it never creates one (SPEC 7 v2).
fn existing(data: &std::path::Path, for_verify: bool) -> Result<Store, Error> {
    if !Store::exists(data) {
        return Err(Error::Io(format!(
            "no store at {}: a store is made by the first `append` or `import`; give --data DIR (or set KAMLOG_DATA) to use another",
            data.display()
        )));
    }
    if for_verify {
        Store::open_for_verify(data)
    } else {
        Store::open(data)
    }
}

/// Parses a time given on the command line (see [`crate::query::parse_time`]).
pub(crate) fn parse_time_arg(flag: &str, s: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    crate::query::parse_time(flag, s)
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The `--nats` mode: the command is sent to a running `kamlog serve`.
fn remote(url: &str, prefix: &str, command: Command, json: bool) -> Result<i32, Error> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Io(e.to_string()))?;
    let (endpoint, headers, body) = match command {
        Command::Append { file, expected_version } => {
            let body = if file == "-" {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).map_err(|e| Error::Io(e.to_string()))?;
                b
            } else {
                std::fs::read(&file).map_err(|e| Error::Io(format!("cannot open {file}: {e}")))?
            };
            let headers = expected_version.map(|v| {
                let mut h = async_nats::HeaderMap::new();
                h.insert("Kamlog-Expected-Version", v.to_string().as_str());
                h
            });
            ("append", headers, body)
        }
        Command::View { account, view, as_of, known_at } => (
            "view",
            None,
            serde_json::json!({"account": account, "view": view, "as_of": as_of, "known_at": known_at}).to_string().into_bytes(),
        ),
        Command::Alerts { account, as_of, known_at, history } => (
            "alerts",
            None,
            serde_json::json!({"account": account, "as_of": as_of, "known_at": known_at, "history": history}).to_string().into_bytes(),
        ),
        _ => return Err(Error::Usage("with --nats only append, view and alerts are available; run the rest against --data".into())),
    };
    let names = crate::bus::Names::new(prefix);
    let reply = rt.block_on(crate::bus::request_to(url, &names, endpoint, headers, body))?;
    if reply.get("ok") == Some(&serde_json::Value::Bool(false)) {
        let msg = reply["error"]
            .as_str()
            .unwrap_or("request failed")
            .to_string();
        return Err(Error::Io(msg));
    }
    if json {
        println!("{reply}");
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&reply).unwrap_or_default()
        );
    }
    Ok(0)
}

/// `kamlog … | head -3`: the reader closing the pipe ends the program quietly, as for any Unix
/// filter, instead of a panic in `println!` (Rust ignores SIGPIPE by default). Not for `serve`,
/// whose log going nowhere must not stop it.
fn ends_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A `--nats-prefix`: one NATS subject token (letters, digits, `_` and `-`).
fn nats_prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a subject token: use 1–32 letters, digits, _ or -"
        ))
    }
}
