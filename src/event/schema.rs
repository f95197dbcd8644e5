//! JSON Schemas (draft 2020-12) generated from the catalog table.
//!
//! `schemas/` in the repository holds the output of [`all_schemas`]; the test
//! `schemas_on_disk_match_the_catalog` fails when the two differ, and `kamlog schemas DIR`
//! rewrites them. An independent validator (the `jsonschema` crate) checks, in the tests, that
//! these schemas accept and reject the same events as the runtime validator.

use super::catalog::{self, Kind, EVENT_TYPES};
use serde_json::{json, Map, Value};

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";
const BASE: &str = "https://kamlog.dev/schemas/";

/// Regex of an id.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_.:-]{1,64}$";
/// Regex of an account id.
pub const ACCOUNT_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// Regex of a UUID.
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// Regex of an RFC 3339 UTC timestamp (the date-time itself is also checked by `format`).
pub const TIMESTAMP_PATTERN: &str =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|\\+00:00)$";

fn decimal_pattern(positive: bool) -> String {
    let i = catalog::DECIMAL_INT_DIGITS - 1;
    let f = catalog::DECIMAL_FRAC_DIGITS;
    if !positive {
        return format!("^-?(0|[1-9][0-9]{{0,{i}}})(\\.[0-9]{{1,{f}}})?$");
    }
    // > 0 without look-ahead: a non-zero integer part, or "0." with a non-zero digit within
    // the allowed fraction digits.
    let mut alts = vec![format!("[1-9][0-9]{{0,{i}}}(\\.[0-9]{{1,{f}}})?")];
    for zeros in 0..f {
        alts.push(format!("0\\.0{{{zeros}}}[1-9][0-9]{{0,{}}}", f - zeros - 1));
    }
    format!("^({})$", alts.join("|"))
}

fn kind_schema(kind: Kind) -> Value {
    match kind {
        Kind::Text => {
            json!({"type": "string", "minLength": 1, "maxLength": catalog::MAX_TEXT_CHARS})
        }
        Kind::Id => json!({"type": "string", "pattern": ID_PATTERN}),
        Kind::Uuid => json!({"type": "string", "pattern": UUID_PATTERN}),
        Kind::Enum(options) => json!({"type": "string", "enum": options}),
        Kind::Int(lo, hi) => json!({"type": "integer", "minimum": lo, "maximum": hi}),
        Kind::PositiveDecimal => json!({"type": "string", "pattern": decimal_pattern(true)}),
        Kind::Decimal => json!({"type": "string", "pattern": decimal_pattern(false)}),
        Kind::Date => {
            json!({"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})
        }
        Kind::Period => json!({"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])$"}),
        Kind::Currency => json!({"type": "string", "pattern": "^[A-Z]{3}$"}),
        Kind::IdList(min) => {
            json!({"type": "array", "items": kind_schema(Kind::Id), "minItems": min,
            "maxItems": catalog::MAX_LIST_ITEMS, "uniqueItems": true})
        }
        Kind::RoleList => json!({"type": "array", "items": kind_schema(Kind::Enum(catalog::ROLES)),
            "maxItems": catalog::MAX_LIST_ITEMS, "uniqueItems": true}),
        Kind::TextList => json!({"type": "array", "items": kind_schema(Kind::Text),
            "maxItems": catalog::MAX_LIST_ITEMS}),
        Kind::Criteria => json!({"type": "object", "maxProperties": catalog::MAX_CRITERIA,
            "propertyNames": {"minLength": 1, "maxLength": 64},
            "additionalProperties": kind_schema(Kind::Int(0, 100))}),
    }
}

fn envelope_properties(type_schema: Value, data_schema: Value) -> Map<String, Value> {
    let props = json!({
        "event_id": {"type": "string", "pattern": UUID_PATTERN},
        "account_id": {"type": "string", "pattern": ACCOUNT_PATTERN},
        "type": type_schema,
        "schema_version": {"type": "integer", "minimum": 1, "maximum": 1,
            "description": "version of the type's data shape; 1 is the only version so far"},
        "occurred_at": {"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN},
        "actor": kind_schema(Kind::Text),
        "correlation_id": {"type": "string", "pattern": UUID_PATTERN},
        "causation_id": {"type": "string", "pattern": UUID_PATTERN},
        "data": data_schema,
        "version": {"type": "integer", "minimum": 1, "description": "store-assigned"},
        "position": {"type": "integer", "minimum": 1, "description": "store-assigned"},
        "recorded_at": {"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN,
            "description": "store-assigned"},
        "prev_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "store-assigned"},
        "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "store-assigned"},
    });
    match props {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn envelope_common(id: &str, title: String, props: Map<String, Value>) -> Value {
    json!({
        "$schema": DRAFT,
        "$id": format!("{BASE}{id}"),
        "title": title,
        "type": "object",
        "required": ["event_id", "account_id", "type", "occurred_at", "data"],
        "properties": props,
        "additionalProperties": false,
        "dependentRequired": {
            "version": ["position", "recorded_at", "prev_hash", "hash"],
            "position": ["version", "recorded_at", "prev_hash", "hash"],
            "recorded_at": ["version", "position", "prev_hash", "hash"],
            "prev_hash": ["version", "position", "recorded_at", "hash"],
            "hash": ["version", "position", "recorded_at", "prev_hash"],
        },
    })
}

/// The schema of one event type's whole envelope, with its `data`.
pub fn type_schema(name: &str) -> Option<Value> {
    let et = catalog::event_type(name)?;
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in et.fields {
        props.insert(f.name.to_string(), kind_schema(f.kind));
        if f.required {
            required.push(f.name);
        }
    }
    let mut data = json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    });
    if et.min_fields > 0 {
        data["minProperties"] = json!(et.min_fields);
    }
    let props = envelope_properties(json!({"const": name}), data);
    Some(envelope_common(
        &format!("{name}.schema.json"),
        format!("kamlog event {name}"),
        props,
    ))
}

/// The schema of the envelope alone (any type; `data` only required to be an object).
pub fn envelope_schema() -> Value {
    let names: Vec<&str> = EVENT_TYPES.iter().map(|t| t.name).collect();
    let props = envelope_properties(
        json!({"type": "string", "enum": names}),
        json!({"type": "object", "description": "the type's payload; see <type>.schema.json"}),
    );
    envelope_common(
        "envelope.schema.json",
        "kamlog event envelope".into(),
        props,
    )
}

/// Every schema file: (file name, pretty JSON text with a trailing newline).
pub fn all_schemas() -> Vec<(String, String)> {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("serialises") + "\n";
    let mut out = vec![(
        "envelope.schema.json".to_string(),
        pretty(&envelope_schema()),
    )];
    for et in EVENT_TYPES {
        let schema = type_schema(et.name).expect("known type");
        out.push((format!("{}.schema.json", et.name), pretty(&schema)));
    }
    out
}
