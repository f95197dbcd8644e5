//! The expiry queue: the one source of time-driven instants (SPEC 5, "a time-driven condition
//! changes").
//!
//! Between two events the state does not change, but conditions still can, at exactly these
//! instants:
//! - an interaction leaves the contact window (links), the disintegration window (stage), the
//!   engagement-lapse window (alerts) or the bow-tie window: the first microsecond after
//!   `occurred_at + N days`, since "in the last N days" includes both ends;
//! - a stakeholder has been known for the engagement-lapse period: `added + N days` exactly;
//! - a promise's due date passes: the midnight (UTC) that ends it;
//! - a contract starts renewing or lapses (midnights), and, in an account with contracts, a
//!   pair's recency points change (whole days since a meeting pass 30, 90, 180).
//!
//! The walk pushes these as events enter (whether or not they take effect) and pops them in
//! order. An instant that turns out to change nothing costs one evaluation and records
//! nothing, so the queue may hold more instants than strictly needed, never fewer.

use crate::view::Policy;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Pending time-driven instants, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryQueue {
    #[serde(serialize_with = "crate::event::instant::serialize_seq")]
    instants: BTreeSet<DateTime<Utc>>,
}

/// The instant just after a window of `days` that started at `at` has closed.
pub fn window_closes(at: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    at + Duration::days(days) + Duration::microseconds(1)
}

/// The midnight (UTC) at which a date has passed.
pub fn date_passes(date: NaiveDate) -> Option<DateTime<Utc>> {
    date.succ_opt()
        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
}

impl ExpiryQueue {
    /// The windows an interaction at `at` counts in close.
    pub fn interaction(&mut self, at: DateTime<Utc>, policy: &Policy) {
        for days in [
            policy.contact_window_days,
            policy.disintegration_days,
            policy.engagement_lapse_days,
            policy.bow_tie_window_days,
        ] {
            self.instants.insert(window_closes(at, days));
        }
    }

    /// A stakeholder added at `at` becomes "known for long enough".
    pub fn stakeholder(&mut self, added: DateTime<Utc>, policy: &Policy) {
        self.instants
            .insert(added + Duration::days(policy.engagement_lapse_days));
    }

    /// A due date passes.
    pub fn due(&mut self, date: NaiveDate) {
        self.instants.extend(date_passes(date));
    }

    /// A contract up for renewal on `renewal`: it starts renewing at the midnight that begins
    /// the day `renewal_window_days` before, and lapses at the midnight after it (SPEC 4.8).
    pub fn contract(&mut self, renewal: NaiveDate, policy: &Policy) {
        if let Some(d) = renewal.checked_sub_signed(Duration::days(policy.renewal_window_days)) {
            self.instants.insert(d.and_time(NaiveTime::MIN).and_utc());
        }
        self.instants.extend(date_passes(renewal));
    }

    /// A meeting at `at` moves its pairs' recency points when whole days since it pass each
    /// band's end (SPEC 4.6: 31, 91 and 181 days later). Only accounts with contracts need
    /// these instants (the map's status matters only to a renewal at risk).
    pub fn recency(&mut self, at: DateTime<Utc>) {
        for (days, _) in crate::view::relationships::RECENCY_BANDS {
            self.instants.insert(at + Duration::days(days + 1));
        }
    }

    /// The next pending instant, if it is before `before` and at or before `until`; removed.
    pub fn pop_before(
        &mut self,
        before: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let next = *self.instants.first()?;
        if next > until || before.is_some_and(|b| next >= b) {
            return None;
        }
        self.instants.pop_first()
    }

    /// Removes the instant `t` if pending; whether it was.
    pub fn take(&mut self, t: DateTime<Utc>) -> bool {
        self.instants.remove(&t)
    }
}
