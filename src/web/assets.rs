//! The web's two assets, compiled into the binary: the stylesheet the report inlines and the
//! small script of the account page's time control (no framework, no build step).

use axum::http::header;
use axum::response::IntoResponse;

/// The time control's script.
pub const SCRIPT: &str = include_str!("kamlog.js");

/// `GET /assets/kamlog.css`.
pub async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        crate::review::STYLE,
    )
}

/// `GET /assets/kamlog.js`.
pub async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}
