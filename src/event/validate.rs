//! Shape validation of one submitted event (SPEC 2.1 envelope and the 2.2 catalog).
//!
//! This is the first gate: it needs no store. It turns one JSONL line into a [`NewEvent`] or a
//! [`ShapeError`] that names the field (as a dotted path such as `data.amount`) and the reason.
//! Rules that depend on the account's history (referential integrity, ordering) live in
//! [`crate::model`], in the same fold the views use.

use super::catalog::{self, Field, Kind, EVENT_TYPES};
use super::envelope::{NewEvent, StoreFields};
use super::json::{parse_strict, JsonError};
use super::payload::EventData;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

/// Why an event's shape was rejected: the field (dotted path, or empty for the whole line) and
/// the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    pub field: String,
    pub reason: String,
}

impl ShapeError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ShapeError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Largest line (one event) accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

const ENVELOPE_FIELDS: &[&str] = &[
    "event_id",
    "account_id",
    "type",
    "schema_version",
    "occurred_at",
    "actor",
    "correlation_id",
    "causation_id",
    "data",
];
const STORE_FIELDS: &[&str] = &["version", "position", "recorded_at", "prev_hash", "hash"];

/// Parses and validates one line. On success, also returns the event id when one could be
/// read, so that errors from later stages can name the event.
pub fn parse_line(line: &str) -> Result<NewEvent, (Option<String>, ShapeError)> {
    if line.len() > MAX_LINE_BYTES {
        return Err((
            None,
            ShapeError::new(
                "",
                format!(
                    "line is {} bytes; the limit is {MAX_LINE_BYTES} bytes",
                    line.len()
                ),
            ),
        ));
    }
    if line.starts_with('\u{feff}') {
        return Err((
            None,
            ShapeError::new(
                "",
                "line starts with a byte-order mark (U+FEFF); save the file as UTF-8 without BOM",
            ),
        ));
    }
    let value = parse_strict(line).map_err(|e| {
        // The line is JSON but not acceptable: read it leniently to name the event and field.
        let lenient: Option<Value> = serde_json::from_str(line).ok();
        let id = lenient
            .as_ref()
            .and_then(|v| v.get("event_id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let (field, reason) = match e {
            JsonError::Syntax(m) => (String::new(), format!("not valid JSON: {m}")),
            JsonError::DuplicateKey(k) => (String::new(), format!("duplicate key \"{k}\" in a JSON object")),
            JsonError::Float(n) => (
                lenient.as_ref().and_then(float_path).unwrap_or_default(),
                format!(
                    "floating-point number {n} is not allowed; amounts are decimal strings such as \"1250.50\""
                ),
            ),
        };
        (id, ShapeError::new(field, reason))
    })?;
    let id_hint = value
        .get("event_id")
        .and_then(Value::as_str)
        .map(|s| s.to_string());
    validate_value(value).map_err(|e| (id_hint, e))
}

/// Validates an already parsed JSON value as a submitted (or exported) event.
pub fn validate_value(value: Value) -> Result<NewEvent, ShapeError> {
    let Value::Object(mut obj) = value else {
        return Err(ShapeError::new(
            "",
            format!("an event must be a JSON object, got {}", json_kind(&value)),
        ));
    };
    for key in obj.keys() {
        if !ENVELOPE_FIELDS.contains(&key.as_str()) && !STORE_FIELDS.contains(&key.as_str()) {
            let known = ENVELOPE_FIELDS.iter().chain(STORE_FIELDS).copied();
            return Err(ShapeError::new(
                key.clone(),
                format!("unknown field{}", crate::suggest::hint(key, known)),
            ));
        }
    }
    let event_id = require_str(&obj, "event_id")?;
    check_uuid("event_id", event_id)?;
    let event_id = event_id.to_ascii_lowercase();
    let account_id = require_str(&obj, "account_id")?;
    if !is_account_id(account_id) {
        return Err(ShapeError::new(
            "account_id",
            format!("\"{account_id}\" must match [A-Za-z0-9_-]{{1,64}} (it becomes part of NATS subjects)"),
        ));
    }
    let account_id = account_id.to_string();
    let type_name = require_str(&obj, "type")?;
    let Some(et) = catalog::event_type(type_name) else {
        return Err(ShapeError::new(
            "type",
            format!(
                "unknown event type \"{type_name}\"{}",
                crate::suggest::hint(type_name, catalog::EVENT_TYPES.iter().map(|t| t.name))
            ),
        ));
    };
    match obj.get("schema_version") {
        None => {}
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v >= 1) => {
            return Err(ShapeError::new(
                "schema_version",
                format!("schema_version {n} is not supported for {type_name} (supported: 1)"),
            ))
        }
        Some(other) => {
            return Err(ShapeError::new(
                "schema_version",
                format!("must be an integer ≥ 1, got {}", show(other)),
            ))
        }
    }
    let occurred_at_str = require_str(&obj, "occurred_at")?;
    let occurred_at = parse_timestamp("occurred_at", occurred_at_str)?;
    for f in ["actor"] {
        if let Some(v) = obj.get(f) {
            check_text(f, v)?;
        }
    }
    for f in ["correlation_id", "causation_id"] {
        if let Some(v) = obj.get(f) {
            let Value::String(s) = v else {
                return Err(ShapeError::new(
                    f,
                    format!("must be a UUID string, got {}", show(v)),
                ));
            };
            check_uuid(f, s)?;
        }
    }
    let data = match obj.get("data") {
        None => return Err(ShapeError::new("data", "required field is missing")),
        Some(Value::Object(d)) => d,
        Some(other) => {
            return Err(ShapeError::new(
                "data",
                format!("must be an object, got {}", show(other)),
            ))
        }
    };
    check_data(et, data)?;
    let payload = EventData::decode(type_name, &obj["data"])
        .map_err(|e| ShapeError::new("data", format!("does not match {type_name}: {e}")))?;

    // Store-assigned fields appear only on exported events being restored; all or none.
    let present: Vec<&str> = STORE_FIELDS
        .iter()
        .copied()
        .filter(|f| obj.contains_key(*f))
        .collect();
    let restore = if present.is_empty() {
        None
    } else if present.len() != STORE_FIELDS.len() {
        let missing = STORE_FIELDS
            .iter()
            .find(|f| !obj.contains_key(**f))
            .copied()
            .unwrap_or("");
        return Err(ShapeError::new(
            missing,
            "an exported event carries all store fields (version, position, recorded_at, prev_hash, hash) or none",
        ));
    } else {
        let version = require_u64(&obj, "version")?;
        let position = require_u64(&obj, "position")?;
        let recorded_at = require_str(&obj, "recorded_at")?.to_string();
        parse_timestamp("recorded_at", &recorded_at)?;
        let prev_hash = require_str(&obj, "prev_hash")?.to_string();
        let hash = require_str(&obj, "hash")?.to_string();
        for (f, h) in [("prev_hash", &prev_hash), ("hash", &hash)] {
            if h.len() != 64 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(ShapeError::new(f, "must be 64 lower-case hex digits"));
            }
        }
        for f in STORE_FIELDS {
            obj.remove(*f);
        }
        Some(StoreFields {
            version,
            position,
            recorded_at,
            prev_hash,
            hash,
        })
    };
    obj.insert("event_id".into(), Value::String(event_id.clone()));
    obj.insert("schema_version".into(), Value::from(1u64));
    Ok(NewEvent {
        event_id,
        account_id,
        occurred_at,
        data: payload,
        body: obj,
        restore,
    })
}

fn check_data(et: &catalog::EventType, data: &Map<String, Value>) -> Result<(), ShapeError> {
    for key in data.keys() {
        if !et.fields.iter().any(|f| f.name == key) {
            return Err(ShapeError::new(
                format!("data.{key}"),
                format!(
                    "unknown field for {}{}",
                    et.name,
                    crate::suggest::hint(key, et.fields.iter().map(|f| f.name))
                ),
            ));
        }
    }
    for field in et.fields {
        match data.get(field.name) {
            None if field.required => {
                return Err(ShapeError::new(
                    format!("data.{}", field.name),
                    "required field is missing",
                ))
            }
            None => {}
            Some(v) => check_field(field, v)?,
        }
    }
    if data.len() < et.min_fields {
        let what = et.fields[1..]
            .iter()
            .filter(|f| !f.required)
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ShapeError::new(
            "data",
            format!("{} must change at least one of: {what}", et.name),
        ));
    }
    Ok(())
}

fn check_field(field: &Field, v: &Value) -> Result<(), ShapeError> {
    let path = format!("data.{}", field.name);
    check_kind(&path, field.kind, v)
}

fn check_kind(path: &str, kind: Kind, v: &Value) -> Result<(), ShapeError> {
    let err = |reason: String| Err(ShapeError::new(path, reason));
    match kind {
        Kind::Text => check_text(path, v),
        Kind::Id => match v {
            Value::String(s) if is_id(s) => Ok(()),
            _ => err(format!(
                "must be an id matching [A-Za-z0-9_.:-]{{1,64}}, got {}",
                show(v)
            )),
        },
        Kind::Uuid => match v {
            Value::String(s) => check_uuid(path, s),
            _ => err(format!("must be a UUID string, got {}", show(v))),
        },
        Kind::Enum(options) => match v {
            Value::String(s) if options.contains(&s.as_str()) => Ok(()),
            _ => err(format!(
                "must be one of {}, got {}",
                options.join("|"),
                show(v)
            )),
        },
        Kind::Int(lo, hi) => match v.as_i64() {
            Some(n) if v.is_i64() && (lo..=hi).contains(&n) => Ok(()),
            _ => err(format!(
                "must be an integer from {lo} to {hi}, got {}",
                show(v)
            )),
        },
        Kind::PositiveDecimal | Kind::Decimal => {
            let positive = kind == Kind::PositiveDecimal;
            match v {
                Value::String(s) if is_decimal(s, !positive) => {
                    if positive && s.bytes().all(|b| b == b'0' || b == b'.') {
                        err(format!("must be greater than 0, got \"{s}\""))
                    } else {
                        Ok(())
                    }
                }
                _ => err(format!(
                    "must be a decimal string{} with at most {} integer and {} fraction digits, such as \"1250.50\", got {}",
                    if positive { " > 0" } else { "" },
                    catalog::DECIMAL_INT_DIGITS,
                    catalog::DECIMAL_FRAC_DIGITS,
                    show(v)
                )),
            }
        }
        Kind::Date => match v {
            Value::String(s) if parse_date(s).is_some() => Ok(()),
            _ => err(format!("must be a date YYYY-MM-DD, got {}", show(v))),
        },
        Kind::Period => match v {
            Value::String(s) if is_period(s) => Ok(()),
            _ => err(format!(
                "must be a period YYYY-MM or YYYY-Qn, got {}",
                show(v)
            )),
        },
        Kind::Currency => match v {
            Value::String(s) if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) => Ok(()),
            _ => err(format!(
                "must be an ISO 4217 code of three upper-case letters, got {}",
                show(v)
            )),
        },
        Kind::IdList(_) | Kind::RoleList | Kind::TextList => {
            let Value::Array(items) = v else {
                return err(format!("must be an array, got {}", show(v)));
            };
            let min = if let Kind::IdList(m) = kind { m } else { 0 };
            if items.len() < min {
                return err(format!("must hold at least {min} item(s)"));
            }
            if items.len() > catalog::MAX_LIST_ITEMS {
                return err(format!(
                    "holds {} items; the limit is {}",
                    items.len(),
                    catalog::MAX_LIST_ITEMS
                ));
            }
            let item_kind = match kind {
                Kind::IdList(_) => Kind::Id,
                Kind::RoleList => Kind::Enum(catalog::ROLES),
                _ => Kind::Text,
            };
            for (i, item) in items.iter().enumerate() {
                check_kind(&format!("{path}[{i}]"), item_kind, item)?;
                if item_kind != Kind::Text && items[..i].contains(item) {
                    return Err(ShapeError::new(
                        format!("{path}[{i}]"),
                        format!("{} is repeated", show(item)),
                    ));
                }
            }
            Ok(())
        }
        Kind::Criteria => {
            let Value::Object(map) = v else {
                return err(format!(
                    "must be an object of criterion name → score 0–100, got {}",
                    show(v)
                ));
            };
            if map.len() > catalog::MAX_CRITERIA {
                return err(format!(
                    "holds more than {} criteria",
                    catalog::MAX_CRITERIA
                ));
            }
            for (name, score) in map {
                if name.is_empty() || name.chars().count() > 64 {
                    return err(format!(
                        "criterion name \"{name}\" must have 1 to 64 characters"
                    ));
                }
                check_kind(&format!("{path}.{name}"), Kind::Int(0, 100), score)?;
            }
            Ok(())
        }
    }
}

fn check_text(path: &str, v: &Value) -> Result<(), ShapeError> {
    match v {
        Value::String(s) if s.is_empty() => Err(ShapeError::new(path, "must not be empty")),
        Value::String(s) if s.chars().count() > catalog::MAX_TEXT_CHARS => Err(ShapeError::new(
            path,
            format!("is longer than {} characters", catalog::MAX_TEXT_CHARS),
        )),
        Value::String(_) => Ok(()),
        other => Err(ShapeError::new(
            path,
            format!("must be a string, got {}", show(other)),
        )),
    }
}

fn require_str<'a>(obj: &'a Map<String, Value>, f: &str) -> Result<&'a str, ShapeError> {
    match obj.get(f) {
        None => Err(ShapeError::new(f, "required field is missing")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ShapeError::new(
            f,
            format!("must be a string, got {}", show(other)),
        )),
    }
}

fn require_u64(obj: &Map<String, Value>, f: &str) -> Result<u64, ShapeError> {
    match obj.get(f).and_then(Value::as_u64) {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(ShapeError::new(f, "must be an integer ≥ 1")),
    }
}

fn check_uuid(path: &str, s: &str) -> Result<(), ShapeError> {
    let b = s.as_bytes();
    let ok = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        Ok(())
    } else {
        Err(ShapeError::new(
            path,
            format!("\"{s}\" is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
        ))
    }
}

/// Parses an RFC 3339 UTC timestamp: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`.
pub fn parse_timestamp(path: &str, s: &str) -> Result<DateTime<Utc>, ShapeError> {
    let bad = |why: &str| {
        Err(ShapeError::new(
            path,
            format!("\"{s}\" is not an RFC 3339 UTC timestamp such as 2025-03-01T09:30:00Z: {why}"),
        ))
    };
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' || b[4] != b'-' || b[7] != b'-' {
        return bad("expected YYYY-MM-DDTHH:MM:SS followed by Z");
    }
    if !(s.ends_with('Z') || s.ends_with("+00:00")) {
        return bad("the time zone must be Z (or +00:00)");
    }
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(e) => bad(&e.to_string()),
    }
}

/// Parses a `YYYY-MM-DD` calendar date.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn is_period(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 7 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    match b[5] {
        b'Q' => (b'1'..=b'4').contains(&b[6]),
        b'0' => (b'1'..=b'9').contains(&b[6]),
        b'1' => (b'0'..=b'2').contains(&b[6]),
        _ => false,
    }
}

/// `[-]digits[.digits]`, no leading zeros, within the digit limits.
pub fn is_decimal(s: &str, allow_negative: bool) -> bool {
    let s = match s.strip_prefix('-') {
        Some(rest) if allow_negative => rest,
        Some(_) => return false,
        None => s,
    };
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let int_ok = !int.is_empty()
        && int.len() <= catalog::DECIMAL_INT_DIGITS
        && int.bytes().all(|b| b.is_ascii_digit())
        && (int == "0" || !int.starts_with('0'));
    let frac_ok = frac.is_none_or(|f| {
        !f.is_empty()
            && f.len() <= catalog::DECIMAL_FRAC_DIGITS
            && f.bytes().all(|b| b.is_ascii_digit())
    });
    int_ok && frac_ok
}

/// An id `[A-Za-z0-9_.:-]{1,64}`.
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// An account id `[A-Za-z0-9_-]{1,64}`.
pub fn is_account_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a value for error messages.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > 60 => {
            format!("\"{}…\"", s.chars().take(60).collect::<String>())
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => v.to_string(),
        other => json_kind(other).to_string(),
    }
}

/// All type names, for messages and the schema generator.
pub fn known_types() -> impl Iterator<Item = &'static str> {
    EVENT_TYPES.iter().map(|t| t.name)
}

/// The dotted path of the first floating-point number in a value.
fn float_path(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_f64() => Some(String::new()),
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            float_path(v).map(|p| {
                if p.is_empty() {
                    k.clone()
                } else if p.starts_with('[') {
                    format!("{k}{p}")
                } else {
                    format!("{k}.{p}")
                }
            })
        }),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, v)| {
            float_path(v).map(|p| {
                if p.is_empty() || p.starts_with('[') {
                    format!("[{i}]{p}")
                } else {
                    format!("[{i}].{p}")
                }
            })
        }),
        _ => None,
    }
}
