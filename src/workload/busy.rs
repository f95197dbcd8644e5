//! One busy, realistic key account for the history engine's benchmark: `n` events over six
//! years with every event type — interactions dominate, some logged up to two weeks late;
//! people join, leave and are replaced; links are made, dropped and re-made; objectives,
//! promises, deliveries, revenue, assessments and a close/reopen; a few retractions.
//!
//! Each candidate event is checked against the account's strict fold (the store's own rules)
//! and dropped if it breaks one, so the stream is valid by construction.

use super::Rng;
use crate::event::EventData;
use crate::model::{AccountState, EventRef};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

const FUNCTIONS: &[&str] = &[
    "procurement",
    "operations",
    "finance",
    "it",
    "logistics",
    "quality",
];
const MEMBER_FUNCTIONS: &[&str] = &["sales", "executive", "engineering", "service", "finance"];
const LEVELS: &[&str] = &["executive", "senior", "middle", "operational"];
const CHANNELS: &[&str] = &[
    "meeting",
    "call",
    "email",
    "workshop",
    "review",
    "site_visit",
    "event",
    "other",
];
const STAGES: &[&str] = &["basic", "cooperative", "interdependent", "integrated"];

struct Gen {
    rng: Rng,
    account: String,
    state: AccountState,
    out: Vec<Value>,
    t: DateTime<Utc>,
    n: u64,
    members: Vec<String>,
    stakeholders: Vec<String>,
    links: Vec<(String, String)>,
    objectives: Vec<(String, u8)>, // id, 0 proposed / 1 agreed
    promises: Vec<String>,
    retractable: Vec<String>,
}

impl Gen {
    fn time(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// Offers an event; keeps it if the strict fold accepts it.
    fn offer(&mut self, ty: &str, at: DateTime<Utc>, data: Value) -> bool {
        self.n += 1;
        let event_id = self.rng.uuid();
        let Ok(decoded) = EventData::decode(ty, &data) else {
            return false;
        };
        let version = self.out.len() as u64 + 1;
        let r = EventRef {
            event_id: &event_id,
            occurred_at: at,
            version,
            position: version,
            data: &decoded,
        };
        if self.state.apply(r, true).is_err() {
            return false;
        }
        self.out.push(
            json!({"event_id": event_id, "account_id": self.account, "type": ty,
            "occurred_at": Self::time(at), "actor": "crm-sync", "data": data}),
        );
        true
    }

    fn pick_active(&mut self, pool: &[String], member: bool) -> Option<String> {
        let active: Vec<&String> = pool
            .iter()
            .filter(|id| {
                if member {
                    self.state.is_member_active(id)
                } else {
                    self.state.is_stakeholder_active(id)
                }
            })
            .collect();
        if active.is_empty() {
            return None;
        }
        Some(active[self.rng.below(active.len() as u64) as usize].clone())
    }

    fn some_active(&mut self, member: bool, max: u64) -> Vec<String> {
        let pool = if member {
            self.members.clone()
        } else {
            self.stakeholders.clone()
        };
        let k = 1 + self.rng.below(max);
        let mut out: Vec<String> = Vec::new();
        for _ in 0..k {
            if let Some(id) = self.pick_active(&pool, member) {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }

    fn add_member(&mut self, role: &str) {
        let id = format!("m-{}", self.members.len() + 1);
        let f = *self.rng.pick(MEMBER_FUNCTIONS);
        let at = self.t;
        if self.offer(
            "team_member_assigned",
            at,
            json!({"member_id": id, "name": format!("Member {}", self.members.len() + 1),
                   "function": f, "team_role": role}),
        ) {
            self.members.push(id);
        }
    }

    fn add_stakeholder(&mut self) {
        let id = format!("s-{}", self.stakeholders.len() + 1);
        let roles: Vec<&str> = match self.rng.below(6) {
            0 => vec!["decision_maker"],
            1 => vec!["economic_buyer", "influencer"],
            2 => vec!["champion"],
            3 => vec!["technical_buyer"],
            _ => vec![],
        };
        let (f, l) = (*self.rng.pick(FUNCTIONS), *self.rng.pick(LEVELS));
        let (inf, att) = (1 + self.rng.below(5), self.rng.below(5) as i64 - 2);
        let at = self.t;
        if self.offer(
            "stakeholder_added",
            at,
            json!({"stakeholder_id": id, "name": format!("Stakeholder {}", self.stakeholders.len() + 1),
                   "title": "Director", "function": f, "level": l, "dmu_roles": roles,
                   "influence": inf, "attitude": att}),
        ) {
            self.stakeholders.push(id);
        }
    }

    fn step(&mut self) {
        let t = self.t;
        let n = self.n;
        let amount = |rng: &mut Rng| format!("{}", 500 * (1 + rng.below(40)));
        let active_members = self
            .members
            .iter()
            .filter(|m| self.state.is_member_active(m))
            .count();
        let active_stakeholders = self
            .stakeholders
            .iter()
            .filter(|s| self.state.is_stakeholder_active(s))
            .count();
        match self.rng.below(1000) {
            0..=549 => {
                let ms = self.some_active(true, 2);
                let ss = self.some_active(false, 3);
                let late = self.rng.below(100) < 6;
                let at = if late {
                    t - Duration::days(1 + self.rng.below(14) as i64)
                } else {
                    t
                };
                let ch = *self.rng.pick(CHANNELS);
                let id = format!("i-{n}");
                let sentiment = self.rng.below(5) as i64 - 2;
                if self.offer(
                    "interaction_logged",
                    at,
                    json!({"interaction_id": id, "channel": ch,
                    "supplier_participants": ms, "customer_participants": ss,
                    "topic": "account review", "sentiment": sentiment}),
                ) {
                    self.retractable.push(
                        self.out.last().unwrap()["event_id"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                    );
                }
            }
            550..=599 => {
                if let (Some(m), Some(s)) = (
                    self.pick_active(&self.members.clone(), true),
                    self.pick_active(&self.stakeholders.clone(), false),
                ) {
                    let st = 1 + self.rng.below(5);
                    if self.offer(
                        "relationship_linked",
                        t,
                        json!({"member_id": m, "stakeholder_id": s, "strength": st}),
                    ) {
                        self.links.push((m, s));
                    }
                }
            }
            600..=619 if !self.links.is_empty() => {
                let i = self.rng.below(self.links.len() as u64) as usize;
                let (m, s) = self.links.swap_remove(i);
                self.offer(
                    "relationship_unlinked",
                    t,
                    json!({"member_id": m, "stakeholder_id": s}),
                );
            }
            620..=649 if active_stakeholders < 25 => self.add_stakeholder(),
            650..=664 if active_stakeholders > 8 => {
                if let Some(s) = self.pick_active(&self.stakeholders.clone(), false) {
                    self.offer(
                        "stakeholder_departed",
                        t,
                        json!({"stakeholder_id": s, "reason": "left the company"}),
                    );
                }
            }
            665..=684 => {
                if let Some(s) = self.pick_active(&self.stakeholders.clone(), false) {
                    let l = *self.rng.pick(LEVELS);
                    let inf = 1 + self.rng.below(5);
                    self.offer(
                        "stakeholder_updated",
                        t,
                        json!({"stakeholder_id": s, "level": l, "influence": inf}),
                    );
                }
            }
            685..=699 if active_members < 10 => {
                let role = if self.rng.below(4) == 0 {
                    "exec_sponsor"
                } else {
                    "member"
                };
                self.add_member(role)
            }
            700..=704 if active_members > 4 => {
                if let Some(m) = self.pick_active(&self.members.clone(), true) {
                    self.offer("team_member_departed", t, json!({"member_id": m}));
                }
            }
            705..=714 => {
                let (a, b) = (
                    self.pick_active(&self.members.clone(), true),
                    self.pick_active(&self.members.clone(), true),
                );
                if let (Some(a), Some(b)) = (a, b) {
                    self.offer(
                        "successor_designated",
                        t,
                        json!({"member_id": a, "successor_id": b}),
                    );
                }
            }
            715..=734 => {
                let id = format!("o-{n}");
                if self.offer("objective_proposed", t, json!({"objective_id": id, "title": "Reduce cost to serve", "target_date": "2027-12-31"})) {
                    self.objectives.push((id, 0));
                }
            }
            735..=754 => {
                if let Some(i) = self.objectives.iter().position(|o| o.1 == 0) {
                    let id = self.objectives[i].0.clone();
                    let (s, m) = (
                        self.pick_active(&self.stakeholders.clone(), false),
                        self.pick_active(&self.members.clone(), true),
                    );
                    if let (Some(s), Some(m)) = (s, m) {
                        if self.offer(
                            "objective_agreed",
                            t,
                            json!({"objective_id": id, "agreed_by": [s], "supplier_owner": m}),
                        ) {
                            self.objectives[i].1 = 1;
                        }
                    }
                }
            }
            755..=769 if !self.objectives.is_empty() => {
                let i = self.rng.below(self.objectives.len() as u64) as usize;
                let (id, _) = self.objectives.swap_remove(i);
                let outcome = *self
                    .rng
                    .pick(&["achieved", "achieved", "abandoned", "superseded"]);
                self.offer(
                    "objective_closed",
                    t,
                    json!({"objective_id": id, "outcome": outcome}),
                );
            }
            770..=772 => {
                self.offer(
                    "plan_agreed",
                    t,
                    json!({"plan_id": format!("plan-{n}"), "horizon_years": 3}),
                );
            }
            773..=802 => {
                let id = format!("p-{n}");
                let due = (t + Duration::days(60 + self.rng.below(300) as i64))
                    .format("%Y-%m-%d")
                    .to_string();
                let amt = amount(&mut self.rng);
                let who = *self.rng.pick(&["customer", "supplier"]);
                if self.offer("value_promised", t, json!({"promise_id": id, "description": "Savings from lane optimisation",
                    "metric": "cost", "unit": "EUR", "amount": amt, "due_date": due, "beneficiary": who})) {
                    self.promises.push(id);
                }
            }
            803..=852 if !self.promises.is_empty() => {
                let id = self.promises[self.rng.below(self.promises.len() as u64) as usize].clone();
                let amt = amount(&mut self.rng);
                if self.offer(
                    "value_delivered",
                    t,
                    json!({"promise_id": id, "amount": amt, "evidence": "invoice"}),
                ) {
                    self.retractable.push(
                        self.out.last().unwrap()["event_id"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                    );
                }
            }
            853..=862 if !self.promises.is_empty() => {
                let id = self.promises[self.rng.below(self.promises.len() as u64) as usize].clone();
                let due = (t + Duration::days(30 + self.rng.below(200) as i64))
                    .format("%Y-%m-%d")
                    .to_string();
                self.offer(
                    "value_promise_revised",
                    t,
                    json!({"promise_id": id, "due_date": due, "reason": "re-planned"}),
                );
            }
            863..=867 if !self.promises.is_empty() => {
                let i = self.rng.below(self.promises.len() as u64) as usize;
                let id = self.promises.swap_remove(i);
                self.offer(
                    "value_promise_withdrawn",
                    t,
                    json!({"promise_id": id, "reason": "scope changed"}),
                );
            }
            868..=887 => {
                let q = format!("{}-Q{}", t.format("%Y"), 1 + self.rng.below(4));
                let amt = amount(&mut self.rng);
                self.offer("revenue_recorded", t, json!({"period": q, "amount": amt, "currency": "EUR", "gross_margin": "1200.50"}));
            }
            888..=897 => {
                let amt = amount(&mut self.rng);
                self.offer(
                    "investment_recorded",
                    t,
                    json!({"amount": amt, "currency": "EUR", "category": "workshops"}),
                );
            }
            898..=907 => {
                let s = *self.rng.pick(STAGES);
                self.offer(
                    "stage_assessed",
                    t,
                    json!({"stage": s, "rationale": "quarterly review"}),
                );
            }
            908..=914 => {
                let (a, b) = (self.rng.below(101), self.rng.below(101));
                self.offer(
                    "account_classified",
                    t,
                    json!({"attractiveness": a, "business_strength": b}),
                );
            }
            915..=919 if !self.retractable.is_empty() => {
                let i = self.rng.below(self.retractable.len() as u64) as usize;
                let target = self.retractable.swap_remove(i);
                self.offer("event_retracted", t, json!({"target_event_id": target, "reason": "logged against the wrong account"}));
            }
            _ => {}
        }
    }
}

/// A busy account `account` of about `events` events over six years from 2020-01-06.
pub fn busy_account(seed: u64, account: &str, events: usize) -> Vec<Value> {
    let start = DateTime::parse_from_rfc3339("2020-01-06T09:00:00Z")
        .expect("a time")
        .with_timezone(&Utc);
    let mut g = Gen {
        rng: Rng::new(seed),
        account: account.to_string(),
        state: AccountState::new(account),
        out: Vec::new(),
        t: start,
        n: 0,
        members: Vec::new(),
        stakeholders: Vec::new(),
        links: Vec::new(),
        objectives: Vec::new(),
        promises: Vec::new(),
        retractable: Vec::new(),
    };
    g.offer("account_opened", start, json!({"name": "Busy Industries", "industry": "Logistics", "region": "EMEA", "tier": "strategic"}));
    g.add_member("account_lead");
    g.add_member("exec_sponsor");
    for _ in 0..6 {
        g.add_stakeholder();
    }
    // A framework contract renewed for a year each time, a month before its renewal date: it
    // spends five months of every year inside its renewal window (SPEC 4.8).
    let mut renewal = (start + Duration::days(365)).date_naive();
    let t = g.t;
    g.offer("contract_signed", t, json!({"contract_id": "c-frame", "title": "Framework agreement",
        "annual_value": "250000", "currency": "EUR", "start_date": start.format("%Y-%m-%d").to_string(),
        "renewal_date": renewal.format("%Y-%m-%d").to_string()}));
    let span = Duration::days(6 * 365).num_seconds();
    let gap = (2 * span / events.max(1) as i64).max(2);
    let mut closed_once = false;
    while g.out.len() < events {
        g.t += Duration::seconds(g.rng.below(gap as u64) as i64 + 1);
        if g.t.date_naive() + Duration::days(30) >= renewal {
            renewal += Duration::days(365);
            let t = g.t;
            g.offer(
                "contract_renewed",
                t,
                json!({"contract_id": "c-frame",
                "renewal_date": renewal.format("%Y-%m-%d").to_string()}),
            );
            continue;
        }
        if !closed_once && g.out.len() > events / 2 {
            closed_once = true;
            let t = g.t;
            g.offer("account_closed", t, json!({"reason": "contract paused"}));
            g.t += Duration::days(20);
            let t = g.t;
            g.offer("account_reopened", t, json!({"reason": "new tender won"}));
            continue;
        }
        g.step();
    }
    g.out
}
