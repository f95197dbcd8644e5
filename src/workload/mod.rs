//! A deterministic generator of realistic, valid event streams, for benchmarks and tests.
//!
//! Given a seed, a number of accounts and a number of events, it produces the same JSONL
//! every time: each account is opened, staffed and given stakeholders, then receives a mix of
//! event types close to what a KAM team records (interactions dominate; links, objectives,
//! promises, deliveries, revenue and assessments follow), every reference valid at its point
//! in the stream. Events are interleaved across accounts and run forward in time from 2021.

mod busy;

pub use busy::busy_account;

use serde_json::{json, Value};

/// A small, fast, deterministic PRNG (xorshift64*); no statistical claims needed here.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    /// A UUID-shaped id (version 4 layout).
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

const FUNCTIONS: &[&str] = &[
    "procurement",
    "operations",
    "finance",
    "it",
    "logistics",
    "quality",
    "r&d",
    "marketing",
];
const MEMBER_FUNCTIONS: &[&str] = &[
    "sales",
    "operations",
    "executive",
    "engineering",
    "finance",
    "service",
];
const TOPICS: &[&str] = &[
    "quarterly business review",
    "lane optimisation workshop",
    "renewal negotiation",
    "service incident follow-up",
    "innovation roadmap",
    "joint planning session",
];
const SUMMARY: &str =
    "Discussed current performance against the agreed service levels, open issues on \
    the regional distribution lanes, and next steps for the joint improvement programme; \
    customer asked for a written proposal with quantified savings before the next review.";

struct Acc {
    id: String,
    t: i64,
    n_members: u32,
    n_stakeholders: u32,
    members: Vec<String>,
    stakeholders: Vec<String>,
    links: Vec<(String, String)>,
    objectives_proposed: Vec<String>,
    objectives_agreed: Vec<String>,
    promises: Vec<String>,
    n_objectives: u32,
    n_promises: u32,
    n_interactions: u32,
    n_plans: u32,
    events: u64,
}

/// Generates `events` events over `accounts` accounts with a seed.
pub struct Workload {
    rng: Rng,
    accounts: Vec<Acc>,
    remaining: u64,
    queue: std::collections::VecDeque<Value>,
}

impl Workload {
    pub fn new(seed: u64, accounts: usize, events: u64) -> Workload {
        let accounts = (0..accounts.max(1))
            .map(|i| Acc {
                id: format!("acct-{i:05}"),
                t: 1_609_459_200 + (i as i64) * 60, // 2021-01-01
                n_members: 0,
                n_stakeholders: 0,
                members: vec![],
                stakeholders: vec![],
                links: vec![],
                objectives_proposed: vec![],
                objectives_agreed: vec![],
                promises: vec![],
                n_objectives: 0,
                n_promises: 0,
                n_interactions: 0,
                n_plans: 0,
                events: 0,
            })
            .collect();
        Workload {
            rng: Rng::new(seed),
            accounts,
            remaining: events,
            queue: Default::default(),
        }
    }

    fn event(rng: &mut Rng, acc: &mut Acc, t: &str, data: Value) -> Value {
        acc.t += 3_600 + rng.below(4 * 86_400) as i64;
        acc.events += 1;
        let at = chrono::DateTime::from_timestamp(acc.t, 0)
            .expect("in range")
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        json!({"event_id": rng.uuid(), "account_id": acc.id, "type": t, "occurred_at": at,
               "actor": "crm-sync", "data": data})
    }

    fn add_member(rng: &mut Rng, acc: &mut Acc, role: &str) -> Value {
        acc.n_members += 1;
        let id = format!("m-{}", acc.n_members);
        acc.members.push(id.clone());
        let function = *rng.pick(MEMBER_FUNCTIONS);
        Self::event(
            rng,
            acc,
            "team_member_assigned",
            json!({"member_id": id,
            "name": format!("Member {}", acc.n_members), "function": function, "team_role": role,
            "expertise": ["supply chain", "contract management"]}),
        )
    }

    fn add_stakeholder(rng: &mut Rng, acc: &mut Acc) -> Value {
        acc.n_stakeholders += 1;
        let id = format!("s-{}", acc.n_stakeholders);
        acc.stakeholders.push(id.clone());
        let roles: &[&str] = match rng.below(5) {
            0 => &["decision_maker"],
            1 => &["economic_buyer", "influencer"],
            2 => &["champion"],
            3 => &["technical_buyer"],
            _ => &[],
        };
        let level = *rng.pick(&["executive", "senior", "middle", "operational"]);
        let function = *rng.pick(FUNCTIONS);
        let influence = 1 + rng.below(5);
        let attitude = rng.below(5) as i64 - 2;
        Self::event(
            rng,
            acc,
            "stakeholder_added",
            json!({"stakeholder_id": id,
            "name": format!("Stakeholder {}", acc.n_stakeholders), "title": "Director",
            "email": format!("{id}@customer.example"), "function": function, "level": level,
            "dmu_roles": roles, "influence": influence, "attitude": attitude}),
        )
    }

    fn opening(rng: &mut Rng, acc: &mut Acc) -> Vec<Value> {
        let name = format!("Customer {}", acc.id);
        let mut out = vec![Self::event(
            rng,
            acc,
            "account_opened",
            json!({"name": name,
            "industry": "Manufacturing", "region": "EMEA", "tier": "major"}),
        )];
        out.push(Self::add_member(rng, acc, "account_lead"));
        out.push(Self::add_member(rng, acc, "exec_sponsor"));
        out.push(Self::add_stakeholder(rng, acc));
        out.push(Self::add_stakeholder(rng, acc));
        out
    }

    fn step(rng: &mut Rng, acc: &mut Acc) -> Value {
        loop {
            let roll = rng.below(100);
            let m = rng.pick(&acc.members).clone();
            let s = rng.pick(&acc.stakeholders).clone();
            let v = match roll {
                0..=44 => {
                    acc.n_interactions += 1;
                    let id = format!("i-{}", acc.n_interactions);
                    let mut members = vec![m.clone()];
                    let other = rng.pick(&acc.members).clone();
                    if other != m {
                        members.push(other);
                    }
                    let mut stakeholders = vec![s.clone()];
                    let other = rng.pick(&acc.stakeholders).clone();
                    if other != s {
                        stakeholders.push(other);
                    }
                    let channel = *rng.pick(&["meeting", "call", "email", "workshop", "review"]);
                    let topic = *rng.pick(TOPICS);
                    let sentiment = rng.below(5) as i64 - 2;
                    Self::event(
                        rng,
                        acc,
                        "interaction_logged",
                        json!({"interaction_id": id,
                        "channel": channel, "supplier_participants": members,
                        "customer_participants": stakeholders, "topic": topic,
                        "summary": SUMMARY, "sentiment": sentiment}),
                    )
                }
                45..=52 => {
                    if !acc.links.contains(&(m.clone(), s.clone())) {
                        acc.links.push((m.clone(), s.clone()));
                    }
                    let strength = 1 + rng.below(5);
                    Self::event(
                        rng,
                        acc,
                        "relationship_linked",
                        json!({"member_id": m,
                        "stakeholder_id": s, "strength": strength}),
                    )
                }
                53..=57 => {
                    let influence = 1 + rng.below(5);
                    Self::event(
                        rng,
                        acc,
                        "stakeholder_updated",
                        json!({"stakeholder_id": s,
                        "influence": influence, "title": "Senior Director"}),
                    )
                }
                58..=61 => Self::add_stakeholder(rng, acc),
                62..=64 => Self::add_member(rng, acc, "member"),
                65..=66 if acc.stakeholders.len() > 3 => {
                    acc.stakeholders.retain(|x| x != &s);
                    acc.links.retain(|(_, x)| x != &s);
                    Self::event(
                        rng,
                        acc,
                        "stakeholder_departed",
                        json!({"stakeholder_id": s,
                        "reason": "left the company"}),
                    )
                }
                67 if acc.members.len() > 3 => {
                    acc.members.retain(|x| x != &m);
                    acc.links.retain(|(x, _)| x != &m);
                    Self::event(
                        rng,
                        acc,
                        "team_member_departed",
                        json!({"member_id": m,
                        "reason": "reassigned"}),
                    )
                }
                68..=70 => {
                    acc.n_objectives += 1;
                    let id = format!("o-{}", acc.n_objectives);
                    acc.objectives_proposed.push(id.clone());
                    Self::event(
                        rng,
                        acc,
                        "objective_proposed",
                        json!({"objective_id": id,
                        "title": "Reduce total landed cost", "description":
                        "Joint programme to reduce landed cost on the top lanes", "target_date": "2027-12-31"}),
                    )
                }
                71..=72 if !acc.objectives_proposed.is_empty() => {
                    let id = acc.objectives_proposed.remove(0);
                    acc.objectives_agreed.push(id.clone());
                    Self::event(
                        rng,
                        acc,
                        "objective_agreed",
                        json!({"objective_id": id,
                        "agreed_by": [s], "supplier_owner": m}),
                    )
                }
                73 if !acc.objectives_agreed.is_empty() => {
                    let id = acc.objectives_agreed.remove(0);
                    let outcome = *rng.pick(&["achieved", "abandoned", "superseded"]);
                    Self::event(
                        rng,
                        acc,
                        "objective_closed",
                        json!({"objective_id": id,
                        "outcome": outcome, "note": "reviewed at the annual planning meeting"}),
                    )
                }
                74..=77 => {
                    acc.n_promises += 1;
                    let id = format!("p-{}", acc.n_promises);
                    acc.promises.push(id.clone());
                    let amount = format!("{}.{:02}", 1_000 + rng.below(100_000), rng.below(100));
                    Self::event(
                        rng,
                        acc,
                        "value_promised",
                        json!({"promise_id": id,
                        "description": "Savings from lane consolidation", "metric": "cost saving",
                        "unit": "EUR", "amount": amount, "due_date": "2026-06-30", "beneficiary": "customer"}),
                    )
                }
                78..=83 if !acc.promises.is_empty() => {
                    let p = rng.pick(&acc.promises).clone();
                    let amount = format!("{}.{:02}", 100 + rng.below(10_000), rng.below(100));
                    Self::event(
                        rng,
                        acc,
                        "value_delivered",
                        json!({"promise_id": p,
                        "amount": amount, "evidence": "monthly savings report"}),
                    )
                }
                84 if !acc.promises.is_empty() => {
                    let p = rng.pick(&acc.promises).clone();
                    Self::event(
                        rng,
                        acc,
                        "value_promise_revised",
                        json!({"promise_id": p,
                        "due_date": "2026-12-31", "reason": "scope extended to new sites"}),
                    )
                }
                85..=88 => {
                    let amount = format!("{}.00", 10_000 + rng.below(1_000_000));
                    let margin = format!("{}.00", 1_000 + rng.below(100_000));
                    let period = format!("20{}-Q{}", 21 + rng.below(5), 1 + rng.below(4));
                    Self::event(
                        rng,
                        acc,
                        "revenue_recorded",
                        json!({"period": period,
                        "amount": amount, "currency": "EUR", "gross_margin": margin}),
                    )
                }
                89..=90 => {
                    let amount = format!("{}.00", 1_000 + rng.below(50_000));
                    Self::event(
                        rng,
                        acc,
                        "investment_recorded",
                        json!({"amount": amount,
                        "currency": "EUR", "category": "solution design", "note": "workshop series"}),
                    )
                }
                91..=92 => {
                    let stage = *rng.pick(&["basic", "cooperative", "interdependent"]);
                    Self::event(
                        rng,
                        acc,
                        "stage_assessed",
                        json!({"stage": stage,
                        "rationale": "assessed at the quarterly account review"}),
                    )
                }
                93 => {
                    let (a, b) = (rng.below(101), rng.below(101));
                    Self::event(
                        rng,
                        acc,
                        "account_classified",
                        json!({"attractiveness": a,
                        "business_strength": b, "criteria": {"growth": a, "share_of_wallet": b},
                        "rationale": "annual portfolio review"}),
                    )
                }
                94 => {
                    acc.n_plans += 1;
                    let id = format!("plan-{}", acc.n_plans);
                    let h = 1 + rng.below(5);
                    Self::event(
                        rng,
                        acc,
                        "plan_agreed",
                        json!({"plan_id": id,
                        "horizon_years": h, "summary": "joint account plan"}),
                    )
                }
                _ => continue,
            };
            return v;
        }
    }
}

impl Iterator for Workload {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if let Some(v) = self.queue.pop_front() {
            return Some(v);
        }
        let i = self.rng.below(self.accounts.len() as u64) as usize;
        let acc = &mut self.accounts[i];
        if acc.events == 0 {
            let mut opening = Self::opening(&mut self.rng, acc);
            let first = opening.remove(0);
            self.queue.extend(opening);
            return Some(first);
        }
        Some(Self::step(&mut self.rng, acc))
    }
}
