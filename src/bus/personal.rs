//! The personal-data bucket (SPEC 10 v2): `<prefix>_personal`, key
//! `<account>.<stakeholder|member>.<id>`, each person's values and salts (their vault entries),
//! the only place the bus carries personal values. Event messages carry commitments, the views
//! bucket no names, alert messages commitments.
//!
//! On `personal_data_erased` every message of the person's key is deleted with JetStream's
//! secure erase (`STREAM.MSG.DELETE` without `no_erase`: the server overwrites the message with
//! random bytes), then the key is purged. A new value erases the revision it replaces the same
//! way, so that no old value lingers in the stream's files until compaction (the bucket keeps a
//! short history for that: a limit would drop old revisions without erasing them).

use super::{bus_err, Names};
use crate::error::Result;
use crate::personal::vault::AccountVault;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures_util::StreamExt;

/// The bucket's history per key: the current value and the ones about to be erased.
const HISTORY: i64 = 8;

/// A key token: `[-_A-Za-z0-9]` kept, any other byte as `=XX` (KV keys allow `=`, not `:`).
pub fn token(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

/// A person's key: `<account>.<stakeholder|member>.<id>`, each token escaped.
pub fn key(account: &str, subject: &str, id: &str) -> String {
    format!("{}.{subject}.{}", token(account), token(id))
}

#[derive(Clone)]
pub struct Personal {
    kv: jetstream::kv::Store,
    stream: jetstream::stream::Stream,
}

impl Personal {
    /// Opens the bucket, creating it if missing (as a stream, for the reason in `kv.rs`).
    pub async fn open(js: &jetstream::Context, names: &Names) -> Result<Personal> {
        let bucket = format!("{}_personal", names.prefix);
        let stream = js
            .get_or_create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: HISTORY,
                allow_rollup: true,
                deny_delete: false,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                num_replicas: names.replicas,
                ..Default::default()
            })
            .await
            .map_err(bus_err)?;
        let kv = js.get_key_value(&bucket).await.map_err(bus_err)?;
        Ok(Personal { kv, stream })
    }

    /// Securely erases every stored revision of `key` but `keep`.
    async fn erase_revisions(&self, key: &str, keep: Option<u64>) -> Result<()> {
        let mut history = match self.kv.history(key).await {
            Ok(h) => h,
            Err(_) => return Ok(()), // no such key
        };
        let mut seqs = Vec::new();
        while let Some(entry) = history.next().await {
            match entry {
                Ok(e) if Some(e.revision) != keep => seqs.push(e.revision),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        for seq in seqs {
            // Already gone (erased before a restart) is fine.
            let _ = self.stream.delete_message(seq).await;
        }
        Ok(())
    }

    /// Puts a person's current values (their vault entries), erasing the revision before.
    pub async fn put(
        &self,
        account: &str,
        subject: &str,
        id: &str,
        vault: &AccountVault,
    ) -> Result<()> {
        let person = crate::personal::person_key(subject, id);
        let Some(entries) = vault.persons.get(&person) else {
            return Ok(()); // erased meanwhile: nothing to publish
        };
        let key = key(account, subject, id);
        let body = serde_json::json!({
            "account_id": account, "subject": subject, "id": id, "entries": entries,
        });
        let revision = self
            .kv
            .put(&key, Bytes::from(body.to_string()))
            .await
            .map_err(bus_err)?;
        self.erase_revisions(&key, Some(revision)).await
    }

    /// Erases a person's key: every revision securely, then a purge.
    pub async fn erase(&self, account: &str, subject: &str, id: &str) -> Result<()> {
        let key = key(account, subject, id);
        self.erase_revisions(&key, None).await?;
        self.kv.purge(&key).await.map_err(bus_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_what_a_kv_key_cannot_hold() {
        assert_eq!(
            key("northwind", "stakeholder", "s-olaf"),
            "northwind.stakeholder.s-olaf"
        );
        assert_eq!(key("a.b", "member", "m:1"), "a=2Eb.member.m=3A1");
    }
}
