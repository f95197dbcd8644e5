//! Every command everywhere (SPEC 7 v2): the same command gives the same output, human and
//! `--json`, run in process on `--data`, through `kamlog serve` with `--nats`, and on `--data`
//! while serve holds the store (the command then goes through serve). Real processes: a
//! `nats-server -js` and the `kamlog` binary.

mod common;

use common::nats::{free_port, Nats};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const REPLAY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/replays/northwind-journey/events.jsonl"
);

fn kamlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kamlog"))
        .args(args)
        .output()
        .expect("kamlog runs")
}

/// (exit status, stdout, stderr) of a command.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = kamlog(args);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

struct Serve(Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data: &Path, url: &str) -> Serve {
    let child = Command::new(env!("CARGO_BIN_EXE_kamlog"))
        .arg("--data")
        .arg(data)
        .args(["--nats", url, "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until its API answers.
    let start = Instant::now();
    loop {
        let (code, _, _) = run(&["--nats", url, "accounts", "--json"]);
        if code == Some(0) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Serve(child)
}

/// The commands compared, each with and without --json.
const COMMANDS: &[&[&str]] = &[
    // The portfolio says when it was asked: "now" differs between two runs.
    &["accounts", "--as-of", "2025-06-01"],
    &["view", "northwind", "coverage", "--as-of", "2025-06-01"],
    &["view", "northwind", "stage", "--as-of", "2024-06-01"],
    &[
        "view",
        "northwind",
        "value",
        "--known-at",
        "2024-09-01T00:00:00Z",
    ],
    &[
        "view",
        "northwind",
        "classification",
        "--as-of",
        "2025-06-01",
    ],
    &["view", "northwind", "economics", "--as-of", "2025-06-01"],
    &["alerts", "--as-of", "2025-06-01"],
    &["alerts", "northwind", "--history", "--as-of", "2025-06-01"],
    &["log", "northwind"],
    &["log", "northwind", "--type", "interaction_logged"],
    &["export"],
    &["export", "--account", "northwind"],
    &["verify"],
    // Errors travel too: the same message and exit status.
    &["view", "nosuch", "coverage"],
    &["view", "northwind", "nosuchview"],
    &["export", "--account", "nosuch"],
];

#[test]
fn every_command_gives_the_same_output_locally_through_nats_and_through_a_held_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let d = data.to_str().unwrap();
    assert_eq!(run(&["--data", d, "import", REPLAY]).0, Some(0));
    let mut local = Vec::new();
    for c in COMMANDS {
        for json in [false, true] {
            let mut args = vec!["--data", d];
            args.extend_from_slice(c);
            if json {
                args.push("--json");
            }
            local.push((args[2..].join(" "), run(&args)));
        }
    }
    // The store is now held by serve.
    let nats = Nats::start_on(free_port(), &dir.path().join("js"));
    let url = nats.url();
    let _serve = serve(&data, &url);
    let mut i = 0;
    for c in COMMANDS {
        for json in [false, true] {
            let (name, want) = &local[i];
            i += 1;
            for via in [["--nats", url.as_str()], ["--data", d]] {
                let mut args = via.to_vec();
                args.extend_from_slice(c);
                if json {
                    args.push("--json");
                }
                let got = run(&args);
                if c[0] == "log" && json {
                    // `log` has no --as-of: its as_of is the moment of the question.
                    let strip = |s: &str| {
                        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
                        v.as_object_mut().unwrap().remove("as_of");
                        v
                    };
                    assert_eq!((got.0, strip(&got.1)), (want.0, strip(&want.1)), "{name}");
                    continue;
                }
                assert_eq!(&got, want, "{name} via {}", via[0]);
            }
        }
    }
}

#[test]
fn append_and_import_through_serve_store_and_report_like_local_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let d = data.to_str().unwrap();
    // Reference: the same file imported locally into another store.
    let other = dir.path().join("other");
    let want = run(&["--data", other.to_str().unwrap(), "import", REPLAY]);
    assert_eq!(want.0, Some(0), "{}", want.2);
    // Serve on an empty store; import through it in batches of 7.
    assert_eq!(run(&["--data", d, "append", "/dev/null"]).0, Some(0));
    let nats = Nats::start_on(free_port(), &dir.path().join("js"));
    let url = nats.url();
    let _serve = serve(&data, &url);
    let got = run(&["--nats", &url, "import", "--batch-size", "7", REPLAY]);
    assert_eq!(got, want);
    // Again: every event is a duplicate now.
    let again = run(&["--data", d, "import", REPLAY]);
    assert_eq!(
        again.1,
        "stored 0 event(s); 40 already stored (identical, skipped)\n"
    );
    // Export through serve equals the local store's export byte for byte.
    let exported = run(&["--data", d, "export"]).1;
    drop(_serve);
    let reference = run(&["--data", other.to_str().unwrap(), "export"]).1;
    assert_eq!(exported.lines().count(), 40);
    let strip = |s: &str| -> Vec<String> {
        // recorded_at differs between the two stores; everything else is equal.
        s.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("recorded_at");
                v.as_object_mut().unwrap().remove("hash");
                v.as_object_mut().unwrap().remove("prev_hash");
                // Personal values are committed under each store's own random salts (SPEC 10).
                for (_, x) in v["data"].as_object_mut().unwrap().iter_mut() {
                    if x.as_str().is_some_and(kamlog::personal::is_commitment) {
                        *x = serde_json::json!("pd:(salted)");
                    }
                }
                v.to_string()
            })
            .collect()
    };
    assert_eq!(strip(&exported), strip(&reference));
}
