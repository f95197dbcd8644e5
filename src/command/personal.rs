//! `export --personal FILE` and `import --personal FILE` (SPEC 10 v2): the vault entries of
//! the exported events, one `{"event_id","field","value","salt"}` per line, so that a third
//! party can open each commitment; and their restoring beside an imported export, each entry
//! checked against the commitment it claims to open before anything is stored.

use crate::error::{Error, Location, Result};
use crate::personal::{person_key, Committed, Entry};
use crate::store::Store;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, Write};
use std::path::Path;

/// Writes the vault entries of the exported events (of `account`, or of every account) to
/// `file`, in position order; returns how many.
pub fn export(store: &Store, account: Option<&str>, file: &Path) -> Result<usize> {
    let accounts = match account {
        Some(a) => vec![a.to_string()],
        None => store.vault().accounts()?,
    };
    let mut lines: Vec<(u64, String, String)> = Vec::new();
    for a in accounts {
        let vault = store.vault().account(&a)?;
        let positions: HashMap<String, u64> = store
            .account_events(&a)?
            .into_iter()
            .map(|e| (e.event_id, e.position))
            .collect();
        for e in vault.entries() {
            // An entry whose event never reached the log (a crash between the two) is not
            // exported: there is nothing for it to open.
            if let Some(&p) = positions.get(&e.event_id) {
                lines.push((
                    p,
                    e.field.clone(),
                    serde_json::to_string(e).expect("entries serialize"),
                ));
            }
        }
    }
    lines.sort();
    let io = |e: std::io::Error| {
        Error::Io(format!(
            "cannot write the personal data to {}: {e}",
            file.display()
        ))
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(file).map_err(io)?);
    for (_, _, l) in &lines {
        writeln!(w, "{l}").map_err(io)?;
    }
    w.flush().map_err(io)?;
    w.get_ref().sync_all().map_err(io)?;
    Ok(lines.len())
}

/// What an events file says of one event, for checking personal entries against it.
struct Known {
    account_id: String,
    type_name: String,
    data: serde_json::Map<String, Value>,
}

/// Reads a personal-data file and checks every entry against the events file it goes with:
/// its event is there, the field is personal for the event's type, the value and salt open
/// the commitment the event holds, and the person was not erased. Returns the entries ready
/// for the vault, or an error naming the line, the event, the field and the reason.
pub fn check(personal: &Path, events: &Path) -> Result<Vec<Committed>> {
    let read = |p: &Path| {
        std::fs::File::open(p)
            .map(std::io::BufReader::new)
            .map_err(|e| Error::Io(format!("cannot read {}: {e}", p.display())))
    };
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut erased: BTreeSet<(String, String)> = BTreeSet::new();
    for line in read(events)?.lines() {
        let line = line.map_err(|e| Error::Io(format!("cannot read {}: {e}", events.display())))?;
        let Ok(Value::Object(mut v)) = serde_json::from_str::<Value>(&line) else {
            continue; // the import itself names a malformed line
        };
        let text = |v: &serde_json::Map<String, Value>, k: &str| {
            v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
        };
        let (id, account_id, type_name) = (
            text(&v, "event_id"),
            text(&v, "account_id"),
            text(&v, "type"),
        );
        let Some(Value::Object(data)) = v.remove("data") else {
            continue;
        };
        if type_name == "personal_data_erased" {
            erased.insert((
                account_id.clone(),
                person_key(&text(&data, "subject"), &text(&data, "id")),
            ));
        }
        known.insert(
            id.to_lowercase(),
            Known {
                account_id,
                type_name,
                data,
            },
        );
    }
    let mut out = Vec::new();
    for (i, line) in read(personal)?.lines().enumerate() {
        let n = i + 1;
        let line =
            line.map_err(|e| Error::Io(format!("cannot read {}: {e}", personal.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |event: Option<&str>, field: &str, reason: String| Error::Rejected {
            at: Location {
                line: Some(n),
                index: i,
                event_id: event.map(str::to_string),
                field: field.to_string(),
            },
            reason: format!("{reason} (in {})", personal.display()),
        };
        let e: Entry = serde_json::from_str(&line)
            .map_err(|err| bad(None, "", format!("not a personal-data entry {{\"event_id\",\"field\",\"value\",\"salt\"}}: {err}")))?;
        let id = e.event_id.as_str();
        let Some(k) = known.get(&e.event_id.to_lowercase()) else {
            return Err(bad(
                Some(id),
                "event_id",
                format!("no such event in {}", events.display()),
            ));
        };
        if !crate::personal::fields(&k.type_name).contains(&e.field.as_str()) {
            return Err(bad(
                Some(id),
                "field",
                format!("{} is not a personal field of {}", e.field, k.type_name),
            ));
        }
        let stored = k.data.get(&e.field).and_then(Value::as_str).unwrap_or("");
        match e.commitment() {
            Some(c) if c == stored => {}
            Some(_) => {
                return Err(bad(
                    Some(id),
                    "value",
                    format!(
                        "the value and salt do not open the commitment in the event's data.{}",
                        e.field
                    ),
                ))
            }
            None => return Err(bad(Some(id), "salt", "not hex".into())),
        }
        let (subject, person_id) = if k.type_name == "team_member_assigned" {
            ("member", k.data.get("member_id"))
        } else {
            ("stakeholder", k.data.get("stakeholder_id"))
        };
        let person = person_key(subject, person_id.and_then(Value::as_str).unwrap_or(""));
        if erased.contains(&(k.account_id.clone(), person.clone())) {
            return Err(bad(Some(id), "event_id", format!("the personal data of {person} was erased (personal_data_erased in {}): it is not restored", events.display())));
        }
        out.push(Committed {
            account_id: k.account_id.clone(),
            person,
            entry: e,
        });
    }
    Ok(out)
}

/// Refuses to restore the values of anyone whose personal data this store has erased (an
/// older export's personal file must not bring them back).
pub fn refuse_erased(
    store: &Store,
    policy: &crate::view::Policy,
    entries: &[Committed],
) -> Result<()> {
    // Revealing answers add whoever the latest checkpoint has erased, whenever it happened.
    let q = crate::query::Query::new(store, policy)?;
    let mut erased: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for c in entries {
        if !erased.contains_key(c.account_id.as_str()) {
            let sel = crate::view::Selection::as_of(chrono::Utc::now());
            let people = q
                .walked(&c.account_id, &sel)?
                .state
                .erased
                .into_keys()
                .collect();
            erased.insert(&c.account_id, people);
        }
        if erased[c.account_id.as_str()].contains(&c.person) {
            return Err(Error::Rejected {
                at: Location {
                    line: None,
                    index: 0,
                    event_id: Some(c.entry.event_id.clone()),
                    field: "event_id".into(),
                },
                reason: format!(
                    "the personal data of {} in account {} was erased in this store: it is not \
                     restored (nothing of the personal file was)",
                    c.person, c.account_id
                ),
            });
        }
    }
    Ok(())
}
