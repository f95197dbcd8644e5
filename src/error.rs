//! The library's error type. The CLI turns these into messages and exit codes.

use thiserror::Error;

/// Where in the input an error was found: the line (for JSONL input), the event, the field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line number in the input, when the input was JSONL.
    pub line: Option<usize>,
    /// 0-based index of the event in the append request.
    pub index: usize,
    pub event_id: Option<String>,
    /// Dotted path of the field, e.g. `data.amount`; empty for the whole event.
    pub field: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        match self.line {
            Some(l) => parts.push(format!("line {l}")),
            None => parts.push(format!("event #{}", self.index + 1)),
        }
        if let Some(id) = &self.event_id {
            parts.push(format!("event {id}"));
        }
        if !self.field.is_empty() {
            parts.push(format!("field {}", self.field));
        }
        write!(f, "{}", parts.join(", "))
    }
}

#[derive(Debug, Error)]
pub enum Error {
    /// The input breaks a rule; nothing of the request was stored.
    #[error("{at}: {reason}")]
    Rejected { at: Location, reason: String },
    /// `expected_version` did not match; nothing was stored.
    #[error("concurrency conflict on account {account}: expected version {expected}, but it is at {actual}")]
    VersionConflict {
        account: String,
        expected: u64,
        actual: u64,
    },
    #[error("{0}")]
    InUse(String),
    /// Something named that does not exist (an account, …), with a suggestion when one is close.
    #[error("{0}")]
    NotFound(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Bus(String),
    /// A store written in a format this kamlog no longer opens.
    #[error("{0}")]
    Outdated(String),
}

impl Error {
    /// The HTTP-like status of a failure (the web's status code and the bus API's
    /// `Nats-Service-Error-Code`): 400 a malformed request or bad arguments (a usage error),
    /// 422 events rejected by a rule, 404 an unknown account, 409 an expected-version conflict,
    /// 503 a store held elsewhere, 500 a storage or bus failure.
    pub fn status(&self) -> u16 {
        match self {
            Error::Rejected { .. } => 422,
            Error::NotFound(_) => 404,
            Error::Usage(m) if m.starts_with("no account ") => 404,
            Error::Usage(_) => 400,
            Error::VersionConflict { .. } => 409,
            Error::InUse(_) => 503,
            Error::Storage(_)
            | Error::Corrupt(_)
            | Error::Io(_)
            | Error::Bus(_)
            | Error::Outdated(_) => 500,
        }
    }

    /// The exit status of the CLI for this failure: 2 a usage error, else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }

    /// Adds the input line numbers to a rejection, given the line of each event in the request.
    pub fn with_lines(self, lines: &[usize]) -> Error {
        match self {
            Error::Rejected { mut at, reason } => {
                at.line = lines.get(at.index).copied();
                Error::Rejected { at, reason }
            }
            other => other,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
