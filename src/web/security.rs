//! The web's security rules (SPEC 9 v2): the bearer token (from `KAMLOG_TOKEN` or
//! `--token-file`, never shown), the refusal of a non-loopback bind without one, and the guard
//! every request passes — the token check (401), the time limit (503) and the headers that keep
//! a page from loading anything from elsewhere or being framed.

use super::Shared;
use crate::error::{Error, Result};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::Path;

/// The Content-Security-Policy of every response (SPEC 9).
pub const CSP: &str = "default-src 'self'";

/// A bearer token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A token given as text; surrounding whitespace is dropped, and an empty token or one that
    /// cannot travel in an HTTP header is an error naming `source`.
    pub fn new(text: &str, source: &str) -> Result<Token> {
        let t = text.trim();
        if t.is_empty() {
            return Err(Error::Usage(format!("the token in {source} is empty")));
        }
        if !t.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::Usage(format!(
                "the token in {source} has spaces or characters other than printable ASCII"
            )));
        }
        Ok(Token(t.to_string()))
    }

    /// The token of `--token-file FILE`, else of `KAMLOG_TOKEN`, else none.
    pub fn configured(file: Option<&Path>) -> Result<Option<Token>> {
        if let Some(f) = file {
            let text = std::fs::read_to_string(f).map_err(|e| {
                Error::Usage(format!("--token-file {}: cannot read it: {e}", f.display()))
            })?;
            return Token::new(&text, &format!("--token-file {}", f.display())).map(Some);
        }
        match std::env::var("KAMLOG_TOKEN") {
            Ok(v) if !v.is_empty() => Token::new(&v, "KAMLOG_TOKEN").map(Some),
            _ => Ok(None),
        }
    }

    /// Whether an `Authorization` header carries this token (compared by digest, so that the
    /// time taken tells nothing about how much of it matched).
    pub fn admits(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(given) = authorization
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
        else {
            return false;
        };
        Sha256::digest(given.trim().as_bytes()) == Sha256::digest(self.0.as_bytes())
    }
}

/// Refuses to listen beyond loopback without a token (SPEC 9).
pub fn check_bind(addr: SocketAddr, has_token: bool) -> Result<()> {
    if addr.ip().is_loopback() || has_token {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "refusing to serve http on {addr} without a token: anyone who can reach it could read \
         every account; set KAMLOG_TOKEN or --token-file FILE, or bind a loopback address such \
         as 127.0.0.1:8080"
    )))
}

/// A JSON error response: `{"error": …, "exit": …}` as the CLI writes with `--json`.
pub fn error_response(status: StatusCode, message: &str, exit: i32) -> Response {
    let body = serde_json::json!({"error": message, "exit": exit}).to_string();
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Every request: the token when one is configured, then the handler within the time limit;
/// every response gets the security headers.
pub async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let mut res = match &app.token {
        Some(t) if !t.admits(req.headers().get(header::AUTHORIZATION)) => {
            let mut r = error_response(
                StatusCode::UNAUTHORIZED,
                "this kamlog needs `Authorization: Bearer <token>` on every request",
                1,
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kamlog\""),
            );
            r
        }
        _ => match tokio::time::timeout(app.timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "the request took longer than {} s and was abandoned",
                    app.timeout.as_secs()
                ),
                1,
            ),
        },
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_binds_without_a_token() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_bind(lo, false).is_ok());
        assert!(check_bind(lo6, false).is_ok());
        assert!(check_bind(any, false).is_err());
        assert!(check_bind(any, true).is_ok());
    }

    #[test]
    fn a_token_admits_only_its_bearer_header() {
        let t = Token::new(" s3cret\n", "test").unwrap();
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(t.admits(Some(&h("Bearer s3cret"))));
        assert!(!t.admits(Some(&h("Bearer s3cre"))));
        assert!(!t.admits(Some(&h("Basic s3cret"))));
        assert!(!t.admits(None));
        assert_eq!(format!("{t:?}"), "Token(…)");
        assert!(Token::new("  ", "test").is_err());
        assert!(Token::new("a b", "test").is_err());
    }
}
