//! The envelope of SPEC 2.1: an event as submitted ([`NewEvent`]) and as stored
//! ([`StoredEvent`]), and the sealing step that adds the store's fields and the hash chain.

use super::payload::EventData;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

/// `prev_hash` of the first event of an account.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The store-assigned fields, when an exported event is imported again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFields {
    pub version: u64,
    pub position: u64,
    pub recorded_at: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A validated event as submitted, before the store assigns its place.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Lower-cased UUID.
    pub event_id: String,
    pub account_id: String,
    pub occurred_at: DateTime<Utc>,
    pub data: EventData,
    /// The submitted envelope, normalised (`schema_version` written out, `event_id`
    /// lower-cased), without store fields. Two submissions are "identical" when these match.
    pub body: Map<String, Value>,
    /// Present when the line was an exported, already-stored event.
    pub restore: Option<StoreFields>,
}

impl NewEvent {
    pub fn type_name(&self) -> &'static str {
        self.data.type_name()
    }

    /// Adds the store's fields and the hash, giving the stored envelope.
    ///
    /// The canonical JSON is written once: top-level fields in key order, with the split
    /// where `hash` belongs remembered. The bytes without `hash` are what the hash covers;
    /// the stored bytes are the same with `"hash":"…",` spliced in at that split.
    pub fn seal(
        &self,
        version: u64,
        position: u64,
        recorded_at: &str,
        prev_hash: &str,
    ) -> SealedEvent {
        let store_fields = [
            ("position", Value::from(position)),
            ("prev_hash", Value::String(prev_hash.to_string())),
            ("recorded_at", Value::String(recorded_at.to_string())),
            ("version", Value::from(version)),
        ];
        let mut fields: Vec<(&str, &Value)> = self
            .body
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain(store_fields.iter().map(|(k, v)| (*k, v)))
            .collect();
        fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::with_capacity(512);
        out.push(b'{');
        let mut split = None;
        for (k, v) in fields {
            if split.is_none() && k > "hash" {
                split = Some(out.len());
            }
            // Keys are ASCII field names; values are canonical through serde_json's writer
            // (see `json`).
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            serde_json::to_writer(&mut out, v).expect("a JSON value always serialises");
            out.push(b',');
        }
        let last = out.len() - 1;
        out[last] = b'}';
        let hash = super::json::sha256_hex(&out);
        let split = split.unwrap_or(last);
        let mut json = Vec::with_capacity(out.len() + 76);
        json.extend_from_slice(&out[..split]);
        json.extend_from_slice(b"\"hash\":\"");
        json.extend_from_slice(hash.as_bytes());
        json.extend_from_slice(b"\",");
        json.extend_from_slice(&out[split..]);
        SealedEvent { json, hash }
    }
}

/// A stored envelope in its canonical JSON bytes, with its hash.
#[derive(Debug, Clone)]
pub struct SealedEvent {
    pub json: Vec<u8>,
    pub hash: String,
}

/// Formats a system time as `recorded_at` (RFC 3339 UTC, microseconds).
pub fn format_recorded_at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A stored event, decoded for folding.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event_id: String,
    pub account_id: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub version: u64,
    pub position: u64,
    pub actor: Option<String>,
    pub hash: String,
    pub prev_hash: String,
    pub data: EventData,
}

impl StoredEvent {
    /// Decodes stored envelope bytes (trusted: written by this store).
    pub fn decode(bytes: &[u8]) -> Result<StoredEvent, String> {
        Self::decode_with(bytes, true)
    }

    /// Decodes stored envelope bytes for the history walk, which reads neither the hash
    /// chain nor the actor: `hash`, `prev_hash` and `actor` are left empty (two fewer copies
    /// an event when checkpoints are built from the whole log).
    pub fn decode_for_walk(bytes: &[u8]) -> Result<StoredEvent, String> {
        Self::decode_with(bytes, false)
    }

    fn decode_with(bytes: &[u8], chain: bool) -> Result<StoredEvent, String> {
        // One pass over the text when the type can be found first (see `one_pass`); two (the
        // data kept raw, then read as its type) otherwise, and for any error.
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        if let Some(e) = one_pass::decode(text, chain) {
            return Ok(e);
        }
        Self::decode_in_two_passes(text, chain)
    }

    fn decode_in_two_passes(text: &str, chain: bool) -> Result<StoredEvent, String> {
        use std::borrow::Cow;
        #[derive(Deserialize)]
        struct Raw<'a> {
            event_id: String,
            account_id: String,
            #[serde(rename = "type")]
            type_name: &'a str,
            occurred_at: &'a str,
            recorded_at: &'a str,
            version: u64,
            position: u64,
            #[serde(default, borrow)]
            actor: Option<Cow<'a, str>>,
            #[serde(borrow)]
            hash: Cow<'a, str>,
            #[serde(borrow)]
            prev_hash: Cow<'a, str>,
            #[serde(borrow)]
            data: &'a serde_json::value::RawValue,
        }
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let owned = |s: Cow<'_, str>| if chain { s.into_owned() } else { String::new() };
        let ts = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| format!("bad timestamp {s}: {e}"))
        };
        let mut de = serde_json::Deserializer::from_str(raw.data.get());
        let data = EventData::decode(raw.type_name, &mut de).map_err(|e| e.to_string())?;
        Ok(StoredEvent {
            occurred_at: ts(raw.occurred_at)?,
            recorded_at: ts(raw.recorded_at)?,
            event_id: raw.event_id,
            account_id: raw.account_id,
            version: raw.version,
            position: raw.position,
            actor: raw.actor.filter(|_| chain).map(Cow::into_owned),
            hash: owned(raw.hash),
            prev_hash: owned(raw.prev_hash),
            data,
        })
    }

    pub fn type_name(&self) -> &'static str {
        self.data.type_name()
    }
}

/// Decoding a stored envelope in one pass. Its canonical JSON sorts the keys, so `data` comes
/// before `type` and serde would have to keep the data raw and read it again once the type is
/// known; instead the type is taken first from the last `"type":"` of the text (the envelope's
/// own: `data` lies before it) and the data read as that type as it goes by. The type read in
/// its place must be the one taken; anything unexpected gives `None`, and the caller decodes in
/// two passes (which reports errors).
mod one_pass {
    use super::{EventData, StoredEvent};
    use chrono::{DateTime, Utc};
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    pub fn decode(text: &str, chain: bool) -> Option<StoredEvent> {
        const KEY: &str = "\"type\":\"";
        let at = text.rfind(KEY)? + KEY.len();
        let len = text[at..].find('"')?;
        let peeked = &text[at..at + len];
        let mut de = serde_json::Deserializer::from_str(text);
        let e = Envelope { peeked, chain }.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(e)
    }

    struct Envelope<'p> {
        peeked: &'p str,
        chain: bool,
    }

    /// The data, read as a known type.
    struct Data<'t>(&'t str);

    impl<'de> DeserializeSeed<'de> for Data<'_> {
        type Value = EventData;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<EventData, D::Error> {
            EventData::decode(self.0, d)
        }
    }

    impl<'de> DeserializeSeed<'de> for Envelope<'_> {
        type Value = StoredEvent;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<StoredEvent, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Envelope<'_> {
        type Value = StoredEvent;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a stored envelope")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StoredEvent, A::Error> {
            use serde::de::Error;
            let ts = |s: &str| {
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(A::Error::custom)
            };
            // Borrowed text (an escape, never written in these fields, gives the two passes).
            let owned = |s: &str| {
                if self.chain {
                    s.to_string()
                } else {
                    String::new()
                }
            };
            let (mut event_id, mut account_id, mut type_name) = (None, None, None);
            let (mut occurred_at, mut recorded_at, mut version, mut position) =
                (None, None, None, None);
            let (mut actor, mut hash, mut prev_hash, mut data) = (None, None, None, None);
            while let Some(key) = map.next_key::<&'de str>()? {
                match key {
                    "event_id" => event_id = Some(map.next_value::<String>()?),
                    "account_id" => account_id = Some(map.next_value::<String>()?),
                    "type" => {
                        let t: &'de str = map.next_value()?;
                        if t != self.peeked {
                            return Err(A::Error::custom("not the type taken first"));
                        }
                        type_name = Some(t);
                    }
                    "occurred_at" => occurred_at = Some(ts(map.next_value::<&str>()?)?),
                    "recorded_at" => recorded_at = Some(ts(map.next_value::<&str>()?)?),
                    "version" => version = Some(map.next_value::<u64>()?),
                    "position" => position = Some(map.next_value::<u64>()?),
                    "actor" if self.chain => actor = map.next_value::<Option<String>>()?,
                    "hash" => hash = Some(owned(map.next_value::<&'de str>()?)),
                    "prev_hash" => prev_hash = Some(owned(map.next_value::<&'de str>()?)),
                    "data" => data = Some(map.next_value_seed(Data(self.peeked))?),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            let missing = |f: &'static str| A::Error::missing_field(f);
            type_name.ok_or_else(|| missing("type"))?;
            Ok(StoredEvent {
                event_id: event_id.ok_or_else(|| missing("event_id"))?,
                account_id: account_id.ok_or_else(|| missing("account_id"))?,
                occurred_at: occurred_at.ok_or_else(|| missing("occurred_at"))?,
                recorded_at: recorded_at.ok_or_else(|| missing("recorded_at"))?,
                version: version.ok_or_else(|| missing("version"))?,
                position: position.ok_or_else(|| missing("position"))?,
                actor,
                hash: hash.ok_or_else(|| missing("hash"))?,
                prev_hash: prev_hash.ok_or_else(|| missing("prev_hash"))?,
                data: data.ok_or_else(|| missing("data"))?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoredEvent;
    use crate::event::jsonl::JsonlReader;

    /// Decodes as the two passes decode (the old way, kept as the oracle), chain or not.
    fn same_as_two_passes(text: &str) {
        for chain in [true, false] {
            let oracle = StoredEvent::decode_in_two_passes(text, chain).unwrap();
            assert_eq!(
                super::one_pass::decode(text, chain).as_ref(),
                Some(&oracle),
                "{text}"
            );
            assert_eq!(
                StoredEvent::decode_with(text.as_bytes(), chain).unwrap(),
                oracle
            );
        }
    }

    #[test]
    fn one_pass_decodes_every_stored_event_type_as_two_passes_do() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path().join("data")).unwrap();
        let lines: Vec<String> = crate::workload::busy_account(11, "acct-busy", 3_000)
            .into_iter()
            .map(|v| v.to_string())
            .collect();
        let batch: Vec<_> = JsonlReader::new(lines.join("\n").as_bytes())
            .map(|(_, r)| r.unwrap())
            .collect();
        store.append(batch, None).unwrap();
        let mut types = std::collections::BTreeSet::new();
        store
            .scan_from(1, |_, bytes| {
                let text = std::str::from_utf8(bytes).unwrap();
                same_as_two_passes(text);
                types.insert(StoredEvent::decode(bytes).unwrap().type_name());
                Ok(())
            })
            .unwrap();
        let all: std::collections::BTreeSet<&str> = crate::event::catalog::EVENT_TYPES
            .iter()
            .map(|t| t.name)
            .collect();
        // The two the busy account never writes are in the test below.
        assert_eq!(
            all.difference(&types).copied().collect::<Vec<_>>(),
            ["contract_ended", "personal_data_erased"]
        );
    }

    #[test]
    fn other_layouts_and_escapes_decode_as_two_passes_do() {
        let data = r#"{"channel":"meeting","customer_participants":["s-1"],"interaction_id":"i-1","summary":"{\"type\":\"x\"}","supplier_participants":["m-1"],"topic":"t"}"#;
        let tail = r#""occurred_at":"2024-01-02T03:04:05Z","position":1,"prev_hash":"00","recorded_at":"2024-01-02T03:04:06.000001Z""#;
        // Canonical; the type before the data; an actor with an escape; a string inside the
        // data that looks like the type.
        for text in [
            format!(
                r#"{{"account_id":"a","actor":"x","data":{data},"event_id":"e","hash":"01",{tail},"type":"interaction_logged","version":1}}"#
            ),
            format!(
                r#"{{"type":"interaction_logged","account_id":"a","data":{data},"event_id":"e","hash":"01",{tail},"version":1}}"#
            ),
            format!(
                r#"{{"account_id":"a","actor":"say \"hi\"","data":{data},"event_id":"e","hash":"01",{tail},"type":"interaction_logged","version":1}}"#
            ),
        ] {
            same_as_two_passes(&text);
        }
        for (t, data) in [
            (
                "contract_ended",
                r#"{"contract_id":"c-1","reason":"merged"}"#,
            ),
            (
                "personal_data_erased",
                r#"{"id":"s-1","reason":"request","subject":"stakeholder"}"#,
            ),
        ] {
            same_as_two_passes(&format!(
                r#"{{"account_id":"a","data":{data},"event_id":"e","hash":"01",{tail},"type":"{t}","version":1}}"#
            ));
        }
        // A type that is not the data's: both ways refuse it.
        let wrong = format!(
            r#"{{"account_id":"a","data":{data},"event_id":"e","hash":"01",{tail},"type":"account_opened","version":1}}"#
        );
        assert!(StoredEvent::decode(wrong.as_bytes()).is_err());
    }
}
