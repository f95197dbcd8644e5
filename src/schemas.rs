//! Every JSON document kamlog gives out, as the JSON Schemas published under `schemas/`
//! (SPEC 6 v2: "a JSON Schema for every message a consumer or client sees"). The event
//! schemas come from the catalog ([`crate::event::schema`]); the rest are generated here from
//! the Rust types that produce the documents (schemars), so they cannot drift apart:
//!
//! - `view.<view>.schema.json`: `kamlog view A <view> --json`, the API's `view` reply, and
//!   the key-value entries `<account>.<view>` of the views bucket;
//! - `alerts.schema.json`, `log.schema.json`, `accounts.schema.json`, `append.schema.json`,
//!   `import.schema.json`: the other `--json` outputs (and the API's typed `alerts` reply);
//! - `alert-message.schema.json`: the body of a message on `<prefix>.alerts.<account>.<kind>`
//!   (event messages are stored envelopes: `envelope.schema.json`);
//! - `api.call.schema.json` and `api.reply.schema.json`: a request to, and the reply of,
//!   `<prefix>_api.read.<command>` / `<prefix>_api.write.<command>`.

use schemars::{schema_for, Schema};

fn text(s: Schema) -> String {
    serde_json::to_string_pretty(&s).expect("a schema serializes") + "\n"
}

/// The generated schemas of every output document: (file name, text).
pub fn output_schemas() -> Vec<(String, String)> {
    let views = crate::view::ViewKind::ALL
        .into_iter()
        .map(|k| (format!("view.{}.schema.json", k.name()), text(k.schema())));
    let others = [
        (
            "alerts.schema.json",
            text(schema_for!(crate::alert::AlertsDoc)),
        ),
        (
            "log.schema.json",
            text(schema_for!(crate::query::timeline::LogDoc)),
        ),
        (
            "accounts.schema.json",
            text(schema_for!(crate::command::accounts::AccountsDoc)),
        ),
        (
            "append.schema.json",
            text(schema_for!(crate::command::append::AppendReport)),
        ),
        (
            "import.schema.json",
            text(schema_for!(crate::command::append::ImportReport)),
        ),
        (
            "alert-message.schema.json",
            text(schema_for!(crate::bus::alerts::AlertMessage)),
        ),
        (
            "api.call.schema.json",
            text(schema_for!(crate::command::Call)),
        ),
        (
            "api.reply.schema.json",
            text(schema_for!(crate::command::Reply)),
        ),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t));
    views.chain(others).collect()
}

/// Everything published under `schemas/`: the event schemas, then the output schemas.
pub fn published() -> Vec<(String, String)> {
    let mut all = crate::event::schema::all_schemas();
    all.extend(output_schemas());
    all
}
