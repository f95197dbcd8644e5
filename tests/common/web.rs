//! The web tests' parts: the real `kamlog` binary serving `--data` over HTTP on a free
//! loopback port (read from its start line), killed when dropped, and a blocking HTTP client
//! that returns every status instead of failing on 4xx/5xx.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KAMLOG: &str = env!("CARGO_BIN_EXE_kamlog");

/// Runs `kamlog --data DIR ARGS…` and returns (exit, stdout, stderr).
pub fn kamlog(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(KAMLOG)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("KAMLOG_TOKEN")
        .output()
        .expect("kamlog runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `kamlog web`.
pub struct Web {
    child: Child,
    pub base: String,
}

impl Web {
    /// `kamlog --data DIR web --http 127.0.0.1:0 EXTRA…`, with `KAMLOG_TOKEN` set to `token`.
    pub fn start(data: &Path, token: Option<&str>, extra: &[&str]) -> Web {
        let mut cmd = Command::new(KAMLOG);
        cmd.arg("--data")
            .arg(data)
            .args(["web", "--http", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match token {
            Some(t) => cmd.env("KAMLOG_TOKEN", t),
            None => cmd.env_remove("KAMLOG_TOKEN"),
        };
        let mut child = cmd.spawn().expect("kamlog web starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("http://") {
                    let url = line[i..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let _ = tx.send(url.trim_end_matches('/').to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("kamlog web prints the address it serves");
        Web { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn answer(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut res = res.expect("the server answers");
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = res
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// GET, with a bearer token when given.
pub fn get(url: &str, token: Option<&str>) -> Answer {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    answer(req.call())
}

/// POST a body, with a bearer token when given.
pub fn post(url: &str, token: Option<&str>, body: &[u8]) -> Answer {
    let mut req = agent().post(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    answer(req.send(body))
}

/// Waits until `f` holds (a server's side effect), for at most `secs`.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
