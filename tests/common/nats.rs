//! A real `nats-server -js` for the bus tests: started on a free loopback port with its own
//! storage directory, killed by pid (SIGKILL) and restarted on the same port and directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NATS: &str = "/usr/sbin/nats-server";

pub struct Nats {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// A configuration file (`-c`), instead of the command-line flags.
    config: Option<PathBuf>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Nats {
    pub fn start_on(port: u16, dir: &Path) -> Nats {
        let mut n = Nats {
            child: None,
            port,
            dir: dir.to_path_buf(),
            config: None,
        };
        n.restart();
        n
    }
    /// A server started with a configuration file (written by the caller, its `listen` on
    /// `port`); [`Nats::restart`] reads the file again.
    pub fn start_with_config(port: u16, dir: &Path, config: &Path) -> Nats {
        let mut n = Nats {
            child: None,
            port,
            dir: dir.to_path_buf(),
            config: Some(config.to_path_buf()),
        };
        n.restart();
        n
    }
    pub fn restart(&mut self) {
        let mut cmd = Command::new(NATS);
        match &self.config {
            Some(config) => cmd.arg("-c").arg(config),
            None => cmd
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(&self.dir),
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (Debian package nats-server)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    /// The server's pid (for SIGTERM/SIGKILL by pid).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}
