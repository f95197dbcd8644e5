//! The end of the log after a power cut: the pages of an append that was never acknowledged
//! may be missing from the segment file while sled kept the records pointing at them (sled
//! persists on its own; the file is synced only when a flush makes the append durable). A
//! killed process cannot produce that state (its writes sit in the page cache), so these
//! tests make it by hand, as a power cut would leave it: the segment file cut back, and the
//! durability mark as it was when the last acknowledged append was made durable.

mod common;

use common::*;
use kamlog::Store;
use serde_json::json;
use std::path::Path;

const T: &str = "2024-02-01T00:00:00Z";

fn interaction(account: &str, at: &str) -> serde_json::Value {
    ev(
        account,
        "interaction_logged",
        at,
        json!({"interaction_id": new_id(), "channel": "call",
            "supplier_participants": ["m-1"], "customer_participants": ["s-1"]}),
    )
}

fn pages_len(data: &Path) -> u64 {
    std::fs::metadata(data.join("pages")).unwrap().len()
}

/// Puts the store back as a power cut right after the first session would leave it: the
/// mark of then, and the segment file cut to `len` bytes.
fn power_cut(data: &Path, mark: &[u8], len: u64) {
    std::fs::write(data.join("kamlog.mark"), mark).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(data.join("pages"))
        .unwrap();
    f.set_len(len).unwrap();
}

#[test]
fn an_append_whose_pages_never_reached_the_disk_is_dropped_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Session 1: accounts a and b, acknowledged and marked durable.
    let mut first = base_account("a");
    first.extend(base_account("b"));
    let n_first = first.len() as u64;
    {
        let store = Store::open(&data).unwrap();
        append(&store, &first).unwrap();
    }
    let mark = std::fs::read(data.join("kamlog.mark")).unwrap();
    let durable_len = pages_len(&data);
    assert!(durable_len > 0, "the pages are in the segment file");
    // Session 2: two more appends, one touching a (whose head moves) and a new account c.
    let second = vec![interaction("a", T), interaction("a", T)];
    let third = base_account("c");
    {
        let store = Store::open(&data).unwrap();
        append(&store, &second).unwrap();
        append(&store, &third).unwrap();
        assert_eq!(
            store.last_position().unwrap(),
            n_first + 2 + third.len() as u64
        );
    }
    // The power cut: session 2's pages lost, sled's records of them kept. Only part of the
    // second append's page is gone: the whole append goes all the same.
    power_cut(&data, &mark, durable_len + 10);
    // `verify` changes nothing: it names the break and says the append was interrupted.
    {
        let store = Store::open_for_verify(&data).unwrap();
        let b = store.verify().unwrap().first_break.expect("a break");
        assert_eq!(b.position, n_first + 1);
        assert!(
            b.problem.ends_with(&format!(
                "(the append from position {} on was interrupted before its pages reached the disk and was never acknowledged; any other kamlog command opening the store drops it)",
                n_first + 1
            )),
            "{}",
            b.problem
        );
    }
    assert_eq!(pages_len(&data), durable_len + 10, "verify cut nothing");

    // Any command opens it, drops the append and says so on stderr.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kamlog"))
        .args(["--data", data.to_str().unwrap(), "accounts"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "kamlog: dropped the append from position {} on: a power cut left its pages unwritten, and it was never acknowledged; append those events again\n",
            n_first + 1
        )
    );
    let store = Store::open(&data).expect("the store opens after the cut");
    assert!(
        store.dropped_on_open().is_none(),
        "dropped once, on the first open"
    );
    assert_eq!(store.last_position().unwrap(), n_first);
    let report = store.verify().unwrap();
    assert!(report.first_break.is_none(), "{:?}", report.first_break);
    // a's head is back at its last event of session 1 (version = its event count); c is gone.
    let a = store.head("a").unwrap().unwrap();
    assert_eq!(a.version, base_account("a").len() as u64);
    assert_eq!(store.account_events("a").unwrap().len(), a.version as usize);
    assert!(store.head("c").unwrap().is_none());
    assert!(store.account_events("c").unwrap().is_empty());
    // The file holds exactly the pages pointed at.
    assert_eq!(pages_len(&data), durable_len);
    // The dropped events were never stored: appending them again stores them, after the
    // durable ones, and the chain verifies.
    let again = append(&store, &second).unwrap();
    assert_eq!(again.stored(), 2);
    assert_eq!(again.events[0].position, n_first + 1);
    assert_eq!(again.events[0].version, a.version + 1);
    assert!(store.verify().unwrap().first_break.is_none());
}

#[test]
fn a_lost_page_that_was_durable_is_refused_with_its_position() {
    let open_err = |data: &Path| match Store::open(data) {
        Ok(_) => panic!("a store that lost durable pages must not open"),
        Err(e) => e.to_string(),
    };
    let dir = tempfile::tempdir().unwrap();
    // The marked (acknowledged) page cut short: the mark's own check finds it.
    let data = dir.path().join("cut");
    {
        let store = Store::open(&data).unwrap();
        append(&store, &base_account("a")).unwrap();
    }
    let mark = std::fs::read(data.join("kamlog.mark")).unwrap();
    power_cut(&data, &mark, 5);
    let err = open_err(&data);
    assert!(err.contains("the store is damaged"), "{err}");
    assert!(
        err.contains("the page of position 1 lies past the end of "),
        "{err}"
    );
    // A byte changed in the marked page, in an event before the marked one (whose hash the
    // mark's check compares): the page's CRC finds it, and it is damage, not a cut.
    let data = dir.path().join("flip");
    {
        let store = Store::open(&data).unwrap();
        append(&store, &base_account("a")).unwrap();
    }
    let mut bytes = std::fs::read(data.join("pages")).unwrap();
    bytes[20] ^= 0x01;
    std::fs::write(data.join("pages"), &bytes).unwrap();
    let err = open_err(&data);
    assert!(
        err.contains("the page holding position 1 is missing or damaged in "),
        "{err}"
    );
    assert!(err.contains("that page was durable"), "{err}");
}

#[test]
fn a_page_flipped_after_the_mark_is_dropped_but_one_before_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = Store::open(&data).unwrap();
        append(&store, &base_account("a")).unwrap();
    }
    let mark = std::fs::read(data.join("kamlog.mark")).unwrap();
    let durable_len = pages_len(&data);
    {
        let store = Store::open(&data).unwrap();
        append(&store, &[interaction("a", T)]).unwrap();
    }
    let full_len = pages_len(&data);
    // One byte of the unacknowledged page changed (a sector that was never written):
    // the CRC catches it and the append goes.
    let mut bytes = std::fs::read(data.join("pages")).unwrap();
    bytes[(durable_len + full_len) as usize / 2] ^= 0x55;
    std::fs::write(data.join("pages"), &bytes).unwrap();
    std::fs::write(data.join("kamlog.mark"), &mark).unwrap();
    let store = Store::open(&data).unwrap();
    assert_eq!(
        store.last_position().unwrap(),
        base_account("a").len() as u64
    );
    drop(store);
    // A byte flipped inside the durable pages is damage: those pages are not checked by CRC
    // on open (the mark vouches for them), and `verify` names the first position it breaks.
    let mut bytes = std::fs::read(data.join("pages")).unwrap();
    bytes[20] ^= 0x01;
    std::fs::write(data.join("pages"), &bytes).unwrap();
    let store = Store::open_for_verify(&data).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.first_break.map(|b| b.position), Some(1));
}

#[test]
fn the_cut_starts_at_the_first_page_of_the_append_with_a_lost_page() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = base_account("a");
    let n_first = first.len() as u64;
    {
        let store = Store::open(&data).unwrap();
        append(&store, &first).unwrap();
    }
    let mark = std::fs::read(data.join("kamlog.mark")).unwrap();
    // Session 2: a small append that reaches the disk whole, then one of 40 events: more
    // than a page holds (32), so it spans two pages.
    let small = vec![interaction("a", T)];
    let big: Vec<_> = (0..40).map(|_| interaction("a", T)).collect();
    let small_end = {
        let store = Store::open(&data).unwrap();
        append(&store, &small).unwrap();
        let end = pages_len(&data);
        append(&store, &big).unwrap();
        end
    };
    let full = pages_len(&data);
    // Only the big append's second page is lost (its last bytes zeroed, as a sector that
    // was never written reads): its first page still checks, but the whole append goes.
    let mut bytes = std::fs::read(data.join("pages")).unwrap();
    let n = bytes.len();
    bytes[n - 64..].fill(0);
    std::fs::write(data.join("pages"), &bytes).unwrap();
    assert_eq!(pages_len(&data), full);
    std::fs::write(data.join("kamlog.mark"), &mark).unwrap();

    let store = Store::open(&data).unwrap();
    assert_eq!(
        store.last_position().unwrap(),
        n_first + 1,
        "the small append stays"
    );
    assert_eq!(store.head("a").unwrap().unwrap().version, n_first + 1);
    assert_eq!(pages_len(&data), small_end);
    assert!(store.verify().unwrap().first_break.is_none());
    // The 40 events were never stored: they are stored again, after the small append.
    let again = append(&store, &big).unwrap();
    assert_eq!(again.stored(), 40);
    assert_eq!(again.events[0].position, n_first + 2);
}
