//! What an event touches in the lenient fold, so that the walk can tell when two events may be
//! folded in either order with the same result.
//!
//! SPEC 3 defines an instant's state as the fold of the events selected there *in stream
//! order*. The walk lets events enter in business-time order; a late event's stream
//! predecessors then enter after it. Folding them in arrival order is still exact when the two
//! commute: neither introduces an id (a stakeholder, member, objective, promise, interaction)
//! that the other reads or writes, and they do not both write the same attribute (a
//! stakeholder's fields, a member's, a link, an objective's or a promise's). The lists whose
//! order is the stream's (interactions, assessments, classifications) are put back in stream
//! order by the walk; sums (deliveries, revenue, investment) and sets (plans) commute. Anything
//! else (retractions, opening, closing, reopening) is a barrier: the walk refolds.

use crate::event::EventData;

/// What a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stakeholder,
    Member,
    Objective,
    Promise,
    Interaction,
    Link,
}

/// One thing an event touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key<'a> {
    pub kind: Kind,
    pub id: &'a str,
    /// The second id of a link (member, stakeholder).
    pub other: &'a str,
}

/// What an event introduces, writes (attributes) and reads (existence of ids).
#[derive(Debug, Clone, Default)]
pub struct Footprint<'a> {
    pub introduces: Vec<Key<'a>>,
    pub writes: Vec<Key<'a>>,
    pub reads: Vec<Key<'a>>,
    /// Folding it out of order is never assumed safe.
    pub barrier: bool,
}

fn key(kind: Kind, id: &str) -> Key<'_> {
    Key {
        kind,
        id,
        other: "",
    }
}

impl<'a> Footprint<'a> {
    pub fn of(data: &'a EventData) -> Footprint<'a> {
        use EventData as E;
        use Kind::*;
        let mut f = Footprint::default();
        match data {
            E::AccountOpened(_)
            | E::AccountClosed(_)
            | E::AccountReopened(_)
            | E::EventRetracted(_)
            // Contracts are few: a late one refolds rather than being reasoned about.
            | E::ContractSigned(_)
            | E::ContractRenewed(_)
            | E::ContractEnded(_)
            // An erasure changes no figure, but is rare: it keeps its place.
            | E::PersonalDataErased(_) => f.barrier = true,
            E::AccountClassified(_)
            | E::StageAssessed(_)
            | E::PlanAgreed(_)
            | E::InvestmentRecorded(_)
            | E::RevenueRecorded(_) => {}
            E::StakeholderAdded(d) => f.introduces.push(key(Stakeholder, &d.stakeholder_id)),
            E::StakeholderUpdated(d) => {
                f.writes.push(key(Stakeholder, &d.stakeholder_id));
                f.reads.push(key(Stakeholder, &d.stakeholder_id));
            }
            E::StakeholderDeparted(d) => {
                f.writes.push(key(Stakeholder, &d.stakeholder_id));
                f.reads.push(key(Stakeholder, &d.stakeholder_id));
            }
            E::TeamMemberAssigned(d) => f.introduces.push(key(Member, &d.member_id)),
            E::TeamMemberDeparted(d) => {
                f.writes.push(key(Member, &d.member_id));
                f.reads.push(key(Member, &d.member_id));
            }
            E::SuccessorDesignated(d) => {
                f.writes.push(key(Member, &d.member_id));
                f.reads.push(key(Member, &d.member_id));
                f.reads.push(key(Member, &d.successor_id));
            }
            E::RelationshipLinked(d) => {
                f.writes.push(Key {
                    kind: Link,
                    id: &d.member_id,
                    other: &d.stakeholder_id,
                });
                f.reads.push(key(Member, &d.member_id));
                f.reads.push(key(Stakeholder, &d.stakeholder_id));
            }
            E::RelationshipUnlinked(d) => f.writes.push(Key {
                kind: Link,
                id: &d.member_id,
                other: &d.stakeholder_id,
            }),
            E::InteractionLogged(d) => {
                f.introduces.push(key(Interaction, &d.interaction_id));
                f.reads
                    .extend(d.supplier_participants.iter().map(|m| key(Member, m)));
                f.reads
                    .extend(d.customer_participants.iter().map(|s| key(Stakeholder, s)));
            }
            E::ObjectiveProposed(d) => f.introduces.push(key(Objective, &d.objective_id)),
            E::ObjectiveAgreed(d) => {
                f.writes.push(key(Objective, &d.objective_id));
                f.reads.push(key(Objective, &d.objective_id));
            }
            E::ObjectiveClosed(d) => {
                f.writes.push(key(Objective, &d.objective_id));
                f.reads.push(key(Objective, &d.objective_id));
            }
            E::ValuePromised(d) => f.introduces.push(key(Promise, &d.promise_id)),
            // Deliveries add up: they commute with one another, not with a promise's creation.
            E::ValueDelivered(d) => f.reads.push(key(Promise, &d.promise_id)),
            E::ValuePromiseRevised(d) => {
                f.writes.push(key(Promise, &d.promise_id));
                f.reads.push(key(Promise, &d.promise_id));
            }
            E::ValuePromiseWithdrawn(d) => {
                f.writes.push(key(Promise, &d.promise_id));
                f.reads.push(key(Promise, &d.promise_id));
            }
        }
        f
    }

    /// Whether folding `self` and `other` in either order gives the same state (up to the
    /// order of the stream-ordered lists, which the walk restores).
    pub fn commutes(&self, other: &Footprint) -> bool {
        if self.barrier || other.barrier {
            return false;
        }
        let touches = |f: &Footprint, k: &Key| {
            f.introduces.contains(k) || f.writes.contains(k) || f.reads.contains(k)
        };
        let introduced_by_one_touched_by_other = self.introduces.iter().any(|k| touches(other, k))
            || other.introduces.iter().any(|k| touches(self, k));
        let same_write = self.writes.iter().any(|k| other.writes.contains(k));
        !introduced_by_one_touched_by_other && !same_write
    }
}
