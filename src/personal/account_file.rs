//! One account's vault file on local disk: `DATA/vault/<sha256(account)>.jsonl`, a header
//! line `{"account_id": …}` and then one line per stored value,
//! `{"person","event_id","field","value","salt"}`.
//!
//! New values are *appended*: a batch writes a few lines to each account it touches, so that
//! an import does not rewrite every account's whole file once per batch. A later line for the
//! same person, event and field replaces the earlier one (what [`AccountFile::add`] does in
//! memory). Taking values out (an erasure, or a refused append's values) *rewrites* the file
//! without them: a new file written, synced and renamed over the old one, whose inode is
//! freed, so that no file holds the values any more.
//!
//! A crash during an append can leave a last line without its newline. Its event was never
//! acknowledged (the vault is synced before the event is written), so a reader ignores that
//! line and the next append cuts it off first ([`cut_torn_tail`]).
//!
//! Stores written before this layout kept one JSON object per account in `<h>.json`; such a
//! file is read as it is and replaced by the `.jsonl` file at the account's next write.

use super::Entry;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// One account's values, person by person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFile {
    pub account_id: String,
    /// Person key → entries, in the order they were stored.
    pub persons: BTreeMap<String, Vec<Entry>>,
}

/// The first line of a file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    account_id: String,
}

/// Every later line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    person: std::borrow::Cow<'a, str>,
    event_id: std::borrow::Cow<'a, str>,
    field: std::borrow::Cow<'a, str>,
    value: std::borrow::Cow<'a, str>,
    salt: std::borrow::Cow<'a, str>,
}

impl AccountFile {
    /// An account holding no values.
    pub fn empty(account_id: &str) -> AccountFile {
        AccountFile {
            account_id: account_id.to_string(),
            persons: BTreeMap::new(),
        }
    }

    /// Stores a value, replacing one stored for the same event and field.
    pub fn add(&mut self, person: &str, entry: Entry) {
        let list = self.persons.entry(person.to_string()).or_default();
        list.retain(|e| !(e.event_id == entry.event_id && e.field == entry.field));
        list.push(entry);
    }

    /// The file's lines: the header, then every entry.
    pub fn to_lines(&self) -> Vec<u8> {
        let mut out = header_line(&self.account_id);
        for (person, entries) in &self.persons {
            for e in entries {
                out.extend(entry_line(person, e));
            }
        }
        out
    }

    /// Reads a file's lines (`path` names it in errors). A last line without its newline is
    /// an interrupted append and is left out.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<AccountFile> {
        let complete = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(i) => &bytes[..=i],
            None => &[][..],
        };
        let corrupt = |n: usize, e: serde_json::Error| {
            Error::Corrupt(format!(
                "the personal-data vault file {} cannot be read: line {n}: {e}",
                path.display()
            ))
        };
        let mut lines = complete.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        let Some(first) = lines.next() else {
            return Err(Error::Corrupt(format!(
                "the personal-data vault file {} has no complete header line",
                path.display()
            )));
        };
        let header: Header = serde_json::from_slice(first).map_err(|e| corrupt(1, e))?;
        let mut file = AccountFile::empty(&header.account_id);
        for (n, l) in lines.enumerate() {
            let line: Line = serde_json::from_slice(l).map_err(|e| corrupt(n + 2, e))?;
            let entry = Entry {
                event_id: line.event_id.into_owned(),
                field: line.field.into_owned(),
                value: line.value.into_owned(),
                salt: line.salt.into_owned(),
            };
            file.add(&line.person, entry);
        }
        Ok(file)
    }

    /// Reads a file written before this layout (one JSON object).
    pub fn parse_object(bytes: &[u8], path: &Path) -> Result<AccountFile> {
        serde_json::from_slice(bytes).map_err(|e| {
            Error::Corrupt(format!(
                "the personal-data vault file {} cannot be read: {e}",
                path.display()
            ))
        })
    }
}

/// The header line of an account's file.
pub fn header_line(account_id: &str) -> Vec<u8> {
    let mut out = serde_json::to_vec(&Header {
        account_id: account_id.to_string(),
    })
    .expect("vault lines serialize");
    out.push(b'\n');
    out
}

/// The line of one entry.
pub fn entry_line(person: &str, entry: &Entry) -> Vec<u8> {
    let mut out = serde_json::to_vec(&Line {
        person: person.into(),
        event_id: entry.event_id.as_str().into(),
        field: entry.field.as_str().into(),
        value: entry.value.as_str().into(),
        salt: entry.salt.as_str().into(),
    })
    .expect("vault lines serialize");
    out.push(b'\n');
    out
}

/// Cuts an interrupted append's partial last line off an open file, so that the next lines
/// start on a line of their own. A file that ends with a newline is left as it is.
pub fn cut_torn_tail(f: &mut std::fs::File) -> std::io::Result<()> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Rare (only after a crash mid-append): read the file to find the last whole line.
    let mut bytes = Vec::new();
    f.seek(SeekFrom::Start(0))?;
    f.read_to_end(&mut bytes)?;
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    f.set_len(keep as u64)?;
    Ok(())
}

/// Appends lines to an account's file, creating it with its header when it is new (which
/// the caller must then make durable in the directory too). Returns whether it was created.
pub fn append(path: &Path, account_id: &str, lines: &[u8]) -> std::io::Result<bool> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    cut_torn_tail(&mut f)?;
    let created = f.metadata()?.len() == 0;
    if created {
        f.write_all(&header_line(account_id))?;
    }
    f.write_all(lines)?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: &str, field: &str, value: &str) -> Entry {
        Entry {
            event_id: event.into(),
            field: field.into(),
            value: value.into(),
            salt: "00".into(),
        }
    }

    #[test]
    fn lines_read_back_with_later_values_replacing_earlier_ones() {
        let mut bytes = header_line("acme");
        bytes.extend(entry_line("stakeholder:s-1", &entry("e1", "name", "Olaf")));
        bytes.extend(entry_line("stakeholder:s-1", &entry("e2", "title", "CIO")));
        bytes.extend(entry_line(
            "stakeholder:s-1",
            &entry("e1", "name", "Olaf B"),
        ));
        let f = AccountFile::parse(&bytes, Path::new("x")).unwrap();
        assert_eq!(f.account_id, "acme");
        assert_eq!(
            f.persons["stakeholder:s-1"],
            vec![entry("e2", "title", "CIO"), entry("e1", "name", "Olaf B")]
        );
        // Written out whole, it reads back the same.
        assert_eq!(
            AccountFile::parse(&f.to_lines(), Path::new("x")).unwrap(),
            f
        );
    }

    #[test]
    fn a_torn_last_line_is_left_out_and_cut_before_the_next_append() {
        let dir = std::env::temp_dir().join(format!("kamlog-vault-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.jsonl");
        let _ = std::fs::remove_file(&path);
        assert!(append(
            &path,
            "acme",
            &entry_line("member:m-1", &entry("e1", "name", "Anna"))
        )
        .unwrap());
        let whole = std::fs::read(&path).unwrap();
        let torn = entry_line("member:m-2", &entry("e2", "name", "Bo"));
        let mut with_torn = whole.clone();
        with_torn.extend(&torn[..torn.len() - 5]);
        std::fs::write(&path, &with_torn).unwrap();
        let f = AccountFile::parse(&with_torn, &path).unwrap();
        assert_eq!(f.persons.len(), 1, "the torn line is not read");
        assert!(!append(&path, "acme", &torn).unwrap());
        let mut expected = whole;
        expected.extend(&torn);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_line_is_named() {
        let mut bytes = header_line("acme");
        bytes.extend(b"{\"person\":1}\n");
        let e = AccountFile::parse(&bytes, Path::new("v/x.jsonl")).unwrap_err();
        assert!(
            e.to_string().contains("v/x.jsonl") && e.to_string().contains("line 2"),
            "{e}"
        );
    }
}
