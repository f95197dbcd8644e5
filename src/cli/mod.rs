//! The command-line interface: argument parsing, one file per command, and the mapping of
//! library errors to messages and exit codes (0 success, 1 rejected input or failed check,
//! 2 usage error).

mod place;
mod replay;
mod schemas;

use place::Place;

pub use replay::{compare as compare_json, replay as replay_scenario};

use crate::command::{append, verify, Call, Out, Request};
use crate::error::Error;
use crate::store::Store;
use clap::{Parser, Subcommand};
use std::io::Write;
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
    /// A NATS credentials file (a user JWT and its nkey seed) for --nats.
    #[arg(long, global = true, value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// A file holding an nkey seed (SU…) to authenticate with for --nats.
    #[arg(long, global = true, value_name = "FILE")]
    pub nats_nkey: Option<PathBuf>,
    /// The CA certificate (PEM) that signed the NATS server's certificate (TLS).
    #[arg(long, global = true, value_name = "FILE")]
    pub nats_tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) for mutual TLS with NATS (with --nats-tls-key).
    #[arg(long, global = true, value_name = "FILE", requires = "nats_tls_key")]
    pub nats_tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "nats_tls_cert")]
    pub nats_tls_key: Option<PathBuf>,
    /// Keep the log on a NATS JetStream cluster (nats://HOST:PORT[,HOST:PORT…], nats-server
    /// 2.12 or later) instead of sled; --data then holds only this process's cache (a mirror
    /// of the log, checkpoints, the personal-data vault). The --nats-* files apply to it.
    #[arg(long, global = true, env = "KAMLOG_STORE", value_name = "URL", value_parser = place::parse_store)]
    pub store: Option<String>,
    /// Replicas of the log stream a cluster store creates (SPEC 11).
    #[arg(long, global = true, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=5))]
    pub replicas: u64,
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
        /// Restore the personal data of the imported export from this file (written by
        /// `export --personal`); every entry is checked against its commitment first.
        #[arg(long, value_name = "FILE")]
        personal: Option<PathBuf>,
    },
    /// Print the stored envelopes as JSONL, in position order.
    Export {
        /// Only this account's events.
        #[arg(long)]
        account: Option<String>,
        /// Also write the personal values and salts of the exported events to FILE
        /// ({"event_id","field","value","salt"} per line), to open their commitments.
        #[arg(long, value_name = "FILE")]
        personal: Option<PathBuf>,
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
    /// The portfolio: every account with its stage, map status, coverage, open alerts by
    /// severity and next renewal, ranked by risk (SPEC 4.9).
    Accounts {
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long)]
        known_at: Option<String>,
    },
    /// One view of an account: coverage, stage, value, classification, economics,
    /// relationships, map or contracts.
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
    /// Erase a person's personal data (name, title, e-mail) from the store: appends
    /// personal_data_erased and removes every vault entry of the person (SPEC 10).
    #[command(group(clap::ArgGroup::new("person").required(true).args(["stakeholder", "member"])))]
    Forget {
        account: String,
        /// The stakeholder whose personal data to erase.
        #[arg(long, value_name = "ID")]
        stakeholder: Option<String>,
        /// The team member whose personal data to erase.
        #[arg(long, value_name = "ID")]
        member: Option<String>,
        /// Why (kept in the event: not personal data).
        #[arg(long)]
        reason: String,
    },
    /// Replay a scenario folder into a fresh temporary store and compare with its expectations.
    Replay { dir: PathBuf },
    /// Recompute every account's snapshot from the log.
    Rebuild,
    /// Publish events and alert transitions to NATS JetStream and answer API requests (with
    /// --nats URL), serve the web pages and the JSON API (with --http ADDR), or both, until
    /// stopped (SIGINT/SIGTERM).
    Serve {
        /// Seconds between re-evaluations of time-driven alerts.
        #[arg(long, default_value_t = 60)]
        tick: u64,
        /// Serve the web pages and the JSON API on this address (e.g. 127.0.0.1:8080; port 0
        /// picks a free one). A non-loopback address needs a token.
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// A file holding the bearer token every HTTP request must carry (else KAMLOG_TOKEN).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// Serve the web pages and the JSON API of --data on 127.0.0.1:8080 (`serve --http`
    /// without NATS), until stopped.
    Web {
        /// The address to listen on.
        #[arg(long, value_name = "ADDR", default_value = crate::web::DEFAULT_ADDR)]
        http: String,
        /// A file holding the bearer token every HTTP request must carry (else KAMLOG_TOKEN).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// Write an account's review as one self-contained, printable HTML file: the header, the
    /// relationship map as a picture, coverage, the stage history, value, contracts, open
    /// alerts, economics and what changed since --since (SPEC 9).
    Report {
        account: String,
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long)]
        known_at: Option<String>,
        /// The start of "what changed" (default: 90 days before the as-of time).
        #[arg(long)]
        since: Option<String>,
        /// The file to write (default: standard output).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell), e.g.
    /// `kamlog completions bash > /etc/bash_completion.d/kamlog`.
    Completions { shell: clap_complete::Shell },
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
    let json = cli.json;
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            if json {
                // For programs: the error as JSON on stderr too (SPEC 7 v2).
                eprintln!(
                    "{}",
                    serde_json::json!({"error": e.to_string(), "exit": code})
                );
            } else {
                eprintln!("kamlog: {e}");
            }
            code
        }
    }
}

fn run(cli: Cli) -> Result<i32, Error> {
    if !matches!(cli.command, Command::Serve { .. } | Command::Web { .. }) {
        ends_quietly_on_a_closed_pipe();
    }
    let json = cli.json;
    let policy = match &cli.policy {
        Some(p) => crate::view::Policy::from_file(p).map_err(Error::Usage)?,
        None => crate::view::Policy::default(),
    };
    let files = crate::bus::SecurityFiles {
        creds: cli.nats_creds.clone(),
        nkey: cli.nats_nkey.clone(),
        tls_ca: cli.nats_tls_ca.clone(),
        tls_cert: cli.nats_tls_cert.clone(),
        tls_key: cli.nats_tls_key.clone(),
    };
    let prefix = cli.nats_prefix.clone();
    let place = Place {
        data: cli.data.clone(),
        cluster: cli
            .store
            .as_deref()
            .map(|url| crate::store::jetstream::ClusterConfig {
                connection: crate::bus::Connection::new(url).with_files(files.clone()),
                prefix: prefix.clone(),
                replicas: cli.replicas as usize,
            }),
    };
    let nats = cli
        .nats
        .as_deref()
        .map(|url| crate::bus::Connection::new(url).with_files(files));
    let request = match cli.command {
        Command::Serve {
            tick,
            http,
            token_file,
        } => {
            if nats.is_none() && http.is_none() {
                return Err(Error::Usage(
                    "serve needs --nats URL (the bus), --http ADDR (the web pages) or both".into(),
                ));
            }
            let web = http
                .map(|addr| web_options(&addr, token_file.as_deref(), &policy))
                .transpose()?;
            let bus = nats.map(|conn| {
                let mut opts = crate::bus::ServeOptions::new("");
                opts.connection = conn;
                opts.names = crate::bus::Names::new(&prefix);
                if place.cluster.is_some() {
                    opts.names.replicas = cli.replicas as usize;
                }
                opts.tick = std::time::Duration::from_secs(tick.max(1));
                opts.policy = policy.clone();
                opts
            });
            return serve(&place, bus, web, &prefix);
        }
        Command::Web { http, token_file } => {
            let web = web_options(&http, token_file.as_deref(), &policy)?;
            return serve(&place, None, Some(web), &prefix);
        }
        Command::Report {
            account,
            as_of,
            known_at,
            since,
            output,
        } => {
            let store = place.existing(false)?;
            return report(&store, &policy, &account, as_of, known_at, since, output);
        }
        Command::Schemas { dir } => return schemas::run(&dir),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "kamlog", &mut std::io::stdout());
            return Ok(0);
        }
        Command::Replay { dir } => return replay::run(&dir, &policy, json),
        Command::Verify { file: Some(file) } => {
            return with_stdio(|out| verify::run_file(&file, json, out));
        }
        Command::Import {
            file,
            batch_size,
            expected_version,
            personal,
        } => {
            // With --personal, every entry is checked against the events file first.
            let entries = match &personal {
                Some(_) if nats.is_some() => {
                    return Err(Error::Usage(
                        "import --personal works on --data only: personal values never travel \
                         to a server in a request"
                            .into(),
                    ))
                }
                Some(p) => Some(crate::command::personal::check(p, &file)?),
                None => None,
            };
            let code = import(
                &place,
                nats.as_ref(),
                &prefix,
                &policy,
                &file,
                batch_size,
                expected_version,
                json,
            )?;
            if let (0, Some(entries), Some(p)) = (code, entries, personal) {
                let store = place.open(true)?;
                crate::command::personal::refuse_erased(&store, &policy, &entries)?;
                store.vault().add(&entries)?;
                eprintln!(
                    "restored {} from {}",
                    crate::command::count(entries.len(), "personal value", "personal values"),
                    p.display()
                );
            }
            return Ok(code);
        }
        Command::Export {
            account,
            personal: Some(personal),
        } => {
            if nats.is_some() {
                return Err(Error::Usage(
                    "export --personal works on --data only: personal values never travel from \
                     a server in a reply"
                        .into(),
                ));
            }
            let store = place.existing(false)?;
            let code = with_stdio(|out| {
                crate::command::execute(
                    &store,
                    &policy,
                    &Request::Export {
                        account: account.clone(),
                    },
                    json,
                    out,
                )
            })?;
            crate::command::personal::export(&store, account.as_deref(), &personal)?;
            return Ok(code);
        }
        Command::Append {
            file,
            expected_version,
        } => Request::Append {
            events: read_events(&file)?,
            expected_version,
        },
        Command::Export {
            account,
            personal: None,
        } => Request::Export { account },
        Command::Accounts { as_of, known_at } => Request::Accounts { as_of, known_at },
        Command::Log {
            account,
            type_name,
            member,
            stakeholder,
            since,
            until,
            known_at,
        } => Request::Log {
            account,
            type_name,
            member,
            stakeholder,
            since,
            until,
            known_at,
        },
        Command::View {
            account,
            view,
            as_of,
            known_at,
        } => Request::View {
            account,
            view,
            as_of,
            known_at,
        },
        Command::Alerts {
            account,
            as_of,
            known_at,
            history,
        } => Request::Alerts {
            account,
            as_of,
            known_at,
            history,
        },
        Command::Verify { file: None } => Request::Verify,
        Command::Forget {
            account,
            stakeholder,
            member,
            reason,
        } => {
            let (subject, id) = match (stakeholder, member) {
                (Some(s), _) => ("stakeholder", s),
                (None, Some(m)) => ("member", m),
                (None, None) => unreachable!("clap requires one of them"),
            };
            Request::Forget {
                account,
                subject: subject.into(),
                id,
                reason,
            }
        }
        Command::Rebuild => Request::Rebuild,
    };
    if let Some(conn) = nats {
        return remote(&conn, &prefix, request, json);
    }
    let store = match open_for(&place, &request) {
        Ok(s) => s,
        // Held by a running `kamlog serve`: the command goes through it.
        Err(Error::InUse(m)) => match crate::bus::Serving::find(&place.serving_dir()) {
            Some(s) => return remote(&s.connection(), &s.prefix, request, json),
            None => return Err(Error::InUse(m)),
        },
        Err(e) => return Err(e),
    };
    with_stdio(|out| crate::command::execute(&store, &policy, &request, json, out))
}

/// Runs `f` with the process's standard output (buffered, flushed after) and error.
fn with_stdio<T>(f: impl FnOnce(&mut Out) -> T) -> T {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut e = std::io::stderr();
    let r = f(&mut Out {
        stdout: &mut w,
        stderr: &mut e,
        color: crate::command::color_wanted(),
    });
    let _ = w.flush();
    r
}

/// A file's bytes, or standard input's for `-`.
fn read_bytes(file: &str) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    let read = if file == "-" {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
    } else {
        std::fs::File::open(file).and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut bytes))
    };
    read.map_err(|e| Error::Io(format!("cannot read {file}: {e}")))?;
    Ok(bytes)
}

/// A file's text, or standard input's for `-`.
fn read_input(file: &str) -> Result<String, Error> {
    String::from_utf8(read_bytes(file)?)
        .map_err(|_| Error::Io(format!("cannot read {file}: it is not valid UTF-8")))
}

/// The JSONL of an append. Input that is not UTF-8 cannot travel in a request: its first bad
/// line is reported here exactly as the store's reader reports it.
fn read_events(file: &str) -> Result<String, Error> {
    let bytes = read_bytes(file)?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            for (n, r) in crate::event::jsonl::JsonlReader::new(e.as_bytes()) {
                r.map_err(|e| e.with_lines(&[n]))?;
            }
            Err(Error::Usage(format!("{file} is not valid UTF-8")))
        }
    }
}

/// Opens the store for a request: one that writes may create it, one that only reads never.
fn open_for(place: &Place, request: &Request) -> Result<Store, Error> {
    match request {
        Request::Append { .. } => place.open(true),
        Request::Verify => place.existing(true),
        _ => place.existing(false),
    }
}

/// The web server's options: the address, the token (`--token-file`, else `KAMLOG_TOKEN`), and
/// a public address without a token refused before anything starts.
fn web_options(
    addr: &str,
    token_file: Option<&std::path::Path>,
    policy: &crate::view::Policy,
) -> Result<crate::web::WebOptions, Error> {
    let mut opts = crate::web::WebOptions::new(addr);
    opts.token = crate::web::Token::configured(token_file)?;
    opts.policy = policy.clone();
    if let Ok(a) = addr.parse::<std::net::SocketAddr>() {
        crate::web::security::check_bind(a, opts.token.is_some())?;
    }
    Ok(opts)
}

/// `kamlog serve` / `kamlog web`: the bus, the web server or both on one open store, until
/// SIGINT or SIGTERM.
fn serve(
    place: &Place,
    bus: Option<crate::bus::ServeOptions>,
    web: Option<crate::web::WebOptions>,
    prefix: &str,
) -> Result<i32, Error> {
    let store = place.open(true)?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Io(e.to_string()))?;
    let _announced = match &bus {
        Some(o) => Some(crate::bus::Serving::announce(
            store.dir(),
            &o.connection,
            prefix,
        )?),
        None => None,
    };
    let served = rt.block_on(async move {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = tx.send(true);
        });
        let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        };
        let bus_side = async {
            match bus {
                Some(o) => crate::bus::serve(store.clone(), o, stop(rx.clone())).await,
                None => Ok(()),
            }
        };
        let web_side = async {
            match web {
                Some(o) => crate::web::serve(store.clone(), o, stop(rx.clone())).await,
                None => Ok(()),
            }
        };
        tokio::try_join!(bus_side, web_side).map(|_| ())
    });
    // A view or an alert pass still running on a blocking thread is not waited for: what it
    // computes is derived data, and every acknowledged append is durable.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    served?;
    Ok(0)
}

/// `kamlog report`: the account review as one HTML file (or on standard output).
fn report(
    store: &Store,
    policy: &crate::view::Policy,
    account: &str,
    as_of: Option<String>,
    known_at: Option<String>,
    since: Option<String>,
    output: Option<PathBuf>,
) -> Result<i32, Error> {
    let sel = crate::command::view::selection(as_of.as_deref(), known_at.as_deref())?;
    let since = since
        .map(|s| crate::query::parse_time("--since", &s))
        .transpose()?;
    let q = crate::query::Query::new(store, policy)?;
    let review = crate::review::Review::gather(&q, account, &sel, since)?;
    let doc = crate::review::document(&review);
    match output {
        Some(f) => std::fs::write(&f, doc)
            .map_err(|e| Error::Io(format!("cannot write the report to {}: {e}", f.display())))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(doc.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| Error::Io(format!("cannot write the report: {e}")))?;
        }
    }
    Ok(0)
}

/// `kamlog import`: in process on `--data`, or through `kamlog serve` (checked here, then
/// sent in atomic batches).
#[allow(clippy::too_many_arguments)]
fn import(
    place: &Place,
    nats: Option<&crate::bus::Connection>,
    prefix: &str,
    policy: &crate::view::Policy,
    file: &std::path::Path,
    batch_size: usize,
    expected: Option<u64>,
    json: bool,
) -> Result<i32, Error> {
    if let Some(conn) = nats {
        return remote_import(conn, prefix, file, batch_size, expected, json);
    }
    let store = match place.open(true) {
        Ok(s) => s,
        Err(Error::InUse(m)) => match crate::bus::Serving::find(&place.serving_dir()) {
            Some(s) => {
                return remote_import(&s.connection(), &s.prefix, file, batch_size, expected, json)
            }
            None => return Err(Error::InUse(m)),
        },
        Err(e) => return Err(e),
    };
    with_stdio(|out| append::import(&store, policy, file, batch_size, expected, json, out))
}

/// `import` through `kamlog serve`: the file is checked here first (a malformed file sends
/// nothing), then sent as appends of at most `batch_size` events and about 512 KiB each.
fn remote_import(
    conn: &crate::bus::Connection,
    prefix: &str,
    file: &std::path::Path,
    batch_size: usize,
    expected: Option<u64>,
    json: bool,
) -> Result<i32, Error> {
    let check = crate::import::check_file(file, 20)?;
    if check.bad_lines > 0 {
        for e in &check.errors {
            eprintln!("kamlog: {e}");
        }
        eprintln!(
            "kamlog: import rejected: {} bad line(s) in {}; nothing was stored",
            check.bad_lines,
            file.display()
        );
        return Ok(1);
    }
    let text = read_input(&file.display().to_string())?;
    let names = crate::bus::Names::new(prefix);
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Io(e.to_string()))?;
    let (mut stored, mut dups) = (0usize, 0usize);
    let (mut lo, mut hi) = (None::<u64>, None::<u64>);
    let mut batch = String::new();
    let (mut count, mut first_line, mut line_no) = (0usize, 1usize, 0usize);
    let mut send = |batch: &mut String, first_line: usize, last_line: usize| -> Result<(), Error> {
        let reply = rt.block_on(crate::bus::call(
            conn,
            &names,
            &Call {
                request: Request::Append {
                    events: std::mem::take(batch),
                    expected_version: expected,
                },
                json: true,
                color: false,
            },
        ));
        let reply = reply.map_err(|e| {
            let stored_note = if first_line > 1 {
                format!(" (lines 1–{} were stored by earlier batches; nothing from line {first_line} on was)", first_line - 1)
            } else {
                String::new()
            };
            match e {
                Error::Bus(m) => Error::Bus(format!("{}{stored_note}", renumber(&m, first_line))),
                other => other,
            }
        })?;
        let v: serde_json::Value = serde_json::from_str(reply.stdout.trim()).map_err(|e| {
            Error::Bus(format!(
                "the reply to lines {first_line}–{last_line} is not JSON: {e}"
            ))
        })?;
        stored += v["stored"].as_u64().unwrap_or(0) as usize;
        dups += v["duplicates"].as_u64().unwrap_or(0) as usize;
        for e in v["events"].as_array().into_iter().flatten() {
            if e["duplicate"] == serde_json::Value::Bool(false) {
                let p = e["position"].as_u64().unwrap_or(0);
                lo = Some(lo.map_or(p, |l: u64| l.min(p)));
                hi = Some(hi.map_or(p, |h: u64| h.max(p)));
            }
        }
        Ok(())
    };
    for line in text.lines() {
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        if count == 0 {
            first_line = line_no;
        }
        batch.push_str(line);
        batch.push('\n');
        count += 1;
        if count == batch_size || batch.len() > 512 << 10 {
            send(&mut batch, first_line, line_no)?;
            count = 0;
        }
    }
    if count > 0 {
        send(&mut batch, first_line, line_no)?;
    }
    with_stdio(|out| {
        if json {
            let _ = writeln!(
                out.stdout,
                "{}",
                serde_json::json!({"stored": stored, "duplicates": dups,
                    "first_position": lo, "last_position": hi})
            );
        } else {
            append::print_summary(stored, dups, lo.into_iter().chain(hi), out);
        }
    });
    Ok(0)
}

/// A batch's error names lines of the batch; the file's lines are offset by where it began.
fn renumber(msg: &str, first_line: usize) -> String {
    match msg.strip_prefix("line ").and_then(|r| r.split_once(',')) {
        Some((n, rest)) => match n.parse::<usize>() {
            Ok(n) => format!("line {}, {}", n + first_line - 1, rest.trim_start()),
            Err(_) => msg.to_string(),
        },
        None => msg.to_string(),
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

/// The `--nats` mode (or a store held by `kamlog serve`): the command runs in the server,
/// which sends back what it printed and its exit status.
fn remote(
    conn: &crate::bus::Connection,
    prefix: &str,
    request: Request,
    json: bool,
) -> Result<i32, Error> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Io(e.to_string()))?;
    let names = crate::bus::Names::new(prefix);
    let color = crate::command::color_wanted();
    let reply = rt.block_on(crate::bus::call(
        conn,
        &names,
        &Call {
            request,
            json,
            color,
        },
    ))?;
    with_stdio(|out| {
        let _ = out.stdout.write_all(reply.stdout.as_bytes());
        let _ = out.stderr.write_all(reply.stderr.as_bytes());
    });
    Ok(reply.exit)
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
