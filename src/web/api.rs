//! The JSON API of SPEC 9 (v2): each endpoint builds the CLI's [`Request`] from its path and
//! query parameters and runs it with `--json` ([`crate::command::capture`]), so a body is byte
//! for byte what the CLI prints. A failure is its HTTP status ([`Error::status`]) with the
//! CLI's `{"error", "exit"}`. Unknown query parameters are refused, naming the ones there are.

use super::security::error_response;
use super::Shared;
use crate::command::Request;
use crate::error::Error;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// Query parameters, checked against the ones an endpoint takes.
pub type Params = HashMap<String, String>;

/// Refuses a parameter the endpoint does not take.
pub fn allow(params: &Params, allowed: &[&str]) -> Result<(), Error> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(k) => Err(Error::Usage(format!(
            "unknown query parameter {k}{}; this endpoint takes {}",
            crate::suggest::hint(k, allowed.iter().copied()),
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        ))),
    }
}

/// A failure as a response.
pub fn failure(e: &Error) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_response(status, &e.to_string(), e.exit_code())
}

/// Runs a command with `--json` on a blocking thread and answers with what it printed.
async fn run(app: Shared, request: Result<Request, Error>) -> Response {
    let request = match request {
        Ok(r) => r,
        Err(e) => return failure(&e),
    };
    let done = tokio::task::spawn_blocking(move || {
        crate::command::capture(&app.store, &app.policy, &request, true, false)
    })
    .await;
    match done {
        Ok(Ok(reply)) if reply.exit == 0 => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            reply.stdout,
        )
            .into_response(),
        Ok(Ok(reply)) => {
            // A command that ran and said no (exit 1): its own words.
            let message = if reply.stderr.trim().is_empty() {
                reply.stdout
            } else {
                reply.stderr
            };
            error_response(StatusCode::UNPROCESSABLE_ENTITY, message.trim(), reply.exit)
        }
        Ok(Err(e)) => failure(&e),
        Err(e) => failure(&Error::Io(format!("the request's worker failed: {e}"))),
    }
}

fn get(params: &mut Params, key: &str) -> Option<String> {
    params.remove(key)
}

/// `GET /api/accounts[?as_of=&known_at=]`: `kamlog accounts --json`.
pub async fn accounts(State(app): State<Shared>, Query(mut p): Query<Params>) -> Response {
    let req = allow(&p, &["as_of", "known_at"]).map(|_| Request::Accounts {
        as_of: get(&mut p, "as_of"),
        known_at: get(&mut p, "known_at"),
    });
    run(app, req).await
}

/// `GET /api/accounts/A/views/VIEW[?as_of=&known_at=]`: `kamlog view A VIEW --json`.
pub async fn view(
    State(app): State<Shared>,
    Path((account, view)): Path<(String, String)>,
    Query(mut p): Query<Params>,
) -> Response {
    let req = allow(&p, &["as_of", "known_at"]).map(|_| Request::View {
        account,
        view,
        as_of: get(&mut p, "as_of"),
        known_at: get(&mut p, "known_at"),
    });
    run(app, req).await
}

/// `GET /api/alerts[?account=&as_of=&known_at=&history=true]`: `kamlog alerts --json`.
pub async fn alerts(State(app): State<Shared>, Query(mut p): Query<Params>) -> Response {
    let req = allow(&p, &["account", "as_of", "known_at", "history"]).and_then(|_| {
        let history = match get(&mut p, "history").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") | Some("") => true,
            Some(other) => {
                return Err(Error::Usage(format!("history={other}: give true or false")))
            }
        };
        Ok(Request::Alerts {
            account: get(&mut p, "account"),
            as_of: get(&mut p, "as_of"),
            known_at: get(&mut p, "known_at"),
            history,
        })
    });
    run(app, req).await
}

/// `GET /api/accounts/A/log[?type=&member=&stakeholder=&since=&until=&known_at=]`:
/// `kamlog log A --json`.
pub async fn log(
    State(app): State<Shared>,
    Path(account): Path<String>,
    Query(mut p): Query<Params>,
) -> Response {
    let req = allow(
        &p,
        &[
            "type",
            "member",
            "stakeholder",
            "since",
            "until",
            "known_at",
        ],
    )
    .map(|_| Request::Log {
        account,
        type_name: get(&mut p, "type"),
        member: get(&mut p, "member"),
        stakeholder: get(&mut p, "stakeholder"),
        since: get(&mut p, "since"),
        until: get(&mut p, "until"),
        known_at: get(&mut p, "known_at"),
    });
    run(app, req).await
}

/// `POST /api/events[?expected_version=N]` with JSONL: `kamlog append --json`, with its rules,
/// errors and reply. Exists only when a token is configured (SPEC 9): without one, 404.
pub async fn append(
    State(app): State<Shared>,
    Query(mut p): Query<Params>,
    body: Bytes,
) -> Response {
    if app.token.is_none() {
        return error_response(
            StatusCode::NOT_FOUND,
            "POST /api/events exists only when a token is configured (KAMLOG_TOKEN or \
             --token-file): appends need a caller who proved who they are",
            1,
        );
    }
    let req = allow(&p, &["expected_version"]).and_then(|_| {
        let expected_version = get(&mut p, "expected_version")
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    Error::Usage(format!(
                        "expected_version={v}: not a version (a whole number ≥ 0)"
                    ))
                })
            })
            .transpose()?;
        let events = String::from_utf8(body.to_vec())
            .map_err(|e| Error::Usage(format!("the request body is not UTF-8 JSONL: {e}")))?;
        Ok(Request::Append {
            events,
            expected_version,
        })
    });
    run(app, req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_parameter_is_named_with_the_ones_there_are() {
        let p: Params = [("as_off".to_string(), "x".to_string())].into();
        let e = allow(&p, &["as_of", "known_at"]).unwrap_err().to_string();
        assert!(e.contains("as_off") && e.contains("as_of, known_at"), "{e}");
        assert!(allow(&Params::new(), &["as_of"]).is_ok());
    }
}
