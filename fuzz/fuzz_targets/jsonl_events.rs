//! JSONL reader + envelope parser + validator + fold, on arbitrary bytes.
//!
//! Properties checked beyond "no panic": every accepted event seals into bytes that the
//! stored-event decoder reads back with the same id, account and type; the seal's hash is the
//! SHA-256 of the sealed envelope without its `hash`; and the fold (strict and lenient) of the
//! accepted events never panics.
#![no_main]

use kamlog::event::envelope::GENESIS_HASH;
use kamlog::event::jsonl::JsonlReader;
use kamlog::event::StoredEvent;
use kamlog::model::{AccountState, EventRef};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let mut strict: HashMap<String, AccountState> = HashMap::new();
    let mut lenient: HashMap<String, AccountState> = HashMap::new();
    let mut versions: HashMap<String, (u64, String)> = HashMap::new();
    for (position, (line, result)) in JsonlReader::new(data).enumerate() {
        assert!(line >= 1);
        let ev = match result {
            Ok(ev) => ev,
            Err(e) => {
                // Rendering an error must not panic either.
                let _ = format!("{e:?}");
                continue;
            }
        };
        let (version, prev) = versions
            .get(&ev.account_id)
            .map(|(v, h)| (v + 1, h.clone()))
            .unwrap_or((1, GENESIS_HASH.to_string()));
        let sealed = ev.seal(
            version,
            position as u64 + 1,
            "2026-01-01T00:00:00.000000Z",
            &prev,
        );
        let stored = StoredEvent::decode(&sealed.json).expect("a sealed event decodes");
        assert_eq!(stored.event_id, ev.event_id);
        assert_eq!(stored.account_id, ev.account_id);
        assert_eq!(stored.type_name(), ev.type_name());
        assert_eq!(stored.hash, sealed.hash);
        let mut map = match serde_json::from_slice::<serde_json::Value>(&sealed.json) {
            Ok(serde_json::Value::Object(m)) => m,
            other => panic!("sealed bytes are not a JSON object: {other:?}"),
        };
        map.remove("hash");
        assert_eq!(kamlog::event::json::envelope_hash(&map), sealed.hash);
        versions.insert(ev.account_id.clone(), (version, sealed.hash.clone()));
        let s = strict
            .entry(ev.account_id.clone())
            .or_insert_with(|| AccountState::new(&ev.account_id));
        if let Err(e) = s.apply(EventRef::from(&stored), true) {
            let _ = format!("{e:?}");
        }
        let l = lenient
            .entry(ev.account_id.clone())
            .or_insert_with(|| AccountState::new(&ev.account_id));
        let _ = l.apply(EventRef::from(&stored), false);
    }
});
