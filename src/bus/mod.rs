//! The NATS JetStream feed and request/reply API (SPEC 6), run by `kamlog serve`.
//!
//! - [`feed`]: the only writer of the stream; every message is stored only directly after its
//!   predecessor (`Nats-Expected-Last-Sequence`), so the stream never has a hole.
//! - [`publisher`]: the log is the outbox. Events in position order to
//!   `<prefix>.events.<account>.<type>` (`Nats-Msg-Id` = `event_id`, the account's chain head
//!   in `Kamlog-Position`, `Kamlog-Version`, `Kamlog-Hash`); resumes after the stream's last
//!   event on start and after every failure, refilling a stream that lost messages or was
//!   deleted. Alert passes and views run on a blocking thread.
//! - [`alerts`]: which business-time transitions go to `<prefix>.alerts.<account>.<kind>`,
//!   with ids derived from what they are, never twice in a row for one alert.
//! - [`kv`]: the latest views for dashboards in the bucket `<prefix>_views`.
//! - [`api`]: the request/reply API (`<prefix>_api.append|view|alerts`); its subjects stay
//!   outside `<prefix>.>` so that the stream does not capture requests.
//!
//! [`serve`] runs them until its shutdown future completes, and returns within a few seconds
//! of it whatever NATS is doing: nothing it waits for at shutdown is unbounded.

pub mod alerts;
mod api;
mod feed;
mod kv;
mod publisher;

pub use alerts::transition_id;
pub use api::{call, error_code, request, request_to, MAX_REQUEST_BYTES};
pub use feed::StreamEnd;
pub use publisher::checkpoint;

use crate::error::{Error, Result};
use crate::store::Store;
use crate::view::{time_str, Policy};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The default stream name (for the default prefix `kamlog`).
pub const STREAM: &str = "KAMLOG";
/// The default key-value bucket.
pub const KV_BUCKET: &str = "kamlog_views";
/// The default API subject prefix.
pub const API_PREFIX: &str = "kamlog_api";

/// The names derived from the subject prefix (SPEC 6: `kamlog` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Subjects `<prefix>.events.…` and `<prefix>.alerts.…`.
    pub prefix: String,
    /// The stream (the prefix in upper case).
    pub stream: String,
    /// The key-value bucket of views.
    pub bucket: String,
    /// The API subject prefix.
    pub api: String,
}

impl Names {
    pub fn new(prefix: &str) -> Names {
        Names {
            prefix: prefix.to_string(),
            stream: prefix.to_uppercase(),
            bucket: format!("{prefix}_views"),
            api: format!("{prefix}_api"),
        }
    }
}

impl Default for Names {
    fn default() -> Self {
        Names::new("kamlog")
    }
}

/// Options of `kamlog serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub url: String,
    pub names: Names,
    /// How often every account's alerts are re-evaluated (time-driven changes).
    pub tick: Duration,
    /// JetStream's de-duplication window for the stream.
    pub duplicate_window: Duration,
    pub policy: Policy,
}

impl ServeOptions {
    pub fn new(url: &str) -> Self {
        ServeOptions {
            url: url.to_string(),
            names: Names::default(),
            tick: Duration::from_secs(60),
            duplicate_window: Duration::from_secs(120),
            policy: Policy::default(),
        }
    }
}

pub(crate) fn log(msg: impl AsRef<str>) {
    eprintln!("{} kamlog serve: {}", time_str(Utc::now()), msg.as_ref());
}

pub(crate) fn bus_err(e: impl std::fmt::Display) -> Error {
    Error::Bus(e.to_string())
}

/// How long `serve` waits, once told to stop, for the publisher to finish what it is doing.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Runs `kamlog serve` until `shutdown` completes.
pub async fn serve(
    store: Store,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let url = opts.url.clone();
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .event_callback(|event| async move { log(format!("nats: {event}")) })
        .connect(url.as_str())
        .await
        .map_err(bus_err)?;
    log(format!(
        "serving the store at {} on {url}",
        store.dir().display()
    ));
    let wake = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let publisher = tokio::spawn(publisher::run(
        store.clone(),
        client.clone(),
        opts.clone(),
        wake.clone(),
        stop_rx,
    ));
    let api = tokio::spawn(api::run(
        store.clone(),
        client.clone(),
        opts.names.clone(),
        opts.policy.clone(),
        wake,
    ));
    shutdown.await;
    log("stopping");
    let _ = stop_tx.send(true);
    api.abort();
    let publisher_abort = publisher.abort_handle();
    if tokio::time::timeout(STOP_GRACE, publisher).await.is_err() {
        publisher_abort.abort();
    }
    let _ = tokio::time::timeout(Duration::from_millis(500), client.flush()).await;
    store.flush()?;
    Ok(())
}

/// Where a running `kamlog serve` can be reached, written into the data directory it holds
/// (`kamlog.serve`), so that a command given `--data` for that store goes through it
/// (SPEC 7 v2). Removed when serve stops; a stale one (serve killed) names a pid that is gone
/// and is then ignored, since the store's lock is free again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Serving {
    pub pid: u32,
    pub url: String,
    pub prefix: String,
    #[serde(skip)]
    path: std::path::PathBuf,
}

impl Serving {
    const FILE: &'static str = "kamlog.serve";

    /// Writes the file (readable by its owner only: the URL may hold credentials).
    pub fn announce(dir: &std::path::Path, url: &str, prefix: &str) -> Result<Serving> {
        let s = Serving {
            pid: std::process::id(),
            url: url.to_string(),
            prefix: prefix.to_string(),
            path: dir.join(Self::FILE),
        };
        let text = serde_json::to_string(&s).map_err(bus_err)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        std::io::Write::write_all(
            &mut opts
                .open(&s.path)
                .map_err(|e| Error::Io(format!("cannot write {}: {e}", s.path.display())))?,
            text.as_bytes(),
        )
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", s.path.display())))?;
        Ok(s)
    }

    /// The serve holding `dir`, if it announced itself.
    pub fn find(dir: &std::path::Path) -> Option<Serving> {
        let text = std::fs::read_to_string(dir.join(Self::FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
