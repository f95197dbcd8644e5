//! The alert conditions true at an instant, borrowed from the state and the frame's figures.
//! The walk evaluates them at every instant and compares them with the open alerts; most
//! hold as they did at the instant before, so nothing is copied for them: an owned
//! [`Detail`] is made only for an alert raised or a detail that changed.

use super::{Detail, Kind};
use crate::view::contracts::status as contract_status;
use crate::view::stage::{divergence, infer, Stage};
use crate::view::{days, Frame, Policy};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

/// The roles whose loss with a departed stakeholder raises `champion_departed`, in the order
/// its `unfilled_roles` lists them.
const CRITICAL: [&str; 3] = ["champion", "decision_maker", "economic_buyer"];

/// A condition true at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Held<'a> {
    pub kind: Kind,
    pub subject: &'a str,
    pub detail: DetailRef<'a>,
}

/// A [`Detail`] whose text is borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DetailRef<'a> {
    Coverage {
        name: &'a str,
        covered_by: Option<&'a str>,
    },
    SuccessionGap {
        name: &'a str,
        sole_links: &'a [String],
        successor: Option<&'a str>,
    },
    ChampionDeparted {
        name: &'a str,
        /// Which of [`CRITICAL`] nobody active holds any more.
        unfilled: [bool; 3],
    },
    BowTie,
    ValueOverdue {
        promised: Decimal,
        delivered: Decimal,
        due_date: NaiveDate,
    },
    StageDivergence {
        declared: &'a str,
        inferred: Stage,
    },
    EngagementLapse {
        name: &'a str,
        last_interaction: Option<DateTime<Utc>>,
    },
    RenewalAtRisk {
        title: Option<&'a str>,
        status: &'static str,
        renewal_date: NaiveDate,
        annual_value: Decimal,
        currency: &'a str,
        map_status: &'static str,
    },
}

fn unfilled_roles(unfilled: [bool; 3]) -> impl Iterator<Item = &'static str> {
    CRITICAL
        .into_iter()
        .zip(unfilled)
        .filter(|x| x.1)
        .map(|x| x.0)
}

impl DetailRef<'_> {
    /// The owned detail.
    pub fn to_detail(self) -> Detail {
        match self {
            DetailRef::Coverage { name, covered_by } => Detail::Coverage {
                name: name.to_string(),
                covered_by: covered_by.map(str::to_string),
            },
            DetailRef::SuccessionGap {
                name,
                sole_links,
                successor,
            } => Detail::SuccessionGap {
                name: name.to_string(),
                sole_links: sole_links.to_vec(),
                successor: successor.map(str::to_string),
            },
            DetailRef::ChampionDeparted { name, unfilled } => Detail::ChampionDeparted {
                name: name.to_string(),
                unfilled_roles: unfilled_roles(unfilled).map(str::to_string).collect(),
            },
            DetailRef::BowTie => Detail::BowTie,
            DetailRef::ValueOverdue {
                promised,
                delivered,
                due_date,
            } => Detail::ValueOverdue {
                promised,
                delivered,
                due_date,
            },
            DetailRef::StageDivergence { declared, inferred } => Detail::StageDivergence {
                declared: declared.to_string(),
                inferred: inferred.name().to_string(),
            },
            DetailRef::EngagementLapse {
                name,
                last_interaction,
            } => Detail::EngagementLapse {
                name: name.to_string(),
                last_interaction,
            },
            DetailRef::RenewalAtRisk {
                title,
                status,
                renewal_date,
                annual_value,
                currency,
                map_status,
            } => Detail::RenewalAtRisk {
                title: title.map(str::to_string),
                status: status.to_string(),
                renewal_date,
                annual_value,
                currency: currency.to_string(),
                map_status: map_status.to_string(),
            },
        }
    }

    /// Whether `d` says the same (`d == self.to_detail()`, without making it).
    pub fn same_as(self, d: &Detail) -> bool {
        match (self, d) {
            (
                DetailRef::Coverage { name, covered_by },
                Detail::Coverage {
                    name: n,
                    covered_by: c,
                },
            ) => name == n && covered_by == c.as_deref(),
            (
                DetailRef::SuccessionGap {
                    name,
                    sole_links,
                    successor,
                },
                Detail::SuccessionGap {
                    name: n,
                    sole_links: l,
                    successor: s,
                },
            ) => name == n && sole_links == l.as_slice() && successor == s.as_deref(),
            (
                DetailRef::ChampionDeparted { name, unfilled },
                Detail::ChampionDeparted {
                    name: n,
                    unfilled_roles: u,
                },
            ) => name == n && unfilled_roles(unfilled).eq(u.iter().map(String::as_str)),
            (DetailRef::BowTie, Detail::BowTie) => true,
            (
                DetailRef::ValueOverdue {
                    promised,
                    delivered,
                    due_date,
                },
                Detail::ValueOverdue {
                    promised: p,
                    delivered: d,
                    due_date: u,
                },
            ) => promised == *p && delivered == *d && due_date == *u,
            (
                DetailRef::StageDivergence { declared, inferred },
                Detail::StageDivergence {
                    declared: d,
                    inferred: i,
                },
            ) => declared == d && inferred.name() == i,
            (
                DetailRef::EngagementLapse {
                    name,
                    last_interaction,
                },
                Detail::EngagementLapse {
                    name: n,
                    last_interaction: l,
                },
            ) => name == n && last_interaction == *l,
            (
                DetailRef::RenewalAtRisk {
                    title,
                    status,
                    renewal_date,
                    annual_value,
                    currency,
                    map_status,
                },
                Detail::RenewalAtRisk {
                    title: t,
                    status: s,
                    renewal_date: r,
                    annual_value: a,
                    currency: c,
                    map_status: m,
                },
            ) => {
                title == t.as_deref()
                    && status == s
                    && renewal_date == *r
                    && annual_value == *a
                    && currency == c
                    && map_status == m
            }
            _ => false,
        }
    }
}

/// Every alert condition true at a frame (sharing its links and coverage), sorted by kind and
/// subject.
pub fn held_at<'f>(frame: &'f Frame, once_cooperative: bool, policy: &Policy) -> Vec<Held<'f>> {
    let (state, t) = (frame.state, frame.instant);
    let cov = frame.coverage(policy);
    let mut out = Vec::with_capacity(2 * cov.key_stakeholders.len() + 8);
    let mut hold = |kind: Kind, subject: &'f str, detail: DetailRef<'f>| {
        out.push(Held {
            kind,
            subject,
            detail,
        })
    };
    let keys: Vec<&str> = cov
        .key_stakeholders
        .iter()
        .map(|k| k.stakeholder_id.as_str())
        .collect();
    let last_seen = frame.last_seen_each(&keys);
    // `within(l, t, lapse)` is `l ≤ t && t − lapse ≤ l`, and `t − added ≥ lapse` is
    // `added ≤ t − lapse`: the instant computed once, not for every stakeholder.
    let lapse_from = t - days(policy.engagement_lapse_days);
    let mut key_alerts = |k: &'f crate::view::coverage::KeyStakeholder,
                          stakeholder: &'f crate::model::Stakeholder,
                          last: Option<DateTime<Utc>>| {
        // Names as the state holds them (a commitment until revealed at output, SPEC 10).
        let (id, name) = (k.stakeholder_id.as_str(), stakeholder.name.as_str());
        match k.coverage {
            0 => hold(
                Kind::UncoveredStakeholder,
                id,
                DetailRef::Coverage {
                    name,
                    covered_by: None,
                },
            ),
            1 => hold(
                Kind::SinglePointOfContact,
                id,
                DetailRef::Coverage {
                    name,
                    covered_by: Some(k.covered_by[0].as_str()),
                },
            ),
            _ => {}
        }
        let quiet = last.is_none_or(|l| !(l <= t && lapse_from <= l));
        if quiet && stakeholder.added_at <= lapse_from {
            hold(
                Kind::EngagementLapse,
                id,
                DetailRef::EngagementLapse {
                    name,
                    last_interaction: last,
                },
            );
        }
    };
    // The critical roles some active stakeholder holds, and the departed who held any.
    let holds = |s: &crate::model::Stakeholder| {
        let mut r = [false; 3];
        for role in &s.dmu_roles {
            match role.as_str() {
                "champion" => r[0] = true,
                "decision_maker" => r[1] = true,
                "economic_buyer" => r[2] = true,
                _ => {}
            }
        }
        r
    };
    let mut held = [false; 3];
    let mut departed = Vec::new();
    // One pass over the stakeholders in id order, the key stakeholders (in id order too, a
    // subset) met on the way: no lookup by id for each; any not met are looked up after.
    let mut keys = cov.key_stakeholders.iter().zip(last_seen).peekable();
    for (id, s) in &state.stakeholders {
        if let Some((k, last)) = keys.next_if(|(k, _)| k.stakeholder_id == *id) {
            key_alerts(k, s, last);
        }
        let roles = holds(s);
        if s.active {
            for (h, r) in held.iter_mut().zip(roles) {
                *h |= r;
            }
        } else if roles.contains(&true) {
            departed.push((id, s, roles));
        }
    }
    for (k, last) in keys {
        key_alerts(k, &state.stakeholders[&k.stakeholder_id], last);
    }
    for m in &cov.members {
        if !m.sole_links.is_empty() && !m.successor_ready {
            hold(
                Kind::SuccessionGap,
                &m.member_id,
                DetailRef::SuccessionGap {
                    name: &state.members[&m.member_id].name,
                    sole_links: &m.sole_links,
                    successor: m.successor.as_deref(),
                },
            );
        }
    }
    for (id, s, roles) in departed {
        let unfilled = [0, 1, 2].map(|i| roles[i] && !held[i]);
        if unfilled.contains(&true) {
            hold(
                Kind::ChampionDeparted,
                id,
                DetailRef::ChampionDeparted {
                    name: &s.name,
                    unfilled,
                },
            );
        }
    }
    if cov.bow_tie {
        hold(Kind::BowTie, &state.account_id, DetailRef::BowTie);
    }
    let today = t.date_naive();
    for (id, p) in &state.promises {
        // `value::status` is "overdue" exactly then (`date_passed`: before the date of `t`).
        if !p.withdrawn && p.delivered < p.promised && p.due_date < today {
            hold(
                Kind::ValueOverdue,
                id,
                DetailRef::ValueOverdue {
                    promised: p.promised,
                    delivered: p.delivered,
                    due_date: p.due_date,
                },
            );
        }
    }
    let up: Vec<(&String, &crate::model::Contract, &'static str)> = state
        .contracts
        .iter()
        .map(|(id, c)| (id, c, contract_status(c, t, policy)))
        .filter(|(_, _, st)| matches!(*st, "renewing" | "lapsed"))
        .collect();
    if !up.is_empty() {
        let map_status = frame.map_status(policy);
        if map_status != "green" {
            for (id, c, status) in up {
                hold(
                    Kind::RenewalAtRisk,
                    id,
                    DetailRef::RenewalAtRisk {
                        title: c.title.as_deref(),
                        status,
                        renewal_date: c.renewal_date,
                        annual_value: c.annual_value,
                        currency: &c.currency,
                        map_status,
                    },
                );
            }
        }
    }
    let e = frame.evidence(once_cooperative, policy);
    let inferred = infer(&e, t, policy);
    let declared = state.assessments.last().map(|a| a.stage.as_str());
    if divergence(declared.and_then(Stage::parse), inferred) {
        hold(
            Kind::StageDivergence,
            &state.account_id,
            DetailRef::StageDivergence {
                declared: declared.unwrap_or_default(),
                inferred,
            },
        );
    }
    out.sort_unstable_by(|a, b| (a.kind, a.subject).cmp(&(b.kind, b.subject)));
    out
}
