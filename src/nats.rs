//! How kamlog reaches NATS (SPEC 6 v2): the server list of a URL, its credentials taken out
//! and kept as secrets, a `.creds` file, an nkey seed file, TLS with a private CA and client
//! certificates — all handed to async-nats's connect options (no protocol code here) — and
//! connection failures in words that name the server and never a secret.
//!
//! A NATS URL carries credentials as `nats://user:password@host:port` or
//! `nats://token@host:port`; async-nats 0.51 ignores them in the URL, so they are taken out
//! here and given as options. [`Connection`]'s `Display` and every error show the servers
//! without them.

use crate::error::{Error, Result};
use async_nats::{ConnectErrorKind, ConnectOptions, ServerAddr};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A value that must never be printed: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Who kamlog says it is to NATS.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Credentials {
    None,
    /// `nats://user:password@…`
    UserPassword(String, Secret),
    /// `nats://token@…`
    Token(Secret),
}

/// The files of `--nats-creds`, `--nats-nkey`, `--nats-tls-ca`, `--nats-tls-cert` and
/// `--nats-tls-key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecurityFiles {
    /// A `.creds` file (a user JWT and its nkey seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creds: Option<PathBuf>,
    /// A file holding an nkey seed (`SU…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nkey: Option<PathBuf>,
    /// The CA certificate(s) (PEM) that signed the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) for mutual TLS, with `tls_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

/// One way to reach a NATS system: its servers, credentials and TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The URL as given (with its credentials): kept only to hand to a local client through
    /// the owner-only `kamlog.serve` file; never displayed.
    given: Secret,
    servers: Vec<String>,
    credentials: Credentials,
    files: SecurityFiles,
}

impl Connection {
    /// A connection to the servers of `url` (one URL or several separated by commas), with
    /// the credentials it holds. A URL that does not parse is kept as is: connecting then
    /// fails with async-nats's own words about it.
    pub fn new(url: &str) -> Connection {
        let mut servers = Vec::new();
        let mut credentials = Credentials::None;
        for part in url.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let with_scheme = if part.contains("://") {
                part.to_string()
            } else {
                format!("nats://{part}")
            };
            match url::Url::parse(&with_scheme) {
                Ok(mut u) => {
                    let user = decode(u.username());
                    let password = u.password().map(decode);
                    if !user.is_empty() && credentials == Credentials::None {
                        credentials = match password {
                            Some(p) => Credentials::UserPassword(user, Secret(p)),
                            None => Credentials::Token(Secret(user)),
                        };
                    }
                    let _ = u.set_username("");
                    let _ = u.set_password(None);
                    servers.push(u.as_str().trim_end_matches('/').to_string());
                }
                Err(_) => servers.push(without_userinfo(part)),
            }
        }
        Connection {
            given: Secret(url.to_string()),
            servers,
            credentials,
            files: SecurityFiles::default(),
        }
    }

    /// The same connection with the files of the `--nats-*` options.
    pub fn with_files(mut self, files: SecurityFiles) -> Connection {
        self.files = files;
        self
    }

    /// The URL as given, credentials included (for the owner-only `kamlog.serve` file).
    pub(crate) fn given_url(&self) -> &str {
        &self.given.0
    }

    pub fn files(&self) -> &SecurityFiles {
        &self.files
    }

    /// The connect options for this connection (reads the creds and nkey files).
    async fn options(&self) -> Result<ConnectOptions> {
        let f = &self.files;
        let mut o = ConnectOptions::new().name("kamlog");
        match &self.credentials {
            Credentials::None => {}
            Credentials::UserPassword(u, p) => o = o.user_and_password(u.clone(), p.0.clone()),
            Credentials::Token(t) => o = o.token(t.0.clone()),
        }
        if let Some(path) = &f.creds {
            let text = read_secret_file("--nats-creds", path)?;
            o = o.credentials(&text).map_err(|e| {
                Error::Usage(format!(
                    "--nats-creds {}: not a NATS credentials file ({e})",
                    path.display()
                ))
            })?;
        }
        if let Some(path) = &f.nkey {
            let text = read_secret_file("--nats-nkey", path)?;
            let seed = text
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with('S') && !l.is_empty())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--nats-nkey {}: holds no nkey seed (a line starting with S)",
                        path.display()
                    ))
                })?;
            if nkeys::KeyPair::from_seed(seed).is_err() {
                return Err(Error::Usage(format!(
                    "--nats-nkey {}: the seed in it is not a valid nkey seed",
                    path.display()
                )));
            }
            o = o.nkey(seed.to_string());
        }
        if let Some(path) = &f.tls_ca {
            readable("--nats-tls-ca", path)?;
            o = o.add_root_certificates(path.clone()).require_tls(true);
        }
        match (&f.tls_cert, &f.tls_key) {
            (Some(cert), Some(key)) => {
                readable("--nats-tls-cert", cert)?;
                readable("--nats-tls-key", key)?;
                o = o
                    .add_client_certificate(cert.clone(), key.clone())
                    .require_tls(true);
            }
            (None, None) => {}
            _ => {
                return Err(Error::Usage(
                    "mutual TLS needs both --nats-tls-cert and --nats-tls-key".into(),
                ))
            }
        }
        Ok(o)
    }

    fn addrs(&self) -> Result<Vec<ServerAddr>> {
        if self.servers.is_empty() {
            return Err(Error::Usage("the NATS URL names no server".into()));
        }
        self.servers
            .iter()
            .map(|s| {
                s.parse::<ServerAddr>()
                    .map_err(|e| Error::Usage(format!("not a NATS server URL: {s} ({e})")))
            })
            .collect()
    }

    /// Connects once: a refusal, a TLS failure or an unreachable server is an error in words
    /// ([`ConnectFailure`] says which).
    pub async fn connect(
        &self,
        tune: impl FnOnce(ConnectOptions) -> ConnectOptions,
    ) -> std::result::Result<async_nats::Client, ConnectFailure> {
        let addrs = self.addrs().map_err(ConnectFailure::lasting)?;
        let options = tune(self.options().await.map_err(ConnectFailure::lasting)?);
        options
            .connect(addrs)
            .await
            .map_err(|e| ConnectFailure::from_nats(self, e))
    }

    /// What kamlog told the server about itself, for an error message.
    fn presented(&self) -> String {
        let mut what = Vec::new();
        match &self.credentials {
            Credentials::None => {}
            Credentials::UserPassword(u, _) => what.push(format!("user {u:?} and its password")),
            Credentials::Token(_) => what.push("a token".to_string()),
        }
        if let Some(p) = &self.files.creds {
            what.push(format!("the credentials in {}", p.display()));
        }
        if let Some(p) = &self.files.nkey {
            what.push(format!("the nkey in {}", p.display()));
        }
        if let Some(p) = &self.files.tls_cert {
            what.push(format!("the client certificate {}", p.display()));
        }
        if what.is_empty() {
            "no credentials (give user:password@ or a token@ in the URL, --nats-creds FILE or --nats-nkey FILE)".into()
        } else {
            what.join(", ")
        }
    }
}

/// The servers, without credentials: safe to print.
impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.servers.join(","))
    }
}

/// Why a connection could not be made, in words, and whether waiting can mend it: an
/// unreachable server may come up; refused credentials, a TLS failure or wrong options
/// (a missing file, a bad seed) will not.
#[derive(Debug)]
pub struct ConnectFailure {
    error: Error,
    may_pass_later: bool,
}

impl ConnectFailure {
    /// A failure that retrying cannot mend.
    fn lasting(error: Error) -> ConnectFailure {
        ConnectFailure {
            error,
            may_pass_later: false,
        }
    }

    /// A server that cannot be reached (yet).
    fn unreachable(error: Error) -> ConnectFailure {
        ConnectFailure {
            error,
            may_pass_later: true,
        }
    }

    fn from_nats(conn: &Connection, e: async_nats::ConnectError) -> ConnectFailure {
        let cause = std::error::Error::source(&e)
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        match e.kind() {
            ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                Self::lasting(Error::Bus(refused(conn)))
            }
            ConnectErrorKind::Tls => Self::lasting(tls_failure(conn, &cause)),
            ConnectErrorKind::ServerParse => Self::lasting(Error::Usage(format!(
                "not a NATS server URL: {conn}{cause}"
            ))),
            ConnectErrorKind::Dns => Self::unreachable(Error::Bus(format!(
                "cannot resolve the NATS server {conn}{cause}"
            ))),
            _ => {
                // An untrusted certificate or a refused handshake comes back from rustls as
                // an I/O error.
                let text = format!("{e}").to_ascii_lowercase();
                if ["certificate", "tls", "handshake", "fatal alert"]
                    .iter()
                    .any(|w| text.contains(w))
                {
                    Self::lasting(tls_failure(conn, &cause))
                } else {
                    Self::unreachable(Error::Bus(format!("cannot reach NATS at {conn}: {e}")))
                }
            }
        }
    }

    /// Whether trying again later may succeed.
    pub fn may_pass_later(&self) -> bool {
        self.may_pass_later
    }

    pub fn into_error(self) -> Error {
        self.error
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

/// Refused credentials in words: the server, and what kamlog presented (never a secret).
fn refused(conn: &Connection) -> String {
    format!(
        "NATS at {conn} refused the connection (authorization violation); kamlog presented {}",
        conn.presented()
    )
}

/// A TLS failure in words, with what to give when it is missing.
fn tls_failure(conn: &Connection, cause: &str) -> Error {
    let mut hints = Vec::new();
    if conn.files.tls_ca.is_none() {
        hints.push("a server certificate signed by a private CA needs --nats-tls-ca FILE");
    }
    if conn.files.tls_cert.is_none() {
        hints.push(
            "a server that verifies clients needs --nats-tls-cert FILE and --nats-tls-key FILE",
        );
    }
    let hints = if hints.is_empty() {
        String::new()
    } else {
        format!(" ({})", hints.join("; "))
    };
    Error::Bus(format!("TLS with NATS at {conn} failed{cause}{hints}"))
}

/// A server error in words: a permission violation names the subject, as the server does.
pub(crate) fn server_error_words(conn: &Connection, e: &async_nats::ServerError) -> String {
    match e {
        async_nats::ServerError::AuthorizationViolation => refused(conn),
        async_nats::ServerError::Other(m) => format!("NATS at {conn}: {m}"),
        other => format!("NATS at {conn}: {other}"),
    }
}

/// Whether a server error is a permission violation (`Permissions Violation for Publish to
/// "…"`).
pub(crate) fn is_permission_violation(e: &async_nats::ServerError) -> bool {
    matches!(e, async_nats::ServerError::Other(m) if m.to_ascii_lowercase().contains("permissions violation"))
}

/// How long one connection attempt of a client may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `user:pass@host` → `host` for a URL the parser refused.
fn without_userinfo(part: &str) -> String {
    let (scheme, rest) = part.split_once("://").unwrap_or(("nats", part));
    let rest = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    format!("{scheme}://{rest}")
}

fn readable(option: &str, path: &Path) -> Result<()> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| Error::Usage(format!("{option} {}: {e}", path.display())))
}

fn read_secret_file(option: &str, path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("{option} {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_password_are_taken_out_of_the_url() {
        let c = Connection::new("nats://serve:s%40cret@127.0.0.1:4222");
        assert_eq!(c.to_string(), "nats://127.0.0.1:4222");
        assert_eq!(
            c.credentials,
            Credentials::UserPassword("serve".into(), Secret("s@cret".into()))
        );
        assert!(!format!("{c:?}").contains("cret"));
    }

    #[test]
    fn a_lone_user_is_a_token_and_every_server_is_kept() {
        let c = Connection::new("tls://T0KEN@a.example:4443, nats://b.example:4222,c.example");
        assert_eq!(
            c.to_string(),
            "tls://a.example:4443,nats://b.example:4222,nats://c.example"
        );
        assert_eq!(c.credentials, Credentials::Token(Secret("T0KEN".into())));
        assert!(!c.to_string().contains("T0KEN"));
    }

    #[test]
    fn a_url_without_credentials_is_unchanged() {
        let c = Connection::new("nats://127.0.0.1:4222");
        assert_eq!(c.to_string(), "nats://127.0.0.1:4222");
        assert_eq!(c.credentials, Credentials::None);
        assert!(c.presented().starts_with("no credentials"));
    }
}
