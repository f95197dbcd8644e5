//! `AccountState`: everything known about one key account, folded from its events.
//!
//! There is one fold, used two ways:
//! - **strict**, by the store before it appends: every referential rule of SPEC 2.1 is checked
//!   and a violation is returned as a [`RuleError`] naming the field and the reason;
//! - **lenient**, by the views: the events selected at an as-of / known-at time may name ids
//!   whose introducing event is not selected (late data, SPEC 3), so unknown ids are ignored and
//!   the event is applied as far as it can be.
//!
//! Retracted events are never folded: [`fold_events`] drops them (and the retractions
//! themselves) before folding, so every view ignores them, as SPEC 2.1 requires.

mod contacts;
mod event_ids;
mod fold;
pub mod footprint;

pub use contacts::{is_linked, Contacts, PairContact, Pairs};
pub use event_ids::EventIds;
pub use fold::{fold_events, fold_strict, EventRef, RuleError};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A customer stakeholder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stakeholder {
    pub name: String,
    pub title: Option<String>,
    pub function: String,
    pub level: String,
    pub dmu_roles: Vec<String>,
    pub influence: i64,
    pub attitude: i64,
    pub active: bool,
    /// `occurred_at` of the `stakeholder_added`.
    #[serde(serialize_with = "crate::event::instant::serialize")]
    pub added_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::event::instant::serialize_opt")]
    pub departed_at: Option<DateTime<Utc>>,
    /// Position of the event that departed it.
    pub departed_position: Option<u64>,
}

/// A member of the supplier team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub function: String,
    pub team_role: String,
    pub active: bool,
    pub successor: Option<String>,
}

/// One logged interaction (participants as known when folded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    pub id: String,
    #[serde(serialize_with = "crate::event::instant::serialize")]
    pub occurred_at: DateTime<Utc>,
    pub position: u64,
    pub members: Vec<String>,
    pub stakeholders: Vec<String>,
    /// Its channel is `meeting`, `workshop`, `site_visit` or `review` (SPEC 4.6 depth).
    #[serde(default)]
    pub in_person: bool,
}

/// The channels that count as meeting in person (SPEC 4.6).
pub const IN_PERSON_CHANNELS: [&str; 4] = ["meeting", "workshop", "site_visit", "review"];

/// A contract (SPEC 2.2 v2), as signed, renewed and perhaps ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    pub title: Option<String>,
    /// The latest annual value.
    pub annual_value: Decimal,
    pub currency: String,
    pub start_date: NaiveDate,
    /// The latest renewal date.
    pub renewal_date: NaiveDate,
    pub ended: bool,
}

/// An objective, proposed and perhaps agreed and closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objective {
    pub title: String,
    pub agreed: bool,
    /// `achieved`, `abandoned` or `superseded` once closed.
    pub outcome: Option<String>,
}

/// A value promise and what was delivered against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promise {
    pub objective_id: Option<String>,
    pub metric: String,
    pub unit: String,
    pub beneficiary: String,
    pub promised: Decimal,
    pub delivered: Decimal,
    pub due_date: NaiveDate,
    pub withdrawn: bool,
}

/// Money per currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub revenue: Decimal,
    pub gross_margin: Decimal,
    pub investment: Decimal,
    pub has_investment: bool,
}

/// A declared stage (`stage_assessed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub stage: String,
    #[serde(serialize_with = "crate::event::instant::serialize")]
    pub occurred_at: DateTime<Utc>,
    pub rationale: Option<String>,
    pub position: u64,
}

/// A classification (`account_classified`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub attractiveness: i64,
    pub business_strength: i64,
    pub position: u64,
}

/// The state of one account after folding some of its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    pub account_id: String,
    /// Version of the last event folded (0 when none).
    pub version: u64,
    /// Position of the last event folded.
    pub position: u64,
    pub opened: bool,
    pub closed: bool,
    pub name: Option<String>,
    pub tier: Option<String>,
    pub classifications: Vec<Classification>,
    pub assessments: Vec<Assessment>,
    pub stakeholders: BTreeMap<String, Stakeholder>,
    pub members: BTreeMap<String, Member>,
    /// Standing relationships: member → stakeholder → strength.
    pub links: BTreeMap<String, BTreeMap<String, i64>>,
    /// Number of `revenue_recorded` events folded.
    pub revenue_events: u64,
    /// The interactions folded (lenient mode only: the strict fold keeps just their ids).
    pub interactions: Vec<Interaction>,
    pub objectives: BTreeMap<String, Objective>,
    pub plans: BTreeSet<String>,
    pub promises: BTreeMap<String, Promise>,
    pub money: BTreeMap<String, Money>,
    /// Contracts by id (ended ones stay, marked).
    #[serde(default)]
    pub contracts: BTreeMap<String, Contract>,
    /// People whose personal data was erased (`stakeholder:<id>` / `member:<id>`, see
    /// [`crate::personal::person_key`]) → the position of the `personal_data_erased`.
    #[serde(default)]
    pub erased: BTreeMap<String, u64>,
    /// Interaction ids ever logged (other kinds of id stay in their maps after they depart or
    /// close, so those maps are their "ever used" record).
    pub interaction_ids: HashSet<String>,
    /// Every event of the account seen by the strict fold: event id → type (for retractions).
    #[serde(skip)]
    pub event_types: EventIds,
    /// Event ids retracted so far.
    #[serde(skip)]
    pub retracted: HashSet<String>,
}

impl AccountState {
    pub fn new(account_id: &str) -> Self {
        AccountState {
            account_id: account_id.to_string(),
            ..Default::default()
        }
    }

    /// Whether a stakeholder's (`subject` "stakeholder") or member's personal data was erased.
    pub fn is_erased(&self, subject: &str, id: &str) -> bool {
        // Most accounts erased no one: no key to build then.
        !self.erased.is_empty()
            && self
                .erased
                .contains_key(&crate::personal::person_key(subject, id))
    }
}
