//! Crash safety: a child process appends batches and prints each acknowledgement; it is killed
//! with SIGKILL at a random moment, many times over the same store. After every kill the store
//! must reopen, `verify` must pass, every acknowledged event must be there, and no batch may be
//! partly visible.
//!
//! The child is this same test binary, re-run with `KAMLOG_CRASH_CHILD` set (the test
//! `crash_child` does nothing otherwise).

mod common;

use common::*;
use kamlog::Store;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KILLS: usize = 25;
const T: &str = "2024-02-01T00:00:00Z";

/// One batch spanning two accounts, three events each: all six must be stored, or none.
fn batch(run: usize, n: usize) -> Vec<Value> {
    let mut out = vec![];
    for side in ["a", "b"] {
        let account = format!("r{run}-n{n}-{side}");
        out.push(ev(&account, "account_opened", T, json!({"name": account})));
        out.push(ev(&account, "team_member_assigned", T,
            json!({"member_id": "m-1", "name": "Ann", "function": "sales", "team_role": "account_lead"})));
        out.push(ev(&account, "stakeholder_added", T, json!({"stakeholder_id": "s-1", "name": "Sam",
            "function": "finance", "level": "executive", "dmu_roles": ["champion"], "influence": 5, "attitude": 1})));
    }
    out
}

#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("KAMLOG_CRASH_CHILD") else {
        return;
    };
    let run: usize = std::env::var("KAMLOG_CRASH_RUN").unwrap().parse().unwrap();
    let store = Store::open(&dir).unwrap();
    let stdout = std::io::stdout();
    for n in 0.. {
        let events = batch(run, n);
        let out = append(&store, &events).unwrap();
        let mut lock = stdout.lock();
        for e in &out.events {
            writeln!(lock, "ACK {} {} {}", e.account_id, e.version, e.event_id).unwrap();
        }
        lock.flush().unwrap();
    }
}

#[test]
fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut acked: Vec<(String, u64, String)> = vec![];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for run in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("KAMLOG_CRASH_CHILD", &data)
            .env("KAMLOG_CRASH_RUN", run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Read acknowledgements on a thread; kill after a pseudo-random delay.
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = vec![];
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let parts: Vec<&str> = line.split(' ').collect();
                if parts.len() == 4 && parts[0] == "ACK" {
                    acks.push((
                        parts[1].to_string(),
                        parts[2].parse().unwrap(),
                        parts[3].to_string(),
                    ));
                }
            }
            acks
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(150 + seed % 350);
        let started = Instant::now();
        while started.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        acked.extend(reader.join().unwrap());

        let store = Store::open(&data).expect("the store reopens after SIGKILL");
        let report = store.verify().unwrap();
        assert!(
            report.first_break.is_none(),
            "after kill {run}: {:?}",
            report.first_break
        );
        let mut per_account: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in store.events_from(1) {
            let e = e.unwrap();
            per_account
                .entry(e.account_id.clone())
                .or_default()
                .push(e.event_id.clone());
        }
        for (account, version, id) in &acked {
            let events = per_account
                .get(account)
                .unwrap_or_else(|| panic!("acknowledged account {account} lost"));
            assert_eq!(
                events.get((*version - 1) as usize),
                Some(id),
                "acknowledged event {id} lost"
            );
        }
        // SPEC 10: an event in the log never lacks its personal values (the vault's lines
        // are synced before the events are written; a line a kill tore is never one of them).
        for account in per_account.keys() {
            let vault = store.vault().account(account).unwrap();
            for (person, name) in [("member:m-1", "Ann"), ("stakeholder:s-1", "Sam")] {
                let values: Vec<&str> = vault.persons.get(person).map_or(vec![], |entries| {
                    entries.iter().map(|e| e.value.as_str()).collect()
                });
                assert_eq!(
                    values,
                    vec![name],
                    "{account}: {person}'s values after kill {run}"
                );
            }
        }
        // No partial batch: each batch's two accounts are both complete or both absent.
        for (account, events) in &per_account {
            assert_eq!(events.len(), 3, "{account} holds part of a batch");
            let pair = if let Some(p) = account.strip_suffix("-a") {
                format!("{p}-b")
            } else {
                account.replace("-b", "-a")
            };
            assert!(
                per_account.contains_key(&pair),
                "{account} stored without {pair}"
            );
        }
    }
    eprintln!("{} acknowledged events over {KILLS} kills", acked.len());
    assert!(
        acked.len() >= KILLS,
        "the child acknowledged too little to test anything: {}",
        acked.len()
    );
}
