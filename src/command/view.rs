//! `kamlog view A <view>`: one view of one account, as of a time, rendered from its typed
//! form as tables for people or as SPEC 8's JSON.

use super::names::Names;
use super::Out;

use crate::error::Error;
use crate::query::Query;
use crate::view::classification::ClassificationView;
use crate::view::contracts::ContractsView;
use crate::view::coverage::CoverageView;
use crate::view::economics::EconomicsView;
use crate::view::map::MapView;
use crate::view::relationships::RelationshipsView;
use crate::view::stage::StageView;
use crate::view::value::ValueView;
use crate::view::{dec_str, Selection, View, ViewKind};

/// The selection from `--as-of` / `--known-at` (an as-of time defaults to the known-at time
/// when only that is given, else to now).
pub fn selection(as_of: Option<&str>, known_at: Option<&str>) -> Result<Selection, Error> {
    let known_at = known_at
        .map(|s| crate::query::parse_time("--known-at", s))
        .transpose()?;
    let as_of = as_of
        .map(|s| crate::query::parse_time("--as-of", s))
        .transpose()?;
    Ok(crate::query::selection(as_of, known_at, chrono::Utc::now()))
}

/// Parses a view name.
pub fn kind(name: &str) -> Result<ViewKind, Error> {
    ViewKind::parse(name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown view {name}: one of {}{}",
            ViewKind::ALL.map(|k| k.name()).join(", "),
            crate::suggest::hint(name, ViewKind::ALL.iter().map(|k| k.name()))
        ))
    })
}

pub fn run(
    q: &Query,
    account: &str,
    kind: ViewKind,
    sel: Selection,
    json: bool,
    out: &mut Out,
) -> Result<i32, Error> {
    let w = q.walked(account, &sel)?;
    let v = crate::query::render(kind, &w, &sel, q.policy());
    if json {
        outln!(out, "{}", v.to_json());
    } else {
        outw!(out, "{}", human(&v, &Names::of(&w.state)));
    }
    Ok(0)
}

/// A view as text for people.
pub fn human(v: &View, names: &Names) -> String {
    let (h, name) = match v {
        View::Coverage(x) => (&x.header, "coverage"),
        View::Stage(x) => (&x.header, "stage"),
        View::Value(x) => (&x.header, "value"),
        View::Classification(x) => (&x.header, "classification"),
        View::Economics(x) => (&x.header, "economics"),
        View::Relationships(x) => (&x.header, "relationships"),
        View::Map(x) => (&x.header, "map"),
        View::Contracts(x) => (&x.header, "contracts"),
    };
    let mut out = format!(
        "{} — {name} as of {}",
        h.account_id,
        super::human_time(h.as_of)
    );
    if let Some(k) = h.known_at {
        out += &format!(", known at {}", super::human_time(k));
    }
    out += "\n\n";
    out += &match v {
        View::Coverage(x) => coverage(x, names),
        View::Stage(x) => stage(x),
        View::Value(x) => value(x),
        View::Classification(x) => classification(x),
        View::Economics(x) => economics(x),
        View::Relationships(x) => relationships(x, names),
        View::Map(x) => map(x, names),
        View::Contracts(x) => contracts(x),
    };
    out
}

/// Days since a contact, for people.
fn days_ago(d: Option<i64>) -> String {
    match d {
        None => "never".into(),
        Some(0) => "today".into(),
        Some(1) => "1 day ago".into(),
        Some(n) => format!("{n} days ago"),
    }
}

/// A strength with its level (`72 strong`).
fn strength(s: u32) -> String {
    format!("{s} {}", crate::view::relationships::level(s))
}

fn pairs_table(pairs: &[crate::view::relationships::Pair], names: &Names) -> String {
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|p| {
            vec![
                names.member(&p.member_id),
                names.stakeholder(&p.stakeholder_id),
                strength(p.strength),
                days_ago(p.days_since_contact),
                p.interactions_180d.to_string(),
                p.in_person_180d.to_string(),
                p.declared_strength
                    .map_or_else(|| "-".into(), |d| d.to_string()),
            ]
        })
        .collect();
    super::table::table(
        &[
            "member",
            "stakeholder",
            "strength",
            "last contact",
            "180 d",
            "in person",
            "declared",
        ],
        &rows,
    )
}

fn relationships(v: &RelationshipsView, names: &Names) -> String {
    let mut out =
        "pairs (strength 0–100: recency + frequency + in person + declared)\n".to_string();
    out += &pairs_table(&v.strengths.pairs, names);
    let rows: Vec<Vec<String>> = v
        .strengths
        .stakeholders
        .iter()
        .map(|s| {
            vec![
                names.stakeholder(&s.stakeholder_id),
                strength(s.best_strength),
                s.best_member
                    .as_deref()
                    .map_or_else(|| "-".into(), |m| names.member(m)),
                days_ago(s.days_since_contact),
            ]
        })
        .collect();
    out += "\nstakeholders\n";
    out += &super::table::table(
        &[
            "stakeholder",
            "best strength",
            "best member",
            "last contact",
        ],
        &rows,
    );
    out
}

fn map(v: &MapView, names: &Names) -> String {
    let m = &v.map;
    let mut out = format!(
        "status {}\ngaps {}\nexecutive sponsors {}\n\n",
        m.status.to_uppercase(),
        if m.gaps.is_empty() {
            "none".to_string()
        } else {
            m.gaps.join(", ")
        },
        if m.exec_sponsors.is_empty() {
            "none".to_string()
        } else {
            m.exec_sponsors
                .iter()
                .map(|x| names.member(x))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let rows: Vec<(Vec<String>, Vec<String>)> = m
        .stakeholders
        .iter()
        .map(|s| {
            let attitude = match s.attitude {
                a if a >= 1 => format!("+{a} supportive"),
                a if a <= -1 => format!("{a} opposed"),
                _ => "0 neutral".into(),
            };
            let who = if s.key {
                format!("* {}", names.stakeholder(&s.stakeholder_id))
            } else {
                format!("  {}", names.stakeholder(&s.stakeholder_id))
            };
            let roles = if s.dmu_roles.is_empty() {
                "no DMU role".to_string()
            } else {
                s.dmu_roles.join(", ")
            };
            (
                vec![
                    who,
                    attitude,
                    strength(s.best_strength),
                    s.best_member
                        .as_deref()
                        .map_or_else(|| "-".into(), |x| names.member_name(x)),
                    days_ago(s.days_since_contact),
                ],
                vec![match &s.title {
                    Some(t) => format!("{t}; {roles}"),
                    None => roles,
                }],
            )
        })
        .collect();
    out += "stakeholders (* key; title and roles below each)\n";
    out += &super::table::with_details(
        &[
            "stakeholder",
            "attitude",
            "best strength",
            "best member",
            "last contact",
        ],
        rows,
    );
    let rows: Vec<Vec<String>> = m
        .required_roles
        .iter()
        .map(|r| {
            let list = |ids: &[String]| {
                if ids.is_empty() {
                    "-".to_string()
                } else {
                    ids.iter()
                        .map(|i| names.stakeholder(i))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            vec![r.role.to_string(), list(&r.holders), list(&r.engaged)]
        })
        .collect();
    out += "\nrequired roles\n";
    out += &super::table::table(&["role", "holders", "engaged"], &rows);
    out
}

fn contracts(v: &ContractsView) -> String {
    let rows: Vec<Vec<String>> = v
        .contracts
        .iter()
        .map(|c| {
            let days = match c.days_to_renewal {
                None => "-".to_string(),
                Some(d) if d < 0 => format!("{} days ago", -d),
                Some(d) => format!("in {d} days"),
            };
            vec![
                c.contract_id.clone(),
                c.status.to_string(),
                format!("{} {}", dec_str(c.annual_value), c.currency),
                c.renewal_date.format("%Y-%m-%d").to_string(),
                days,
                c.title.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut out = super::table::table(
        &[
            "contract",
            "status",
            "annual value",
            "renewal date",
            "renewal",
            "title",
        ],
        &rows,
    );
    let rows: Vec<Vec<String>> = v
        .totals
        .iter()
        .map(|t| {
            vec![
                t.currency.clone(),
                dec_str(t.annual_value),
                dec_str(t.renewing_value),
            ]
        })
        .collect();
    out += "\ntotals (contracts not ended)\n";
    out += &super::table::table(&["currency", "annual value", "renewing or lapsed"], &rows);
    out
}

fn coverage(v: &CoverageView, names: &Names) -> String {
    let c = &v.coverage;
    // People read names beside ids.
    let list = |ids: &[String], named: &dyn Fn(&str) -> String| -> String {
        if ids.is_empty() {
            return "-".into();
        }
        ids.iter().map(|i| named(i)).collect::<Vec<_>>().join(", ")
    };
    let rows: Vec<Vec<String>> = c
        .key_stakeholders
        .iter()
        .map(|k| {
            let flag = match k.risk {
                "uncovered" => "!! uncovered",
                "single" => "!  single",
                _ => "   covered",
            };
            vec![
                k.stakeholder_id.clone(),
                crate::personal::reveal::name_for_people(k.name.as_deref(), k.erased).to_string(),
                k.coverage.to_string(),
                flag.to_string(),
                list(&k.covered_by, &|i| names.member(i)),
            ]
        })
        .collect();
    let mut out = "key stakeholders\n".to_string();
    out += &super::table::table(
        &["stakeholder", "name", "coverage", "risk", "covered by"],
        &rows,
    );
    let rows: Vec<Vec<String>> = c
        .members
        .iter()
        .map(|m| {
            vec![
                m.member_id.clone(),
                crate::personal::reveal::name_for_people(m.name.as_deref(), m.erased).to_string(),
                list(&m.sole_links, &|i| names.stakeholder(i)),
                m.successor
                    .as_deref()
                    .map_or_else(|| "-".into(), |s| names.member(s)),
                if m.successor_ready { "yes" } else { "NO" }.into(),
            ]
        })
        .collect();
    out += "\nteam\n";
    out += &super::table::table(
        &[
            "member",
            "name",
            "sole links",
            "successor",
            "successor ready",
        ],
        &rows,
    );
    out += &format!(
        "\ncoverage ratio {}   bow-tie {}\n",
        dec_str(c.coverage_ratio),
        if c.bow_tie {
            "YES (one person carries the relationship)"
        } else {
            "no"
        }
    );
    out
}

fn stage(v: &StageView) -> String {
    let mut out = format!(
        "declared   {}\n",
        match &v.declared {
            None => "-".into(),
            Some(d) => format!(
                "{} (at {}{})",
                d.stage,
                super::human_time(d.occurred_at),
                d.rationale
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        }
    );
    out += &format!("inferred   {}\n", v.inferred.stage);
    out += &format!(
        "divergence {}\n\nevidence\n",
        if v.divergence { "YES" } else { "no" }
    );
    if let serde_json::Value::Object(e) =
        serde_json::to_value(&v.inferred.evidence).unwrap_or_default()
    {
        let rows: Vec<Vec<String>> = e
            .iter()
            .map(|(k, x)| {
                let s = match x {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "-".into(),
                    other => other.to_string(),
                };
                vec![k.replace('_', " "), s]
            })
            .collect();
        out += &super::table::table(&["figure", "value"], &rows);
    }
    out += "\nhistory\n";
    let rows: Vec<Vec<String>> = v
        .history
        .iter()
        .map(|h| {
            let cause = match h.position {
                Some(p) => format!("event at position {p}"),
                None => "time".into(),
            };
            vec![
                h.at.format("%Y-%m-%d %H:%M").to_string(),
                h.source.clone(),
                h.stage.clone(),
                cause,
            ]
        })
        .collect();
    out += &super::table::table(&["date", "source", "stage", "caused by"], &rows);
    out
}

fn value(v: &ValueView) -> String {
    let rows: Vec<Vec<String>> = v
        .promises
        .iter()
        .map(|p| {
            vec![
                p.promise_id.clone(),
                p.metric.clone(),
                p.beneficiary.clone(),
                format!("{} {}", dec_str(p.promised), p.unit),
                format!("{} {}", dec_str(p.delivered), p.unit),
                p.due_date.format("%Y-%m-%d").to_string(),
                if p.status == "overdue" {
                    let days = (v.header.as_of.date_naive() - p.due_date).num_days();
                    format!("OVERDUE {days} day{}", if days == 1 { "" } else { "s" })
                } else {
                    p.status.to_string()
                },
                format!("{} {}", dec_str(p.shortfall), p.unit),
            ]
        })
        .collect();
    let mut out = super::table::table(
        &[
            "promise",
            "metric",
            "for",
            "promised",
            "delivered",
            "due",
            "status",
            "shortfall",
        ],
        &rows,
    );
    let rows: Vec<Vec<String>> = v
        .totals
        .iter()
        .map(|t| {
            vec![
                t.unit.clone(),
                t.beneficiary.clone(),
                dec_str(t.promised),
                dec_str(t.due),
                dec_str(t.delivered),
                t.realization.map(dec_str).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out += "\ntotals\n";
    out += &super::table::table(
        &["unit", "for", "promised", "due", "delivered", "realization"],
        &rows,
    );
    out
}

fn classification(v: &ClassificationView) -> String {
    let opt = |x: Option<i64>| x.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let mut out = format!(
        "tier {}   attractiveness {}   business strength {}   quadrant {}\n\nhistory\n",
        v.tier.as_deref().unwrap_or("-"),
        opt(v.attractiveness),
        opt(v.business_strength),
        v.quadrant.unwrap_or("-"),
    );
    let rows: Vec<Vec<String>> = v
        .history
        .iter()
        .map(|h| vec![h.position.to_string(), h.quadrant.to_string()])
        .collect();
    out += &super::table::table(&["position", "quadrant"], &rows);
    out
}

fn economics(v: &EconomicsView) -> String {
    let rows: Vec<Vec<String>> = v
        .currencies
        .iter()
        .map(|c| {
            vec![
                c.currency.clone(),
                dec_str(c.revenue),
                dec_str(c.gross_margin),
                dec_str(c.investment),
                c.roi.map(dec_str).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    super::table::table(
        &["currency", "revenue", "gross margin", "investment", "roi"],
        &rows,
    )
}
