//! `kamlog export [--account A]`: the stored envelopes as JSONL, byte for byte as stored
//! (canonical JSON), in position order.

use super::Out;
use crate::error::Error;
use crate::store::Store;
use std::io::Write;

pub fn run(store: &Store, account: Option<&str>, out: &mut Out) -> Result<i32, Error> {
    let io = |e: std::io::Error| Error::Io(format!("cannot write the export: {e}"));
    // A closed pipe (`kamlog export | head`) is the reader's choice, not a failure.
    let res = write_all(store, account, &mut *out.stdout, io);
    match res {
        Err(Error::Io(m)) if m.contains("Broken pipe") => Ok(0),
        other => other,
    }
}

fn write_all(
    store: &Store,
    account: Option<&str>,
    out: &mut dyn Write,
    io: impl Fn(std::io::Error) -> Error + Copy,
) -> Result<i32, Error> {
    match account {
        Some(a) => {
            if store.head(a)?.is_none() {
                let ids: Vec<String> = store.heads()?.into_iter().map(|h| h.account_id).collect();
                return Err(Error::NotFound(format!(
                    "no account {a} in the store{}",
                    crate::suggest::hint(a, ids.iter().map(String::as_str))
                )));
            }
            for p in store.account_positions(a)? {
                let bytes = store
                    .raw_at(p)?
                    .ok_or_else(|| Error::Corrupt(format!("position {p} is missing")))?;
                out.write_all(&bytes)
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(io)?;
            }
        }
        None => {
            for r in store.raw_from(1) {
                let (_, bytes) = r?;
                out.write_all(&bytes)
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(io)?;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(0)
}
