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
//! - [`api`]: the request/reply API (`<prefix>_api.read.<command>`,
//!   `<prefix>_api.write.<command>` and the typed `<prefix>_api.append|view|alerts`); its
//!   subjects stay outside `<prefix>.>` so that the stream does not capture requests.
//! - [`connection`]: credentials, nkeys, creds files and TLS for every connection, and
//!   connection failures in words without secrets.
//!
//! [`serve`] runs them until its shutdown future completes, and returns within a few seconds
//! of it whatever NATS is doing: nothing it waits for at shutdown is unbounded.

pub mod alerts;
mod api;
use crate::nats as connection;
mod feed;
mod kv;
pub mod personal;
mod publisher;

pub use alerts::transition_id;
pub use api::{call, error_code, request, request_to, MAX_REQUEST_BYTES};
pub use connection::{ConnectFailure, Connection, SecurityFiles};
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
    /// Replicas of the streams and buckets `serve` creates: 1, or `--replicas` when the
    /// log itself is on a cluster (`--store`), so that the feed survives a node as the log does.
    pub replicas: usize,
}

impl Names {
    pub fn new(prefix: &str) -> Names {
        Names {
            prefix: prefix.to_string(),
            stream: prefix.to_uppercase(),
            bucket: format!("{prefix}_views"),
            api: format!("{prefix}_api"),
            replicas: 1,
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
    /// The NATS servers, credentials and TLS settings.
    pub connection: Connection,
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
            connection: Connection::new(url),
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
    tokio::pin!(shutdown);
    log(format!(
        "serving the store at {} on {}",
        store.dir().display(),
        opts.connection
    ));
    let Some(client) = connect(&opts.connection, &mut shutdown).await? else {
        log("stopping (NATS was never reached)");
        store.flush()?;
        return Ok(());
    };
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

/// How long serve waits between attempts to reach NATS for the first time.
const FIRST_CONNECT_RETRY: Duration = Duration::from_secs(1);

/// serve's connection: tried until NATS answers (it may start after serve) or `shutdown`
/// completes (`None`). Refused credentials, a TLS failure or wrong options end serve with an
/// error: waiting cannot mend them. Once connected, async-nats reconnects for ever, and every
/// connection event goes to the log in words, secrets left out.
async fn connect(
    conn: &Connection,
    shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<Option<async_nats::Client>> {
    loop {
        let events_conn = conn.clone();
        let attempt = conn.connect(move |o| {
            o.max_reconnects(None)
                .connection_timeout(connection::CONNECT_TIMEOUT)
                .event_callback(move |event| {
                    let words = match &event {
                        async_nats::Event::ServerError(e) => {
                            connection::server_error_words(&events_conn, e)
                        }
                        other => format!("NATS at {events_conn}: {other}"),
                    };
                    async move { log(words) }
                })
        });
        let failure = tokio::select! {
            _ = shutdown.as_mut() => return Ok(None),
            r = attempt => match r {
                Ok(client) => return Ok(Some(client)),
                Err(f) => f,
            },
        };
        if !failure.may_pass_later() {
            return Err(failure.into_error());
        }
        log(format!("{failure}; trying again"));
        tokio::select! {
            _ = shutdown.as_mut() => return Ok(None),
            _ = tokio::time::sleep(FIRST_CONNECT_RETRY) => {}
        }
    }
}

/// Where a running `kamlog serve` can be reached, written into the data directory it holds
/// (`kamlog.serve`), so that a command given `--data` for that store goes through it
/// (SPEC 7 v2). Removed when serve stops; a stale one (serve killed) names a pid that is gone
/// and is then ignored, since the store's lock is free again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Serving {
    pub pid: u32,
    /// The URL serve was given, credentials included (hence the owner-only file).
    url: String,
    /// The `--nats-*` files serve was given.
    #[serde(default)]
    files: SecurityFiles,
    pub prefix: String,
    #[serde(skip)]
    path: std::path::PathBuf,
}

impl Serving {
    const FILE: &'static str = "kamlog.serve";

    /// Writes the file (readable by its owner only: the URL may hold credentials).
    pub fn announce(dir: &std::path::Path, conn: &Connection, prefix: &str) -> Result<Serving> {
        let s = Serving {
            pid: std::process::id(),
            url: conn.given_url().to_string(),
            files: conn.files().clone(),
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

    /// How to reach it: as serve itself does.
    pub fn connection(&self) -> Connection {
        Connection::new(&self.url).with_files(self.files.clone())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
