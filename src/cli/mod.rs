//! The command-line interface: argument parsing, one file per command, and the mapping of
//! library errors to messages and exit codes (0 success, 1 rejected input or failed check,
//! 2 usage error).

mod append;
mod export;
mod log;
mod schemas;
mod verify;

use crate::error::Error;
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
    /// The audit timeline of an account.
    Log {
        account: String,
        /// Only events of this type.
        #[arg(long = "type")]
        type_name: Option<String>,
        /// Only events that occurred at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only events that occurred at or before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
    },
    /// Recheck every hash, version and position; report the first break.
    Verify,
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
    let json = cli.json;
    match cli.command {
        Command::Schemas { dir } => schemas::run(&dir),
        Command::Append {
            file,
            expected_version,
        } => {
            let store = Store::open(&cli.data)?;
            append::append(&store, &file, expected_version, json)
        }
        Command::Import {
            file,
            batch_size,
            expected_version,
        } => {
            let store = Store::open(&cli.data)?;
            append::import(&store, &file, batch_size, expected_version, json)
        }
        Command::Export { account } => {
            let store = Store::open(&cli.data)?;
            export::run(&store, account.as_deref())
        }
        Command::Log {
            account,
            type_name,
            since,
            until,
        } => {
            let store = Store::open(&cli.data)?;
            log::run(
                &store,
                &account,
                type_name.as_deref(),
                since.as_deref(),
                until.as_deref(),
                json,
            )
        }
        Command::Verify => {
            let store = Store::open(&cli.data)?;
            verify::run(&store, json)
        }
    }
}

/// Parses a time given on the command line (RFC 3339; a bare date means its end of day UTC is
/// not assumed: it means midnight at the start of that day).
pub(crate) fn parse_time_arg(flag: &str, s: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    if let Some(d) = crate::event::validate::parse_date(s) {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| {
            Error::Usage(format!(
                "{flag} {s}: not an RFC 3339 time such as 2025-06-30T00:00:00Z ({e})"
            ))
        })
}
