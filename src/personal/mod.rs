//! Personal data (SPEC 10 v2): which fields of which events are personal, the salted
//! commitments that stand in their place in the stored (hashed, exported, published) envelope,
//! and the step that commits a new event's values. The values and their salts live in the
//! [`vault`]; [`reveal`] puts them back into what people and programs are shown, and shows an
//! erased person as erased.
//!
//! A commitment is `"pd:" + hex(SHA-256(salt ‖ UTF-8 value))` with a random 16-byte salt per
//! field: it proves a value without holding it, so erasing the value and its salt leaves the
//! hash chain intact and verifiable.

pub mod account_file;
pub mod reveal;
pub mod vault;

use crate::error::{Error, Result};
use crate::event::{EventData, NewEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use vault::Vault;

/// The prefix of a commitment.
pub const PREFIX: &str = "pd:";

/// The personal fields of an event type (SPEC 10).
pub fn fields(type_name: &str) -> &'static [&'static str] {
    match type_name {
        "stakeholder_added" => &["name", "title", "email"],
        "stakeholder_updated" => &["title"],
        "team_member_assigned" => &["name"],
        _ => &[],
    }
}

/// Whose personal data an event holds: (`stakeholder` | `member`, id).
pub fn subject(data: &EventData) -> Option<(&'static str, &str)> {
    match data {
        EventData::StakeholderAdded(d) => Some(("stakeholder", &d.stakeholder_id)),
        EventData::StakeholderUpdated(d) => Some(("stakeholder", &d.stakeholder_id)),
        EventData::TeamMemberAssigned(d) => Some(("member", &d.member_id)),
        _ => None,
    }
}

/// A person's key within an account: `stakeholder:<id>` or `member:<id>`.
pub fn person_key(subject: &str, id: &str) -> String {
    format!("{subject}:{id}")
}

/// Whether a string has the form of a commitment.
pub fn is_commitment(s: &str) -> bool {
    s.len() == PREFIX.len() + 64
        && s.starts_with(PREFIX)
        && s[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The commitment to `value` under `salt`.
pub fn commitment(salt: &[u8], value: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(value.as_bytes());
    format!("{PREFIX}{}", hex::encode(h.finalize()))
}

/// A fresh random salt.
pub fn new_salt() -> Result<[u8; 16]> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::Io(format!("no randomness for a personal-data salt: {e}")))?;
    Ok(salt)
}

/// One personal value and its salt: a line of `export --personal` (SPEC 10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub event_id: String,
    pub field: String,
    pub value: String,
    /// Hex.
    pub salt: String,
}

impl Entry {
    /// The commitment this entry opens (`None` when its salt is not hex).
    pub fn commitment(&self) -> Option<String> {
        hex::decode(&self.salt)
            .ok()
            .map(|salt| commitment(&salt, &self.value))
    }
}

/// A new event's personal values, committed: where they go in the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub account_id: String,
    /// [`person_key`].
    pub person: String,
    pub entry: Entry,
}

/// Commits a submitted event's personal values: the event as it will be stored (each personal
/// field's value replaced by its commitment) and the vault entries. `None` when it holds no
/// personal value, or when it is an exported event (already committed).
pub fn commit(ev: &NewEvent) -> Result<Option<(NewEvent, Vec<Committed>)>> {
    let names = fields(ev.type_name());
    if names.is_empty() || ev.restore.is_some() {
        return Ok(None);
    }
    let Some((subject, id)) = subject(&ev.data) else {
        return Ok(None);
    };
    let person = person_key(subject, id);
    let mut body = ev.body.clone();
    let Some(Value::Object(data)) = body.get_mut("data") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for &field in names {
        let Some(Value::String(value)) = data.get(field) else {
            continue;
        };
        let salt = new_salt()?;
        let c = commitment(&salt, value);
        out.push(Committed {
            account_id: ev.account_id.clone(),
            person: person.clone(),
            entry: Entry {
                event_id: ev.event_id.clone(),
                field: field.to_string(),
                value: value.clone(),
                salt: hex::encode(salt),
            },
        });
        data.insert(field.to_string(), Value::String(c));
    }
    if out.is_empty() {
        return Ok(None);
    }
    let data = EventData::decode(ev.type_name(), &body["data"])
        .map_err(|e| Error::Storage(format!("a committed event does not decode: {e}")))?;
    Ok(Some((
        NewEvent {
            body,
            data,
            ..ev.clone()
        },
        out,
    )))
}

/// Whether a submitted personal value matches a stored commitment: with the stored salt when
/// the vault still holds it, and without checking when the person's data was erased (SPEC 10:
/// a repeated, already stored event is acknowledged without restoring anything).
pub fn matches(stored: &str, submitted: &str, salt: Option<&[u8]>) -> bool {
    if !is_commitment(stored) {
        return stored == submitted;
    }
    match salt {
        Some(salt) => commitment(salt, submitted) == stored,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commitment_is_the_hash_of_salt_then_value() {
        // SHA-256 of the 16 bytes 00..0f followed by "Ana", computed independently
        // (python3 -c "import hashlib; print(hashlib.sha256(bytes(range(16))+b'Ana').hexdigest())").
        let salt: Vec<u8> = (0u8..16).collect();
        let c = commitment(&salt, "Ana");
        assert_eq!(
            c,
            "pd:0a74c696af429e4f3f2f78dead0de0349cfe6643410392e0164bc795d8cdb507"
        );
        assert!(is_commitment(&c));
        assert!(!is_commitment("pd:xyz"));
        assert!(!is_commitment("Ana"));
        assert!(matches(&c, "Ana", Some(&salt)));
        assert!(!matches(&c, "Anna", Some(&salt)));
        assert!(matches(&c, "anything", None));
        assert!(matches("plain", "plain", None) && !matches("plain", "other", None));
    }
}
