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
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
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
