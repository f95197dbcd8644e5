//! The typed payloads: one Rust struct per event type of SPEC 2.2, gathered in [`EventData`].
//!
//! Payloads are built only from `data` objects the catalog validator has accepted, so these
//! structs carry no constraints of their own; `deny_unknown_fields` and the test
//! `catalog_and_types_agree` keep them in step with the catalog table. Amounts stay decimal
//! strings here (exactly as stored, so re-serialising an event gives the same bytes) and are
//! parsed to exact decimals where they are summed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

macro_rules! payload {
    ($(#[$m:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                #[serde(skip_serializing_if = "crate::event::payload::Absent::absent")]
                pub $field: $ty,
            )*
        }
    };
}

/// Serde helper: optional fields are omitted when absent, never written as `null`; required
/// fields are always written.
pub(crate) trait Absent {
    fn absent(&self) -> bool;
}
impl<T> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}
macro_rules! never_absent {
    ($($t:ty),*) => { $(impl Absent for $t { fn absent(&self) -> bool { false } })* };
}
never_absent!(String, i64, Vec<String>);

payload!(AccountOpened { name: String, industry: Option<String>, region: Option<String>, tier: Option<String> });
payload!(AccountClassified {
    attractiveness: i64,
    business_strength: i64,
    criteria: Option<BTreeMap<String, i64>>,
    rationale: Option<String>,
});
payload!(StageAssessed { stage: String, rationale: Option<String> });
payload!(Reason { reason: Option<String> });
payload!(StakeholderAdded {
    stakeholder_id: String,
    name: String,
    title: Option<String>,
    email: Option<String>,
    function: String,
    level: String,
    dmu_roles: Vec<String>,
    influence: i64,
    attitude: i64,
});
payload!(StakeholderUpdated {
    stakeholder_id: String,
    title: Option<String>,
    function: Option<String>,
    level: Option<String>,
    dmu_roles: Option<Vec<String>>,
    influence: Option<i64>,
    attitude: Option<i64>,
});
payload!(StakeholderDeparted { stakeholder_id: String, reason: Option<String> });
payload!(TeamMemberAssigned {
    member_id: String,
    name: String,
    function: String,
    team_role: String,
    expertise: Option<Vec<String>>,
});
payload!(TeamMemberDeparted { member_id: String, reason: Option<String> });
payload!(SuccessorDesignated {
    member_id: String,
    successor_id: String
});
payload!(RelationshipLinked {
    member_id: String,
    stakeholder_id: String,
    strength: i64
});
payload!(RelationshipUnlinked { member_id: String, stakeholder_id: String, reason: Option<String> });
payload!(InteractionLogged {
    interaction_id: String,
    channel: String,
    supplier_participants: Vec<String>,
    customer_participants: Vec<String>,
    topic: Option<String>,
    summary: Option<String>,
    sentiment: Option<i64>,
});
payload!(ObjectiveProposed {
    objective_id: String,
    title: String,
    description: Option<String>,
    target_date: Option<String>,
});
payload!(ObjectiveAgreed { objective_id: String, agreed_by: Vec<String>, supplier_owner: String });
payload!(ObjectiveClosed { objective_id: String, outcome: String, note: Option<String> });
payload!(PlanAgreed { plan_id: String, horizon_years: i64, summary: Option<String> });
payload!(ValuePromised {
    promise_id: String,
    objective_id: Option<String>,
    description: String,
    metric: String,
    unit: String,
    amount: String,
    due_date: String,
    beneficiary: String,
});
payload!(ValueDelivered { promise_id: String, amount: String, evidence: Option<String> });
payload!(ValuePromiseRevised {
    promise_id: String,
    amount: Option<String>,
    due_date: Option<String>,
    reason: String,
});
payload!(ValuePromiseWithdrawn {
    promise_id: String,
    reason: String
});
payload!(InvestmentRecorded { amount: String, currency: String, category: String, note: Option<String> });
payload!(ContractSigned {
    contract_id: String,
    title: Option<String>,
    annual_value: String,
    currency: String,
    start_date: String,
    renewal_date: String,
});
payload!(ContractRenewed { contract_id: String, renewal_date: String, annual_value: Option<String> });
payload!(ContractEnded { contract_id: String, reason: Option<String> });
payload!(PersonalDataErased {
    subject: String,
    id: String,
    reason: String
});
payload!(RevenueRecorded { period: String, amount: String, currency: String, gross_margin: Option<String> });
payload!(EventRetracted {
    target_event_id: String,
    reason: String
});

/// The payload of an event, tagged by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum EventData {
    AccountOpened(AccountOpened),
    AccountClassified(AccountClassified),
    StageAssessed(StageAssessed),
    AccountClosed(Reason),
    AccountReopened(Reason),
    StakeholderAdded(StakeholderAdded),
    StakeholderUpdated(StakeholderUpdated),
    StakeholderDeparted(StakeholderDeparted),
    TeamMemberAssigned(TeamMemberAssigned),
    TeamMemberDeparted(TeamMemberDeparted),
    SuccessorDesignated(SuccessorDesignated),
    RelationshipLinked(RelationshipLinked),
    RelationshipUnlinked(RelationshipUnlinked),
    InteractionLogged(InteractionLogged),
    ObjectiveProposed(ObjectiveProposed),
    ObjectiveAgreed(ObjectiveAgreed),
    ObjectiveClosed(ObjectiveClosed),
    PlanAgreed(PlanAgreed),
    ValuePromised(ValuePromised),
    ValueDelivered(ValueDelivered),
    ValuePromiseRevised(ValuePromiseRevised),
    ValuePromiseWithdrawn(ValuePromiseWithdrawn),
    InvestmentRecorded(InvestmentRecorded),
    RevenueRecorded(RevenueRecorded),
    ContractSigned(ContractSigned),
    ContractRenewed(ContractRenewed),
    ContractEnded(ContractEnded),
    EventRetracted(EventRetracted),
    PersonalDataErased(PersonalDataErased),
}

impl EventData {
    /// Decodes the payload of the named type from a `data` object (a `&Value`, or a JSON
    /// deserializer over stored bytes).
    pub fn decode<'de, D: serde::Deserializer<'de>>(
        type_name: &str,
        data: D,
    ) -> Result<EventData, D::Error> {
        use EventData as E;
        macro_rules! dec {
            ($($name:literal => $variant:ident($ty:ty)),* $(,)?) => {
                match type_name {
                    $($name => <$ty>::deserialize(data).map(E::$variant),)*
                    other => Err(serde::de::Error::custom(format!("unknown event type {other}"))),
                }
            };
        }
        dec!(
            "account_opened" => AccountOpened(AccountOpened),
            "account_classified" => AccountClassified(AccountClassified),
            "stage_assessed" => StageAssessed(StageAssessed),
            "account_closed" => AccountClosed(Reason),
            "account_reopened" => AccountReopened(Reason),
            "stakeholder_added" => StakeholderAdded(StakeholderAdded),
            "stakeholder_updated" => StakeholderUpdated(StakeholderUpdated),
            "stakeholder_departed" => StakeholderDeparted(StakeholderDeparted),
            "team_member_assigned" => TeamMemberAssigned(TeamMemberAssigned),
            "team_member_departed" => TeamMemberDeparted(TeamMemberDeparted),
            "successor_designated" => SuccessorDesignated(SuccessorDesignated),
            "relationship_linked" => RelationshipLinked(RelationshipLinked),
            "relationship_unlinked" => RelationshipUnlinked(RelationshipUnlinked),
            "interaction_logged" => InteractionLogged(InteractionLogged),
            "objective_proposed" => ObjectiveProposed(ObjectiveProposed),
            "objective_agreed" => ObjectiveAgreed(ObjectiveAgreed),
            "objective_closed" => ObjectiveClosed(ObjectiveClosed),
            "plan_agreed" => PlanAgreed(PlanAgreed),
            "value_promised" => ValuePromised(ValuePromised),
            "value_delivered" => ValueDelivered(ValueDelivered),
            "value_promise_revised" => ValuePromiseRevised(ValuePromiseRevised),
            "value_promise_withdrawn" => ValuePromiseWithdrawn(ValuePromiseWithdrawn),
            "investment_recorded" => InvestmentRecorded(InvestmentRecorded),
            "revenue_recorded" => RevenueRecorded(RevenueRecorded),
            "contract_signed" => ContractSigned(ContractSigned),
            "contract_renewed" => ContractRenewed(ContractRenewed),
            "contract_ended" => ContractEnded(ContractEnded),
            "event_retracted" => EventRetracted(EventRetracted),
            "personal_data_erased" => PersonalDataErased(PersonalDataErased),
        )
    }

    /// The `data` object as JSON.
    pub fn data_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("payloads always serialise");
        v.get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or_default()
    }

    /// The type name as it appears in the envelope.
    pub fn type_name(&self) -> &'static str {
        use EventData::*;
        match self {
            AccountOpened(_) => "account_opened",
            AccountClassified(_) => "account_classified",
            StageAssessed(_) => "stage_assessed",
            AccountClosed(_) => "account_closed",
            AccountReopened(_) => "account_reopened",
            StakeholderAdded(_) => "stakeholder_added",
            StakeholderUpdated(_) => "stakeholder_updated",
            StakeholderDeparted(_) => "stakeholder_departed",
            TeamMemberAssigned(_) => "team_member_assigned",
            TeamMemberDeparted(_) => "team_member_departed",
            SuccessorDesignated(_) => "successor_designated",
            RelationshipLinked(_) => "relationship_linked",
            RelationshipUnlinked(_) => "relationship_unlinked",
            InteractionLogged(_) => "interaction_logged",
            ObjectiveProposed(_) => "objective_proposed",
            ObjectiveAgreed(_) => "objective_agreed",
            ObjectiveClosed(_) => "objective_closed",
            PlanAgreed(_) => "plan_agreed",
            ValuePromised(_) => "value_promised",
            ValueDelivered(_) => "value_delivered",
            ValuePromiseRevised(_) => "value_promise_revised",
            ValuePromiseWithdrawn(_) => "value_promise_withdrawn",
            InvestmentRecorded(_) => "investment_recorded",
            RevenueRecorded(_) => "revenue_recorded",
            ContractSigned(_) => "contract_signed",
            ContractRenewed(_) => "contract_renewed",
            ContractEnded(_) => "contract_ended",
            EventRetracted(_) => "event_retracted",
            PersonalDataErased(_) => "personal_data_erased",
        }
    }
}
