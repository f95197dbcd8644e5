//! Who may append (SPEC 6 v2, issue "authenticated, encrypted NATS connections"): real
//! nats-servers started with the README's three-user configuration, with an nkey user, and
//! with mutual TLS (certificates made here with rcgen), and the real `kamlog` binary as
//! `serve` and as the `--nats` client. Checked: each user can do what its permissions say and
//! nothing else (a refused append stores nothing), refusals are clear errors with exit 1, no
//! secret appears in any output or in serve's log, and serve stops promptly on SIGTERM while
//! NATS refuses it or cannot be reached.

mod common;

use common::nats::{free_port, Nats};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REPLAY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/replays/northwind-journey/events.jsonl"
);

/// The passwords the test puts in place of the README's placeholders: distinctive strings a
/// scan of every output can look for.
const SERVE_PASSWORD: &str = "Sv-pw-7f3a9c1e";
const PRODUCER_PASSWORD: &str = "Pr-pw-2b8d4e6f";
const READER_PASSWORD: &str = "Rd-pw-9c0e1a3b";

/// (exit status, stdout, stderr) of one `kamlog` command.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_kamlog"))
        .args(args)
        .output()
        .expect("kamlog runs");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The nats-server configuration of the README, between its markers, for this port and
/// directory, with this test's passwords.
fn readme_config(port: u16, dir: &Path) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- nats-users:start -->")
        .expect("the README's configuration starts with <!-- nats-users:start -->");
    let end = readme
        .find("<!-- nats-users:end -->")
        .expect("and ends with <!-- nats-users:end -->");
    let block: String = readme[start..end]
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    for placeholder in [
        "listen: 127.0.0.1:4222",
        "store_dir: \"/var/lib/nats\"",
        "serve-password-change-me",
        "producer-password-change-me",
        "reader-password-change-me",
    ] {
        assert!(
            block.contains(placeholder),
            "README config lacks {placeholder}"
        );
    }
    block
        .replace(
            "listen: 127.0.0.1:4222",
            &format!("listen: 127.0.0.1:{port}"),
        )
        .replace(
            "store_dir: \"/var/lib/nats\"",
            &format!("store_dir: {:?}", dir.join("js").display().to_string()),
        )
        .replace("serve-password-change-me", SERVE_PASSWORD)
        .replace("producer-password-change-me", PRODUCER_PASSWORD)
        .replace("reader-password-change-me", READER_PASSWORD)
}

fn url(user: &str, password: &str, port: u16) -> String {
    format!("nats://{user}:{password}@127.0.0.1:{port}")
}

/// A `kamlog serve` process whose stderr (its log) goes to a file.
struct Serve {
    child: Child,
    log: PathBuf,
}

impl Serve {
    fn start(data: &Path, args: &[&str], log: &Path) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_kamlog"))
            .arg("--data")
            .arg(data)
            .args(args)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Serve {
            child,
            log: log.to_path_buf(),
        }
    }
    /// Waits until `probe` (a read command through serve) succeeds.
    fn wait_ready(&mut self, probe: &[&str]) {
        let start = Instant::now();
        loop {
            let (code, _, err) = run(probe);
            if code == Some(0) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("serve exited ({status}): {}\n{err}", self.log_text());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "serve did not answer: {err}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// SIGTERM, then how long serve took to exit (None: still running after 15 s).
    fn terminate(&mut self) -> Option<Duration> {
        let start = Instant::now();
        // SAFETY: sending a signal to our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        while start.elapsed() < Duration::from_secs(15) {
            if self.child.try_wait().unwrap().is_some() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every output is checked for the secrets as it is made.
#[derive(Default)]
struct Outputs(Vec<String>);

impl Outputs {
    fn run(&mut self, args: &[&str]) -> (Option<i32>, String, String) {
        let r = run(args);
        self.0.push(r.1.clone());
        self.0.push(r.2.clone());
        r
    }
    fn assert_free_of(&self, secrets: &[&str]) {
        for out in &self.0 {
            for s in secrets {
                assert!(!out.contains(s), "a secret appears in an output:\n{out}");
            }
        }
    }
}

fn stored_events(outputs: &mut Outputs, reader: &str) -> usize {
    let (code, out, err) = outputs.run(&["--nats", reader, "export"]);
    assert_eq!(code, Some(0), "{err}");
    out.lines().count()
}

#[test]
fn each_user_does_what_the_readme_configuration_allows_and_no_secret_is_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = tmp.path().join("nats.conf");
    std::fs::write(&conf, readme_config(port, tmp.path())).unwrap();
    let mut nats = Nats::start_with_config(port, tmp.path(), &conf);

    let serve_url = url("serve", SERVE_PASSWORD, port);
    let producer = url("producer", PRODUCER_PASSWORD, port);
    let reader = url("reader", READER_PASSWORD, port);
    let data = tmp.path().join("data");
    let log = tmp.path().join("serve.log");
    let mut out = Outputs::default();

    // serve connects with its credentials (the store is made by a first import).
    let (code, _, err) = out.run(&[
        "--data",
        data.to_str().unwrap(),
        "import",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/replays/northwind-journey/events.jsonl"
        ),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let mut serve = Serve::start(&data, &["--nats", &serve_url], &log);
    serve.wait_ready(&["--nats", &reader, "accounts", "--json"]);
    let before = stored_events(&mut out, &reader);
    let replay_lines = std::fs::read_to_string(REPLAY).unwrap().lines().count();
    assert_eq!(before, replay_lines);

    // An unauthenticated client is refused: exit 1, naming the server.
    let anonymous = format!("nats://127.0.0.1:{port}");
    let (code, _, err) = out.run(&["--nats", &anonymous, "accounts"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("authorization violation")
            && err.contains(&format!("127.0.0.1:{port}"))
            && err.contains("no credentials"),
        "{err}"
    );
    // A wrong password: refused, and the password it tried is not shown.
    let (code, _, err) = out.run(&["--nats", &url("reader", "Wr0ng-pw-55aa", port), "accounts"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("authorization violation") && err.contains("user \"reader\""));
    assert!(!err.contains("Wr0ng-pw-55aa"), "{err}");

    // The reader views; its append is a permission error naming the subject; nothing stored.
    let (code, view, err) =
        out.run(&["--nats", &reader, "view", "northwind", "coverage", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["account_id"], "northwind");
    let late = common::jsonl(&[common::ev(
        "northwind",
        "interaction_logged",
        "2026-01-05T10:00:00Z",
        serde_json::json!({"interaction_id": "auth-1", "channel": "call",
            "supplier_participants": ["m-eva"], "customer_participants": ["s-raj"],
            "topic": "check-in", "sentiment": 1}),
    )]);
    let events = tmp.path().join("late.jsonl");
    std::fs::write(&events, &late).unwrap();
    let (code, _, err) = out.run(&["--nats", &reader, "append", events.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("Permissions Violation") && err.contains("kamlog_api.write.append"),
        "{err}"
    );
    assert_eq!(stored_events(&mut out, &reader), before, "nothing stored");
    // The same through import.
    let (code, _, err) = out.run(&["--nats", &reader, "import", events.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("kamlog_api.write.append"), "{err}");

    // The producer may append, and only that: its read is refused.
    let (code, _, err) = out.run(&["--nats", &producer, "append", events.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(stored_events(&mut out, &reader), before + 1);
    let (code, _, err) = out.run(&["--nats", &producer, "accounts"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("kamlog_api.read.accounts"), "{err}");

    // The reader consumes the feed (a pull consumer on the stream) and reads the views bucket.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (feed, kv_coverage) = rt.block_on(async {
        let client = async_nats::ConnectOptions::with_user_and_password(
            "reader".into(),
            READER_PASSWORD.into(),
        )
        .connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("KAMLOG").await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                durable_name: Some("reports".into()),
                filter_subject: "kamlog.events.>".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut positions = Vec::new();
        let start = Instant::now();
        while positions.len() < before + 1 && start.elapsed() < Duration::from_secs(30) {
            let mut batch = consumer
                .fetch()
                .max_messages(500)
                .expires(Duration::from_secs(1))
                .messages()
                .await
                .unwrap();
            while let Some(m) = batch.next().await {
                let m = m.unwrap();
                let ev: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
                positions.push(ev["position"].as_u64().unwrap());
                m.ack().await.unwrap();
            }
        }
        let kv = js.get_key_value("kamlog_views").await.unwrap();
        let coverage = kv.get("northwind.coverage").await.unwrap();
        (positions, coverage)
    });
    assert_eq!(feed, (1..=before as u64 + 1).collect::<Vec<_>>());
    assert!(kv_coverage.is_some(), "the reader reads the views bucket");

    // No secret in any output, nor in serve's log; serve's log names the server.
    let secrets = [SERVE_PASSWORD, PRODUCER_PASSWORD, READER_PASSWORD];
    out.assert_free_of(&secrets);
    let serve_log = serve.log_text();
    for s in secrets {
        assert!(
            !serve_log.contains(s),
            "a secret in serve's log:\n{serve_log}"
        );
    }
    assert!(serve_log.contains(&format!("nats://127.0.0.1:{port}")));

    // NATS now refuses serve (its password changed): serve still stops promptly on SIGTERM.
    nats.kill();
    let refusing = readme_config(port, tmp.path()).replace(SERVE_PASSWORD, "Changed-pw-31c4");
    std::fs::write(&conf, refusing).unwrap();
    nats.restart();
    std::thread::sleep(Duration::from_secs(3));
    let took = serve.terminate().expect("serve exits after SIGTERM");
    assert!(took < Duration::from_secs(10), "serve took {took:?}");
    let serve_log = serve.log_text();
    assert!(
        serve_log.contains("authorization violation"),
        "serve's log says it was refused:\n{serve_log}"
    );
    assert!(!serve_log.contains("Changed-pw-31c4") && !serve_log.contains(SERVE_PASSWORD));

    // serve given refused credentials exits 1 at once with the reason.
    let (code, _, err) = out.run(&[
        "--data",
        data.to_str().unwrap(),
        "--nats",
        &serve_url,
        "serve",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("authorization violation"), "{err}");
    out.assert_free_of(&secrets);

    // NATS unreachable: serve keeps trying, and SIGTERM stops it.
    nats.kill();
    let mut serve = Serve::start(&data, &["--nats", &serve_url], &log);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        serve.child.try_wait().unwrap().is_none(),
        "serve waits for NATS"
    );
    let took = serve.terminate().expect("serve exits after SIGTERM");
    assert!(took < Duration::from_secs(10), "serve took {took:?}");
    assert!(!serve.log_text().contains(SERVE_PASSWORD));
}

#[test]
fn an_nkey_user_serves_and_reads_with_seed_files() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let serve_key = nkeys::KeyPair::new_user();
    let client_key = nkeys::KeyPair::new_user();
    let conf = tmp.path().join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: {:?} }}\n\
             authorization {{ users: [ {{ nkey: {} }}, {{ nkey: {} }} ] }}\n",
            tmp.path().join("js").display().to_string(),
            serve_key.public_key(),
            client_key.public_key()
        ),
    )
    .unwrap();
    let _nats = Nats::start_with_config(port, tmp.path(), &conf);
    let serve_seed = tmp.path().join("serve.nk");
    let client_seed = tmp.path().join("client.nk");
    std::fs::write(&serve_seed, serve_key.seed().unwrap()).unwrap();
    std::fs::write(&client_seed, client_key.seed().unwrap()).unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let data = tmp.path().join("data");
    let mut out = Outputs::default();
    let (code, _, err) = out.run(&["--data", data.to_str().unwrap(), "import", REPLAY]);
    assert_eq!(code, Some(0), "{err}");
    let mut serve = Serve::start(
        &data,
        &["--nats", &url, "--nats-nkey", serve_seed.to_str().unwrap()],
        &tmp.path().join("serve.log"),
    );
    let client = ["--nats", &url, "--nats-nkey", client_seed.to_str().unwrap()];
    serve.wait_ready(&[&client[..], &["accounts"]].concat());
    let (code, stdout, err) = out.run(&[&client[..], &["alerts", "northwind", "--json"]].concat());
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("\"alerts\""), "{stdout}");
    // Without the seed: refused.
    let (code, _, err) = out.run(&["--nats", &url, "accounts"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("authorization violation"), "{err}");
    // A file that holds no seed: a clear error naming the file.
    let bad = tmp.path().join("bad.nk");
    std::fs::write(&bad, "not a seed\n").unwrap();
    let (code, _, err) = out.run(&[
        "--nats",
        &url,
        "--nats-nkey",
        bad.to_str().unwrap(),
        "accounts",
    ]);
    assert_ne!(code, Some(0));
    assert!(err.contains("bad.nk"), "{err}");
    let seeds = [serve_key.seed().unwrap(), client_key.seed().unwrap()];
    out.assert_free_of(&[&seeds[0], &seeds[1]]);
    let log = serve.log_text();
    assert!(!log.contains(&seeds[0]) && !log.contains(&seeds[1]));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
struct Certificates {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn certificates(dir: &Path) -> Certificates {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kamlog test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, usage: rcgen::ExtendedKeyUsagePurpose| {
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key_pem) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_pem, client_key_pem) = leaf(
        vec!["kamlog-client".into()],
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    let c = Certificates {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server-cert.pem"),
        server_key: dir.join("server-key.pem"),
        client_cert: dir.join("client-cert.pem"),
        client_key: dir.join("client-key.pem"),
    };
    std::fs::write(&c.ca, ca_cert.pem()).unwrap();
    std::fs::write(&c.server_cert, server_pem).unwrap();
    std::fs::write(&c.server_key, server_key_pem).unwrap();
    std::fs::write(&c.client_cert, client_pem).unwrap();
    std::fs::write(&c.client_key, client_key_pem).unwrap();
    c
}

#[test]
fn mutual_tls_refuses_a_client_without_the_ca_or_a_certificate_and_accepts_one_with_them() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let certs = certificates(tmp.path());
    let conf = tmp.path().join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: {:?} }}\n\
             tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?}, verify: true }}\n",
            tmp.path().join("js").display().to_string(),
            certs.server_cert.display().to_string(),
            certs.server_key.display().to_string(),
            certs.ca.display().to_string(),
        ),
    )
    .unwrap();
    let _nats = Nats::start_with_config(port, tmp.path(), &conf);
    let url = format!("tls://127.0.0.1:{port}");
    let data = tmp.path().join("data");
    let (code, _, err) = run(&["--data", data.to_str().unwrap(), "import", REPLAY]);
    assert_eq!(code, Some(0), "{err}");
    let cert_flags = [
        "--nats-tls-ca",
        certs.ca.to_str().unwrap(),
        "--nats-tls-cert",
        certs.client_cert.to_str().unwrap(),
        "--nats-tls-key",
        certs.client_key.to_str().unwrap(),
    ];
    let with_certs = [&["--nats", &url][..], &cert_flags].concat();
    let mut serve = Serve::start(&data, &with_certs, &tmp.path().join("serve.log"));
    serve.wait_ready(&[&with_certs[..], &["accounts"]].concat());

    // With the CA and a client certificate: the same answer as the store gives locally.
    let (code, remote, err) = run(&[&with_certs[..], &["view", "northwind", "stage"]].concat());
    assert_eq!(code, Some(0), "{err}");
    assert!(remote.contains("northwind"), "{remote}");

    // Without the CA: the server's certificate is not trusted — a TLS error, exit 1.
    let (code, _, err) = run(&["--nats", &url, "accounts"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("TLS") && err.contains(&format!("tls://127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        err.contains("--nats-tls-ca"),
        "the error says what to give: {err}"
    );

    // With the CA but no client certificate: the server refuses the handshake, exit 1.
    let (code, _, err) = run(&[
        "--nats",
        &url,
        "--nats-tls-ca",
        certs.ca.to_str().unwrap(),
        "accounts",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("TLS")
            && err.contains(&format!("127.0.0.1:{port}"))
            && err.contains("--nats-tls-cert"),
        "{err}"
    );

    // A plain nats:// URL to the TLS server upgrades as the server requires.
    let plain = format!("nats://127.0.0.1:{port}");
    let (code, _, err) = run(&[&["--nats", &plain][..], &cert_flags, &["accounts"]].concat());
    assert_eq!(code, Some(0), "{err}");

    // A half-given client certificate is a usage error.
    let (code, _, err) = run(&[
        "--nats",
        &url,
        "--nats-tls-cert",
        certs.client_cert.to_str().unwrap(),
        "accounts",
    ]);
    assert_eq!(code, Some(2), "{err}");
    let took = serve.terminate().expect("serve exits after SIGTERM");
    assert!(took < Duration::from_secs(10), "serve took {took:?}");
}
