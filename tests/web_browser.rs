//! The web pages in a real browser (SPEC 9 v2): Debian's headless Chromium driven through
//! chromedriver (WebDriver) against the real `kamlog web` on the map-to-green replay. Checked:
//! the portfolio opens, a click leads into the account, and moving the time control — the
//! slider by keyboard, the date field — redraws the map and the coverage with the figures the
//! views give at that instant (the API, itself equal to the CLI's `--json`), which are also the
//! figures derived by hand in the scenario. With `KAMLOG_SCREENSHOTS=1` it writes the README's
//! screenshots to `docs/`.
//!
//! Needs `/usr/bin/chromium` and `chromedriver` (Debian's `chromium`, `chromium-driver`;
//! `.ci/run` installs them). Where they are missing the test fails saying so, unless
//! `KAMLOG_SKIP_BROWSER=1`.

mod common;

use common::nats::free_port;
use common::web::{get, kamlog, Web};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(path: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < end,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver) -> Client {
    let profile = tempfile::tempdir().unwrap().keep();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1100,2000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session through chromedriver")
}

/// Waits until the time control shows `as_of` with nothing loading.
async fn settled_at(c: &Client, as_of: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let tc = c.find(Locator::Id("timecontrol")).await.unwrap();
        let at = tc.attr("data-as-of").await.unwrap();
        let loading = tc.attr("data-loading").await.unwrap();
        if at.as_deref() == Some(as_of) && loading.is_none() {
            return;
        }
        assert!(
            Instant::now() < end,
            "the page did not move to {as_of} (at {at:?}, loading {loading:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the page shows: the map status, the coverage ratio, the stakeholders on the map, and
/// s-max's coverage risk.
async fn shown(c: &Client) -> (String, String, usize, Option<String>) {
    let status = c
        .find(Locator::Id("map-status"))
        .await
        .unwrap()
        .attr("data-status")
        .await
        .unwrap()
        .unwrap();
    let ratio = c
        .find(Locator::Id("coverage-ratio"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let nodes = c
        .find_all(Locator::Css("svg.map g.node.stakeholder[data-id]"))
        .await
        .unwrap()
        .len();
    let max = match c
        .find(Locator::Css("#coverage tr[data-id='s-max'] td:last-child"))
        .await
    {
        Ok(e) => Some(e.text().await.unwrap()),
        Err(_) => None,
    };
    (status, ratio, nodes, max)
}

/// The views' figures at an instant, from the API (equal to the CLI's --json, tests/web.rs).
fn views_at(web: &Web, as_of: &str) -> (String, String, usize) {
    let map = get(
        &web.url(&format!("/api/accounts/oscorp/views/map?as_of={as_of}")),
        None,
    )
    .json();
    let cov = get(
        &web.url(&format!(
            "/api/accounts/oscorp/views/coverage?as_of={as_of}"
        )),
        None,
    )
    .json();
    (
        map["status"].as_str().unwrap().to_string(),
        cov["coverage_ratio"].as_str().unwrap().to_string(),
        map["stakeholders"].as_array().unwrap().len(),
    )
}

fn screenshot(name: &str, png: &[u8]) {
    if std::env::var_os("KAMLOG_SCREENSHOTS").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, png).unwrap();
    }
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
}

#[test]
fn the_time_control_redraws_the_map_and_the_coverage_of_that_instant() {
    let (driver_path, chromium) = (chromedriver(), Path::new(CHROMIUM).exists());
    if driver_path.is_none() || !chromium {
        if std::env::var_os("KAMLOG_SKIP_BROWSER").is_some() {
            eprintln!("skipped: no Chromium or chromedriver (KAMLOG_SKIP_BROWSER is set)");
            return;
        }
        panic!(
            "the browser test needs {CHROMIUM} and chromedriver (apt-get install chromium \
             chromium-driver; .ci/run does); set KAMLOG_SKIP_BROWSER=1 to skip it"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for r in ["map-to-green", "northwind-journey", "renewal-at-risk"] {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("replays")
            .join(r)
            .join("events.jsonl");
        let (code, _, err) = kamlog(&data, &["import", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    let web = Web::start(&data, None, &[]);
    let driver = Driver::start(&driver_path.unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver).await;
        // The portfolio, at the scenario's as-of time.
        c.goto(&web.url("/?as_of=2025-03-01T00:00:00Z"))
            .await
            .unwrap();
        let rows = c
            .find_all(Locator::Css("#risk-table tbody tr"))
            .await
            .unwrap();
        // northwind (opened 2023), umbra (2024-01), vega (2024-06) and oscorp (2025-02).
        assert_eq!(rows.len(), 4, "four accounts in the ranked table");
        let dots = c
            .find_all(Locator::Css("svg.quadrant-chart g.account"))
            .await
            .unwrap();
        // northwind, umbra and vega are classified by then; oscorp never is.
        assert_eq!(dots.len(), 3);
        screenshot("portfolio.png", &c.screenshot().await.unwrap());
        // Into the account.
        c.find(Locator::Css("#risk-table tr[data-account='oscorp'] a"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Id("timecontrol"))
            .await
            .unwrap();
        assert!(c
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/accounts/oscorp"));
        settled_at(&c, "2025-03-01T00:00:00Z").await;
        // By hand (the scenario): green, coverage 1/2 = 0.5, s-max covered by one member.
        assert_eq!(
            shown(&c).await,
            ("green".into(), "0.5".into(), 2, Some("single".into()))
        );
        screenshot("account.png", &c.screenshot().await.unwrap());
        let slider = c.find(Locator::Id("as-of-slider")).await.unwrap();
        // The first instant: the account just opened, nobody on the map.
        slider
            .send_keys(&String::from(char::from(Key::Home)))
            .await
            .unwrap();
        settled_at(&c, "2025-02-01T09:00:00Z").await;
        let (status, ratio, nodes, max) = shown(&c).await;
        assert_eq!(
            (status.clone(), ratio.clone(), nodes),
            views_at(&web, "2025-02-01T09:00:00Z")
        );
        // No key stakeholders: the ratio is 1 (SPEC 4.1); no one to show.
        assert_eq!((ratio.as_str(), nodes, max), ("1", 0, None));
        // Three instants on: both stakeholders added, nobody met: red, both uncovered.
        let right = String::from(char::from(Key::Right));
        for _ in 0..3 {
            slider.send_keys(&right).await.unwrap();
        }
        settled_at(&c, "2025-02-01T09:03:00Z").await;
        let now = shown(&c).await;
        assert_eq!(
            (now.0.clone(), now.1.clone(), now.2),
            views_at(&web, "2025-02-01T09:03:00Z")
        );
        assert_eq!(now, ("red".into(), "0".into(), 2, Some("uncovered".into())));
        // The meeting of m-kai and s-max: amber, s-max single, the ratio still 0/2.
        slider.send_keys(&right).await.unwrap();
        settled_at(&c, "2025-02-10T10:00:00Z").await;
        let now = shown(&c).await;
        assert_eq!(
            (now.0.clone(), now.1.clone(), now.2),
            views_at(&web, "2025-02-10T10:00:00Z")
        );
        assert_eq!(now, ("amber".into(), "0".into(), 2, Some("single".into())));
        assert!(c
            .current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .contains("as_of=2025-02-10T10%3A00%3A00Z"));
        // The date field: the end of 20 February, after the workshop: green again.
        let date = c.find(Locator::Id("as-of-date")).await.unwrap();
        c.execute(
            "arguments[0].value = '2025-02-20'; \
             arguments[0].dispatchEvent(new Event('change'));",
            vec![serde_json::to_value(&date).unwrap()],
        )
        .await
        .unwrap();
        settled_at(&c, "2025-02-20T23:59:59Z").await;
        let now = shown(&c).await;
        assert_eq!(
            (now.0.clone(), now.1.clone(), now.2),
            views_at(&web, "2025-02-20T23:59:59Z")
        );
        assert_eq!(
            now,
            ("green".into(), "0.5".into(), 2, Some("single".into()))
        );
        // The slider followed the date: the last instant of that day (the workshop, 11:00).
        assert_eq!(slider.prop("value").await.unwrap().as_deref(), Some("7"));
        c.close().await.unwrap();
    });
}
