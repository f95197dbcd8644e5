//! Strict JSON parsing and the canonical form / hash, on arbitrary bytes.
//!
//! Properties: the canonical text of an accepted value parses back (strictly) to the same
//! value and is a fixed point; the envelope hash of an object equals the SHA-256 of its
//! canonical text.
#![no_main]

use kamlog::event::json::{canonical, envelope_hash, parse_strict, sha256_hex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let value = match parse_strict(text) {
        Ok(v) => v,
        Err(e) => {
            let _ = format!("{e:?}");
            return;
        }
    };
    let c = canonical(&value);
    let again = parse_strict(&c).expect("canonical text parses strictly");
    assert_eq!(again, value, "canonical text changes the value");
    assert_eq!(canonical(&again), c, "canonical form is not a fixed point");
    if let serde_json::Value::Object(map) = &value {
        assert_eq!(envelope_hash(map), sha256_hex(c.as_bytes()));
    }
});
