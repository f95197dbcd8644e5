//! Views: pure functions of an account's state and an as-of time (SPEC 4).
//!
//! - [`select`]: which events a view sees (`--as-of`, `--known-at`, SPEC 3)
//! - [`frame`]: a state at an instant, with the figures views and alerts share
//! - [`link_counts`]: the stage evidence's link figures, as counts a walk updates link by link
//! - [`coverage`], [`stage`], [`value`], [`classification`], [`economics`],
//!   [`relationships`], [`map`], [`contracts`]: one view each, typed, serializing to the
//!   shapes of SPEC 8
//! - [`kind`]: the view names, and [`View`], any one of them
//!
//! The walk through business time that gives histories lives in `crate::history`.

pub mod classification;
pub mod contracts;
pub mod coverage;
pub mod economics;
pub mod fmt;
pub mod frame;
pub mod kind;
pub mod link_counts;
pub mod map;
pub mod policy;
pub mod relationships;
pub mod stage;
pub mod value;

pub use frame::{Frame, Shared};
pub use kind::{Header, View, ViewKind};
pub use policy::Policy;

use crate::event::StoredEvent;
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

/// Which events a view sees: `occurred_at ≤ as_of` and, when given, `recorded_at ≤ known_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub as_of: DateTime<Utc>,
    pub known_at: Option<DateTime<Utc>>,
}

impl Selection {
    pub fn as_of(t: DateTime<Utc>) -> Selection {
        Selection {
            as_of: t,
            known_at: None,
        }
    }

    pub fn selects(&self, e: &StoredEvent) -> bool {
        e.occurred_at <= self.as_of && self.known_at.is_none_or(|k| e.recorded_at <= k)
    }
}

/// The selected events, in stream order.
pub fn select<'a>(events: &'a [StoredEvent], sel: &Selection) -> Vec<&'a StoredEvent> {
    events.iter().filter(|e| sel.selects(e)).collect()
}

/// A ratio rounded half-to-even to 4 places (SPEC 4.3).
pub fn ratio(num: Decimal, den: Decimal) -> Decimal {
    (num / den).round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven)
}

/// A decimal as SPEC 8 writes it: a JSON string, without trailing zeros.
pub fn dec_str(d: Decimal) -> String {
    d.normalize().to_string()
}

/// An instant as RFC 3339 UTC (seconds, or microseconds when it has a fraction).
pub fn time_str(t: DateTime<Utc>) -> String {
    crate::event::instant::with_text(t, str::to_string)
}

/// Days as a duration.
pub(crate) fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

/// Whether an instant lies in the window `[t − n days, t]`.
pub(crate) fn within(at: DateTime<Utc>, t: DateTime<Utc>, n: i64) -> bool {
    at <= t && t - days(n) <= at
}
