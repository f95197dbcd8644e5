//! `kamlog view A <view>`: one view of one account, as of a time; and `kamlog accounts`.

use crate::error::Error;
use crate::store::Store;
use crate::view::account::ViewKind;
use crate::view::{Policy, Selection};
use serde_json::Value;

/// The selection from `--as-of` / `--known-at` (an as-of time defaults to the known-at time
/// when only that is given, else to now).
pub fn selection(as_of: Option<&str>, known_at: Option<&str>) -> Result<Selection, Error> {
    let known_at = known_at
        .map(|s| super::parse_time_arg("--known-at", s))
        .transpose()?;
    let as_of = match as_of {
        Some(s) => super::parse_time_arg("--as-of", s)?,
        None => known_at.unwrap_or_else(chrono::Utc::now),
    };
    Ok(Selection { as_of, known_at })
}

pub(crate) fn require_account(store: &Store, account: &str) -> Result<(), Error> {
    if store.head(account)?.is_none() {
        return Err(Error::Rejected {
            at: Default::default(),
            reason: format!("no account {account} in the store"),
        });
    }
    Ok(())
}

pub fn run(
    store: &Store,
    account: &str,
    kind: &str,
    sel: Selection,
    policy: &Policy,
    json: bool,
) -> Result<i32, Error> {
    let kind = ViewKind::parse(kind).ok_or_else(|| {
        Error::Usage(format!(
            "unknown view {kind}: one of coverage, stage, value, classification, economics"
        ))
    })?;
    require_account(store, account)?;
    let v = crate::snapshot::view(store, account, kind, &sel, policy)?;
    if json {
        println!("{v}");
    } else {
        print!("{}", human(kind, &v));
    }
    Ok(0)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(s).collect();
            if items.is_empty() {
                "-".into()
            } else {
                items.join(",")
            }
        }
        other => other.to_string(),
    }
}

/// Renders rows as aligned columns.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

fn human(kind: ViewKind, v: &Value) -> String {
    let mut out = format!(
        "{} — {} as of {}\n\n",
        v["account_id"].as_str().unwrap_or(""),
        kind.name(),
        s(&v["as_of"])
    );
    match kind {
        ViewKind::Coverage => {
            let rows: Vec<Vec<String>> = v["key_stakeholders"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| {
                    let flag = match k["risk"].as_str() {
                        Some("uncovered") => "!! uncovered",
                        Some("single") => "!  single",
                        _ => "   covered",
                    };
                    vec![
                        s(&k["stakeholder_id"]),
                        s(&k["name"]),
                        k["coverage"].to_string(),
                        s(&k["covered_by"]),
                        flag.to_string(),
                    ]
                })
                .collect();
            out += "key stakeholders\n";
            out += &table(
                &["stakeholder", "name", "coverage", "covered by", "risk"],
                &rows,
            );
            let rows: Vec<Vec<String>> = v["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    vec![
                        s(&m["member_id"]),
                        s(&m["name"]),
                        s(&m["sole_links"]),
                        s(&m["successor"]),
                        if m["successor_ready"] == Value::Bool(true) {
                            "yes".into()
                        } else {
                            "NO".into()
                        },
                    ]
                })
                .collect();
            out += "\nteam\n";
            out += &table(
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
                s(&v["coverage_ratio"]),
                if v["bow_tie"] == Value::Bool(true) {
                    "YES (one person carries the relationship)"
                } else {
                    "no"
                }
            );
        }
        ViewKind::Stage => {
            let d = &v["declared"];
            out += &format!(
                "declared   {}\n",
                if d.is_null() {
                    "-".into()
                } else {
                    format!(
                        "{} (at {}{})",
                        s(&d["stage"]),
                        s(&d["occurred_at"]),
                        d["rationale"]
                            .as_str()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    )
                }
            );
            out += &format!("inferred   {}\n", s(&v["inferred"]["stage"]));
            out += &format!(
                "divergence {}\n\nevidence\n",
                if v["divergence"] == Value::Bool(true) {
                    "YES"
                } else {
                    "no"
                }
            );
            if let Some(e) = v["inferred"]["evidence"].as_object() {
                let rows: Vec<Vec<String>> = e.iter().map(|(k, x)| vec![k.clone(), s(x)]).collect();
                out += &table(&["figure", "value"], &rows);
            }
            out += "\nhistory\n";
            let rows: Vec<Vec<String>> = v["history"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    let when = if h["position"].is_null() {
                        format!("at {}", s(&h["at"]))
                    } else {
                        format!("position {}", h["position"])
                    };
                    vec![s(&h["source"]), s(&h["stage"]), when]
                })
                .collect();
            out += &table(&["source", "stage", "caused by"], &rows);
        }
        ViewKind::Value => {
            let rows: Vec<Vec<String>> = v["promises"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    vec![
                        s(&p["promise_id"]),
                        s(&p["metric"]),
                        s(&p["unit"]),
                        s(&p["beneficiary"]),
                        s(&p["promised"]),
                        s(&p["delivered"]),
                        s(&p["due_date"]),
                        if p["status"] == "overdue" {
                            "OVERDUE".into()
                        } else {
                            s(&p["status"])
                        },
                        s(&p["shortfall"]),
                    ]
                })
                .collect();
            out += &table(
                &[
                    "promise",
                    "metric",
                    "unit",
                    "for",
                    "promised",
                    "delivered",
                    "due",
                    "status",
                    "shortfall",
                ],
                &rows,
            );
            let rows: Vec<Vec<String>> = v["totals"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    vec![
                        s(&t["unit"]),
                        s(&t["beneficiary"]),
                        s(&t["promised"]),
                        s(&t["due"]),
                        s(&t["delivered"]),
                        s(&t["realization"]),
                    ]
                })
                .collect();
            out += "\ntotals\n";
            out += &table(
                &["unit", "for", "promised", "due", "delivered", "realization"],
                &rows,
            );
        }
        ViewKind::Classification => {
            out += &format!(
                "tier {}   attractiveness {}   business strength {}   quadrant {}\n\nhistory\n",
                s(&v["tier"]),
                s(&v["attractiveness"]),
                s(&v["business_strength"]),
                s(&v["quadrant"])
            );
            let rows: Vec<Vec<String>> = v["history"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| vec![h["position"].to_string(), s(&h["quadrant"])])
                .collect();
            out += &table(&["position", "quadrant"], &rows);
        }
        ViewKind::Economics => {
            let rows: Vec<Vec<String>> = v["currencies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    vec![
                        s(&c["currency"]),
                        s(&c["revenue"]),
                        s(&c["gross_margin"]),
                        s(&c["investment"]),
                        s(&c["roi"]),
                    ]
                })
                .collect();
            out += &table(
                &["currency", "revenue", "gross margin", "investment", "roi"],
                &rows,
            );
        }
    }
    out
}
