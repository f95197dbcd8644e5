//! Events: the envelope (SPEC 2.1), the catalog of types (2.2), their validation, the
//! canonical JSON and hash chain, and the JSONL reader.
//!
//! - [`catalog`]: the types and their fields, as a table (the source of validator and schemas)
//! - [`payload`]: the typed Rust payloads, one struct per type, in [`EventData`]
//! - [`validate`]: one JSON line → a [`NewEvent`], or an error naming the field and reason
//! - [`envelope`]: submitted and stored envelopes, and sealing (store fields + hash)
//! - [`instant`]: instants written as RFC 3339 quickly (views, alerts, checkpoints)
//! - [`json`]: strict JSON reading, canonical JSON writing and SHA-256
//! - [`jsonl`]: reading JSONL input line by line, with line numbers and size limits
//! - [`schema`]: the JSON Schemas published under `schemas/`

pub mod catalog;
pub mod envelope;
pub mod instant;
pub mod json;
pub mod jsonl;
pub mod payload;
pub mod schema;
pub mod validate;

pub use envelope::{
    format_recorded_at, NewEvent, SealedEvent, StoreFields, StoredEvent, GENESIS_HASH,
};
pub use payload::EventData;
