//! How views write decimals and instants in JSON (SPEC 8): decimals as strings without
//! trailing zeros, instants as RFC 3339 UTC. Used with `#[serde(serialize_with = …)]`.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serializer;

/// A decimal as a JSON string (`"50000.5"`, `"1"`).
pub fn dec<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::dec_str(*d))
}

/// An optional decimal: a string or null.
pub fn opt_dec<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => dec(d, s),
        None => s.serialize_none(),
    }
}

/// An instant.
pub fn time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    crate::event::instant::serialize(t, s)
}

/// An optional instant: a string or null.
pub fn opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
}

/// A date as `YYYY-MM-DD`.
pub fn date<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.format("%Y-%m-%d").to_string())
}
