//! The on-disk layout of the log tree, and the reads every part of the store shares.
//!
//! sled costs about ten microseconds per key written on this class of machine, whatever the
//! value size up to a few KiB, so the log packs consecutive events of one append into
//! **pages** and each account's consecutive versions into **runs**; only the event-id index
//! is one key per page too (see `x` below): random keys cost sled even more than sequential
//! ones.
//!
//! Keys (numbers big-endian, so byte order is numeric order):
//! - `e` + first position (u64) → where the page is: a [`Pointer`] into the segment file
//!   ([`super::segment`]). A page is `P`, count (u32), then per event: length (u32) and the
//!   stored envelope's canonical JSON; it holds consecutive positions, at most
//!   [`PAGE_EVENTS`] events or about [`PAGE_BYTES`] bytes, all from one append. (Stores
//!   written before the segment file hold their pages inline here, and are read as such.)
//! - `s` + account + `/` + first version (u64) → run: the positions (u64 each) of that
//!   account's consecutive versions from first version on, all from one append.
//! - `x` + first position (u64) → the event ids of the page at that position, 16 bytes
//!   each, in position order. The writer loads these into an in-memory map (event id →
//!   position) on its first append, so that idempotency checks cost no random reads; the map
//!   takes about 40 bytes per stored event.
//! - `h` + account → head: version (u64), position (u64), hash (64 hex bytes)

use super::segment::{Pointer, Segment, POINTER_TAG};
use super::storage;
use crate::error::{Error, Result};
use crate::event::StoredEvent;
use std::sync::Arc;

/// The log: its index, runs and heads in sled's `log` tree, its pages in the segment file.
#[derive(Clone)]
pub(crate) struct Log {
    pub tree: sled::Tree,
    pub segment: Arc<Segment>,
}

/// A page's bytes, as stored inline in the tree or read from the segment file.
pub(crate) enum PageBytes {
    Inline(sled::IVec),
    File(Vec<u8>),
}

impl std::ops::Deref for PageBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            PageBytes::Inline(b) => b,
            PageBytes::File(b) => b,
        }
    }
}

impl Log {
    /// The page a value under an `e` key stands for.
    pub(crate) fn page_bytes(&self, first: u64, value: sled::IVec) -> Result<PageBytes> {
        if value.first() == Some(&POINTER_TAG) {
            let p = Pointer::decode(first, &value)?;
            Ok(PageBytes::File(self.segment.read(first, &p)?))
        } else {
            Ok(PageBytes::Inline(value))
        }
    }
}

/// How many events the page under an `e` key holds, without reading a page in the file.
pub(crate) fn page_count(first: u64, value: &[u8]) -> Result<u64> {
    if value.first() == Some(&POINTER_TAG) {
        Ok(u64::from(Pointer::decode(first, value)?.count))
    } else {
        Ok(decode_page(first, value)?.len() as u64)
    }
}

pub const PAGE_EVENTS: usize = 32;
pub const PAGE_BYTES: usize = 16 * 1024;

pub(crate) fn event_key(position: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'e';
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

pub(crate) fn stream_prefix(account: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(account.len() + 10);
    k.push(b's');
    k.extend_from_slice(account.as_bytes());
    k.push(b'/');
    k
}

pub(crate) fn stream_key(account: &str, first_version: u64) -> Vec<u8> {
    let mut k = stream_prefix(account);
    k.extend_from_slice(&first_version.to_be_bytes());
    k
}

pub(crate) fn ids_key(first_position: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'x';
    k[1..].copy_from_slice(&first_position.to_be_bytes());
    k
}

/// An event id (a UUID, validated on the way in) as 16 bytes: its hex digits, hyphens
/// skipped, read as one big-endian number (0 for anything that is not hex).
pub(crate) fn id_bytes(event_id: &str) -> u128 {
    let mut v: u128 = 0;
    for b in event_id.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            b'-' => continue,
            _ => return 0,
        };
        v = (v << 4) | u128::from(d);
    }
    v
}

/// A hasher for event ids (UUIDs as `u128`): their bits are already spread, so a multiply
/// of the two halves is enough, and much cheaper than SipHash on the writer's path.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = ((v as u64) ^ ((v >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Event id → `V` (by default its position), hashed with [`IdHasher`].
pub(crate) type IdMap<V = u64> =
    std::collections::HashMap<u128, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Loads the whole event-id index: event id → position.
pub(crate) fn load_ids(log: &sled::Tree) -> Result<IdMap> {
    let mut out = IdMap::default();
    for r in log.scan_prefix([b'x']) {
        let (k, v) = r.map_err(storage)?;
        let first = be_u64(&k[1..])?;
        if v.len() % 16 != 0 {
            return Err(Error::Corrupt(format!(
                "the event-id entry of the page at position {first} has {} bytes",
                v.len()
            )));
        }
        for (i, id) in v.chunks_exact(16).enumerate() {
            let id = u128::from_be_bytes(id.try_into().expect("16 bytes"));
            out.insert(id, first + i as u64);
        }
    }
    Ok(out)
}

pub(crate) fn head_key(account: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(account.len() + 1);
    k.push(b'h');
    k.extend_from_slice(account.as_bytes());
    k
}

pub(crate) fn be_u64(bytes: &[u8]) -> Result<u64> {
    bytes.try_into().map(u64::from_be_bytes).map_err(|_| {
        Error::Corrupt(format!(
            "expected an 8-byte number, found {} bytes",
            bytes.len()
        ))
    })
}

/// Packs stored envelopes into a page, appended to `out`.
pub(crate) fn encode_page<E: AsRef<[u8]>>(out: &mut Vec<u8>, events: &[E]) {
    let size = 5 + events.iter().map(|e| 4 + e.as_ref().len()).sum::<usize>();
    out.reserve(size);
    out.push(b'P');
    out.extend_from_slice(&(events.len() as u32).to_be_bytes());
    for e in events {
        let e = e.as_ref();
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
}

/// Unpacks a page; `first` is its first position (for messages).
pub(crate) fn decode_page(first: u64, bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let bad = |why: &str| Error::Corrupt(format!("the page starting at position {first} {why}"));
    if bytes.len() < 5 || bytes[0] != b'P' {
        return Err(bad("has no valid header"));
    }
    let count = u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes")) as usize;
    let mut out = Vec::with_capacity(count);
    let mut at = 5;
    for _ in 0..count {
        if at + 4 > bytes.len() {
            return Err(bad("is truncated"));
        }
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        at += 4;
        if at + len > bytes.len() {
            return Err(bad("is truncated"));
        }
        out.push(&bytes[at..at + len]);
        at += len;
    }
    if at != bytes.len() {
        return Err(bad("has trailing bytes"));
    }
    Ok(out)
}

/// The stored envelope at a position.
pub(crate) fn read_at(log: &Log, position: u64) -> Result<Option<Vec<u8>>> {
    Ok(page_for(log, position)?.and_then(|p| p.get(position).map(<[u8]>::to_vec)))
}

/// Every page from the one holding `position` on: (first position, page bytes).
pub(crate) fn pages_from(
    log: &Log,
    position: u64,
) -> impl Iterator<Item = Result<(u64, PageBytes)>> + '_ {
    let start = match log
        .tree
        .range(event_key(0)..=event_key(position))
        .next_back()
    {
        Some(Ok((k, _))) => be_u64(&k[1..]).unwrap_or(position),
        _ => position,
    };
    log.tree
        .range(event_key(start)..=event_key(u64::MAX))
        .map(|r| {
            let (k, v) = r.map_err(storage)?;
            let first = be_u64(&k[1..])?;
            Ok((first, log.page_bytes(first, v)?))
        })
}

/// Where each page of the log lies, read once from the tree, so that repeated passes over
/// chosen positions ([`scan_positions`]) do not walk the tree again (about 40 bytes a page).
pub struct PageIndex {
    pages: Vec<IndexedPage>,
}

struct IndexedPage {
    first: u64,
    count: u64,
    /// Where the page lies in the segment file (`None`: inline in the tree).
    pointer: Option<Pointer>,
}

/// The index of every page in the log now.
pub(crate) fn page_index(log: &Log) -> Result<PageIndex> {
    let mut pages = Vec::new();
    for r in log.tree.range(event_key(0)..=event_key(u64::MAX)) {
        let (k, v) = r.map_err(storage)?;
        let first = be_u64(&k[1..])?;
        let pointer = if v.first() == Some(&POINTER_TAG) {
            Some(Pointer::decode(first, &v)?)
        } else {
            None
        };
        pages.push(IndexedPage {
            first,
            count: page_count(first, &v)?,
            pointer,
        });
    }
    Ok(PageIndex { pages })
}

/// Calls `f` with the stored envelope at each of `positions` (ascending), reading only the
/// pages that hold one of them.
pub(crate) fn scan_positions<F>(
    log: &Log,
    index: &PageIndex,
    positions: &[u64],
    mut f: F,
) -> Result<()>
where
    F: FnMut(u64, &[u8]) -> Result<()>,
{
    let Some(&lowest) = positions.first() else {
        return Ok(());
    };
    let pages = &index.pages;
    let holds = |ip: &IndexedPage, p: Option<&u64>| p.is_some_and(|p| *p < ip.first + ip.count);
    let mut k = pages
        .partition_point(|p| p.first <= lowest)
        .saturating_sub(1);
    let mut next = 0; // the first of `positions` not yet given
    let mut run = Vec::new(); // the bytes of a run of pages, reused
    while let Some(ip) = pages.get(k) {
        let Some(&wanted) = positions.get(next) else {
            break;
        };
        if wanted >= ip.first + ip.count {
            k += 1;
            continue; // no wanted position on this page: not read
        }
        let Some(p0) = &ip.pointer else {
            let page = page_for(log, ip.first)?
                .ok_or_else(|| Error::Corrupt(format!("position {} is missing", ip.first)))?;
            while holds(ip, positions.get(next)) {
                let p = positions[next];
                f(p, page.get(p).ok_or_else(|| missing(p))?)?;
                next += 1;
            }
            k += 1;
            continue;
        };
        // The pages after it that lie next to it in the file and hold a wanted position too:
        // read with it, in one call (a system call costs microseconds here).
        let (mut end, mut len, mut look) = (k + 1, p0.len as u64, next);
        while let Some(q) = pages.get(end) {
            while holds(&pages[end - 1], positions.get(look)) {
                look += 1;
            }
            let Some(qp) = &q.pointer else { break };
            if qp.offset != p0.offset + len || len + qp.len as u64 > RUN_BYTES {
                break;
            }
            if !positions
                .get(look)
                .is_some_and(|p| *p >= q.first && holds(q, Some(p)))
            {
                break;
            }
            len += qp.len as u64;
            end += 1;
        }
        run.resize(len as usize, 0);
        log.segment.read_into(ip.first, p0.offset, &mut run)?;
        for ip in &pages[k..end] {
            let p = ip.pointer.as_ref().expect("a run holds file pages");
            let at = (p.offset - p0.offset) as usize;
            let events = decode_page(ip.first, &run[at..at + p.len as usize])?;
            while holds(ip, positions.get(next)) {
                let p = positions[next];
                let bytes = (p >= ip.first)
                    .then(|| events.get((p - ip.first) as usize))
                    .flatten()
                    .ok_or_else(|| missing(p))?;
                f(p, bytes)?;
                next += 1;
            }
        }
        k = end;
    }
    match positions.get(next) {
        Some(&p) => Err(missing(p)),
        None => Ok(()),
    }
}

/// At most this many bytes of pages are read at once by [`scan_positions`].
const RUN_BYTES: u64 = 1 << 20;

fn missing(p: u64) -> Error {
    Error::Corrupt(format!("position {p} is missing"))
}

/// The positions of an account's events, in version order.
pub(crate) fn stream_positions(log: &sled::Tree, account: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for r in log.scan_prefix(stream_prefix(account)) {
        let (_, run) = r.map_err(storage)?;
        if run.len() % 8 != 0 {
            return Err(Error::Corrupt(format!(
                "a stream run of account {account} has {} bytes",
                run.len()
            )));
        }
        for p in run.chunks_exact(8) {
            out.push(be_u64(p)?);
        }
    }
    Ok(out)
}

/// A page read from the log, with the byte ranges of its events.
pub(crate) struct Page {
    pub first: u64,
    bytes: PageBytes,
    spans: Vec<(usize, usize)>,
}

impl Page {
    pub(crate) fn new(first: u64, bytes: PageBytes) -> Result<Page> {
        let spans = {
            let events = decode_page(first, &bytes)?;
            let base = bytes.as_ptr() as usize;
            events
                .iter()
                .map(|e| (e.as_ptr() as usize - base, e.len()))
                .collect()
        };
        Ok(Page {
            first,
            bytes,
            spans,
        })
    }

    /// The envelope at a position, if this page holds it.
    pub(crate) fn get(&self, position: u64) -> Option<&[u8]> {
        let i = position.checked_sub(self.first)? as usize;
        self.spans
            .get(i)
            .map(|&(at, len)| &self.bytes[at..at + len])
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }
}

/// The page holding a position, if any.
pub(crate) fn page_for(log: &Log, position: u64) -> Result<Option<Page>> {
    match log
        .tree
        .range(event_key(0)..=event_key(position))
        .next_back()
    {
        None => Ok(None),
        Some(r) => {
            let (k, v) = r.map_err(storage)?;
            let first = be_u64(&k[1..])?;
            Ok(Some(Page::new(first, log.page_bytes(first, v)?)?))
        }
    }
}

/// An account's events in version order, decoded.
pub(crate) fn read_account(log: &Log, account: &str) -> Result<Vec<StoredEvent>> {
    let positions = stream_positions(&log.tree, account)?;
    let mut out = Vec::with_capacity(positions.len());
    // Consecutive positions often share a page: keep the last page read.
    let mut page: Option<Page> = None;
    for p in positions {
        if page.as_ref().and_then(|pg| pg.get(p)).is_none() {
            page = page_for(log, p)?;
        }
        let raw = page.as_ref().and_then(|pg| pg.get(p)).ok_or_else(|| {
            Error::Corrupt(format!("stream {account} points at missing position {p}"))
        })?;
        out.push(
            StoredEvent::decode(raw).map_err(|e| {
                Error::Corrupt(format!("event at position {p} cannot be read: {e}"))
            })?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod id_tests {
    use super::id_bytes;

    #[test]
    fn id_bytes_reads_the_hex_digits_of_a_uuid() {
        assert_eq!(
            id_bytes("0123abcd-ef01-4000-8000-00000000000a"),
            0x0123_abcd_ef01_4000_8000_0000_0000_000a
        );
        assert_eq!(
            id_bytes("0123ABCD-EF01-4000-8000-00000000000A"),
            id_bytes("0123abcd-ef01-4000-8000-00000000000a")
        );
        assert_eq!(id_bytes("not-a-uuid"), 0);
    }
}
