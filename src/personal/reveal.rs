//! Putting personal values back where people and programs look (SPEC 10 v2): the state a
//! view is drawn from, the JSON of an event or an alert's detail, a line of text. A commitment
//! the vault no longer opens (the person was erased, or the values were never imported) is
//! shown as `null` in JSON and `(erased)` in text.

use super::vault::AccountVault;
use super::{is_commitment, PREFIX};
use crate::model::AccountState;
use serde_json::Value;

/// How text shows the value of a person whose personal data was erased.
pub const ERASED: &str = "(erased)";
/// How text shows a value the vault does not hold for a person who was not erased (an export
/// imported without its personal file).
pub const UNKNOWN: &str = "(unknown)";

/// A person's name for people: the name, or why there is none.
pub fn name_for_people(name: Option<&str>, erased: bool) -> &str {
    match name {
        Some(n) => n,
        None if erased => ERASED,
        None => UNKNOWN,
    }
}

fn open(s: &mut String, vault: &AccountVault) {
    if is_commitment(s) {
        if let Some(v) = vault.value(s) {
            *s = v.to_string();
        }
    }
}

/// The state with the vault's values in place of the commitments it can open (the others stay:
/// [`shown`] tells them apart).
pub fn state(state: &mut AccountState, vault: &AccountVault) {
    for s in state.stakeholders.values_mut() {
        open(&mut s.name, vault);
        if let Some(t) = s.title.as_mut() {
            open(t, vault);
        }
    }
    for m in state.members.values_mut() {
        open(&mut m.name, vault);
    }
}

/// A personal value as shown: `None` for a commitment left unopened.
pub fn shown(value: &str) -> Option<String> {
    (!is_commitment(value)).then(|| value.to_string())
}

/// Every commitment in a JSON value replaced by its value, or `null`.
pub fn json(v: &mut Value, vault: &AccountVault) {
    json_or(v, vault, &Value::Null)
}

/// Every commitment in a JSON value replaced by its value, or `unopened`.
pub fn json_or(v: &mut Value, vault: &AccountVault, unopened: &Value) {
    match v {
        Value::String(s) if is_commitment(s) => {
            *v = match vault.value(s) {
                Some(x) => Value::String(x.to_string()),
                None => unopened.clone(),
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| json_or(x, vault, unopened)),
        Value::Object(m) => m.values_mut().for_each(|x| json_or(x, vault, unopened)),
        _ => {}
    }
}

/// Every commitment in a text replaced by its value, or `(erased)`.
pub fn text(s: &str, vault: &AccountVault) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(PREFIX) {
        let candidate = rest.get(i..i + PREFIX.len() + 64);
        match candidate.filter(|c| is_commitment(c)) {
            Some(c) => {
                out.push_str(&rest[..i]);
                out.push_str(vault.value(c).unwrap_or(ERASED));
                rest = &rest[i + c.len()..];
            }
            None => {
                out.push_str(&rest[..i + PREFIX.len()]);
                rest = &rest[i + PREFIX.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}
