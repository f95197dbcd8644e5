//! The web's pages (SPEC 9 v2), drawn on the server from the typed views: `/` the portfolio
//! (the quadrant chart and the ranked risk table), `/accounts/A` the account review with its
//! time control, `/accounts/A/log` the audit timeline with its filters. Every page takes
//! `?as_of=` and `?known_at=`; a bad value or an unknown account is a page saying so, with
//! the matching status.

use super::api::{allow, Params};
use super::Shared;
use crate::command::accounts::scored;
use crate::command::human_time;
use crate::error::{Error, Result};
use crate::query::timeline::Filter;
use crate::query::Query;
use crate::review::{charts, html as sections, Review};
use crate::view::{dec_str, time_str, Selection};
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// A page: the site's header, the content, the stylesheet and (where asked) the script.
fn page(title: &str, script: bool, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — kamlog" }
                link rel="stylesheet" href="/assets/kamlog.css";
                @if script { script src="/assets/kamlog.js" defer {} }
            }
            body {
                header.site {
                    a href="/" { "kamlog" }
                    nav { a href="/" { "Portfolio" } }
                }
                main { (content) }
            }
        }
    }
}

/// An error as a page with its status.
fn error_page(e: &Error) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = page(
        "Error",
        false,
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.risk #error { (e.to_string()) }
            p { a href="/" { "Back to the portfolio" } }
        },
    );
    (status, Html(body.into_string())).into_response()
}

/// Runs page work on a blocking thread; an error becomes its page.
async fn render(
    app: Shared,
    f: impl FnOnce(&Query) -> Result<Markup> + Send + 'static,
) -> Response {
    let done = tokio::task::spawn_blocking(move || {
        let q = Query::new(&app.store, &app.policy)?;
        f(&q)
    })
    .await;
    match done {
        Ok(Ok(m)) => Html(m.into_string()).into_response(),
        Ok(Err(e)) => error_page(&e),
        Err(e) => error_page(&Error::Io(format!("the page's worker failed: {e}"))),
    }
}

/// The selection of `?as_of=&known_at=`.
fn selection(p: &Params) -> Result<Selection> {
    crate::command::view::selection(
        p.get("as_of").map(String::as_str).filter(|s| !s.is_empty()),
        p.get("known_at")
            .map(String::as_str)
            .filter(|s| !s.is_empty()),
    )
}

/// `?as_of=…&known_at=…` of a selection the user gave (nothing for "now").
fn carry(p: &Params) -> String {
    let mut parts = Vec::new();
    for k in ["as_of", "known_at"] {
        if let Some(v) = p.get(k).filter(|v| !v.is_empty()) {
            parts.push(format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, QUERY_VALUE)
            ));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// What a query value may not hold unescaped.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b':');

fn account_href(account: &str) -> String {
    format!(
        "/accounts/{}",
        percent_encoding::utf8_percent_encode(account, QUERY_VALUE)
    )
}

/// `GET /`: the portfolio.
pub async fn portfolio(State(app): State<Shared>, UrlQuery(p): UrlQuery<Params>) -> Response {
    render(app, move |q| {
        allow(&p, &["as_of", "known_at"])?;
        let sel = selection(&p)?;
        let (doc, scores) = scored(q, &sel)?;
        let suffix = carry(&p);
        let placed: Vec<charts::Placed> = doc
            .accounts
            .iter()
            .zip(&scores)
            .filter_map(|(a, s)| {
                s.map(|(attractiveness, business_strength)| charts::Placed {
                    account_id: &a.account_id,
                    label: a.name.as_deref().unwrap_or(&a.account_id),
                    attractiveness,
                    business_strength,
                    map_status: a.map_status,
                    href: Some(format!("{}{suffix}", account_href(&a.account_id))),
                })
            })
            .collect();
        let unplaced = scores.iter().filter(|s| s.is_none()).count();
        Ok(page(
            "Portfolio",
            false,
            html! {
                h1 { "Portfolio" }
                p.selection {
                    "As of " (human_time(doc.as_of))
                    @if let Some(k) = doc.known_at { ", as known at " (human_time(k)) }
                    " · " (crate::command::count(doc.accounts.len(), "account", "accounts"))
                }
                (selection_form("/", &p))
                div.portfolio {
                    div {
                        (charts::quadrant(&placed))
                        @if unplaced > 0 {
                            p.empty { (crate::command::count(unplaced, "account is", "accounts are")) " not classified yet and not on the chart." }
                        }
                    }
                }
                h2 { "Accounts ranked by risk" }
                table #risk-table {
                    thead { tr {
                        th { "Account" } th { "Stage" } th { "Quadrant" } th { "Map" } th.num { "Coverage" }
                        th.num { "Critical" } th.num { "High" } th.num { "Medium" } th.num { "Low" }
                        th { "Next renewal" } th { "Renewing value" }
                    } }
                    tbody {
                        @for a in doc.ranked() {
                            tr data-account=(a.account_id) {
                                td { a href={(account_href(&a.account_id)) (suffix)} { (a.name.as_deref().unwrap_or(&a.account_id)) } br; span.id { (a.account_id) } }
                                td { (a.stage.name()) }
                                td { (a.quadrant.unwrap_or("—")) }
                                td { span class={"status map-" (a.map_status)} { (a.map_status) } }
                                td.num { (dec_str(a.coverage_ratio)) }
                                td.num { (a.alerts.critical) } td.num { (a.alerts.high) }
                                td.num { (a.alerts.medium) } td.num { (a.alerts.low) }
                                td { @match &a.next_renewal { Some(r) => { (r.renewal_date) " " (r.contract_id) } None => { "—" } } }
                                td { (a.renewing_value.iter().map(|v| format!("{} {}", dec_str(v.amount), v.currency)).collect::<Vec<_>>().join(", ")) }
                            }
                        }
                    }
                }
            },
        ))
    })
    .await
}

/// The as-of / known-at form of a page (plain GET, no script).
fn selection_form(action: &str, p: &Params) -> Markup {
    html! {
        form.filters method="get" action=(action) {
            label { "As of (RFC 3339 or a date)" input type="text" name="as_of" value=[p.get("as_of")] placeholder="now"; }
            label { "Known at" input type="text" name="known_at" value=[p.get("known_at")] placeholder="now"; }
            button type="submit" { "Show" }
        }
    }
}

/// `GET /accounts/A`: the account review with its time control.
pub async fn account(
    State(app): State<Shared>,
    Path(account): Path<String>,
    UrlQuery(p): UrlQuery<Params>,
) -> Response {
    render(app, move |q| {
        allow(&p, &["as_of", "known_at", "since"])?;
        let sel = selection(&p)?;
        let since = p
            .get("since")
            .filter(|s| !s.is_empty())
            .map(|s| crate::query::parse_time("since", s))
            .transpose()?;
        let r = Review::gather(q, &account, &sel, since)?;
        let instants: Vec<i64> = r.instants.iter().map(|t| t.timestamp()).collect();
        let at = sel.as_of.timestamp();
        let index = instants.iter().rposition(|&t| t <= at).unwrap_or(0);
        let json = serde_json::to_string(&instants).expect("integers serialize");
        let log_href = format!("{}/log{}", account_href(&account), carry(&p));
        Ok(page(
            &format!("Account review: {}", r.title()),
            true,
            html! {
                div #timecontrol.timecontrol data-path=(account_href(&account))
                    data-known-at=[sel.known_at.map(time_str)] data-as-of=(time_str(sel.as_of)) {
                    label for="as-of-slider" { "Time" }
                    @if instants.is_empty() {
                        input #as-of-slider type="range" min="0" max="0" value="0" disabled;
                    } @else {
                        input #as-of-slider type="range" min="0" max=(instants.len() - 1) value=(index) step="1"
                            aria-label="Move through the account's event instants";
                    }
                    input #as-of-date type="date" value=(sel.as_of.format("%Y-%m-%d")) aria-label="As of the end of a day";
                    output #as-of-shown { (time_str(sel.as_of)) }
                    a href=(log_href) { "Audit timeline" }
                }
                script #instants type="application/json" { (PreEscaped(json)) }
                div #review { (sections::sections(&r)) }
            },
        ))
    })
    .await
}

/// `GET /accounts/A/log`: the audit timeline with its filters.
pub async fn log(
    State(app): State<Shared>,
    Path(account): Path<String>,
    UrlQuery(p): UrlQuery<Params>,
) -> Response {
    render(app, move |q| {
        allow(
            &p,
            &["type", "member", "stakeholder", "since", "until", "known_at"],
        )?;
        let nonempty = |k: &str| p.get(k).filter(|v| !v.is_empty()).cloned();
        let time = |k: &str| {
            nonempty(k)
                .map(|v| crate::query::parse_time(k, &v))
                .transpose()
        };
        let sel = selection(&p)?;
        let filter = Filter {
            type_name: nonempty("type"),
            member: nonempty("member"),
            stakeholder: nonempty("stakeholder"),
            since: time("since")?,
            until: time("until")?,
        };
        if let Some(t) = &filter.type_name {
            crate::command::log::check_type(t)?;
        }
        let doc = q.log(&account, &sel, &filter)?;
        Ok(page(
            &format!("Audit timeline: {account}"),
            false,
            html! {
                h1 { "Audit timeline " span.id { "(" (account) ")" } }
                p { a href=(account_href(&account)) { "Back to the account review" } }
                form.filters method="get" {
                    @for (k, label) in [("type", "Event type"), ("member", "Member id"), ("stakeholder", "Stakeholder id"),
                                        ("since", "Since"), ("until", "Until"), ("known_at", "Known at")] {
                        label { (label) input type="text" name=(k) value=[p.get(k)]; }
                    }
                    button type="submit" { "Filter" }
                }
                p #entry-count { (crate::command::count(doc.entries.len(), "entry", "entries")) }
                (sections::timeline_table(&doc.entries))
            },
        ))
    })
    .await
}

/// Any other path: 404.
pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return super::api::failure(&Error::NotFound(format!(
            "no endpoint {}: the API has /api/accounts, /api/accounts/A/views/VIEW, \
             /api/accounts/A/log, /api/alerts and POST /api/events",
            uri.path()
        )));
    }
    error_page(&Error::NotFound(format!("no page {}", uri.path())))
}
