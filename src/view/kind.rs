//! The names of the views (`kamlog view A <name>`), the header every view carries, and
//! [`View`], any one view, serializing to its SPEC 8 shape.

use super::classification::ClassificationView;
use super::contracts::ContractsView;
use super::coverage::CoverageView;
use super::economics::EconomicsView;
use super::map::MapView;
use super::relationships::RelationshipsView;
use super::stage::StageView;
use super::value::ValueView;
use super::Selection;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The views `kamlog view` knows.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    schemars::JsonSchema,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ViewKind {
    Coverage,
    Stage,
    Value,
    Classification,
    Economics,
    Relationships,
    Map,
    Contracts,
}

impl ViewKind {
    pub const ALL: [ViewKind; 8] = [
        ViewKind::Coverage,
        ViewKind::Stage,
        ViewKind::Value,
        ViewKind::Classification,
        ViewKind::Economics,
        ViewKind::Relationships,
        ViewKind::Map,
        ViewKind::Contracts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ViewKind::Coverage => "coverage",
            ViewKind::Stage => "stage",
            ViewKind::Value => "value",
            ViewKind::Classification => "classification",
            ViewKind::Economics => "economics",
            ViewKind::Relationships => "relationships",
            ViewKind::Map => "map",
            ViewKind::Contracts => "contracts",
        }
    }

    /// The JSON Schema of the view's document (`schemas/view.<name>.schema.json`).
    pub fn schema(self) -> schemars::Schema {
        match self {
            ViewKind::Coverage => schemars::schema_for!(CoverageView),
            ViewKind::Stage => schemars::schema_for!(StageView),
            ViewKind::Value => schemars::schema_for!(ValueView),
            ViewKind::Classification => schemars::schema_for!(ClassificationView),
            ViewKind::Economics => schemars::schema_for!(EconomicsView),
            ViewKind::Relationships => schemars::schema_for!(RelationshipsView),
            ViewKind::Map => schemars::schema_for!(MapView),
            ViewKind::Contracts => schemars::schema_for!(ContractsView),
        }
    }

    pub fn parse(s: &str) -> Option<ViewKind> {
        ViewKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether the view needs the walk through business time (a history), not only the state.
    pub fn needs_history(self) -> bool {
        matches!(self, ViewKind::Stage)
    }
}

/// What every view starts with: the account and the selection it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Header {
    pub account_id: String,
    #[serde(serialize_with = "super::fmt::time")]
    #[schemars(with = "String")]
    pub as_of: DateTime<Utc>,
    #[serde(serialize_with = "super::fmt::opt_time")]
    #[schemars(with = "Option<String>")]
    pub known_at: Option<DateTime<Utc>>,
}

impl Header {
    pub fn new(account_id: &str, sel: &Selection) -> Header {
        Header {
            account_id: account_id.to_string(),
            as_of: sel.as_of,
            known_at: sel.known_at,
        }
    }
}

/// Any one view.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum View {
    Coverage(CoverageView),
    Stage(StageView),
    Value(ValueView),
    Classification(ClassificationView),
    Economics(EconomicsView),
    Relationships(RelationshipsView),
    Map(MapView),
    Contracts(ContractsView),
}

impl View {
    /// The view as SPEC 8's JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("views serialize")
    }
}
