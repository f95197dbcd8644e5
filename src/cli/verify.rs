//! `kamlog verify`: recheck the whole store; exit 1 with the first break.

use crate::error::Error;
use crate::store::Store;

pub fn run(store: &Store, json: bool) -> Result<i32, Error> {
    let r = store.verify()?;
    if json {
        let v = serde_json::json!({
            "ok": r.first_break.is_none(),
            "events": r.events,
            "accounts": r.accounts,
            "first_break": r.first_break.as_ref().map(|b| serde_json::json!({"position": b.position, "problem": b.problem})),
        });
        println!("{v}");
    }
    match &r.first_break {
        None => {
            if !json {
                println!(
                    "ok: {} events in {} accounts; every hash, version and position checks out",
                    r.events, r.accounts
                );
            }
            Ok(0)
        }
        Some(b) => {
            eprintln!("kamlog: verify failed at {b}");
            Ok(1)
        }
    }
}
