//! The web server and the report (SPEC 9 v2), end to end: the real `kamlog` binary serving a
//! store over HTTP on loopback, asked by a real HTTP client. Checked: the JSON API's bodies are
//! byte for byte the CLI's `--json` output for every view, `accounts`, `alerts` and `log`;
//! status codes and the security headers; the token (401 without it, POST only with it); the
//! refusal of a public bind without a token; a hostile name shown as text; an oversized POST
//! refused; appends over HTTP keep append's rules; and the report's figures at three instants
//! of the map-to-green replay equal the figures derived by hand in its scenario.

mod common;

use common::web::{get, kamlog, post, Web};
use serde_json::json;
use std::path::{Path, PathBuf};

fn replay(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("replays")
        .join(name)
        .join("events.jsonl")
}

/// A store with three replays' accounts (northwind, oscorp, umbra).
fn store_with_replays() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for r in ["northwind-journey", "map-to-green", "renewal-at-risk"] {
        let (code, _, err) = kamlog(&data, &["import", replay(r).to_str().unwrap()]);
        assert_eq!(code, 0, "import {r}: {err}");
    }
    (dir, data)
}

const ACCOUNTS: [&str; 3] = ["northwind", "oscorp", "umbra"];
use common::VIEWS;
/// Business instants inside the three replays' histories, and one system time.
const AS_OF: [&str; 3] = [
    "2025-02-10T12:00:00Z",
    "2025-03-01T00:00:00Z",
    "2025-09-30T00:00:00Z",
];

#[test]
fn the_api_answers_exactly_what_the_cli_prints() {
    let (_dir, data) = store_with_replays();
    // Every question, asked of the CLI first (the web server holds the store while it runs).
    let mut asked: Vec<(String, Vec<String>)> = Vec::new();
    for a in ACCOUNTS {
        for v in VIEWS {
            for t in AS_OF {
                asked.push((
                    format!("/api/accounts/{a}/views/{v}?as_of={t}"),
                    vec![
                        "view".into(),
                        a.into(),
                        v.into(),
                        "--as-of".into(),
                        t.into(),
                    ],
                ));
            }
            // Known-at: what kamlog knew at the far past is nothing at all, an error; at a far
            // future, everything.
            asked.push((
                format!("/api/accounts/{a}/views/{v}?as_of=2025-03-01T00:00:00Z&known_at=2099-01-01T00:00:00Z"),
                vec![
                    "view".into(), a.into(), v.into(), "--as-of".into(),
                    "2025-03-01T00:00:00Z".into(), "--known-at".into(), "2099-01-01T00:00:00Z".into(),
                ],
            ));
        }
        asked.push((
            format!("/api/accounts/{a}/log?since=2024-01-01T00:00:00Z&type=interaction_logged"),
            vec![
                "log".into(),
                a.into(),
                "--since".into(),
                "2024-01-01T00:00:00Z".into(),
                "--type".into(),
                "interaction_logged".into(),
            ],
        ));
        asked.push((
            format!("/api/accounts/{a}/log"),
            vec!["log".into(), a.into()],
        ));
        asked.push((
            format!("/api/alerts?account={a}&as_of=2025-03-01T00:00:00Z&history=true"),
            vec![
                "alerts".into(),
                a.into(),
                "--as-of".into(),
                "2025-03-01T00:00:00Z".into(),
                "--history".into(),
            ],
        ));
    }
    for t in AS_OF {
        asked.push((
            format!("/api/accounts?as_of={t}"),
            vec!["accounts".into(), "--as-of".into(), t.into()],
        ));
        asked.push((
            format!("/api/alerts?as_of={t}"),
            vec!["alerts".into(), "--as-of".into(), t.into()],
        ));
    }
    let expected: Vec<String> = asked
        .iter()
        .map(|(_, args)| {
            let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
            a.push("--json");
            let (code, out, err) = kamlog(&data, &a);
            assert_eq!(code, 0, "kamlog {a:?}: {err}");
            out
        })
        .collect();
    let web = Web::start(&data, None, &[]);
    for ((path, args), cli) in asked.iter().zip(&expected) {
        let got = get(&web.url(path), None);
        assert_eq!(got.status, 200, "{path}: {}", got.body);
        assert_eq!(
            got.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{path}"
        );
        if args.iter().any(|a| a == "--as-of") {
            assert_eq!(
                &got.body, cli,
                "GET {path} differs from kamlog {args:?} --json"
            );
        } else {
            // `log` answers as of now: the same document but for the instant it was asked.
            let now_dropped = |s: &str| {
                let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
                v.as_object_mut().unwrap().remove("as_of").expect("as_of");
                v
            };
            assert_eq!(now_dropped(&got.body), now_dropped(cli), "GET {path}");
        }
    }
    assert!(asked.len() > 100, "{} questions", asked.len());
}

#[test]
fn status_codes_and_security_headers() {
    let (_dir, data) = store_with_replays();
    let web = Web::start(&data, None, &[]);
    let cases: [(&str, u16); 13] = [
        ("/", 200),
        ("/?as_of=2025-03-01", 200),
        ("/accounts/oscorp", 200),
        ("/accounts/oscorp?as_of=2025-02-10T12:00:00Z", 200),
        ("/accounts/oscorp/log?type=interaction_logged", 200),
        ("/assets/kamlog.css", 200),
        ("/assets/kamlog.js", 200),
        ("/accounts/nobody", 404),
        ("/api/accounts/nobody/views/map", 404),
        ("/api/accounts/oscorp/views/mapp", 400),
        ("/api/accounts?as_of=yesterday", 400),
        ("/api/alerts?as_off=2025-01-01", 400),
        ("/no/such/page", 404),
    ];
    for (path, status) in cases {
        let a = get(&web.url(path), None);
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert_eq!(
            a.header("content-security-policy"),
            Some("default-src 'self'"),
            "{path}"
        );
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    }
    // Errors say what and where.
    let a = get(&web.url("/api/accounts/oscorp/views/mapp"), None);
    assert_eq!(a.json()["exit"], 2);
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .contains("did you mean map"),
        "{}",
        a.body
    );
    let a = get(&web.url("/api/accounts/nobody/views/map"), None);
    assert!(a.body.contains("no account nobody"), "{}", a.body);
    let a = get(&web.url("/accounts/oscorp?as_of=yesterday"), None);
    assert_eq!(a.status, 400);
    assert!(a.body.contains("yesterday"), "{}", a.body);
    // Nothing loaded from outside the server: every src and href of the pages is local.
    for path in ["/", "/accounts/oscorp", "/accounts/oscorp/log"] {
        let body = get(&web.url(path), None).body;
        for attr in ["src=\"", "href=\""] {
            for (i, _) in body.match_indices(attr) {
                let v = &body[i + attr.len()..];
                assert!(
                    v.starts_with('/') || v.starts_with('#') || v.starts_with('?'),
                    "{path}: {attr}{}",
                    &v[..v.len().min(60)]
                );
            }
        }
        assert!(!body.contains("<script>"), "{path}: an inline script");
    }
    // Without a token, there is no POST.
    let ev = json!({"event_id": common::new_id(), "account_id": "oscorp", "type": "account_reopened",
                    "occurred_at": "2025-04-01T00:00:00Z", "data": {}});
    let a = post(&web.url("/api/events"), None, ev.to_string().as_bytes());
    assert_eq!(a.status, 404, "{}", a.body);
    assert!(a.body.contains("only when a token is configured"));
}

#[test]
fn a_token_guards_every_request_and_opens_post() {
    let (_dir, data) = store_with_replays();
    let token = "t0k3n-for-the-test";
    let web = Web::start(&data, Some(token), &[]);
    for path in [
        "/",
        "/accounts/oscorp",
        "/api/accounts",
        "/api/alerts",
        "/assets/kamlog.css",
        "/no/such/page",
    ] {
        let a = get(&web.url(path), None);
        assert_eq!(a.status, 401, "{path} without a token");
        assert_eq!(
            a.header("www-authenticate"),
            Some("Bearer realm=\"kamlog\"")
        );
        assert!(!a.body.contains(token));
        assert_eq!(get(&web.url(path), Some("wrong")).status, 401, "{path}");
    }
    assert_eq!(get(&web.url("/api/accounts"), Some(token)).status, 200);
    let version = |web: &Web| {
        get(&web.url("/api/accounts"), Some(token)).json()["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account_id"] == "oscorp")
            .unwrap()["version"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(version(&web), 8);
    let url = web.url("/api/events");
    // A POST without the token stores nothing.
    let meeting = |id: &str, at: &str| {
        json!({"event_id": id, "account_id": "oscorp", "type": "interaction_logged",
               "occurred_at": at, "data": {"interaction_id": format!("i-{id}"), "channel": "call",
               "supplier_participants": ["m-kai"], "customer_participants": ["s-lee"]}})
    };
    let first = common::new_id();
    let body = meeting(&first, "2025-03-02T10:00:00Z").to_string();
    assert_eq!(post(&url, None, body.as_bytes()).status, 401);
    assert_eq!(version(&web), 8);
    // With it, append's reply.
    let a = post(&url, Some(token), body.as_bytes());
    assert_eq!(a.status, 200, "{}", a.body);
    let reply = a.json();
    assert_eq!(reply["stored"], 1, "{}", a.body);
    assert_eq!(version(&web), 9);
    // Sent again: a duplicate, nothing stored.
    let a = post(&url, Some(token), body.as_bytes());
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["stored"], 0, "{}", a.body);
    assert_eq!(a.json()["duplicates"], 1, "{}", a.body);
    // A batch with a bad second line: 422 naming the line and the field; nothing stored.
    let good = meeting(&common::new_id(), "2025-03-03T10:00:00Z");
    let mut bad = meeting(&common::new_id(), "2025-03-04T10:00:00Z");
    bad["data"]["channel"] = json!("carrier pigeon");
    let batch = format!("{good}\n{bad}\n");
    let a = post(&url, Some(token), batch.as_bytes());
    assert_eq!(a.status, 422, "{}", a.body);
    let e = a.json()["error"].as_str().unwrap().to_string();
    assert!(e.contains("line 2") && e.contains("channel"), "{e}");
    assert_eq!(version(&web), 9);
    // An expected version that is not the account's: 409.
    let a = post(
        &format!("{url}?expected_version=3"),
        Some(token),
        good.to_string().as_bytes(),
    );
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(version(&web), 9);
    // An oversized body: 413, nothing stored.
    let line = good.to_string();
    let mut huge = String::new();
    while huge.len() <= kamlog::web::MAX_BODY_BYTES {
        huge.push_str(&line);
        huge.push('\n');
    }
    let a = post(&url, Some(token), huge.as_bytes());
    assert_eq!(a.status, 413, "{}", &a.body[..a.body.len().min(200)]);
    assert_eq!(version(&web), 9);
    // The event went through append's rules into the log.
    let log = get(
        &web.url("/api/accounts/oscorp/log?type=interaction_logged"),
        Some(token),
    )
    .json();
    let ids: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"]["event_id"].as_str())
        .collect();
    assert!(ids.contains(&first.as_str()), "{ids:?}");
}

#[test]
fn a_public_bind_without_a_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, _, err) = kamlog(&data, &["web", "--http", "0.0.0.0:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("refusing to serve http on 0.0.0.0:0 without a token"),
        "{err}"
    );
    let (code, _, err) = kamlog(&data, &["serve", "--http", "0.0.0.0:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("without a token"), "{err}");
    // A token file that is empty is an error naming it.
    let empty = dir.path().join("token");
    std::fs::write(&empty, "\n").unwrap();
    let (code, _, err) = kamlog(
        &data,
        &[
            "web",
            "--http",
            "0.0.0.0:0",
            "--token-file",
            empty.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is empty") && err.contains("token"), "{err}");
    // With a token, a public bind starts.
    let tok = dir.path().join("token2");
    std::fs::write(&tok, "abc123\n").unwrap();
    let mut child = std::process::Command::new(common::web::KAMLOG)
        .arg("--data")
        .arg(&data)
        .args([
            "web",
            "--http",
            "0.0.0.0:0",
            "--token-file",
            tok.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains("http://0.0.0.0:") && line.contains("token is required"),
        "{line}"
    );
    assert!(!line.contains("abc123"), "{line}");
}

#[test]
fn a_hostile_name_is_text_in_the_report_and_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hostile = "<script>alert('x')</script>";
    let img = "<img src=x onerror=alert(1)>";
    let events = [
        json!({"event_id": common::new_id(), "account_id": "evil", "type": "account_opened",
               "occurred_at": "2025-01-01T09:00:00Z", "data": {"name": hostile}}),
        json!({"event_id": common::new_id(), "account_id": "evil", "type": "account_classified",
               "occurred_at": "2025-01-01T09:01:00Z", "data": {"attractiveness": 70, "business_strength": 60}}),
        json!({"event_id": common::new_id(), "account_id": "evil", "type": "team_member_assigned",
               "occurred_at": "2025-01-01T09:02:00Z", "data": {"member_id": "m-1", "name": img,
               "function": "sales", "team_role": "account_lead"}}),
        json!({"event_id": common::new_id(), "account_id": "evil", "type": "stakeholder_added",
               "occurred_at": "2025-01-01T09:03:00Z", "data": {"stakeholder_id": "s-1", "name": hostile,
               "title": img, "function": "finance", "level": "executive", "dmu_roles": ["decision_maker"],
               "influence": 5, "attitude": 0}}),
        json!({"event_id": common::new_id(), "account_id": "evil", "type": "interaction_logged",
               "occurred_at": "2025-01-05T09:00:00Z", "data": {"interaction_id": "i-1", "channel": "meeting",
               "supplier_participants": ["m-1"], "customer_participants": ["s-1"], "topic": hostile}}),
    ];
    let file = dir.path().join("evil.jsonl");
    std::fs::write(&file, common::jsonl(&events)).unwrap();
    let (code, _, err) = kamlog(&data, &["import", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let report = dir.path().join("evil.html");
    let (code, _, err) = kamlog(
        &data,
        &[
            "report",
            "evil",
            "--as-of",
            "2025-02-01T00:00:00Z",
            "-o",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let report = std::fs::read_to_string(report).unwrap();
    let web = Web::start(&data, None, &[]);
    let pages = [
        ("report", report),
        ("portfolio", get(&web.url("/?as_of=2025-02-01"), None).body),
        (
            "account",
            get(&web.url("/accounts/evil?as_of=2025-02-01"), None).body,
        ),
        ("log", get(&web.url("/accounts/evil/log"), None).body),
    ];
    for (what, body) in &pages {
        assert!(
            !body.contains("<script>alert"),
            "{what} holds the script as markup"
        );
        assert!(!body.contains("<img"), "{what} holds the img as markup");
        assert!(
            body.contains("&lt;script&gt;alert("),
            "{what} does not show the name as text"
        );
    }
    // The review shows both people by name, escaped, in the map and the tables.
    assert!(pages[2].1.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

/// The figures of the map-to-green scenario, derived by hand in its scenario.json and
/// expected files (SPEC 4.1, 4.7): (as_of, map status, gaps, coverage ratio, s-max's risk).
/// Coverage: s-lee (decision maker) and s-max (champion) are the key stakeholders; before any
/// meeting both are uncovered (ratio 0/2); after m-kai meets s-max, s-max is single (0/2);
/// after the workshop, s-lee is covered by m-kai and m-zoe (1/2 = 0.5).
const MAP_TO_GREEN: [(&str, &str, &str, &str, &str); 3] = [
    (
        "2025-02-01T10:00:00Z",
        "red",
        "no_economic_buyer, no_exec_sponsor, opposed_decision_maker, unengaged_champion, unengaged_decision_maker",
        "0",
        "uncovered",
    ),
    (
        "2025-02-10T12:00:00Z",
        "amber",
        "no_economic_buyer, no_exec_sponsor, opposed_decision_maker, unengaged_decision_maker",
        "0",
        "single",
    ),
    ("2025-03-01T00:00:00Z", "green", "no_economic_buyer", "0.5", "single"),
];

/// The text of the element with `id`, tags dropped (the HTML is the server's own, so a plain
/// scan is enough).
fn text_of(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let open_end = start + html[start..].find('>').unwrap() + 1;
    let close = open_end + html[open_end..].find("</").unwrap();
    html[open_end..close].to_string()
}

#[test]
fn the_report_shows_the_figures_of_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, _, err) = kamlog(&data, &["import", replay("map-to-green").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for (as_of, status, gaps, ratio, max_risk) in MAP_TO_GREEN {
        let (code, html, err) = kamlog(&data, &["report", "oscorp", "--as-of", as_of]);
        assert_eq!(code, 0, "{err}");
        assert!(
            html.contains(&format!("data-status=\"{status}\"")),
            "{as_of}: not {status}"
        );
        assert_eq!(text_of(&html, "map-gaps"), gaps, "{as_of}");
        assert_eq!(text_of(&html, "coverage-ratio"), ratio, "{as_of}");
        let row = &html[html.find("<tr data-id=\"s-max\"").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains(&format!(">{max_risk}<")), "{as_of}: {row}");
        // Every section of SPEC 9, and nothing from elsewhere: no script, no link, no src.
        for id in [
            "header",
            "map",
            "coverage",
            "stage",
            "value",
            "contracts",
            "alerts",
            "economics",
            "changes",
        ] {
            assert!(
                html.contains(&format!("<section id=\"{id}\"")),
                "{as_of}: no {id}"
            );
        }
        for outside in ["<script", "<link", "src=", "href=\"http", "url("] {
            assert!(!html.contains(outside), "{as_of}: {outside}");
        }
        assert!(html.contains("<style>") && html.contains("<svg"));
    }
    // The map picture at green: three pairs (m-kai–s-max, m-kai–s-lee, m-zoe–s-lee), one line
    // each, and both stakeholders starred as key.
    let (_, html, _) = kamlog(
        &data,
        &["report", "oscorp", "--as-of", "2025-03-01T00:00:00Z"],
    );
    assert_eq!(
        html.matches("<line class=\"pair level-").count() - 4,
        3,
        "pairs (+4 in the legend)"
    );
    assert_eq!(
        html.matches("★ ").count(),
        2 + 1,
        "two key stakeholders (+1 in the legend)"
    );
    // What changed since 2025-02-15: the three events of the 20th, with their changes.
    let (_, html, _) = kamlog(
        &data,
        &[
            "report",
            "oscorp",
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--since",
            "2025-02-15",
        ],
    );
    let changes = &html[html.find("<section id=\"changes\"").unwrap()..];
    assert_eq!(
        changes.matches("<code>").count(),
        3,
        "three events since the 15th"
    );
    // --since after --as-of is a usage error naming both.
    let (code, _, err) = kamlog(
        &data,
        &[
            "report",
            "oscorp",
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--since",
            "2025-04-01",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since") && err.contains("after"), "{err}");
    let (code, _, err) = kamlog(&data, &["report", "nobody"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no account nobody"), "{err}");
}

#[test]
fn serve_needs_the_bus_or_the_web() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = kamlog(&dir.path().join("d"), &["serve"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--nats URL") && err.contains("--http ADDR"),
        "{err}"
    );
}
