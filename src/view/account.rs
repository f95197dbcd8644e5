//! An account's views in the JSON shapes of SPEC 8, computed from its events at a
//! [`Selection`].

use super::coverage::coverage;
use super::stage::{divergence, evidence, infer, StageTracker};
use super::walk::{walk, Observer};
use super::{dec_str, time_str, Policy, Selection};
use crate::event::StoredEvent;
use crate::model::{fold_events, AccountState};
use serde_json::{json, Value};

/// The views `kamlog view` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Coverage,
    Stage,
    Value,
    Classification,
    Economics,
}

impl ViewKind {
    pub const ALL: [ViewKind; 5] = [
        ViewKind::Coverage,
        ViewKind::Stage,
        ViewKind::Value,
        ViewKind::Classification,
        ViewKind::Economics,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ViewKind::Coverage => "coverage",
            ViewKind::Stage => "stage",
            ViewKind::Value => "value",
            ViewKind::Classification => "classification",
            ViewKind::Economics => "economics",
        }
    }

    pub fn parse(s: &str) -> Option<ViewKind> {
        ViewKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// The state and the stage walk of an account at a selection.
pub struct Computed {
    pub state: AccountState,
    pub stage: StageTracker,
}

/// Folds the selected events and walks business time for the stage history.
pub fn compute(
    account_id: &str,
    events: &[StoredEvent],
    sel: &Selection,
    policy: &Policy,
) -> Computed {
    let selected = super::select(events, sel);
    let mut stage = StageTracker::default();
    let state = {
        let mut observers: [&mut dyn Observer; 1] = [&mut stage];
        walk(account_id, &selected, sel.as_of, policy, &mut observers)
    };
    Computed { state, stage }
}

/// Only the fold (views that need no history).
pub fn fold_selected(account_id: &str, events: &[StoredEvent], sel: &Selection) -> AccountState {
    fold_events(account_id, super::select(events, sel))
}

fn header(account_id: &str, sel: &Selection) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("account_id".into(), json!(account_id));
    m.insert("as_of".into(), json!(time_str(sel.as_of)));
    m
}

fn with_header(account_id: &str, sel: &Selection, body: Value) -> Value {
    let mut m = header(account_id, sel);
    if let Value::Object(b) = body {
        m.extend(b);
    }
    Value::Object(m)
}

/// `view A coverage`.
pub fn coverage_json(state: &AccountState, sel: &Selection, policy: &Policy) -> Value {
    let c = coverage(state, sel.as_of, policy);
    with_header(
        &state.account_id,
        sel,
        json!({
            "key_stakeholders": c.key_stakeholders.iter().map(|k| json!({
                "stakeholder_id": k.stakeholder_id, "name": k.name, "covered_by": k.covered_by,
                "coverage": k.coverage, "risk": k.risk,
            })).collect::<Vec<_>>(),
            "members": c.members.iter().map(|m| json!({
                "member_id": m.member_id, "name": m.name, "sole_links": m.sole_links,
                "successor": m.successor, "successor_ready": m.successor_ready,
            })).collect::<Vec<_>>(),
            "coverage_ratio": dec_str(c.coverage_ratio),
            "bow_tie": c.bow_tie,
        }),
    )
}

/// `view A stage`.
pub fn stage_json(computed: &Computed, sel: &Selection, policy: &Policy) -> Value {
    stage_json_parts(&computed.state, &computed.stage, sel, policy)
}

/// `view A stage` from a state and its stage tracker.
pub fn stage_json_parts(
    state: &AccountState,
    tracker: &StageTracker,
    sel: &Selection,
    policy: &Policy,
) -> Value {
    let e = evidence(state, sel.as_of, tracker.once_cooperative, policy);
    let inferred = infer(&e, sel.as_of, policy);
    let declared = state.assessments.last();
    with_header(
        &state.account_id,
        sel,
        json!({
            "declared": declared.map(|a| json!({
                "stage": a.stage, "occurred_at": time_str(a.occurred_at), "rationale": a.rationale,
            })),
            "inferred": {"stage": inferred, "evidence": e.to_json()},
            "divergence": divergence(declared.map(|a| a.stage.as_str()), inferred),
            "history": tracker.history.iter().map(|h| h.to_json()).collect::<Vec<_>>(),
        }),
    )
}

/// `view A value`.
pub fn value_json(state: &AccountState, sel: &Selection) -> Value {
    let (promises, totals) = super::value::value(state, sel.as_of);
    with_header(
        &state.account_id,
        sel,
        json!({"promises": promises, "totals": totals}),
    )
}

/// `view A classification`.
pub fn classification_json(state: &AccountState, sel: &Selection) -> Value {
    with_header(
        &state.account_id,
        sel,
        super::classification::classification(state),
    )
}

/// `view A economics`.
pub fn economics_json(state: &AccountState, sel: &Selection) -> Value {
    with_header(
        &state.account_id,
        sel,
        json!({"currencies": super::economics::economics(state)}),
    )
}

/// Any view of an account's events at a selection.
pub fn render(
    kind: ViewKind,
    account_id: &str,
    events: &[StoredEvent],
    sel: &Selection,
    policy: &Policy,
) -> Value {
    match kind {
        ViewKind::Stage => stage_json(&compute(account_id, events, sel, policy), sel, policy),
        other => render_from_state(other, &fold_selected(account_id, events, sel), sel, policy),
    }
}

/// The views that need only the folded state.
pub fn render_from_state(
    kind: ViewKind,
    state: &AccountState,
    sel: &Selection,
    policy: &Policy,
) -> Value {
    match kind {
        ViewKind::Coverage => coverage_json(state, sel, policy),
        ViewKind::Value => value_json(state, sel),
        ViewKind::Classification => classification_json(state, sel),
        ViewKind::Economics => economics_json(state, sel),
        ViewKind::Stage => unreachable!("the stage view needs the walk; use render"),
    }
}
