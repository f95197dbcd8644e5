//! Instants written as RFC 3339 by hand, in the form chrono's serde and
//! `to_rfc3339_opts(SecondsFormat::AutoSi, true)` write (`2024-03-01T09:30:00Z`, with 3, 6 or 9
//! digits of a fraction when there is one), and read back by chrono's parser. The views, the
//! alert transitions and the checkpoints write millions of instants; chrono's formatting
//! machinery (`Display` through `fmt::Write`, a character at a time) was 40 % of the time spent
//! encoding checkpoints. The `serialize*` functions are for `#[serde(serialize_with = …)]`.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

/// The longest text [`rfc3339`] writes: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub const RFC3339_MAX: usize = 30;

/// An instant as chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes it (no
/// fraction, or 3, 6 or 9 digits of one, and `Z`), written by hand into `buf`. `None` for a
/// year outside 0–9999 or a leap second, which [`with_text`] leaves to chrono.
pub fn rfc3339(t: DateTime<Utc>, buf: &mut [u8; RFC3339_MAX]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let mut digits = |at: usize, n: u32, width: usize| {
        let mut n = n;
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    digits(0, year as u32, 4);
    digits(5, t.month(), 2);
    digits(8, t.day(), 2);
    digits(11, t.hour(), 2);
    digits(14, t.minute(), 2);
    digits(17, t.second(), 2);
    let width = match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => 3,
        n if n % 1_000 == 0 => 6,
        _ => 9,
    };
    digits(20, nanos / 10u32.pow(9 - width as u32), width);
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buf[i] = c;
    }
    let end = if width > 0 { 20 + width } else { 19 };
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

/// Gives `f` an instant's text: written by [`rfc3339`], or by chrono for those it does not
/// write.
pub fn with_text<R>(t: DateTime<Utc>, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0; RFC3339_MAX];
    match rfc3339(t, &mut buf) {
        Some(text) => f(text),
        None => f(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    }
}

/// An instant.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    with_text(*t, |text| s.serialize_str(text))
}

/// An instant that serializes as [`serialize`] writes it (for collections of instants).
pub struct Instant<'a>(pub &'a DateTime<Utc>);

impl Serialize for Instant<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(self.0, s)
    }
}

/// An optional instant: a string or null.
pub fn serialize_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    t.as_ref().map(Instant).serialize(s)
}

/// A set (or any sequence) of instants.
pub fn serialize_seq<'a, S, C>(c: &'a C, s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    &'a C: IntoIterator<Item = &'a DateTime<Utc>>,
{
    s.collect_seq(c.into_iter().map(Instant))
}

/// A map whose values are instants.
pub fn serialize_values<'a, S, K, M>(m: &'a M, s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    K: Serialize + 'a,
    &'a M: IntoIterator<Item = (&'a K, &'a DateTime<Utc>)>,
{
    s.collect_map(m.into_iter().map(|(k, t)| (k, Instant(t))))
}

/// A (hash) map of maps whose values are instants.
pub fn serialize_nested_values<S, K, L, H, I>(
    m: &std::collections::HashMap<K, std::collections::HashMap<L, DateTime<Utc>, I>, H>,
    s: S,
) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    K: Serialize,
    L: Serialize,
{
    struct Inner<'a, L, I>(&'a std::collections::HashMap<L, DateTime<Utc>, I>);
    impl<L: Serialize, I> Serialize for Inner<'_, L, I> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize_values(self.0, s)
        }
    }
    s.collect_map(m.iter().map(|(k, inner)| (k, Inner(inner))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, TimeZone};
    use proptest::prelude::*;

    proptest! {
        /// The hand-written text is chrono's (the old way, kept as the oracle), and chrono
        /// reads it back to the same instant.
        #[test]
        fn written_as_chrono_writes_and_read_back(
            secs in -62_135_596_800i64..253_402_300_799, // 0001-01-01 to 9999-12-31
            nanos in 0u32..1_000_000_000,
            grain in 0usize..4,
        ) {
            let nanos = [0, nanos / 1_000_000 * 1_000_000, nanos / 1_000 * 1_000, nanos][grain];
            let t = Utc.timestamp_opt(secs, nanos).single().unwrap();
            let mut buf = [0; RFC3339_MAX];
            let text = rfc3339(t, &mut buf).unwrap();
            prop_assert_eq!(text, t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
            prop_assert_eq!(serde_json::to_string(&Instant(&t)).unwrap(), serde_json::to_string(&t).unwrap());
            prop_assert_eq!(text.parse::<DateTime<Utc>>().unwrap(), t);
        }
    }

    #[test]
    fn years_past_9999_are_written_by_chrono() {
        let t = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        let mut buf = [0; RFC3339_MAX];
        assert_eq!(rfc3339(t, &mut buf), None);
        assert_eq!(
            serde_json::to_string(&Instant(&t)).unwrap(),
            serde_json::to_string(&t).unwrap()
        );
    }
}
