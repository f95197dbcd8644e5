//! The persisted checkpoints of every account (sled trees `checkpoints`, `checkpoint_final`
//! and `checkpoint_meta`): a cache over the log, never the truth.
//!
//! Per account: regular checkpoints keyed by their business instant, the final checkpoint
//! (at the account's last event instant) and a small meta record saying which stream version
//! and policy they were built from. A change of policy or a damaged record means a rebuild,
//! never a wrong answer.

use crate::error::{Error, Result};
use crate::history::Checkpoint;
use crate::store::Store;
use crate::view::Policy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The trees' names, as the store knows them (it drops them when it cuts the log's tail).
const REGULAR: &str = crate::store::tail::CHECKPOINT_TREES[0];
const FINAL: &str = crate::store::tail::CHECKPOINT_TREES[1];
const META: &str = crate::store::tail::CHECKPOINT_TREES[2];

/// What the cached checkpoints of an account were built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The account's stream version the final checkpoint includes.
    pub version: u64,
    pub policy: Policy,
    /// The final checkpoint's instant (the latest `occurred_at`) and the latest `recorded_at`.
    pub last_instant: DateTime<Utc>,
    pub max_recorded: DateTime<Utc>,
}

/// The checkpoint trees of a store.
pub struct Cache {
    regular: sled::Tree,
    last: sled::Tree,
    meta: sled::Tree,
}

fn storage(e: sled::Error) -> Error {
    Error::Storage(e.to_string())
}

/// Key of a regular checkpoint: account, a zero byte, the instant in order-preserving bytes.
fn key(account: &str, t: DateTime<Utc>) -> Vec<u8> {
    let mut k = prefix(account);
    let micros = t.timestamp_micros() as u64 ^ (1 << 63);
    k.extend_from_slice(&micros.to_be_bytes());
    k
}

fn prefix(account: &str) -> Vec<u8> {
    let mut k = account.as_bytes().to_vec();
    k.push(0);
    k
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    // A record that no longer reads (an older format) is simply rebuilt.
    serde_json::from_slice(bytes).ok()
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Storage(format!("cannot encode a checkpoint: {e}")))
}

impl Cache {
    pub fn open(store: &Store) -> Result<Cache> {
        let db = store.db();
        Ok(Cache {
            regular: db.open_tree(REGULAR).map_err(storage)?,
            last: db.open_tree(FINAL).map_err(storage)?,
            meta: db.open_tree(META).map_err(storage)?,
        })
    }

    pub fn meta(&self, account: &str) -> Result<Option<Meta>> {
        Ok(self
            .meta
            .get(account.as_bytes())
            .map_err(storage)?
            .and_then(|b| decode(&b)))
    }

    /// The final checkpoint.
    pub fn last(&self, account: &str) -> Result<Option<Checkpoint>> {
        Ok(self
            .last
            .get(account.as_bytes())
            .map_err(storage)?
            .and_then(|b| decode(&b)))
    }

    /// The latest regular checkpoint at or before `t` that `serves` accepts.
    pub fn latest(
        &self,
        account: &str,
        t: DateTime<Utc>,
        serves: impl Fn(&Checkpoint) -> bool,
    ) -> Result<Option<Checkpoint>> {
        let range = prefix(account)..=key(account, t);
        for r in self.regular.range(range).rev() {
            let (_, v) = r.map_err(storage)?;
            if let Some(c) = decode::<Checkpoint>(&v) {
                if serves(&c) {
                    return Ok(Some(c));
                }
            }
        }
        Ok(None)
    }

    /// Drops the regular checkpoints at or after `from` (all of them with `None`).
    pub fn invalidate(&self, account: &str, from: Option<DateTime<Utc>>) -> Result<()> {
        let start = match from {
            Some(t) => key(account, t),
            None => prefix(account),
        };
        let mut end = prefix(account);
        *end.last_mut().expect("non-empty") = 1;
        let mut batch = sled::Batch::default();
        for r in self.regular.range(start..end) {
            batch.remove(r.map_err(storage)?.0);
        }
        self.regular.apply_batch(batch).map_err(storage)
    }

    /// Saves new regular checkpoints, the final one and the meta record.
    pub fn save(
        &self,
        account: &str,
        taken: &[Checkpoint],
        last: &Checkpoint,
        meta: &Meta,
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        for c in taken {
            if let Some(t) = c.instant() {
                batch.insert(key(account, t), encode(c)?);
            }
        }
        self.regular.apply_batch(batch).map_err(storage)?;
        self.last
            .insert(account.as_bytes(), encode(last)?)
            .map_err(storage)?;
        self.meta
            .insert(account.as_bytes(), encode(meta)?)
            .map_err(storage)?;
        crate::store::release_deferred();
        Ok(())
    }

    /// Forgets every account's checkpoints.
    pub fn clear(&self) -> Result<()> {
        for t in [&self.regular, &self.last, &self.meta] {
            t.clear().map_err(storage)?;
        }
        Ok(())
    }
}
