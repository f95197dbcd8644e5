//! The fold: how each event type changes an [`AccountState`], and the rules of SPEC 2.1 that
//! the strict mode enforces.

use super::*;
use crate::event::payload::EventData;
use crate::event::validate::parse_date;
use crate::event::StoredEvent;
use std::str::FromStr;

/// A rule of SPEC 2.1 an event breaks, given the account's history: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub field: String,
    pub reason: String,
}

fn rule<T>(field: &str, reason: impl Into<String>) -> Result<T, RuleError> {
    Err(RuleError {
        field: field.to_string(),
        reason: reason.into(),
    })
}

/// The parts of an event the fold needs.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    pub event_id: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub version: u64,
    pub position: u64,
    pub data: &'a EventData,
}

impl<'a> From<&'a StoredEvent> for EventRef<'a> {
    fn from(e: &'a StoredEvent) -> Self {
        EventRef {
            event_id: &e.event_id,
            occurred_at: e.occurred_at,
            version: e.version,
            position: e.position,
            data: &e.data,
        }
    }
}

fn dec(s: &str) -> Decimal {
    // Amounts were validated as decimals within rust_decimal's exact range on the way in.
    Decimal::from_str(s).unwrap_or_default()
}

fn date(s: &str) -> NaiveDate {
    parse_date(s).unwrap_or_default()
}

/// Folds events leniently (the views' mode): retracted events and retractions are dropped
/// first, the rest applied in the given (stream) order.
pub fn fold_events<'a, I>(account_id: &str, events: I) -> AccountState
where
    I: IntoIterator<Item = &'a StoredEvent>,
{
    let events: Vec<&StoredEvent> = events.into_iter().collect();
    let retracted: HashSet<&str> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::EventRetracted(r) => Some(r.target_event_id.as_str()),
            _ => None,
        })
        .collect();
    let mut state = AccountState::new(account_id);
    for e in events {
        if retracted.contains(e.event_id.as_str()) {
            continue;
        }
        let _ = state.apply(EventRef::from(e), false);
    }
    state
}

impl AccountState {
    fn stakeholder_active(&self, id: &str) -> bool {
        self.stakeholders.get(id).is_some_and(|s| s.active)
    }

    fn member_active(&self, id: &str) -> bool {
        self.members.get(id).is_some_and(|m| m.active)
    }

    fn need_stakeholder(&self, field: &str, id: &str) -> Result<(), RuleError> {
        match self.stakeholders.get(id) {
            Some(s) if s.active => Ok(()),
            Some(_) => rule(field, format!("stakeholder \"{id}\" has departed")),
            None => rule(field, format!("unknown stakeholder \"{id}\"")),
        }
    }

    /// Refuses new personal data for a person whose personal data was erased (SPEC 10).
    fn refuse_if_erased(&self, field: &str, subject: &str, id: &str) -> Result<(), RuleError> {
        match self.erased.get(&crate::personal::person_key(subject, id)) {
            Some(p) => rule(
                field,
                format!(
                    "the personal data of {subject} \"{id}\" was erased (personal_data_erased at \
                     position {p}): new personal data for that person is refused"
                ),
            ),
            None => Ok(()),
        }
    }

    fn need_member(&self, field: &str, id: &str) -> Result<(), RuleError> {
        match self.members.get(id) {
            Some(m) if m.active => Ok(()),
            Some(_) => rule(field, format!("team member \"{id}\" has departed")),
            None => rule(field, format!("unknown team member \"{id}\"")),
        }
    }

    fn need_promise(&self, id: &str) -> Result<(), RuleError> {
        match self.promises.get(id) {
            Some(p) if !p.withdrawn => Ok(()),
            Some(_) => rule("data.promise_id", format!("promise \"{id}\" was withdrawn")),
            None => rule("data.promise_id", format!("unknown promise \"{id}\"")),
        }
    }

    fn need_contract(&self, id: &str) -> Result<&Contract, RuleError> {
        match self.contracts.get(id) {
            Some(c) if !c.ended => Ok(c),
            Some(_) => rule("data.contract_id", format!("contract \"{id}\" has ended")),
            None => rule("data.contract_id", format!("unknown contract \"{id}\"")),
        }
    }

    fn need_open_objective(&self, field: &str, id: &str) -> Result<(), RuleError> {
        match self.objectives.get(id) {
            Some(o) if o.outcome.is_none() => Ok(()),
            Some(_) => rule(field, format!("objective \"{id}\" is closed")),
            None => rule(field, format!("unknown objective \"{id}\"")),
        }
    }

    /// Checks the ordering rules and, for a retraction, the target. Strict mode only.
    fn check_order(&self, ev: &EventRef) -> Result<(), RuleError> {
        let is_open = matches!(ev.data, EventData::AccountOpened(_));
        if !self.opened && !is_open {
            return rule(
                "type",
                "the first event of an account must be account_opened",
            );
        }
        if self.opened && is_open {
            return rule("type", "account_opened: the account is already open");
        }
        if self.closed && !matches!(ev.data, EventData::AccountReopened(_)) {
            return rule(
                "type",
                format!(
                    "{}: the account is closed; only account_reopened may follow account_closed",
                    ev.data.type_name()
                ),
            );
        }
        if !self.closed && matches!(ev.data, EventData::AccountReopened(_)) {
            return rule("type", "account_reopened: the account is not closed");
        }
        if self.event_types.contains(ev.event_id) {
            return rule("event_id", "already used by another event of this account");
        }
        Ok(())
    }

    /// Applies one event. In strict mode every rule of SPEC 2.1 is checked first and the state
    /// is left unchanged on error; in lenient mode unknown ids are ignored.
    pub fn apply(&mut self, ev: EventRef, strict: bool) -> Result<(), RuleError> {
        if strict {
            self.check_order(&ev)?;
        }
        self.apply_data(&ev, strict)?;
        if strict {
            self.event_types.insert(ev.event_id, ev.data.type_name());
        }
        self.version = ev.version;
        self.position = ev.position;
        Ok(())
    }

    fn apply_data(&mut self, ev: &EventRef, strict: bool) -> Result<(), RuleError> {
        use EventData as E;
        match ev.data {
            E::AccountOpened(d) => {
                self.opened = true;
                self.name = Some(d.name.clone());
                self.tier = d.tier.clone();
            }
            E::AccountClassified(d) => self.classifications.push(Classification {
                attractiveness: d.attractiveness,
                business_strength: d.business_strength,
                position: ev.position,
            }),
            E::StageAssessed(d) => self.assessments.push(Assessment {
                stage: d.stage.clone(),
                occurred_at: ev.occurred_at,
                rationale: d.rationale.clone(),
                position: ev.position,
            }),
            E::AccountClosed(_) => self.closed = true,
            E::AccountReopened(_) => self.closed = false,
            E::StakeholderAdded(d) => {
                if self.stakeholders.contains_key(&d.stakeholder_id) {
                    if strict {
                        return rule(
                            "data.stakeholder_id",
                            format!(
                                "stakeholder id \"{}\" was already used in this account",
                                d.stakeholder_id
                            ),
                        );
                    }
                    return Ok(());
                }
                self.stakeholders.insert(
                    d.stakeholder_id.clone(),
                    Stakeholder {
                        name: d.name.clone(),
                        title: d.title.clone(),
                        function: d.function.clone(),
                        level: d.level.clone(),
                        dmu_roles: d.dmu_roles.clone(),
                        influence: d.influence,
                        attitude: d.attitude,
                        active: true,
                        added_at: ev.occurred_at,
                        departed_at: None,
                        departed_position: None,
                    },
                );
            }
            E::StakeholderUpdated(d) => {
                if strict {
                    self.need_stakeholder("data.stakeholder_id", &d.stakeholder_id)?;
                    if d.title.is_some() {
                        self.refuse_if_erased("data.title", "stakeholder", &d.stakeholder_id)?;
                    }
                }
                if let Some(s) = self.stakeholders.get_mut(&d.stakeholder_id) {
                    if let Some(v) = &d.title {
                        s.title = Some(v.clone());
                    }
                    if let Some(v) = &d.function {
                        s.function = v.clone();
                    }
                    if let Some(v) = &d.level {
                        s.level = v.clone();
                    }
                    if let Some(v) = &d.dmu_roles {
                        s.dmu_roles = v.clone();
                    }
                    if let Some(v) = d.influence {
                        s.influence = v;
                    }
                    if let Some(v) = d.attitude {
                        s.attitude = v;
                    }
                }
            }
            E::StakeholderDeparted(d) => {
                if strict {
                    self.need_stakeholder("data.stakeholder_id", &d.stakeholder_id)?;
                }
                if let Some(s) = self.stakeholders.get_mut(&d.stakeholder_id) {
                    if s.active {
                        s.active = false;
                        s.departed_at = Some(ev.occurred_at);
                        s.departed_position = Some(ev.position);
                    }
                }
            }
            E::TeamMemberAssigned(d) => {
                if self.members.contains_key(&d.member_id) {
                    if strict {
                        return rule(
                            "data.member_id",
                            format!(
                                "member id \"{}\" was already used in this account",
                                d.member_id
                            ),
                        );
                    }
                    return Ok(());
                }
                self.members.insert(
                    d.member_id.clone(),
                    Member {
                        name: d.name.clone(),
                        function: d.function.clone(),
                        team_role: d.team_role.clone(),
                        active: true,
                        successor: None,
                    },
                );
            }
            E::TeamMemberDeparted(d) => {
                if strict {
                    self.need_member("data.member_id", &d.member_id)?;
                }
                if let Some(m) = self.members.get_mut(&d.member_id) {
                    m.active = false;
                }
            }
            E::SuccessorDesignated(d) => {
                if strict {
                    self.need_member("data.member_id", &d.member_id)?;
                    self.need_member("data.successor_id", &d.successor_id)?;
                    if d.member_id == d.successor_id {
                        return rule("data.successor_id", "a member cannot be its own successor");
                    }
                }
                if self.members.contains_key(&d.successor_id) && d.member_id != d.successor_id {
                    if let Some(m) = self.members.get_mut(&d.member_id) {
                        m.successor = Some(d.successor_id.clone());
                    }
                }
            }
            E::RelationshipLinked(d) => {
                if strict {
                    self.need_member("data.member_id", &d.member_id)?;
                    self.need_stakeholder("data.stakeholder_id", &d.stakeholder_id)?;
                }
                if self.members.contains_key(&d.member_id)
                    && self.stakeholders.contains_key(&d.stakeholder_id)
                {
                    self.links
                        .entry(d.member_id.clone())
                        .or_default()
                        .insert(d.stakeholder_id.clone(), d.strength);
                }
            }
            E::RelationshipUnlinked(d) => {
                let standing = self
                    .links
                    .get(&d.member_id)
                    .is_some_and(|l| l.contains_key(&d.stakeholder_id));
                if strict && !standing {
                    return rule(
                        "data.stakeholder_id",
                        format!(
                            "no standing relationship between member \"{}\" and stakeholder \"{}\"",
                            d.member_id, d.stakeholder_id
                        ),
                    );
                }
                if let Some(l) = self.links.get_mut(&d.member_id) {
                    l.remove(&d.stakeholder_id);
                    if l.is_empty() {
                        self.links.remove(&d.member_id);
                    }
                }
            }
            E::InteractionLogged(d) => {
                if self.interaction_ids.contains(&d.interaction_id) {
                    if strict {
                        return rule(
                            "data.interaction_id",
                            format!(
                                "interaction id \"{}\" was already used in this account",
                                d.interaction_id
                            ),
                        );
                    }
                    return Ok(());
                }
                if strict {
                    for (i, m) in d.supplier_participants.iter().enumerate() {
                        self.need_member(&format!("data.supplier_participants[{i}]"), m)?;
                    }
                    for (i, s) in d.customer_participants.iter().enumerate() {
                        self.need_stakeholder(&format!("data.customer_participants[{i}]"), s)?;
                    }
                    // The rules need only the id; who met whom is for the views, and an
                    // account's interactions are most of its events: the store's cached
                    // states stay small without them.
                    self.interaction_ids.insert(d.interaction_id.clone());
                    return Ok(());
                }
                let (members, stakeholders) = self.known_participants(d);
                self.interaction_ids.insert(d.interaction_id.clone());
                self.interactions.push(Interaction {
                    id: d.interaction_id.clone(),
                    occurred_at: ev.occurred_at,
                    position: ev.position,
                    members,
                    stakeholders,
                    in_person: IN_PERSON_CHANNELS.contains(&d.channel.as_str()),
                });
            }
            E::ObjectiveProposed(d) => {
                if self.objectives.contains_key(&d.objective_id) {
                    if strict {
                        return rule(
                            "data.objective_id",
                            format!(
                                "objective id \"{}\" was already used in this account",
                                d.objective_id
                            ),
                        );
                    }
                    return Ok(());
                }
                self.objectives.insert(
                    d.objective_id.clone(),
                    Objective {
                        title: d.title.clone(),
                        agreed: false,
                        outcome: None,
                    },
                );
            }
            E::ObjectiveAgreed(d) => {
                if strict {
                    self.need_open_objective("data.objective_id", &d.objective_id)?;
                    if self.objectives[&d.objective_id].agreed {
                        return rule(
                            "data.objective_id",
                            format!("objective \"{}\" is already agreed", d.objective_id),
                        );
                    }
                    for (i, s) in d.agreed_by.iter().enumerate() {
                        self.need_stakeholder(&format!("data.agreed_by[{i}]"), s)?;
                    }
                    self.need_member("data.supplier_owner", &d.supplier_owner)?;
                }
                if let Some(o) = self.objectives.get_mut(&d.objective_id) {
                    o.agreed = true;
                }
            }
            E::ObjectiveClosed(d) => {
                if strict {
                    self.need_open_objective("data.objective_id", &d.objective_id)?;
                }
                if let Some(o) = self.objectives.get_mut(&d.objective_id) {
                    if o.outcome.is_none() {
                        o.outcome = Some(d.outcome.clone());
                    }
                }
            }
            E::PlanAgreed(d) => {
                if strict && self.plans.contains(&d.plan_id) {
                    return rule(
                        "data.plan_id",
                        format!("plan id \"{}\" was already used in this account", d.plan_id),
                    );
                }
                self.plans.insert(d.plan_id.clone());
            }
            E::ValuePromised(d) => {
                if self.promises.contains_key(&d.promise_id) {
                    if strict {
                        return rule(
                            "data.promise_id",
                            format!(
                                "promise id \"{}\" was already used in this account",
                                d.promise_id
                            ),
                        );
                    }
                    return Ok(());
                }
                if strict {
                    if let Some(o) = &d.objective_id {
                        self.need_open_objective("data.objective_id", o)?;
                    }
                }
                self.promises.insert(
                    d.promise_id.clone(),
                    Promise {
                        objective_id: d.objective_id.clone(),
                        metric: d.metric.clone(),
                        unit: d.unit.clone(),
                        beneficiary: d.beneficiary.clone(),
                        promised: dec(&d.amount),
                        delivered: Decimal::ZERO,
                        due_date: date(&d.due_date),
                        withdrawn: false,
                    },
                );
            }
            E::ValueDelivered(d) => {
                if strict {
                    self.need_promise(&d.promise_id)?;
                }
                if let Some(p) = self.promises.get_mut(&d.promise_id) {
                    p.delivered += dec(&d.amount);
                }
            }
            E::ValuePromiseRevised(d) => {
                if strict {
                    self.need_promise(&d.promise_id)?;
                }
                if let Some(p) = self.promises.get_mut(&d.promise_id) {
                    if let Some(a) = &d.amount {
                        p.promised = dec(a);
                    }
                    if let Some(due) = &d.due_date {
                        p.due_date = date(due);
                    }
                }
            }
            E::ValuePromiseWithdrawn(d) => {
                if strict {
                    self.need_promise(&d.promise_id)?;
                }
                if let Some(p) = self.promises.get_mut(&d.promise_id) {
                    p.withdrawn = true;
                }
            }
            E::InvestmentRecorded(d) => {
                let m = self.money.entry(d.currency.clone()).or_default();
                m.investment += dec(&d.amount);
                m.has_investment = true;
            }
            E::RevenueRecorded(d) => {
                self.revenue_events += 1;
                let m = self.money.entry(d.currency.clone()).or_default();
                m.revenue += dec(&d.amount);
                if let Some(g) = &d.gross_margin {
                    m.gross_margin += dec(g);
                }
            }
            E::ContractSigned(d) => {
                if self.contracts.contains_key(&d.contract_id) {
                    if strict {
                        return rule(
                            "data.contract_id",
                            format!(
                                "contract id \"{}\" was already used in this account",
                                d.contract_id
                            ),
                        );
                    }
                    return Ok(());
                }
                let (start, renewal) = (date(&d.start_date), date(&d.renewal_date));
                if strict && renewal <= start {
                    return rule(
                        "data.renewal_date",
                        format!(
                            "the renewal date {} must be later than the start date {}",
                            d.renewal_date, d.start_date
                        ),
                    );
                }
                self.contracts.insert(
                    d.contract_id.clone(),
                    Contract {
                        title: d.title.clone(),
                        annual_value: dec(&d.annual_value),
                        currency: d.currency.clone(),
                        start_date: start,
                        renewal_date: renewal,
                        ended: false,
                    },
                );
            }
            E::ContractRenewed(d) => {
                let renewal = date(&d.renewal_date);
                if strict {
                    let c = self.need_contract(&d.contract_id)?;
                    if renewal <= c.renewal_date {
                        return rule(
                            "data.renewal_date",
                            format!(
                                "the renewal date {} must be later than the contract's current renewal date {}",
                                d.renewal_date, c.renewal_date
                            ),
                        );
                    }
                }
                if let Some(c) = self.contracts.get_mut(&d.contract_id) {
                    if !c.ended && renewal > c.renewal_date {
                        c.renewal_date = renewal;
                        if let Some(v) = &d.annual_value {
                            c.annual_value = dec(v);
                        }
                    }
                }
            }
            E::ContractEnded(d) => {
                if strict {
                    self.need_contract(&d.contract_id)?;
                }
                if let Some(c) = self.contracts.get_mut(&d.contract_id) {
                    c.ended = true;
                }
            }
            E::PersonalDataErased(d) => {
                if strict {
                    let known = match d.subject.as_str() {
                        "stakeholder" => self.stakeholders.contains_key(&d.id),
                        _ => self.members.contains_key(&d.id),
                    };
                    if !known {
                        let kind = if d.subject == "stakeholder" {
                            "stakeholder"
                        } else {
                            "team member"
                        };
                        return rule("data.id", format!("unknown {kind} \"{}\"", d.id));
                    }
                    if let Some(p) = self
                        .erased
                        .get(&crate::personal::person_key(&d.subject, &d.id))
                    {
                        return rule(
                            "data.id",
                            format!(
                                "the personal data of {} \"{}\" was already erased (position {p})",
                                d.subject, d.id
                            ),
                        );
                    }
                }
                self.erased
                    .entry(crate::personal::person_key(&d.subject, &d.id))
                    .or_insert(ev.position);
            }
            E::EventRetracted(d) => {
                if strict {
                    match self.event_types.get(&d.target_event_id) {
                        None => {
                            return rule(
                                "data.target_event_id",
                                format!(
                                    "no earlier event {} in account \"{}\"",
                                    d.target_event_id, self.account_id
                                ),
                            )
                        }
                        Some("event_retracted") => {
                            return rule("data.target_event_id", "a retraction cannot be retracted")
                        }
                        Some("account_opened") => {
                            return rule(
                                "data.target_event_id",
                                "account_opened cannot be retracted",
                            )
                        }
                        Some("personal_data_erased") => {
                            return rule(
                                "data.target_event_id",
                                "personal_data_erased cannot be retracted: the data is gone",
                            )
                        }
                        Some(_) if self.retracted.contains(&d.target_event_id) => {
                            return rule(
                                "data.target_event_id",
                                format!("event {} is already retracted", d.target_event_id),
                            )
                        }
                        Some(_) => {}
                    }
                    // Whether the later events stay valid without the target is checked by
                    // the store, which re-folds the stream (it holds the events).
                }
                self.retracted.insert(d.target_event_id.clone());
            }
        }
        Ok(())
    }

    /// An interaction's participants as this state knows them: ids it has never heard of
    /// are left out (late data, SPEC 3).
    pub fn known_participants(
        &self,
        d: &crate::event::payload::InteractionLogged,
    ) -> (Vec<String>, Vec<String>) {
        let members = d
            .supplier_participants
            .iter()
            .filter(|m| self.members.contains_key(*m))
            .cloned()
            .collect();
        let stakeholders = d
            .customer_participants
            .iter()
            .filter(|s| self.stakeholders.contains_key(*s))
            .cloned()
            .collect();
        (members, stakeholders)
    }

    /// Takes a delivery that was folded back out of its promise's sum (its event was
    /// retracted).
    pub fn take_back_delivery(&mut self, d: &crate::event::payload::ValueDelivered) {
        if let Some(p) = self.promises.get_mut(&d.promise_id) {
            p.delivered -= dec(&d.amount);
        }
    }

    /// Whether a member is active (exists and has not departed).
    pub fn is_member_active(&self, id: &str) -> bool {
        self.member_active(id)
    }

    /// Whether a stakeholder is active.
    pub fn is_stakeholder_active(&self, id: &str) -> bool {
        self.stakeholder_active(id)
    }
}

/// Folds an account's events strictly, honouring every retraction among them: retracted
/// events are recorded (so their ids cannot be reused as event ids) but not applied. Returns
/// the index of the first event that breaks a rule, with the rule.
pub fn fold_strict(
    account_id: &str,
    events: &[EventRef],
) -> Result<AccountState, (usize, RuleError)> {
    let retracted: HashSet<&str> = events
        .iter()
        .filter_map(|e| match e.data {
            EventData::EventRetracted(r) => Some(r.target_event_id.as_str()),
            _ => None,
        })
        .collect();
    let mut state = AccountState::new(account_id);
    for (i, ev) in events.iter().enumerate() {
        if retracted.contains(ev.event_id) {
            state.event_types.insert(ev.event_id, ev.data.type_name());
            state.version = ev.version;
            state.position = ev.position;
            continue;
        }
        state.apply(*ev, true).map_err(|e| (i, e))?;
    }
    Ok(state)
}
