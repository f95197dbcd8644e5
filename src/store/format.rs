//! The store's format mark. Stores written since personal data was kept apart from the log
//! (SPEC 10 v2: commitments in the hashed envelope, values in the vault) carry the mark
//! `kamlog.format = 2` in sled's default tree, set when the store is created. A store with
//! events and no mark holds names and titles inside its hash chain, where they can never be
//! erased: it is refused at open, with what to do instead.
//!
//! Format 3 keeps new pages in the segment file ([`super::segment`]) instead of inline in the
//! tree. A format-2 store is still read as it is (its inline pages stay where they are) and is
//! marked 3 on open, so that an older kamlog refuses it rather than misread its pointers.

use crate::error::{Error, Result};

const KEY: &[u8] = b"kamlog.format";
/// The format this version writes.
pub const CURRENT: &[u8] = b"3";
/// The format before the segment file, read as it is and marked [`CURRENT`] on open.
const INLINE_PAGES: &[u8] = b"2";

/// Marks a new store; refuses one of an older or unknown format. With `write` false
/// (`verify`, which changes nothing) a format-2 store is read without being re-marked.
pub fn check(db: &sled::Db, log: &sled::Tree, write: bool) -> Result<()> {
    let storage = |e: sled::Error| Error::Storage(format!("cannot read the format mark: {e}"));
    match db.get(KEY).map_err(storage)? {
        Some(v) if v.as_ref() == CURRENT => Ok(()),
        Some(v) if v.as_ref() == INLINE_PAGES => {
            if write {
                db.insert(KEY, CURRENT).map_err(storage)?;
            }
            Ok(())
        }
        Some(v) => Err(Error::Outdated(format!(
            "this store has format {}, which this kamlog does not know (it writes format {})",
            String::from_utf8_lossy(&v),
            String::from_utf8_lossy(CURRENT)
        ))),
        None if log.is_empty() => {
            db.insert(KEY, CURRENT).map_err(storage)?;
            Ok(())
        }
        None => Err(Error::Outdated(
            "this store was written by a kamlog that kept names, titles and e-mail addresses \
             inside the hash-chained log, where they can never be erased (SPEC 10); this \
             kamlog keeps them apart, in the personal-data vault. Re-import the original event \
             files into a new data directory: kamlog --data NEW_DIR import FILE.jsonl"
                .into(),
        )),
    }
}
