//! The durability mark: a small file beside sled's, `kamlog.mark`, naming a position (and
//! the hash of its event) that is known to be durable.
//!
//! sled recovers a damaged or truncated `db` file by keeping what it can read and dropping
//! the rest; a missing `db` is simply created again, empty. Either way it opens without an
//! error, and a store that held years of history would look like a younger or empty one. The
//! mark catches that: it is written by the flusher thread (atomically: a temporary file,
//! fsync, rename, fsync of the directory) after a flush has made its position durable, at
//! most once a second and when the store closes, so it never names more than what is on
//! disk. On open, the log must still hold that position with that hash; if not, the store
//! refuses to open and names the first missing position.
//!
//! The mark is a lower bound: events acknowledged within the last second before damage
//! cannot be told apart from events never written (README, "Limits").

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) const FILE: &str = "kamlog.mark";

/// A durable position and the hash of its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub position: u64,
    pub hash: String,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The mark of a data directory, if it has one.
pub(crate) fn read(dir: &Path) -> Result<Option<Mark>> {
    let p = path(dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io(format!("cannot read {}: {e}", p.display()))),
    };
    parse(&text).map(Some).ok_or_else(|| {
        Error::Corrupt(format!(
            "{} is damaged (expected `kamlog-mark 1 <position> <hash>`, found {:?})",
            p.display(),
            text.chars().take(100).collect::<String>()
        ))
    })
}

fn parse(text: &str) -> Option<Mark> {
    let mut parts = text.trim_end_matches('\n').split(' ');
    if parts.next()? != "kamlog-mark" || parts.next()? != "1" {
        return None;
    }
    let position = parts.next()?.parse().ok()?;
    let hash = parts.next()?;
    if parts.next().is_some()
        || hash.len() != 64
        || !hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    Some(Mark {
        position,
        hash: hash.to_string(),
    })
}

/// Replaces the mark atomically and durably.
pub(crate) fn write(dir: &Path, mark: &Mark) -> std::io::Result<()> {
    let tmp = dir.join(format!("{FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "kamlog-mark 1 {} {}", mark.position, mark.hash)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path(dir))?;
    std::fs::File::open(dir)?.sync_all()
}

fn damaged(dir: &Path, what: String) -> Error {
    Error::Corrupt(format!(
        "{what}. The sled files under {} were truncated, removed or corrupted; restore them \
         from a backup (or import an export into a new data directory), and do not append to \
         this one",
        dir.join("sled").display()
    ))
}

/// Before sled is opened on a directory without its `db` file: a marked store has lost it.
pub(crate) fn check_missing(dir: &Path) -> Result<()> {
    match read(dir)? {
        Some(mark) => Err(damaged(
            dir,
            format!(
                "positions 1–{} were durable ({FILE}) but the log file {} is missing; the first \
                 missing position is 1",
                mark.position,
                dir.join("sled").join("db").display()
            ),
        )),
        None => Ok(()),
    }
}

/// How the log disagrees with a mark.
pub(crate) enum Mismatch {
    /// The log ends before the marked position.
    Short {
        last: u64,
    },
    /// The marked position is in range but cannot be read back.
    Missing,
    Unreadable(String),
    /// The event at the marked position has another hash.
    Changed {
        found: String,
    },
}

/// Compares the log with a mark: the marked position must be there, with its hash.
pub(crate) fn compare(log: &super::Log, mark: &Mark) -> Result<Option<Mismatch>> {
    let last = super::last_position(log)?;
    if last < mark.position {
        return Ok(Some(Mismatch::Short { last }));
    }
    let Some(bytes) = super::read_at(log, mark.position)? else {
        return Ok(Some(Mismatch::Missing));
    };
    Ok(match crate::event::StoredEvent::decode(&bytes) {
        Err(e) => Some(Mismatch::Unreadable(e)),
        Ok(e) if e.hash != mark.hash => Some(Mismatch::Changed { found: e.hash }),
        Ok(_) => None,
    })
}

/// Checks the log against the mark on open; returns the mark (if any) when they agree.
pub(crate) fn check(dir: &Path, log: &super::Log) -> Result<Option<Mark>> {
    let Some(mark) = read(dir)? else {
        return Ok(None);
    };
    let p = mark.position;
    let what = match compare(log, &mark)? {
        None => return Ok(Some(mark)),
        Some(Mismatch::Short { last }) => format!(
            "positions 1–{p} were durable ({FILE}) but the log now ends at position {last}; the \
             first missing position is {}",
            last + 1
        ),
        Some(Mismatch::Missing) => {
            format!("position {p} was durable ({FILE}) but is missing from the log")
        }
        Some(Mismatch::Unreadable(e)) => {
            format!("the event at position {p} cannot be read: {e}")
        }
        Some(Mismatch::Changed { found }) => format!(
            "the event at position {p} has hash {found}, but {FILE} recorded {}",
            mark.hash
        ),
    };
    Err(damaged(dir, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_the_written_form() {
        let h = "a".repeat(64);
        assert_eq!(
            parse(&format!("kamlog-mark 1 12 {h}\n")),
            Some(Mark {
                position: 12,
                hash: h.clone()
            })
        );
        assert_eq!(parse(&format!("kamlog-mark 2 12 {h}\n")), None);
        assert_eq!(parse(&format!("kamlog-mark 1 x {h}\n")), None);
        assert_eq!(parse("kamlog-mark 1 12 abc\n"), None);
        assert_eq!(parse(&format!("kamlog-mark 1 12 {h} extra\n")), None);
        assert_eq!(parse(""), None);
    }
}
