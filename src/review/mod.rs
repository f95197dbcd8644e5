//! The account review (SPEC 9 v2): every figure a KAM team looks at in a review of one account
//! at a selection — header, relationship map, coverage, stage history, value, contracts, open
//! alerts by severity, economics and what changed since an earlier instant — gathered once from
//! the query layer as the typed views, and drawn as HTML with SVG pictures. `kamlog report`
//! writes it as one self-contained file ([`document`]); the web's account page shows the same
//! sections ([`html::sections`]). Nothing here computes a figure: every number is a view's.

pub mod charts;
pub mod document;
pub mod html;
pub mod map_svg;

pub use document::document;

use crate::alert::Alert;
use crate::command::names::Names;
use crate::error::{Error, Result};
use crate::query::timeline::{Filter, LogDoc};
use crate::query::{EventsOnce, Query};
use crate::view::classification::ClassificationView;
use crate::view::contracts::ContractsView;
use crate::view::coverage::CoverageView;
use crate::view::economics::EconomicsView;
use crate::view::map::MapView;
use crate::view::stage::StageView;
use crate::view::value::ValueView;
use crate::view::{Selection, View, ViewKind};
use chrono::{DateTime, Duration, Utc};

/// How far back "what changed" looks by default: T − 90 days (SPEC 9).
pub const DEFAULT_SINCE_DAYS: i64 = 90;

/// The stylesheet of the review and the web pages (inline in the report, `/assets/kamlog.css`
/// on the web).
pub const STYLE: &str = include_str!("style.css");

/// Every figure of one account's review at a selection.
#[derive(Debug, Clone)]
pub struct Review {
    pub account_id: String,
    pub name: Option<String>,
    pub sel: Selection,
    /// The start of "what changed".
    pub since: DateTime<Utc>,
    pub classification: ClassificationView,
    pub stage: StageView,
    pub coverage: CoverageView,
    pub value: ValueView,
    pub economics: EconomicsView,
    pub map: MapView,
    pub contracts: ContractsView,
    /// The open alerts, most severe first (then by kind and subject).
    pub alerts: Vec<Alert>,
    /// The audit timeline from `since` to the as-of time.
    pub changes: LogDoc,
    /// Everyone's names, departed people too (for alert details and the timeline).
    pub names: Names,
    /// The account's distinct event instants (`occurred_at`) known at the selection's
    /// known-at time, ascending: where the web's time control can stop.
    pub instants: Vec<DateTime<Utc>>,
}

impl Review {
    /// The review of `account` at `sel`; `since` defaults to 90 days before the as-of time.
    pub fn gather(
        q: &Query,
        account: &str,
        sel: &Selection,
        since: Option<DateTime<Utc>>,
    ) -> Result<Review> {
        let since = since.unwrap_or(sel.as_of - Duration::days(DEFAULT_SINCE_DAYS));
        if since > sel.as_of {
            return Err(Error::Usage(format!(
                "--since {} is after the as-of time {}",
                crate::view::time_str(since),
                crate::view::time_str(sel.as_of)
            )));
        }
        // The account's events are read at most once for the whole review.
        let events = EventsOnce::default();
        let walked = q.walked_reading(account, sel, &events)?;
        let view = |kind: ViewKind| crate::query::render(kind, &walked, sel, q.policy());
        let mut alerts = q.open_alerts(account, &walked, sel)?;
        alerts.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.kind.cmp(&b.kind))
                .then(a.subject.cmp(&b.subject))
        });
        let changes = q.log_reading(
            account,
            sel,
            &Filter {
                since: Some(since),
                until: Some(sel.as_of),
                ..Filter::default()
            },
            &events,
        )?;
        // Every distinct occurred_at of the events known at K (the web's time control).
        let mut instants: Vec<DateTime<Utc>> = events
            .get(q.store(), account)?
            .iter()
            .filter(|e| sel.known_at.is_none_or(|k| e.recorded_at <= k))
            .map(|e| e.occurred_at)
            .collect();
        instants.sort_unstable();
        instants.dedup();
        let wrong =
            |k: ViewKind| Error::Storage(format!("the {} view came back as another", k.name()));
        Ok(Review {
            account_id: account.to_string(),
            name: walked.state.name.clone(),
            sel: *sel,
            since,
            coverage: match view(ViewKind::Coverage) {
                View::Coverage(v) => v,
                _ => return Err(wrong(ViewKind::Coverage)),
            },
            stage: match view(ViewKind::Stage) {
                View::Stage(v) => v,
                _ => return Err(wrong(ViewKind::Stage)),
            },
            value: match view(ViewKind::Value) {
                View::Value(v) => v,
                _ => return Err(wrong(ViewKind::Value)),
            },
            classification: match view(ViewKind::Classification) {
                View::Classification(v) => v,
                _ => return Err(wrong(ViewKind::Classification)),
            },
            economics: match view(ViewKind::Economics) {
                View::Economics(v) => v,
                _ => return Err(wrong(ViewKind::Economics)),
            },
            map: match view(ViewKind::Map) {
                View::Map(v) => v,
                _ => return Err(wrong(ViewKind::Map)),
            },
            contracts: match view(ViewKind::Contracts) {
                View::Contracts(v) => v,
                _ => return Err(wrong(ViewKind::Contracts)),
            },
            alerts,
            changes,
            names: Names::of(&walked.state),
            instants,
        })
    }

    /// The account's name, or its id when it has none.
    pub fn title(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.account_id)
    }

    /// A member's name, or the id when it is unknown.
    pub fn member_name(&self, id: &str) -> String {
        self.names.member_name(id)
    }

    /// A stakeholder's name, or the id when it is unknown.
    pub fn stakeholder_name(&self, id: &str) -> String {
        self.names
            .stakeholders
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}
