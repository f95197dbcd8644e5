//! Strict JSON reading and canonical JSON writing.
//!
//! Reading: `serde_json` silently keeps the last of two duplicate keys and turns `1.5` into a
//! float; an event store must not guess which duplicate the producer meant, and SPEC 2.1 allows
//! no floating-point numbers. [`parse_strict`] rejects both. Nesting depth is bounded by
//! `serde_json`'s recursion limit (128), so hostile input cannot overflow the stack.
//!
//! Writing: [`canonical`] is the canonical JSON of SPEC 2.1 (keys sorted by code point, no
//! insignificant whitespace, non-ASCII unescaped, integers as plain digits). `serde_json`'s
//! `Map` is a `BTreeMap<String, _>` here (the `preserve_order` feature is off), whose byte-wise
//! key order equals code-point order for UTF-8, and its compact writer escapes exactly what
//! RFC 8785 escapes, so serialising a `Value` is the canonical form.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// Why a line is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    Syntax(String),
    DuplicateKey(String),
    Float(String),
}

/// Parses one JSON document, rejecting duplicate object keys and floating-point numbers.
pub fn parse_strict(text: &str) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = de::Deserialize::deserialize(&mut de)
        .map(|v: StrictValue| v)
        .map_err(classify)?;
    de.end().map_err(classify)?;
    Ok(v.0)
}

fn classify(e: serde_json::Error) -> JsonError {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix("\u{1}dup:") {
        let key = rest.split(" at line").next().unwrap_or(rest);
        JsonError::DuplicateKey(key.to_string())
    } else if let Some(rest) = msg.strip_prefix("\u{1}float:") {
        let n = rest.split(" at line").next().unwrap_or(rest);
        JsonError::Float(n.to_string())
    } else {
        JsonError::Syntax(msg)
    }
}

struct StrictValue(Value);

impl<'de> de::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Err(E::custom(format!("\u{1}float:{v}")))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("\u{1}dup:{key}")));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// The canonical JSON text of a value (SPEC 2.1).
pub fn canonical(v: &Value) -> String {
    // serde_json's compact writer over a BTreeMap-backed Map is the canonical form; see the
    // module docs. Serialising a Value cannot fail.
    serde_json::to_string(v).expect("a JSON value always serialises")
}

/// Lower-case hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The `hash` of a stored envelope: SHA-256 of the canonical JSON of the envelope without
/// its `hash` field.
pub fn envelope_hash(envelope_without_hash: &Map<String, Value>) -> String {
    let mut hasher = Sha256::new();
    let mut w = HashWriter(&mut hasher);
    serde_json::to_writer(&mut w, envelope_without_hash).expect("a JSON map always serialises");
    hex::encode(hasher.finalize())
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_keys_and_keeps_utf8() {
        let v = parse_strict(r#"{"b":1,"a":{"é":"ü\n","A":[1,"x"]},"Z":"\u0001"}"#).unwrap();
        assert_eq!(
            canonical(&v),
            "{\"Z\":\"\\u0001\",\"a\":{\"A\":[1,\"x\"],\"é\":\"ü\\n\"},\"b\":1}"
        );
    }

    #[test]
    fn canonical_orders_by_code_point_not_utf16() {
        // U+FF61 sorts before U+1F600 by code point (and by UTF-8 bytes), after it in UTF-16.
        let v = parse_strict("{\"\u{1F600}\":1,\"\u{FF61}\":2}").unwrap();
        assert_eq!(canonical(&v), "{\"\u{FF61}\":2,\"\u{1F600}\":1}");
    }

    #[test]
    fn strict_parse_rejects_duplicates_and_floats() {
        assert_eq!(
            parse_strict(r#"{"a":1,"a":2}"#),
            Err(JsonError::DuplicateKey("a".into()))
        );
        assert_eq!(
            parse_strict(r#"{"a":{"amount":1.5}}"#),
            Err(JsonError::Float("1.5".into()))
        );
        assert!(matches!(
            parse_strict("{\"a\":1} x"),
            Err(JsonError::Syntax(_))
        ));
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(matches!(parse_strict(&deep), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn hash_of_known_document() {
        // sha256 of the 7 bytes {"a":1} (computed independently with sha256sum).
        let v = parse_strict(r#"{ "a" : 1 }"#).unwrap();
        let Value::Object(m) = v else { unreachable!() };
        assert_eq!(
            envelope_hash(&m),
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }
}
