//! The event catalog of SPEC 2.2 as data: for every event type, the fields of its `data`
//! object, their kinds and whether they are required.
//!
//! This table is the single source of the contract's shape. Three things are derived from it
//! so that they cannot drift apart: the runtime validator ([`super::validate`]), the JSON
//! Schemas published under `schemas/` ([`super::schema`]), and the maximal examples the tests
//! use to check that the typed Rust payloads ([`super::payload`]) accept exactly these fields.

/// The kind of value a field holds, with its constraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A non-empty free-text string of at most [`MAX_TEXT_CHARS`] characters.
    Text,
    /// An id `[A-Za-z0-9_.:-]{1,64}`.
    Id,
    /// One of the listed strings.
    Enum(&'static [&'static str]),
    /// An integer in the inclusive range.
    Int(i64, i64),
    /// A decimal string greater than zero.
    PositiveDecimal,
    /// A decimal string, possibly negative.
    Decimal,
    /// A calendar date `YYYY-MM-DD`.
    Date,
    /// A revenue period `YYYY-MM` or `YYYY-Qn`.
    Period,
    /// An ISO 4217 currency code (three upper-case letters).
    Currency,
    /// A list of distinct ids with at least this many items.
    IdList(usize),
    /// A list of distinct DMU roles (may be empty).
    RoleList,
    /// A list of free-text strings.
    TextList,
    /// An object mapping criterion names to integer scores 0–100.
    Criteria,
    /// A UUID in its hyphenated form.
    Uuid,
}

/// One field of an event's `data`.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

/// One event type: its name and its fields. `min_fields` is the minimum number of fields the
/// object must carry (used by `stakeholder_updated`, which needs at least one change).
#[derive(Debug, Clone, Copy)]
pub struct EventType {
    pub name: &'static str,
    pub fields: &'static [Field],
    pub min_fields: usize,
}

/// Longest free-text value accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Longest list accepted (participants, roles, expertise).
pub const MAX_LIST_ITEMS: usize = 1_000;
/// Most criteria in an `account_classified`.
pub const MAX_CRITERIA: usize = 100;
/// Integer digits and fraction digits a decimal may have (fits `rust_decimal` exactly).
pub const DECIMAL_INT_DIGITS: usize = 18;
pub const DECIMAL_FRAC_DIGITS: usize = 10;

pub const STAGES: &[&str] = &[
    "exploratory",
    "basic",
    "cooperative",
    "interdependent",
    "integrated",
    "disintegrating",
];
pub const TIERS: &[&str] = &["occasional", "standard", "major", "strategic"];
pub const LEVELS: &[&str] = &["executive", "senior", "middle", "operational"];
pub const ROLES: &[&str] = &[
    "decision_maker",
    "economic_buyer",
    "technical_buyer",
    "user_buyer",
    "influencer",
    "champion",
    "gatekeeper",
    "coach",
];
pub const TEAM_ROLES: &[&str] = &["account_lead", "exec_sponsor", "member"];
pub const CHANNELS: &[&str] = &[
    "meeting",
    "call",
    "email",
    "workshop",
    "review",
    "site_visit",
    "event",
    "other",
];
pub const OUTCOMES: &[&str] = &["achieved", "abandoned", "superseded"];
pub const BENEFICIARIES: &[&str] = &["customer", "supplier"];
/// Whose personal data a `personal_data_erased` erases.
pub const SUBJECTS: &[&str] = &["stakeholder", "member"];

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}
const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}
const fn ty(name: &'static str, fields: &'static [Field]) -> EventType {
    EventType {
        name,
        fields,
        min_fields: 0,
    }
}

use Kind::*;

/// Every event type of SPEC 2.2, in the order the SPEC lists them.
pub const EVENT_TYPES: &[EventType] = &[
    ty(
        "account_opened",
        &[
            req("name", Text),
            opt("industry", Text),
            opt("region", Text),
            opt("tier", Enum(TIERS)),
        ],
    ),
    ty(
        "account_classified",
        &[
            req("attractiveness", Int(0, 100)),
            req("business_strength", Int(0, 100)),
            opt("criteria", Criteria),
            opt("rationale", Text),
        ],
    ),
    ty(
        "stage_assessed",
        &[req("stage", Enum(STAGES)), opt("rationale", Text)],
    ),
    ty("account_closed", &[opt("reason", Text)]),
    ty("account_reopened", &[opt("reason", Text)]),
    ty(
        "stakeholder_added",
        &[
            req("stakeholder_id", Id),
            req("name", Text),
            opt("title", Text),
            opt("email", Text),
            req("function", Text),
            req("level", Enum(LEVELS)),
            req("dmu_roles", RoleList),
            req("influence", Int(1, 5)),
            req("attitude", Int(-2, 2)),
        ],
    ),
    EventType {
        name: "stakeholder_updated",
        fields: &[
            req("stakeholder_id", Id),
            opt("title", Text),
            opt("function", Text),
            opt("level", Enum(LEVELS)),
            opt("dmu_roles", RoleList),
            opt("influence", Int(1, 5)),
            opt("attitude", Int(-2, 2)),
        ],
        min_fields: 2,
    },
    ty(
        "stakeholder_departed",
        &[req("stakeholder_id", Id), opt("reason", Text)],
    ),
    ty(
        "team_member_assigned",
        &[
            req("member_id", Id),
            req("name", Text),
            req("function", Text),
            req("team_role", Enum(TEAM_ROLES)),
            opt("expertise", TextList),
        ],
    ),
    ty(
        "team_member_departed",
        &[req("member_id", Id), opt("reason", Text)],
    ),
    ty(
        "successor_designated",
        &[req("member_id", Id), req("successor_id", Id)],
    ),
    ty(
        "relationship_linked",
        &[
            req("member_id", Id),
            req("stakeholder_id", Id),
            req("strength", Int(1, 5)),
        ],
    ),
    ty(
        "relationship_unlinked",
        &[
            req("member_id", Id),
            req("stakeholder_id", Id),
            opt("reason", Text),
        ],
    ),
    ty(
        "interaction_logged",
        &[
            req("interaction_id", Id),
            req("channel", Enum(CHANNELS)),
            req("supplier_participants", IdList(1)),
            req("customer_participants", IdList(1)),
            opt("topic", Text),
            opt("summary", Text),
            opt("sentiment", Int(-2, 2)),
        ],
    ),
    ty(
        "objective_proposed",
        &[
            req("objective_id", Id),
            req("title", Text),
            opt("description", Text),
            opt("target_date", Date),
        ],
    ),
    ty(
        "objective_agreed",
        &[
            req("objective_id", Id),
            req("agreed_by", IdList(1)),
            req("supplier_owner", Id),
        ],
    ),
    ty(
        "objective_closed",
        &[
            req("objective_id", Id),
            req("outcome", Enum(OUTCOMES)),
            opt("note", Text),
        ],
    ),
    ty(
        "plan_agreed",
        &[
            req("plan_id", Id),
            req("horizon_years", Int(1, 10)),
            opt("summary", Text),
        ],
    ),
    ty(
        "value_promised",
        &[
            req("promise_id", Id),
            opt("objective_id", Id),
            req("description", Text),
            req("metric", Text),
            req("unit", Text),
            req("amount", PositiveDecimal),
            req("due_date", Date),
            req("beneficiary", Enum(BENEFICIARIES)),
        ],
    ),
    ty(
        "value_delivered",
        &[
            req("promise_id", Id),
            req("amount", PositiveDecimal),
            opt("evidence", Text),
        ],
    ),
    EventType {
        name: "value_promise_revised",
        fields: &[
            req("promise_id", Id),
            opt("amount", PositiveDecimal),
            opt("due_date", Date),
            req("reason", Text),
        ],
        // a revision must change the amount, the due date, or both
        min_fields: 3,
    },
    ty(
        "value_promise_withdrawn",
        &[req("promise_id", Id), req("reason", Text)],
    ),
    ty(
        "investment_recorded",
        &[
            req("amount", PositiveDecimal),
            req("currency", Currency),
            req("category", Text),
            opt("note", Text),
        ],
    ),
    ty(
        "revenue_recorded",
        &[
            req("period", Period),
            req("amount", Decimal),
            req("currency", Currency),
            opt("gross_margin", Decimal),
        ],
    ),
    ty(
        "contract_signed",
        &[
            req("contract_id", Id),
            opt("title", Text),
            req("annual_value", PositiveDecimal),
            req("currency", Currency),
            req("start_date", Date),
            req("renewal_date", Date),
        ],
    ),
    ty(
        "contract_renewed",
        &[
            req("contract_id", Id),
            req("renewal_date", Date),
            opt("annual_value", PositiveDecimal),
        ],
    ),
    ty(
        "contract_ended",
        &[req("contract_id", Id), opt("reason", Text)],
    ),
    ty(
        "event_retracted",
        &[req("target_event_id", Uuid), req("reason", Text)],
    ),
    ty(
        "personal_data_erased",
        &[
            req("subject", Enum(SUBJECTS)),
            req("id", Id),
            req("reason", Text),
        ],
    ),
];

/// Looks a type up by name.
pub fn event_type(name: &str) -> Option<&'static EventType> {
    EVENT_TYPES.iter().find(|t| t.name == name)
}

/// The names of all event types.
pub fn type_names() -> Vec<&'static str> {
    EVENT_TYPES.iter().map(|t| t.name).collect()
}

/// A valid sample value of a kind (used by tests, fuzz seeds and documentation examples).
pub fn sample_value(kind: Kind) -> serde_json::Value {
    use serde_json::json;
    match kind {
        Kind::Text => json!("text"),
        Kind::Id => json!("id-1"),
        Kind::Uuid => json!("00000000-0000-4000-8000-000000000001"),
        Kind::Enum(options) => json!(options[0]),
        Kind::Int(lo, hi) => json!((lo + hi) / 2),
        Kind::PositiveDecimal => json!("1250.50"),
        Kind::Decimal => json!("-20.25"),
        Kind::Date => json!("2024-02-29"),
        Kind::Period => json!("2024-Q1"),
        Kind::Currency => json!("EUR"),
        Kind::IdList(_) => json!(["id-1", "id-2"]),
        Kind::RoleList => json!(["champion", "decision_maker"]),
        Kind::TextList => json!(["text"]),
        Kind::Criteria => json!({"growth": 80}),
    }
}

/// A `data` object of the type with every field (optional ones too) set to a sample value.
pub fn example_data(et: &EventType) -> serde_json::Map<String, serde_json::Value> {
    et.fields
        .iter()
        .map(|f| (f.name.to_string(), sample_value(f.kind)))
        .collect()
}
