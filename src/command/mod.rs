//! The commands that work on a store, in one place for every transport (SPEC 7 v2): the CLI
//! on `--data` runs them here in process, and `kamlog serve` runs the very same code for a
//! `--nats` client, so the output is the same either way.
//!
//! A [`Request`] is the one definition of a command and its arguments, shared by client and
//! server (serde, no hand packing); [`execute`] runs it against a store and writes what the
//! CLI would print to an [`Out`]; a [`Reply`] carries that output (and the exit status) back
//! over NATS. Only the renderers for people live here beside it, each command in its file.

/// Writes a line to the command's standard output.
macro_rules! outln {
    ($out:expr, $($t:tt)*) => {{
        let _ = writeln!($out.stdout, $($t)*);
    }};
}
/// Writes to the command's standard output.
macro_rules! outw {
    ($out:expr, $($t:tt)*) => {{
        let _ = write!($out.stdout, $($t)*);
    }};
}
/// Writes a line to the command's standard error.
macro_rules! errln {
    ($out:expr, $($t:tt)*) => {{
        let _ = writeln!($out.stderr, $($t)*);
    }};
}

pub mod accounts;
pub mod alerts;
pub mod append;
pub mod export;
pub mod forget;
pub mod log;
pub mod names;
pub mod personal;
pub mod table;
pub mod verify;
pub mod view;

use crate::error::Result;
use crate::query::timeline::Filter;
use crate::query::Query;
use crate::store::Store;
use crate::view::Policy;
use serde::{Deserialize, Serialize};
use std::io::Write;

/// A time for people: the minute, in UTC (`2025-03-15 17:00 UTC`), with seconds only when
/// they are not zero; never nanoseconds.
pub fn human_time(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    if t.second() == 0 && t.nanosecond() == 0 {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// A count for people: `1 account`, `3 accounts`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Where a command writes: its standard output and standard error, and whether risk may be
/// shown in colour (a terminal, `NO_COLOR` unset, not `--json`).
pub struct Out<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    pub color: bool,
}

/// Whether output to this terminal may use colour: stdout is a terminal and `NO_COLOR`
/// (https://no-color.org) is unset or empty.
pub fn color_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Marks risk in red (ANSI) in a text for people: overdue promises, coverage risk markers,
/// alert kinds.
pub fn colorize(text: &str) -> String {
    const RED: &str = "\x1b[31m";
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut l = line.to_string();
        for token in ["!! uncovered", "!  single", "OVERDUE"]
            .into_iter()
            .chain(crate::alert::Kind::ALL.iter().map(|k| k.name()))
        {
            if let Some(i) = l.find(token) {
                // Whole words only (an alert kind inside a longer name is left alone).
                let before = l[..i].chars().last();
                let after = l[i + token.len()..].chars().next();
                let word = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '_');
                if word(before) && word(after) {
                    l = format!("{}{RED}{token}{RESET}{}", &l[..i], &l[i + token.len()..]);
                }
            }
        }
        out.push_str(&l);
    }
    out
}

/// A command on a store, with its arguments as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Events (JSONL) as one atomic batch.
    Append {
        events: String,
        #[serde(default)]
        expected_version: Option<u64>,
    },
    Export {
        #[serde(default)]
        account: Option<String>,
    },
    Accounts {
        #[serde(default)]
        as_of: Option<String>,
        #[serde(default)]
        known_at: Option<String>,
    },
    Log {
        account: String,
        #[serde(default, rename = "type")]
        type_name: Option<String>,
        #[serde(default)]
        member: Option<String>,
        #[serde(default)]
        stakeholder: Option<String>,
        #[serde(default)]
        since: Option<String>,
        #[serde(default)]
        until: Option<String>,
        #[serde(default)]
        known_at: Option<String>,
    },
    View {
        account: String,
        view: String,
        #[serde(default)]
        as_of: Option<String>,
        #[serde(default)]
        known_at: Option<String>,
    },
    Alerts {
        #[serde(default)]
        account: Option<String>,
        #[serde(default)]
        as_of: Option<String>,
        #[serde(default)]
        known_at: Option<String>,
        #[serde(default)]
        history: bool,
    },
    Verify,
    Rebuild,
    /// Erase a person's personal data (SPEC 10).
    Forget {
        account: String,
        /// `stakeholder` or `member`.
        subject: String,
        id: String,
        reason: String,
    },
}

impl Request {
    /// The command's name (its API endpoint).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Append { .. } => "append",
            Request::Export { .. } => "export",
            Request::Accounts { .. } => "accounts",
            Request::Log { .. } => "log",
            Request::View { .. } => "view",
            Request::Alerts { .. } => "alerts",
            Request::Verify => "verify",
            Request::Rebuild => "rebuild",
            Request::Forget { .. } => "forget",
        }
    }

    /// Whether the command changes the store (SPEC 6 v2: `…_api.write.<command>`).
    pub fn writes(&self) -> bool {
        Request::WRITERS.contains(&self.name())
    }

    /// The commands that change the store.
    pub const WRITERS: [&'static str; 2] = ["append", "forget"];

    /// Every command name, readers and writers.
    pub const NAMES: [&'static str; 9] = [
        "append", "export", "accounts", "log", "view", "alerts", "verify", "rebuild", "forget",
    ];
}

/// A request as sent over NATS: the command, whether the caller wants `--json` output, and
/// whether its terminal takes colour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Call {
    #[serde(flatten)]
    pub request: Request,
    #[serde(default)]
    pub json: bool,
    #[serde(default)]
    pub color: bool,
}

/// What a command printed, and its exit status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reply {
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a request against an open store.
pub fn execute(
    store: &Store,
    policy: &Policy,
    request: &Request,
    json: bool,
    out: &mut Out,
) -> Result<i32> {
    if out.color && !json && !matches!(request, Request::Export { .. }) {
        // Rendered plain, then risk marked in colour.
        let mut plain = Vec::new();
        let exit = execute(
            store,
            policy,
            request,
            json,
            &mut Out {
                stdout: &mut plain,
                stderr: out.stderr,
                color: false,
            },
        )?;
        let _ = out
            .stdout
            .write_all(colorize(&String::from_utf8_lossy(&plain)).as_bytes());
        return Ok(exit);
    }
    match request {
        Request::Append {
            events,
            expected_version,
        } => append::append(
            store,
            policy,
            events.as_bytes(),
            *expected_version,
            json,
            out,
        ),
        Request::Export { account } => export::run(store, account.as_deref(), out),
        Request::Accounts { as_of, known_at } => {
            let sel = view::selection(as_of.as_deref(), known_at.as_deref())?;
            accounts::run(&Query::new(store, policy)?, sel, json, out)
        }
        Request::Log {
            account,
            type_name,
            member,
            stakeholder,
            since,
            until,
            known_at,
        } => {
            let q = Query::new(store, policy)?;
            let sel = view::selection(None, known_at.as_deref())?;
            let time = |flag: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|s| crate::query::parse_time(flag, s))
                    .transpose()
            };
            let filter = Filter {
                type_name: type_name.clone(),
                member: member.clone(),
                stakeholder: stakeholder.clone(),
                since: time("--since", since)?,
                until: time("--until", until)?,
            };
            log::run(&q, account, sel, &filter, json, out)
        }
        Request::View {
            account,
            view: kind,
            as_of,
            known_at,
        } => {
            let sel = view::selection(as_of.as_deref(), known_at.as_deref())?;
            let kind = view::kind(kind)?;
            view::run(&Query::new(store, policy)?, account, kind, sel, json, out)
        }
        Request::Alerts {
            account,
            as_of,
            known_at,
            history,
        } => {
            let sel = view::selection(as_of.as_deref(), known_at.as_deref())?;
            alerts::run(
                &Query::new(store, policy)?,
                account.as_deref(),
                sel,
                *history,
                json,
                out,
            )
        }
        Request::Verify => verify::run(store, json, out),
        Request::Forget {
            account,
            subject,
            id,
            reason,
        } => forget::run(
            store,
            policy,
            forget::Erasure {
                account,
                subject,
                id,
                reason,
            },
            json,
            out,
        ),
        Request::Rebuild => {
            // On stderr, drawn only when it is a terminal.
            let spinner = indicatif::ProgressBar::new_spinner()
                .with_message("rebuilding the history checkpoints from the log");
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let n = Query::new(store, policy)?.rebuild_all();
            spinner.finish_and_clear();
            let n = n?;
            if json {
                outln!(out, "{}", serde_json::json!({"accounts": n}));
            } else {
                outln!(
                    out,
                    "rebuilt the checkpoints of {n} account(s) from the log"
                );
            }
            Ok(0)
        }
    }
}

/// Runs a request and captures its output (what `kamlog serve` sends back).
pub fn capture(
    store: &Store,
    policy: &Policy,
    request: &Request,
    json: bool,
    color: bool,
) -> Result<Reply> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let exit = execute(
        store,
        policy,
        request,
        json,
        &mut Out {
            stdout: &mut stdout,
            stderr: &mut stderr,
            color,
        },
    )?;
    Ok(Reply {
        exit,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}
