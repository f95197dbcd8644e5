//! The log on a NATS JetStream cluster (SPEC 11): the stream, and the three things the store
//! asks of it — where it ends, an atomic append that lands only right after a given sequence,
//! and the stored messages of a range.
//!
//! One stream `<PREFIX>_LOG` holds one message per event on `<prefix>_log.<account_id>`, its
//! body the stored envelope byte for byte, so the stream sequence *is* the global `position`
//! (gap-free: the stream denies deletes and purges). Every append is one atomic batch
//! (nats-server ≥ 2.12, `allow_atomic`) whose first message carries
//! `Nats-Expected-Last-Sequence`: the batch is stored, all of it, only if nothing was appended
//! since the writer last read the stream's end. Two kamlog processes appending at once thus
//! never interleave; the one refused reads the new events and checks its request again (the
//! rules of [`super::accept`] are the same as on sled). Idempotency by `event_id` comes from
//! those rules over the whole log, not from JetStream's duplicate window.
//!
//! The store's writer thread is not async; this type owns a small tokio runtime and blocks on
//! it (never call it from inside another runtime's task: the writer thread does).

use crate::error::{Error, Result};
use crate::nats::Connection;
use async_nats::jetstream::{self, consumer, context::PublishErrorKind, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::Duration;

/// JetStream's limit on the messages of one atomic batch (ADR-50): a larger append is
/// refused; `import` batches within it.
pub const MAX_ATOMIC_EVENTS: usize = 1000;

/// How long an append waits for a cluster that does not answer (a leader election, a lost
/// quorum) before it gives up with an error.
pub const UNAVAILABLE_AFTER: Duration = Duration::from_secs(20);

/// Where the log lives on a cluster: the servers, the names derived from the prefix, and the
/// replication of a stream it creates.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub connection: Connection,
    pub prefix: String,
    pub replicas: usize,
}

impl ClusterConfig {
    /// The log stream's name (`KAMLOG_LOG` for the prefix `kamlog`).
    pub fn stream(&self) -> String {
        format!("{}_LOG", self.prefix.to_uppercase())
    }

    /// Where a process with cache directory `cache` keeps its mirror of this log (and, while
    /// it serves, its `kamlog.serve` file).
    pub fn mirror_dir(&self, cache: &std::path::Path) -> std::path::PathBuf {
        cache.join("cluster").join(self.stream())
    }

    /// The subject of an account's events in the log stream.
    pub fn subject(&self, account: &str) -> String {
        format!("{}_log.{account}", self.prefix)
    }
}

/// What became of an append.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored: the batch's last stream sequence.
    Stored(u64),
    /// Refused because the stream no longer ends where the writer thought (another process
    /// appended): nothing of the batch is stored.
    Moved,
}

/// A connection to the cluster holding the log.
pub struct Cluster {
    /// Taken out only by `Drop`.
    rt: Option<tokio::runtime::Runtime>,
    client: async_nats::Client,
    js: jetstream::Context,
    config: ClusterConfig,
}

fn cluster_err(config: &ClusterConfig, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!(
        "the cluster at {} ({what} on stream {}): {e}",
        config.connection,
        config.stream()
    ))
}

impl Cluster {
    /// Connects (retrying while the servers are unreachable, up to [`UNAVAILABLE_AFTER`]).
    pub fn connect(config: ClusterConfig) -> Result<Cluster> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kamlog-cluster")
            .enable_all()
            .build()
            .map_err(|e| Error::Io(format!("cannot start the cluster client: {e}")))?;
        let client = rt.block_on(async {
            let deadline = tokio::time::Instant::now() + UNAVAILABLE_AFTER;
            loop {
                match config
                    .connection
                    .connect(|o| {
                        o.connection_timeout(Duration::from_secs(3))
                            .retry_on_initial_connect()
                    })
                    .await
                {
                    Ok(c) => return Ok(c),
                    Err(f) if f.may_pass_later() && tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(250)).await
                    }
                    Err(f) => return Err(f.into_error()),
                }
            }
        })?;
        let js = rt.block_on(async {
            let mut js = jetstream::new(client.clone());
            js.set_timeout(Duration::from_secs(5));
            js
        });
        Ok(Cluster {
            rt: Some(rt),
            client,
            js,
            config,
        })
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives until drop")
    }

    /// Runs a future on the cluster client's runtime (for the vault's bucket).
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt().block_on(f)
    }

    /// Starts a task on the cluster client's runtime, not waited for.
    pub(crate) fn spawn<F>(&self, f: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.rt().spawn(f);
    }

    pub(crate) fn js(&self) -> &jetstream::Context {
        &self.js
    }

    pub(crate) fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Whether the log stream exists.
    pub fn exists(&self) -> Result<bool> {
        self.rt().block_on(async {
            self.retrying("looking up the stream", || async {
                match self.js.get_stream(self.config.stream()).await {
                    Ok(_) => Ok(true),
                    Err(e)
                        if matches!(
                            e.kind(),
                            jetstream::context::GetStreamErrorKind::JetStream(j)
                                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
                        ) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            })
            .await
        })
    }

    /// Creates the log stream if it is missing (replicated, atomic batches allowed, no
    /// deletes or purges: the log is append-only).
    pub fn create(&self) -> Result<()> {
        let config = stream::Config {
            name: self.config.stream(),
            subjects: vec![format!("{}_log.>", self.config.prefix)],
            storage: stream::StorageType::File,
            num_replicas: self.config.replicas,
            allow_atomic_publish: true,
            allow_direct: true,
            deny_delete: true,
            deny_purge: true,
            description: Some("kamlog: the event log (one message per event)".into()),
            ..Default::default()
        };
        self.rt().block_on(async {
            self.retrying("creating the stream", || async {
                self.js
                    .get_or_create_stream(config.clone())
                    .await
                    .map(|_| ())
            })
            .await
        })
    }

    /// The stream's last sequence: the log's last position.
    pub fn last_sequence(&self) -> Result<u64> {
        self.rt().block_on(async {
            self.retrying("reading where the stream ends", || async {
                let mut s = self.js.get_stream(self.config.stream()).await?;
                let info = s.info().await?;
                Ok::<u64, async_nats::Error>(info.state.last_sequence)
            })
            .await
        })
    }

    /// The stored envelope at one sequence, if the stream holds it.
    pub fn message(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        self.rt().block_on(async {
            self.retrying("reading a message", || async {
                let s = self.js.get_stream(self.config.stream()).await?;
                match s.get_raw_message(seq).await {
                    Ok(m) => Ok(Some(m.payload.to_vec())),
                    Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => Ok(None),
                    Err(e) => Err(async_nats::Error::from(e)),
                }
            })
            .await
        })
    }

    /// Calls `f` with every stored envelope of sequences `from..=to`, in order. A cluster
    /// that stops answering part-way (a leader election) is asked again from where the
    /// reading stopped, for up to [`UNAVAILABLE_AFTER`].
    pub fn read<F>(&self, from: u64, to: u64, mut f: F) -> Result<()>
    where
        F: FnMut(u64, &[u8]) -> Result<()>,
    {
        let mut deadline = std::time::Instant::now() + UNAVAILABLE_AFTER;
        let mut next = from;
        loop {
            let before = next;
            match self.rt().block_on(self.read_some(&mut next, to, &mut f)) {
                Ok(()) => return Ok(()),
                Err(Error::Storage(_)) if next > before || std::time::Instant::now() < deadline => {
                    if next > before {
                        // Progress was made: the time allowed counts from the failure.
                        deadline = std::time::Instant::now() + UNAVAILABLE_AFTER;
                    }
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One ordered consumer from `*next` on; `*next` follows what was handed to `f`.
    async fn read_some<F>(&self, next: &mut u64, to: u64, f: &mut F) -> Result<()>
    where
        F: FnMut(u64, &[u8]) -> Result<()>,
    {
        if *next > to {
            return Ok(());
        }
        let err = |e: &dyn std::fmt::Display| cluster_err(&self.config, "reading the log", e);
        let s = self
            .js
            .get_stream(self.config.stream())
            .await
            .map_err(|e| err(&e))?;
        let c = s
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: *next,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| err(&e))?;
        let mut messages = c.messages().await.map_err(|e| err(&e))?;
        while *next <= to {
            let m = tokio::time::timeout(Duration::from_secs(5), messages.next())
                .await
                .map_err(|_| err(&format!("no message at sequence {next} within 5 s")))?
                .ok_or_else(|| err(&"the consumer ended"))?
                .map_err(|e| err(&e))?;
            let seq = m.info().map_err(|e| err(&e))?.stream_sequence;
            if seq < *next {
                // The consumer started over (an ordered consumer recreates itself after a
                // missed heartbeat, at times from the stream's start): read on with a new one.
                return Err(err(&format!(
                    "the consumer went back to sequence {seq} while reading {next}"
                )));
            }
            if seq != *next {
                return Err(Error::Corrupt(format!(
                    "the cluster's log has a hole: sequence {seq} follows {}",
                    *next - 1
                )));
            }
            f(seq, &m.payload)?;
            *next += 1;
        }
        Ok(())
    }

    /// Appends `events` (account, stored envelope) as one atomic batch, stored only if the
    /// stream's last sequence is still `expected_last`. An error means the outcome is not
    /// known (the answer was lost): the caller reads the stream to learn it.
    pub fn append(&self, expected_last: u64, events: &[(&str, &[u8])]) -> Result<Appended> {
        if events.len() > MAX_ATOMIC_EVENTS {
            return Err(Error::Usage(format!(
                "an append to the cluster holds at most {MAX_ATOMIC_EVENTS} events (JetStream's atomic batch limit); this one has {}",
                events.len()
            )));
        }
        let Some(last) = events.len().checked_sub(1) else {
            return Ok(Appended::Stored(expected_last));
        };
        self.rt().block_on(async {
            let batch = uuid::Uuid::new_v4().to_string();
            let mut ack = None;
            for (i, (account, bytes)) in events.iter().enumerate() {
                let mut h = HeaderMap::new();
                if i == 0 {
                    h.insert("Nats-Expected-Last-Sequence", expected_last.to_string().as_str());
                }
                let subject = self.config.subject(account);
                let payload = Bytes::copy_from_slice(bytes);
                if last == 0 {
                    ack = Some(self.js.publish_with_headers(subject, h, payload).await);
                    break;
                }
                h.insert("Nats-Batch-Id", batch.as_str());
                h.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
                if i == last {
                    h.insert("Nats-Batch-Commit", "1");
                    ack = Some(self.js.publish_with_headers(subject, h, payload).await);
                } else {
                    self.client
                        .publish_with_headers(subject, h, payload)
                        .await
                        .map_err(|e| cluster_err(&self.config, "appending", e))?;
                }
            }
            let ack = match ack.expect("the last message was sent") {
                Ok(a) => a.await,
                Err(e) => Err(e),
            };
            match ack {
                Ok(a) => {
                    let first = a.sequence + 1 - events.len() as u64;
                    if first != expected_last + 1 {
                        return Err(Error::Corrupt(format!(
                            "the cluster stored an append at sequences {first}..={} where {} was expected",
                            a.sequence,
                            expected_last + 1
                        )));
                    }
                    Ok(Appended::Stored(a.sequence))
                }
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Ok(Appended::Moved),
                Err(e) => Err(cluster_err(&self.config, "appending", e)),
            }
        })
    }

    /// Runs a request again while the cluster cannot answer (no stream leader yet, a
    /// reconnect), for up to [`UNAVAILABLE_AFTER`].
    pub(crate) async fn retrying<T, E, F, Fut>(&self, what: &str, mut f: F) -> Result<T>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, E>>,
    {
        let deadline = tokio::time::Instant::now() + UNAVAILABLE_AFTER;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if tokio::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => return Err(cluster_err(&self.config, what, e)),
            }
        }
    }
}

impl Drop for Cluster {
    /// The last store handle may go inside another runtime's task (`serve`), where dropping
    /// a runtime the ordinary way panics; this one is shut down without waiting.
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
