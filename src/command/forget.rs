//! `kamlog forget A --stakeholder S | --member M --reason R` (SPEC 10 v2): erase a person's
//! personal data. An intent is written first, then the `personal_data_erased` event is
//! appended, then every vault entry of the person is removed, then the intent: a crash at any
//! point leaves nothing erased (no event) or everything erased (the event, and the store
//! finishes the removal when it next opens: [`crate::store::Store::open`]).

use super::Out;
use crate::error::Error;
use crate::event::jsonl::JsonlReader;
use crate::personal::vault::Intent;
use crate::query::Query;
use crate::store::Store;
use crate::view::Policy;

/// `kamlog forget --json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ForgetReport {
    pub account_id: String,
    /// `stakeholder` or `member`.
    pub subject: String,
    pub id: String,
    /// The `personal_data_erased` event.
    pub event_id: String,
    pub position: u64,
    /// How many personal values the vault held for the person and no longer holds.
    pub values_erased: usize,
}

/// Whose personal data to erase, and why.
pub struct Erasure<'a> {
    pub account: &'a str,
    /// `stakeholder` or `member`.
    pub subject: &'a str,
    pub id: &'a str,
    pub reason: &'a str,
}

pub fn run(
    store: &Store,
    policy: &Policy,
    erasure: Erasure,
    json: bool,
    out: &mut Out,
) -> Result<i32, Error> {
    let Erasure {
        account,
        subject,
        id,
        reason,
    } = erasure;
    let q = Query::new(store, policy)?;
    q.require_account(account)?;
    let person = crate::personal::person_key(subject, id);
    let held = store
        .vault()
        .account(account)?
        .persons
        .get(&person)
        .map_or(0, Vec::len);
    let event_id = uuid::Uuid::new_v4().to_string();
    let line = serde_json::json!({
        "event_id": event_id,
        "account_id": account,
        "type": "personal_data_erased",
        "occurred_at": crate::view::time_str(chrono::Utc::now()),
        "data": {"subject": subject, "id": id, "reason": reason},
    })
    .to_string();
    let mut events = Vec::new();
    for (_, r) in JsonlReader::new(line.as_bytes()) {
        events.push(r?);
    }
    let intent = Intent {
        account_id: account.to_string(),
        person: person.clone(),
        event_id: event_id.clone(),
        begun_at: Some(chrono::Utc::now()),
    };
    store.vault().begin_erasure(&intent)?;
    let outcome = match store.append(events, None) {
        Ok(o) => o,
        Err(e @ (Error::Rejected { .. } | Error::VersionConflict { .. } | Error::Usage(_))) => {
            // Refused (an unknown or already erased person): nothing was erased.
            store.vault().end_erasure(&intent)?;
            return Err(e);
        }
        Err(e) => {
            // The outcome is not known (a cluster that stopped answering): the intent stays,
            // and the next open finishes the erasure if the event is in the log.
            return Err(e);
        }
    };
    store.vault().erase(account, &person)?;
    store.vault().end_erasure(&intent)?;
    q.refresh(account)?;
    let position = outcome.events.first().map_or(0, |e| e.position);
    let report = ForgetReport {
        account_id: account.to_string(),
        subject: subject.to_string(),
        id: id.to_string(),
        event_id,
        position,
        values_erased: held,
    };
    if json {
        outln!(
            out,
            "{}",
            serde_json::to_string(&report).expect("reports serialize")
        );
    } else {
        outln!(
            out,
            "erased the personal data of {subject} {id} in account {account}: {} removed from \
             the vault; personal_data_erased stored at position {position}",
            super::count(held, "value", "values")
        );
    }
    Ok(0)
}
