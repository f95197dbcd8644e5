//! The event ids an account has used, each with its event's type: what the strict fold checks
//! a new event's id and a retraction's target against.
//!
//! Event ids are UUIDs, stored in their lower-case text form (SPEC 2; the intake lower-cases
//! them). Such an id is kept as its 128-bit value, with no allocation of its own: a 1,000-event
//! account holds ~66 KiB here instead of ~130 KiB of strings. Lookups keep the exact text
//! semantics: any other text (upper-case digits, another shape) is kept and matched as text.

use std::collections::HashMap;

/// Ids → event types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventIds {
    uuids: HashMap<u128, &'static str>,
    other: HashMap<String, &'static str>,
}

/// The value of a lower-case UUID in its text form, `None` for any other text.
fn uuid_value(id: &str) -> Option<u128> {
    let b = id.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        let d = match (i, c) {
            (8 | 13 | 18 | 23, b'-') => continue,
            (8 | 13 | 18 | 23, _) => return None,
            (_, b'0'..=b'9') => c - b'0',
            (_, b'a'..=b'f') => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
    }
    Some(v)
}

impl EventIds {
    /// Records an id and its event's type.
    pub fn insert(&mut self, id: &str, type_name: &'static str) {
        match uuid_value(id) {
            Some(v) => {
                self.uuids.insert(v, type_name);
            }
            None => {
                self.other.insert(id.to_string(), type_name);
            }
        }
    }

    /// The type of the event with this id, if the account used it.
    pub fn get(&self, id: &str) -> Option<&'static str> {
        match uuid_value(id) {
            Some(v) => self.uuids.get(&v).copied(),
            None => self.other.get(id).copied(),
        }
    }

    /// Whether the account used this id.
    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_as_text() {
        let mut ids = EventIds::default();
        ids.insert("0123abcd-ef01-4000-8000-00000000000a", "interaction_logged");
        ids.insert("not-a-uuid", "account_opened");
        assert_eq!(
            ids.get("0123abcd-ef01-4000-8000-00000000000a"),
            Some("interaction_logged")
        );
        assert_eq!(ids.get("0123ABCD-EF01-4000-8000-00000000000A"), None);
        assert_eq!(ids.get("0123abcd0ef01-4000-8000-00000000000a"), None);
        assert_eq!(ids.get("not-a-uuid"), Some("account_opened"));
        assert!(!ids.contains("0123abcd-ef01-4000-8000-00000000000b"));
    }
}
