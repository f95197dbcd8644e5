//! `kamlog serve --http ADDR` and `kamlog web` (SPEC 9 v2): the portfolio, the account review
//! with its time control, the audit timeline and the JSON API, served to a browser from the
//! same query layer as the CLI, computed live. The API runs the CLI's own commands
//! ([`crate::command::capture`] with `--json`), so its bodies are the CLI's `--json` output.
//!
//! Security ([`security`]): loopback by default; with a token every request needs
//! `Authorization: Bearer <token>`; a non-loopback bind without one is refused at start;
//! `POST /api/events` exists only with a token; every response carries
//! `Content-Security-Policy: default-src 'self'`; bodies and request times are bounded.

pub mod api;
pub mod assets;
pub mod pages;
pub mod security;

use crate::error::{Error, Result};
use crate::store::Store;
use crate::view::Policy;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use security::Token;

/// The default address of `kamlog web`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// The largest request body accepted (`POST /api/events`): larger ones get 413.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// How long a request may take before it is answered 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the web server runs.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Where to listen (port 0: a free port, printed at start).
    pub addr: String,
    pub token: Option<Token>,
    pub policy: Policy,
    pub max_body: usize,
    pub timeout: Duration,
}

impl WebOptions {
    pub fn new(addr: &str) -> WebOptions {
        WebOptions {
            addr: addr.to_string(),
            token: None,
            policy: Policy::default(),
            max_body: MAX_BODY_BYTES,
            timeout: REQUEST_TIMEOUT,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub store: Store,
    pub policy: Policy,
    pub token: Option<Token>,
    pub timeout: Duration,
}

pub type Shared = Arc<AppState>;

/// Every route of SPEC 9.
pub fn router(store: Store, opts: &WebOptions) -> Router {
    let state: Shared = Arc::new(AppState {
        store,
        policy: opts.policy.clone(),
        token: opts.token.clone(),
        timeout: opts.timeout,
    });
    Router::new()
        .route("/", get(pages::portfolio))
        .route("/accounts/{account}", get(pages::account))
        .route("/accounts/{account}/log", get(pages::log))
        .route("/api/accounts", get(api::accounts))
        .route("/api/accounts/{account}/views/{view}", get(api::view))
        .route("/api/accounts/{account}/log", get(api::log))
        .route("/api/alerts", get(api::alerts))
        .route("/api/events", post(api::append))
        .route("/assets/kamlog.css", get(assets::css))
        .route("/assets/kamlog.js", get(assets::js))
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(opts.max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}

/// Resolves the address to listen on.
pub async fn resolve(addr: &str) -> Result<SocketAddr> {
    let mut found = tokio::net::lookup_host(addr).await.map_err(|e| {
        Error::Usage(format!(
            "--http {addr}: not an address to listen on such as 127.0.0.1:8080 ({e})"
        ))
    })?;
    found
        .next()
        .ok_or_else(|| Error::Usage(format!("--http {addr}: the name resolves to no address")))
}

/// Serves the web pages and the API until `shutdown` completes. Refuses a non-loopback
/// address without a token before binding.
pub async fn serve(
    store: Store,
    opts: WebOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = resolve(&opts.addr).await?;
    security::check_bind(addr, opts.token.is_some())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Io(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Io(format!("cannot listen on {addr}: {e}")))?;
    eprintln!(
        "{} kamlog web: serving {} on http://{bound}/{}",
        crate::view::time_str(chrono::Utc::now()),
        store.dir().display(),
        if opts.token.is_some() {
            " (a bearer token is required)"
        } else {
            ""
        }
    );
    let app = router(store.clone(), &opts);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Io(format!("the web server on {bound} failed: {e}")))?;
    store.flush()
}
