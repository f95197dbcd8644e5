//! Stores written before the segment file (format 2) held each page inline in sled's `log`
//! tree. Such a store is read as it is, marked format 3 on open (so that an older kamlog
//! refuses it), and its new pages go to `DATA/pages`. The format-2 store is made here from a
//! new one by moving its pages back into the tree, as the layout documents them
//! (src/store/layout.rs, src/store/segment.rs): a pointer is `F`, offset (u64), length (u32),
//! CRC-32 (u32), event count (u32), first-of-append flag (u8), numbers big-endian.

mod common;

use common::*;
use kamlog::Store;
use std::path::Path;

fn sled_db(data: &Path) -> sled::Db {
    sled::Config::new()
        .path(data.join("sled"))
        .segment_size(2 << 20)
        .open()
        .unwrap()
}

/// Rewrites a closed store as format 2: every page inline, the segment file emptied.
fn make_format_2(data: &Path) {
    let file = std::fs::read(data.join("pages")).unwrap();
    {
        let db = sled_db(data);
        let log = db.open_tree("log").unwrap();
        let pointers: Vec<_> = log.scan_prefix(b"e").map(|r| r.unwrap()).collect();
        assert!(!pointers.is_empty());
        for (key, p) in pointers {
            assert_eq!(p.len(), 22, "a pointer is 22 bytes");
            assert_eq!(p[0], b'F');
            let offset = u64::from_be_bytes(p[1..9].try_into().unwrap()) as usize;
            let len = u32::from_be_bytes(p[9..13].try_into().unwrap()) as usize;
            let page = &file[offset..offset + len];
            assert_eq!(page[0], b'P', "a page starts with P");
            log.insert(key, page).unwrap();
        }
        db.insert(b"kamlog.format", b"2".as_slice()).unwrap();
        db.flush().unwrap();
    }
    std::fs::write(data.join("pages"), b"").unwrap();
}

#[test]
fn a_store_with_inline_pages_is_read_as_it_is_and_grows_in_the_segment_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = base_account("a");
    let exported_before = {
        let store = Store::open(&data).unwrap();
        append(&store, &first).unwrap();
        dump(&store)
    };
    make_format_2(&data);
    assert_eq!(std::fs::metadata(data.join("pages")).unwrap().len(), 0);

    // `verify` reads it and changes nothing, the format mark included.
    {
        let store = Store::open_for_verify(&data).unwrap();
        assert!(store.verify().unwrap().first_break.is_none());
    }
    {
        let db = sled_db(&data);
        assert_eq!(
            db.get(b"kamlog.format").unwrap().as_deref(),
            Some(b"2".as_slice())
        );
    }
    let store = Store::open(&data).expect("a format-2 store opens");
    // The same events, byte for byte, read from the inline pages.
    assert_eq!(dump(&store), exported_before);
    assert!(store.verify().unwrap().first_break.is_none());
    // A new append goes to the segment file, after the inline pages.
    let more = base_account("b");
    let out = append(&store, &more).unwrap();
    assert_eq!(out.events[0].position, first.len() as u64 + 1);
    assert!(std::fs::metadata(data.join("pages")).unwrap().len() > 0);
    assert_eq!(dump(&store).len(), first.len() + more.len());
    assert!(store.verify().unwrap().first_break.is_none());
    drop(store);
    // Marked format 3 now; reopening reads both kinds of page.
    {
        let db = sled_db(&data);
        assert_eq!(
            db.get(b"kamlog.format").unwrap().as_deref(),
            Some(b"3".as_slice())
        );
    }
    let store = Store::open(&data).unwrap();
    assert_eq!(dump(&store).len(), first.len() + more.len());
    assert_eq!(store.account_events("a").unwrap().len(), first.len());
    assert_eq!(store.account_events("b").unwrap().len(), more.len());
}
