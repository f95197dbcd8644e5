//! The durability mark: a small file beside sled's, `kamlog.mark`, naming a position (and
//! the hash of its event) that is known to be durable.
//!
//! sled recovers a damaged or truncated `db` file by keeping what it can read and dropping
//! the rest; a missing `db` is simply created again, empty. Either way it opens without an
//! error, and a store that held years of history would look like a younger or empty one. The
//! mark catches that: it is written by the writer thread (atomically: a temporary file,
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

/// Checks the log against the mark: the marked position must be there, with its hash.
pub(crate) fn check(dir: &Path, log: &sled::Tree) -> Result<()> {
    let Some(mark) = read(dir)? else {
        return Ok(());
    };
    let last = super::last_position(log)?;
    let damaged = |what: String| damaged(dir, what);
    if last < mark.position {
        return Err(damaged(format!(
            "positions 1–{} were durable ({FILE}) but the log now ends at position {last}; the \
             first missing position is {}",
            mark.position,
            last + 1
        )));
    }
    let bytes = super::read_at(log, mark.position)?.ok_or_else(|| {
        damaged(format!(
            "position {} was durable ({FILE}) but is missing from the log",
            mark.position
        ))
    })?;
    let found = crate::event::StoredEvent::decode(&bytes)
        .map(|e| e.hash)
        .map_err(|e| {
            damaged(format!(
                "the event at position {} cannot be read: {e}",
                mark.position
            ))
        })?;
    if found != mark.hash {
        return Err(damaged(format!(
            "the event at position {} has hash {found}, but {FILE} recorded {}",
            mark.position, mark.hash
        )));
    }
    Ok(())
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
