//! The names of an account's people, for tables that show a name beside an id. Members and
//! stakeholders are kept apart: a member and a stakeholder may share an id (README, "Ids are
//! unique per kind"), so every lookup says which kind it names.

use crate::model::AccountState;
use std::collections::HashMap;

/// Members' and stakeholders' names by id (departed ones too).
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub members: HashMap<String, String>,
    pub stakeholders: HashMap<String, String>,
}

/// A name as people see it: `(erased)` or `(unknown)` where the vault does not hold it
/// (SPEC 10).
fn shown(name: &str, erased: bool) -> String {
    let n = crate::personal::reveal::shown(name);
    crate::personal::reveal::name_for_people(n.as_deref(), erased).to_string()
}

impl Names {
    pub fn of(state: &AccountState) -> Names {
        Names {
            members: state
                .members
                .iter()
                .map(|(id, m)| (id.clone(), shown(&m.name, state.is_erased("member", id))))
                .collect(),
            stakeholders: state
                .stakeholders
                .iter()
                .map(|(id, s)| {
                    let erased = state.is_erased("stakeholder", id);
                    (id.clone(), shown(&s.name, erased))
                })
                .collect(),
        }
    }

    /// `m-ana (Ana Ruiz)`, or the id alone when the member's name is unknown.
    pub fn member(&self, id: &str) -> String {
        beside(id, self.members.get(id))
    }

    /// `s-cfo (Cara Diaz)`, or the id alone when the stakeholder's name is unknown.
    pub fn stakeholder(&self, id: &str) -> String {
        beside(id, self.stakeholders.get(id))
    }

    /// The member's name alone, or its id when unknown.
    pub fn member_name(&self, id: &str) -> String {
        self.members
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

fn beside(id: &str, name: Option<&String>) -> String {
    match name {
        Some(n)
            if n == crate::personal::reveal::ERASED || n == crate::personal::reveal::UNKNOWN =>
        {
            format!("{id} {n}")
        }
        Some(n) => format!("{id} ({n})"),
        None => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_and_a_stakeholder_sharing_an_id_keep_their_own_names() {
        let names = Names {
            members: [("x".to_string(), "Ana Member".to_string())].into(),
            stakeholders: [("x".to_string(), "Sam Stakeholder".to_string())].into(),
        };
        assert_eq!(names.member("x"), "x (Ana Member)");
        assert_eq!(names.stakeholder("x"), "x (Sam Stakeholder)");
        assert_eq!(names.member_name("x"), "Ana Member");
        assert_eq!(names.stakeholder("y"), "y");
    }
}
