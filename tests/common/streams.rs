//! Random valid single-account streams for the history engine's equivalence tests: late
//! events, same-instant events, retractions, departures, re-links, unlinks, windows crossed,
//! every event type. Each candidate event is kept only if the strict fold (the store's own
//! rules) accepts the stream with it, so the result is valid by construction.

use chrono::{DateTime, Duration, Utc};
use kamlog::event::StoredEvent;
use kamlog::model::{fold_strict, EventRef};
use kamlog::workload::Rng;
use serde_json::{json, Value};

pub const ACCOUNT: &str = "acct-00000";

const FUNCTIONS: &[&str] = &["finance", "it", "operations", "procurement"];
const MEMBER_FUNCTIONS: &[&str] = &["sales", "executive", "engineering", "service"];
const LEVELS: &[&str] = &["executive", "senior", "middle", "operational"];
const ROLES: &[&str] = &[
    "decision_maker",
    "economic_buyer",
    "champion",
    "influencer",
    "coach",
];
const CHANNELS: &[&str] = &[
    "meeting",
    "call",
    "email",
    "workshop",
    "site_visit",
    "review",
];
const STAGES: &[&str] = &[
    "exploratory",
    "basic",
    "cooperative",
    "interdependent",
    "integrated",
    "disintegrating",
];

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One candidate event's type and data.
fn candidate(rng: &mut Rng, n: usize, accepted: &[Value]) -> (&'static str, Value) {
    let m = |rng: &mut Rng| format!("m-{}", rng.below(5));
    let s = |rng: &mut Rng| format!("s-{}", rng.below(8));
    let amount = |rng: &mut Rng| format!("{}", 100 * (1 + rng.below(50)));
    let date = |rng: &mut Rng| format!("2024-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28));
    match rng.below(100) {
        0..=29 => {
            let ms: Vec<String> = {
                let a = m(rng);
                let b = m(rng);
                if a == b || rng.below(2) == 0 {
                    vec![a]
                } else {
                    vec![a, b]
                }
            };
            let ss: Vec<String> = {
                let a = s(rng);
                let b = s(rng);
                if a == b || rng.below(2) == 0 {
                    vec![a]
                } else {
                    vec![a, b]
                }
            };
            (
                "interaction_logged",
                json!({"interaction_id": format!("i-{n}"), "channel": *rng.pick(CHANNELS),
                "supplier_participants": ms, "customer_participants": ss}),
            )
        }
        30..=39 => {
            let roles: Vec<&str> = ROLES
                .iter()
                .copied()
                .filter(|_| rng.below(4) == 0)
                .collect();
            (
                "stakeholder_added",
                json!({"stakeholder_id": s(rng), "name": format!("Person {n}"),
                "function": *rng.pick(FUNCTIONS), "level": *rng.pick(LEVELS), "dmu_roles": roles,
                "influence": 1 + rng.below(5), "attitude": rng.below(5) as i64 - 2}),
            )
        }
        40..=46 => (
            "team_member_assigned",
            json!({"member_id": m(rng), "name": format!("Member {n}"),
            "function": *rng.pick(MEMBER_FUNCTIONS),
            "team_role": *rng.pick(&["account_lead", "exec_sponsor", "member", "member"])}),
        ),
        47..=53 => (
            "relationship_linked",
            json!({"member_id": m(rng), "stakeholder_id": s(rng), "strength": 1 + rng.below(5)}),
        ),
        54..=57 => (
            "relationship_unlinked",
            json!({"member_id": m(rng), "stakeholder_id": s(rng)}),
        ),
        58..=60 => ("stakeholder_departed", json!({"stakeholder_id": s(rng)})),
        61..=62 => ("team_member_departed", json!({"member_id": m(rng)})),
        63..=64 => (
            "stakeholder_updated",
            json!({"stakeholder_id": s(rng), "level": *rng.pick(LEVELS),
            "dmu_roles": if rng.below(2) == 0 { json!(["champion"]) } else { json!([]) }}),
        ),
        65..=66 => (
            "successor_designated",
            json!({"member_id": m(rng), "successor_id": m(rng)}),
        ),
        67..=68 => (
            "objective_proposed",
            json!({"objective_id": format!("o-{}", rng.below(4)), "title": "Objective"}),
        ),
        69..=70 => (
            "objective_agreed",
            json!({"objective_id": format!("o-{}", rng.below(4)), "agreed_by": [s(rng)], "supplier_owner": m(rng)}),
        ),
        71 => (
            "objective_closed",
            json!({"objective_id": format!("o-{}", rng.below(4)),
            "outcome": *rng.pick(&["achieved", "abandoned", "superseded"])}),
        ),
        72 => (
            "plan_agreed",
            json!({"plan_id": format!("plan-{n}"), "horizon_years": 3}),
        ),
        73..=75 => (
            "value_promised",
            json!({"promise_id": format!("p-{}", rng.below(4)), "description": "Savings",
            "metric": "cost", "unit": "EUR", "amount": amount(rng), "due_date": date(rng),
            "beneficiary": *rng.pick(&["customer", "supplier"])}),
        ),
        76..=78 => (
            "value_delivered",
            json!({"promise_id": format!("p-{}", rng.below(4)), "amount": amount(rng)}),
        ),
        79 => (
            "value_promise_revised",
            json!({"promise_id": format!("p-{}", rng.below(4)), "due_date": date(rng), "reason": "moved"}),
        ),
        80 => (
            "value_promise_withdrawn",
            json!({"promise_id": format!("p-{}", rng.below(4)), "reason": "dropped"}),
        ),
        81..=82 => (
            "revenue_recorded",
            json!({"period": "2024-Q1", "amount": amount(rng), "currency": "EUR", "gross_margin": "10"}),
        ),
        83 => (
            "investment_recorded",
            json!({"amount": amount(rng), "currency": "EUR", "category": "travel"}),
        ),
        84..=86 => ("stage_assessed", json!({"stage": *rng.pick(STAGES)})),
        87..=88 => (
            "account_classified",
            json!({"attractiveness": rng.below(101), "business_strength": rng.below(101)}),
        ),
        89..=90 => {
            let renewal = format!(
                "{}-{:02}-{:02}",
                2023 + rng.below(3),
                1 + rng.below(12),
                1 + rng.below(28)
            );
            (
                "contract_signed",
                json!({"contract_id": format!("c-{}", rng.below(3)), "annual_value": amount(rng),
                "currency": "EUR", "start_date": "2023-01-01", "renewal_date": renewal}),
            )
        }
        91 => (
            "contract_renewed",
            json!({"contract_id": format!("c-{}", rng.below(3)),
            "renewal_date": format!("{}-{:02}-{:02}", 2024 + rng.below(3), 1 + rng.below(12), 1 + rng.below(28))}),
        ),
        92 => (
            "contract_ended",
            json!({"contract_id": format!("c-{}", rng.below(3))}),
        ),
        _ => {
            // Retract a random earlier event (the rules decide whether that is allowed).
            let target = if accepted.len() > 1 {
                accepted[1 + rng.below(accepted.len() as u64 - 1) as usize]["event_id"].clone()
            } else {
                json!("00000000-0000-4000-8000-000000000000")
            };
            (
                "event_retracted",
                json!({"target_event_id": target, "reason": "mistake"}),
            )
        }
    }
}

/// The stored form of envelopes: version and position from 1, `recorded_at` increasing in
/// stream order (never before the latest `occurred_at` so far), placeholder hashes.
pub fn seal(envelopes: &[Value]) -> Vec<StoredEvent> {
    let mut latest: Option<DateTime<Utc>> = None;
    envelopes
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let occurred = DateTime::parse_from_rfc3339(e["occurred_at"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc);
            latest = latest.max(Some(occurred));
            let recorded = latest.unwrap() + Duration::seconds(i as i64 + 1);
            let mut e = e.clone();
            e["version"] = json!(i + 1);
            e["position"] = json!(i + 1);
            e["recorded_at"] = json!(recorded.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
            e["prev_hash"] = json!("0".repeat(64));
            e["hash"] = json!("0".repeat(64));
            StoredEvent::decode(e.to_string().as_bytes()).unwrap()
        })
        .collect()
}

/// A random valid stream of up to `n` events (as submitted envelopes).
pub fn stream(seed: u64, n: usize) -> Vec<Value> {
    let mut rng = Rng::new(seed);
    let start = DateTime::parse_from_rfc3339("2023-01-01T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut t = start;
    let mut accepted = vec![
        json!({"event_id": format!("00000000-0000-4000-8000-{:012x}", seed % 1_000_000_000 * 1000),
        "account_id": ACCOUNT, "type": "account_opened", "occurred_at": time(t), "data": {"name": "Acme"}}),
    ];
    let mut tries = 0;
    while accepted.len() < n && tries < n * 20 {
        tries += 1;
        let (ty, data) = candidate(&mut rng, tries, &accepted);
        // Time moves on by 0–40 days; some events are late (up to 60 days before the latest),
        // some share the previous event's instant.
        let occurred = match rng.below(10) {
            0 => (t - Duration::days(1 + rng.below(60) as i64)).max(start),
            1 => accepted
                .last()
                .map(|e| {
                    DateTime::parse_from_rfc3339(e["occurred_at"].as_str().unwrap())
                        .unwrap()
                        .with_timezone(&Utc)
                })
                .unwrap(),
            _ => {
                t += Duration::hours(rng.below(40 * 24) as i64);
                t
            }
        };
        let ev = json!({"event_id": format!("00000000-0000-4000-8000-{:012x}", seed % 1_000_000_000 * 1000 + tries as u64),
            "account_id": ACCOUNT, "type": ty, "occurred_at": time(occurred), "data": data});
        let mut candidate = accepted.clone();
        candidate.push(ev.clone());
        let sealed = seal(&candidate);
        let refs: Vec<EventRef> = sealed.iter().map(EventRef::from).collect();
        if fold_strict(ACCOUNT, &refs).is_ok() {
            accepted.push(ev);
        }
    }
    accepted
}
