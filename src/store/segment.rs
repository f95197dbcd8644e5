//! The segment file: where the log's pages live (`<data>/pages`), appended in position
//! order, while sled's `log` tree keeps only a small pointer per page (see [`Pointer`]).
//!
//! Why: sled 0.34 keeps every tree node that a scan pulls in memory until its cache's access
//! queues (256 shards × 64 accesses) fill, so one pass over a log of 16 KiB pages held about
//! half the store in memory whatever the cache capacity (BENCHMARKS.md). Pages read from a
//! plain file are freed when the reader is done with them.
//!
//! Durability: the page bytes are written before the sled batch that points at them is
//! applied, and every flush syncs this file before sled's (see `Durable`). sled may still
//! persist a pointer on its own before the file is synced; such a pointer can only belong to
//! an append that was never acknowledged, and [`super::tail`] drops that append on open.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The file name, in the data directory.
pub(crate) const FILE: &str = "pages";

/// The first byte of a page pointer in the `log` tree (a value starting with `P` is a page
/// stored inline, as stores written before the segment file hold them).
pub(crate) const POINTER_TAG: u8 = b'F';

/// Where a page lives in the segment file, as the `log` tree stores it under the page's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pointer {
    pub offset: u64,
    pub len: u32,
    /// CRC-32 of the page's bytes: checked on open for the pages after the durability mark.
    pub crc: u32,
    /// The number of events on the page.
    pub count: u32,
    /// Whether this page is the first of its append (one atomic batch).
    pub starts_append: bool,
}

impl Pointer {
    pub(crate) const LEN: usize = 1 + 8 + 4 + 4 + 4 + 1;

    pub(crate) fn encode(&self) -> [u8; Pointer::LEN] {
        let mut out = [0u8; Pointer::LEN];
        out[0] = POINTER_TAG;
        out[1..9].copy_from_slice(&self.offset.to_be_bytes());
        out[9..13].copy_from_slice(&self.len.to_be_bytes());
        out[13..17].copy_from_slice(&self.crc.to_be_bytes());
        out[17..21].copy_from_slice(&self.count.to_be_bytes());
        out[21] = u8::from(self.starts_append);
        out
    }

    /// Reads a pointer; `first` (the page's first position) is for the message.
    pub(crate) fn decode(first: u64, bytes: &[u8]) -> Result<Pointer> {
        if bytes.len() != Pointer::LEN || bytes[0] != POINTER_TAG || bytes[21] > 1 {
            return Err(Error::Corrupt(format!(
                "the page pointer of position {first} is not valid ({} bytes)",
                bytes.len()
            )));
        }
        let u32_at = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        Ok(Pointer {
            offset: u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes")),
            len: u32_at(9),
            crc: u32_at(13),
            count: u32_at(17),
            starts_append: bytes[21] == 1,
        })
    }

    /// The file offset just past the page.
    pub(crate) fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// CRC-32 of a page's bytes.
pub(crate) fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The open segment file. Reads go through `pread` and may run on any thread alongside the
/// writer, which only ever writes past what the tree points at.
pub(crate) struct Segment {
    file: File,
    path: PathBuf,
}

impl Segment {
    /// Opens (creating if needed) the segment file of a data directory.
    pub(crate) fn open(dir: &Path) -> Result<Segment> {
        let path = dir.join(FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))?;
        Ok(Segment { file, path })
    }

    fn io(&self, what: &str, e: std::io::Error) -> Error {
        let e = if e.kind() == std::io::ErrorKind::StorageFull {
            "no space left on device (the disk is full)".to_string()
        } else {
            e.to_string()
        };
        Error::Storage(format!(
            "cannot {what} {}: I/O error: {e}",
            self.path.display()
        ))
    }

    /// The file's path (for messages).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length in bytes.
    pub(crate) fn len(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| self.io("read the length of", e))?
            .len())
    }

    /// The page a pointer names; `first` is its first position (for the message).
    pub(crate) fn read(&self, first: u64, p: &Pointer) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; p.len as usize];
        self.read_into(first, p.offset, &mut buf)?;
        Ok(buf)
    }

    /// Fills `buf` from `offset`: the bytes of the page of position `first` and, when `buf`
    /// is longer, of the pages after it in the file.
    pub(crate) fn read_into(&self, first: u64, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Corrupt(format!(
                    "the page of position {first} lies past the end of {} (bytes {}–{})",
                    self.path.display(),
                    offset,
                    offset + buf.len() as u64
                ))
            } else {
                self.io("read", e)
            }
        })
    }

    /// Writes bytes at an offset (the writer's end of the log).
    pub(crate) fn write(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all_at(bytes, offset)
            .map_err(|e| self.io("write to", e))
    }

    /// `fdatasync`.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| self.io("sync", e))
    }

    /// Cuts the file to a length and syncs it.
    pub(crate) fn truncate(&self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| self.io("truncate", e))?;
        self.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_reads_back_as_written_and_a_wrong_one_is_refused() {
        let p = Pointer {
            offset: 1 << 40,
            len: 16_000,
            crc: 0xdead_beef,
            count: 32,
            starts_append: true,
        };
        assert_eq!(Pointer::decode(7, &p.encode()).unwrap(), p);
        assert_eq!(p.end(), (1 << 40) + 16_000);
        let mut bad = p.encode();
        bad[0] = b'P';
        assert!(Pointer::decode(7, &bad).is_err());
        assert!(Pointer::decode(7, &p.encode()[..21]).is_err());
    }
}
