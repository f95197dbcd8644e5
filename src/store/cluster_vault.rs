//! The personal-data vault's records on the cluster (SPEC 10 and 11): a replicated key-value
//! bucket `<prefix>_vault` that every kamlog process on the cluster reads and writes, so that
//! a value appended through one process is revealed by all, and `forget` anywhere erases it
//! everywhere. Replaced revisions are erased with JetStream's secure delete
//! (`STREAM.MSG.DELETE` without `no_erase`: the server overwrites the message) — in the
//! background after an append, and every older one by `scrub` before `forget` returns — which
//! is why the bucket keeps a generous history rather than a limit of one (a limit drops old
//! revisions without overwriting them).

use super::jetstream::Cluster;
use crate::error::{Error, Result};
use crate::personal::vault::{Record, Shared};
use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;

/// Revisions kept per key: the current one and those about to be erased (generous, so that
/// the limit never drops a revision before it is erased: a dropped one is not overwritten).
const HISTORY: i64 = 64;

pub(crate) struct ClusterVault {
    cluster: Arc<Cluster>,
    kv: kv::Store,
    stream: stream::Stream,
    bucket: String,
}

impl std::fmt::Debug for ClusterVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterVault({})", self.bucket)
    }
}

impl ClusterVault {
    /// Opens the bucket, creating it (as its stream) if missing.
    pub(crate) fn open(cluster: Arc<Cluster>) -> Result<ClusterVault> {
        let bucket = format!("{}_vault", cluster.config().prefix);
        let replicas = cluster.config().replicas;
        let (kv, stream) = cluster
            .block_on(async {
                let js: &jetstream::Context = cluster.js();
                let stream = js
                    .get_or_create_stream(stream::Config {
                        name: format!("KV_{bucket}"),
                        subjects: vec![format!("$KV.{bucket}.>")],
                        max_messages_per_subject: HISTORY,
                        allow_rollup: true,
                        allow_direct: true,
                        discard: stream::DiscardPolicy::New,
                        num_replicas: replicas,
                        storage: stream::StorageType::File,
                        allow_atomic_publish: true,
                        description: Some("kamlog: the personal-data vault (SPEC 10)".into()),
                        ..Default::default()
                    })
                    .await?;
                let kv = js.get_key_value(&bucket).await?;
                Ok::<_, async_nats::Error>((kv, stream))
            })
            .map_err(|e| err(&bucket, "opening", e))?;
        Ok(ClusterVault {
            cluster,
            kv,
            stream,
            bucket,
        })
    }

    /// Securely erases the stored revisions of `key`: all of them, or all but the newest
    /// (`keep_newest`: the current record, whichever process wrote it last).
    async fn erase_history(&self, key: &str, keep_newest: bool) -> Result<()> {
        let mut history = match self.kv.history(key).await {
            Ok(h) => h,
            // No history: fine only if the key holds nothing at all.
            Err(e) => {
                return match self.kv.entry(key).await {
                    Ok(None) => Ok(()),
                    _ => Err(err(&self.bucket, "reading the history of a key in", e)),
                }
            }
        };
        let mut seqs = Vec::new();
        while let Some(entry) = history.next().await {
            match entry {
                Ok(e) => seqs.push(e.revision),
                Err(e) => return Err(err(&self.bucket, "reading the history of a key in", e)),
            }
        }
        seqs.sort_unstable();
        if keep_newest {
            seqs.pop();
        }
        for seq in seqs {
            self.erase(seq).await?;
        }
        Ok(())
    }

    /// Securely erases one message; one already gone is fine.
    async fn erase(&self, seq: u64) -> Result<()> {
        self.cluster
            .retrying("erasing a revision in the vault", || async {
                match self.stream.delete_message(seq).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.to_string().contains("not found") => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await
    }
}

fn err(bucket: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("{what} the vault bucket {bucket}: {e}"))
}

impl Shared for ClusterVault {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.cluster
            .block_on(self.cluster.retrying("reading the vault", || async {
                match self.kv.entry(key).await {
                    Ok(Some(e)) if e.operation == kv::Operation::Put => {
                        Ok(Some((e.value.to_vec(), e.revision)))
                    }
                    Ok(_) => Ok(None),
                    Err(e) => Err(e),
                }
            }))
    }

    fn put(&self, key: &str, bytes: &[u8], revision: u64) -> Result<Option<u64>> {
        // A write whose answer was lost is tried again: if it had landed, the revision has
        // moved and the caller reads and merges again (its change is idempotent).
        let written =
            self.cluster
                .block_on(self.cluster.retrying("writing the vault", || async {
                    let value = Bytes::copy_from_slice(bytes);
                    if revision == 0 {
                        match self.kv.create(key, value).await {
                            Ok(r) => Ok(Some(r)),
                            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
                            Err(e) => Err(async_nats::Error::from(e)),
                        }
                    } else {
                        match self.kv.update(key, value, revision).await {
                            Ok(r) => Ok(Some(r)),
                            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                                Ok(None)
                            }
                            Err(e) => Err(async_nats::Error::from(e)),
                        }
                    }
                }))?;
        if written.is_some() && revision > 0 {
            self.cluster.block_on(self.erase(revision))?;
        }
        Ok(written)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Record>>> {
        self.cluster
            .block_on(self.cluster.retrying("reading the vault", || async {
                let answers =
                    futures_util::future::join_all(keys.iter().map(|k| self.kv.entry(k.as_str())))
                        .await;
                answers
                    .into_iter()
                    .map(|a| match a {
                        Ok(Some(e)) if e.operation == kv::Operation::Put => {
                            Ok(Some((e.value.to_vec(), e.revision)))
                        }
                        Ok(_) => Ok(None),
                        Err(e) => Err(async_nats::Error::from(e)),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
            }))
    }

    fn put_many(&self, writes: &[(String, Vec<u8>, u64)]) -> Result<bool> {
        if writes.len() > super::jetstream::MAX_ATOMIC_EVENTS {
            return Err(Error::Usage(format!(
                "one append touches the vault records of {} accounts; at most {} on a cluster",
                writes.len(),
                super::jetstream::MAX_ATOMIC_EVENTS
            )));
        }
        // A record over the servers' message limit can never be written: say so at once.
        let limit = self.cluster.client().server_info().max_payload;
        if let Some((key, bytes, _)) = writes.iter().find(|w| w.1.len() + 512 > limit) {
            return Err(Error::Storage(format!(
                "the vault record {key} of bucket {} would be {} bytes, over the cluster's max_payload of {limit} bytes: one account's personal values must fit in one message; nothing of this append was stored",
                self.bucket,
                bytes.len()
            )));
        }
        // A batch whose answer was lost is sent again: if it had landed, the revisions have
        // moved, it is refused, and the caller reads and merges again.
        self.cluster
            .block_on(self.cluster.retrying("writing the vault", || async {
                let batch = uuid::Uuid::new_v4().to_string();
                let last = writes.len() - 1;
                let mut ack = None;
                for (i, (key, bytes, rev)) in writes.iter().enumerate() {
                    let subject = format!("$KV.{}.{key}", self.bucket);
                    let mut h = async_nats::HeaderMap::new();
                    h.insert(
                        "Nats-Expected-Last-Subject-Sequence",
                        rev.to_string().as_str(),
                    );
                    let payload = Bytes::copy_from_slice(bytes);
                    if last > 0 {
                        h.insert("Nats-Batch-Id", batch.as_str());
                        h.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
                    }
                    if i == last {
                        if last > 0 {
                            h.insert("Nats-Batch-Commit", "1");
                        }
                        ack = Some(
                            self.cluster
                                .js()
                                .publish_with_headers(subject, h, payload)
                                .await?,
                        );
                    } else {
                        self.cluster
                            .client()
                            .publish_with_headers(subject, h, payload)
                            .await?;
                    }
                }
                match ack.expect("the last write was sent").await {
                Ok(_) => Ok(true),
                Err(e)
                    if e.kind()
                        == async_nats::jetstream::context::PublishErrorKind::WrongLastSequence =>
                {
                    Ok(false)
                }
                Err(e) => Err(async_nats::Error::from(e)),
            }
            }))
    }

    fn erase_revisions(&self, revisions: &[u64]) -> Result<()> {
        // In the background: with `sync_interval: always` each deletion is a replicated,
        // fsynced write, and an import replaces a revision per account per batch. A revision
        // not yet erased only repeats values the current one holds; `forget` scrubs every
        // revision of the account's record before it returns.
        let stream = self.stream.clone();
        let revisions = revisions.to_vec();
        self.cluster.spawn(async move {
            let _ =
                futures_util::future::join_all(revisions.iter().map(|r| stream.delete_message(*r)))
                    .await;
        });
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.cluster.block_on(async {
            self.erase_history(key, false).await?;
            self.kv
                .purge(key)
                .await
                .map_err(|e| err(&self.bucket, "purging a key of", e))
        })
    }

    fn scrub(&self, key: &str) -> Result<()> {
        self.cluster.block_on(self.erase_history(key, true))
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.cluster
            .block_on(self.cluster.retrying("listing the vault", || async {
                let mut keys = self.kv.keys().await?;
                let mut out = Vec::new();
                while let Some(k) = keys.next().await {
                    let k = k?;
                    if k.starts_with(prefix) {
                        out.push(k);
                    }
                }
                Ok::<_, async_nats::Error>(out)
            }))
    }
}
