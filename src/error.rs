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
}

impl Error {
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
