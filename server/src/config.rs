//! [`Server::builder`](crate::Server::builder): address, credentials, limits.

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use rustok_iggy::{config::Secret, Backend, OffsetStore};

use crate::{
    error::{Result, ServerError},
    tls::TlsConfig,
};

/// Username of the built-in root user, accepted only on a loopback address
/// when no credentials were configured (the Iggy server's own default).
pub const DEFAULT_ROOT_USERNAME: &str = "iggy";
/// Password of the built-in root user (loopback only; see
/// [`DEFAULT_ROOT_USERNAME`]).
pub const DEFAULT_ROOT_PASSWORD: &str = "iggy";
/// Port of the default address, Iggy's TCP port.
pub const DEFAULT_PORT: u16 = 8090;

/// Username lengths Iggy clients accept.
const USERNAME_LENGTH: std::ops::RangeInclusive<usize> = 3..=50;
/// Password lengths Iggy clients accept.
const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 3..=100;

/// The root user's username and password: the root user is created with
/// them when the server has no users yet (see [`ServerBuilder::users_path`]).
/// The password never shows in `Debug`.
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: Secret,
}

impl Credentials {
    /// A username and password.
    pub fn new(username: impl Into<String>, password: Secret) -> Self {
        Self {
            username: username.into(),
            password,
        }
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub(crate) fn password(&self) -> &Secret {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// Configures and starts a [`Server`](crate::Server); see the crate docs.
#[must_use]
pub struct ServerBuilder {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) offsets: Option<Arc<dyn OffsetStore>>,
    pub(crate) bind: SocketAddr,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) max_connections: usize,
    pub(crate) max_frame_bytes: u32,
    pub(crate) idle_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) max_login_failures: u32,
    pub(crate) max_poll_messages: u32,
    pub(crate) max_poll_wait: Duration,
    pub(crate) max_batch_messages: u32,
    pub(crate) catalog_path: Option<PathBuf>,
    pub(crate) users_path: Option<PathBuf>,
    pub(crate) max_tokens_per_user: u32,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) streams: Vec<String>,
    pub(crate) shutdown_backend: bool,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) quic: Option<SocketAddr>,
    pub(crate) snapshot_config: String,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("backend", &self.backend.name())
            .field("bind", &self.bind)
            .field("credentials", &self.credentials)
            .field("max_connections", &self.max_connections)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("catalog_path", &self.catalog_path)
            .field("users_path", &self.users_path)
            .field("data_dir", &self.data_dir)
            .field("tls", &self.tls)
            .field("quic", &self.quic)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Apache Iggy's default cap on personal access tokens per user.
    pub(crate) const DEFAULT_MAX_TOKENS_PER_USER: u32 = 100;

    pub(crate) fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            // The checks every backend relies on (a transport's backend has
            // them already; a second layer costs one atomic load per call).
            backend: Arc::new(rustok_iggy::Checked::new(backend)),
            offsets: None,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            credentials: None,
            max_connections: 1024,
            max_frame_bytes: 64 * 1024 * 1024,
            idle_timeout: Duration::from_secs(300),
            read_timeout: Duration::from_secs(30),
            max_login_failures: 3,
            max_poll_messages: 10_000,
            max_poll_wait: rustok_iggy::iggy_extension::MAX_POLL_WAIT,
            max_batch_messages: 100_000,
            catalog_path: None,
            users_path: None,
            max_tokens_per_user: Self::DEFAULT_MAX_TOKENS_PER_USER,
            data_dir: None,
            streams: Vec::new(),
            shutdown_backend: false,
            tls: None,
            quic: None,
            snapshot_config: String::new(),
        }
    }

    /// The application's configuration, as the `server_config` section of a
    /// snapshot (`iggy snapshot`) shows it after the server's own settings.
    /// Shown as given: redact it first (the core's `TransportConfig`
    /// serializes every secret as `***`).
    pub fn snapshot_config(mut self, text: impl Into<String>) -> Self {
        self.snapshot_config = text.into();
        self
    }

    /// The address to listen on (default `127.0.0.1:8090`; port 0 picks a
    /// free one, see [`RunningServer::local_addr`](crate::RunningServer::local_addr)).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The root user's username and password. Required unless the address
    /// is loopback, where the default is
    /// [`DEFAULT_ROOT_USERNAME`]/[`DEFAULT_ROOT_PASSWORD`].
    ///
    /// With a [`users_path`](Self::users_path) they create the root user at
    /// the first start only (no users file yet); from then on the stored
    /// root user wins, as Apache Iggy's `IGGY_ROOT_USERNAME` and
    /// `IGGY_ROOT_PASSWORD` seed its first start only: a password changed
    /// through the API stays changed across restarts. The server logs a
    /// warning when they no longer match the stored root user.
    pub fn credentials(mut self, username: impl Into<String>, password: Secret) -> Self {
        self.credentials = Some(Credentials::new(username, password));
        self
    }

    /// Offsets go to this store instead of the backend's own.
    pub fn offsets(mut self, store: Arc<dyn OffsetStore>) -> Self {
        self.offsets = Some(store);
        self
    }

    /// At most this many connections at once (default 1024); more are
    /// closed as soon as they are accepted.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Largest request frame, header included (default 64 MiB). A larger
    /// frame gets an error reply and the connection is closed.
    pub fn max_frame_bytes(mut self, n: u32) -> Self {
        self.max_frame_bytes = n;
        self
    }

    /// A connection that sends no request for this long is closed (default
    /// 300 s; the SDK pings every 5 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Once a frame has started, the rest of it (and each reply write) must
    /// take at most this long (default 30 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// A connection is closed after this many failed logins (default 3).
    pub fn max_login_failures(mut self, n: u32) -> Self {
        self.max_login_failures = n;
        self
    }

    /// At most this many messages per poll reply (default 10 000).
    pub fn max_poll_messages(mut self, n: u32) -> Self {
        self.max_poll_messages = n;
        self
    }

    /// The longest a waiting poll ([`rustok_iggy::iggy_extension`], sent by
    /// the remote backend) is held for its records (default and most:
    /// [`MAX_POLL_WAIT`](rustok_iggy::iggy_extension::MAX_POLL_WAIT)).
    /// `Duration::ZERO` refuses waiting polls as Apache Iggy does (invalid
    /// command), and clients poll the standard way.
    pub fn max_poll_wait(mut self, wait: Duration) -> Self {
        self.max_poll_wait = wait;
        self
    }

    /// At most this many messages in one `send messages` request (default
    /// 100 000).
    pub fn max_batch_messages(mut self, n: u32) -> Self {
        self.max_batch_messages = n;
        self
    }

    /// Keep the id ↔ name catalog in this file, so numeric stream, topic and
    /// group ids (and streams without topics) survive restarts exactly. A
    /// change is acknowledged once the file was replaced and its directory
    /// fsynced, so it survives a crash too.
    pub fn catalog_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.catalog_path = Some(path.into());
        self
    }

    /// Keep the users, their permissions and their personal access tokens
    /// in this file (JSON; passwords as Argon2id hashes, tokens as BLAKE3
    /// hashes, neither in clear), so they survive restarts. A change is
    /// acknowledged once the file was replaced and its directory fsynced,
    /// as for the [`catalog_path`](Self::catalog_path). Without it the users
    /// live in memory: the root user of [`credentials`](Self::credentials)
    /// at every start, and whatever clients create until the server stops.
    pub fn users_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.users_path = Some(path.into());
        self
    }

    /// At most this many personal access tokens per user (default 100,
    /// Apache Iggy's default); creating one more fails with Iggy error 52.
    pub fn max_tokens_per_user(mut self, n: u32) -> Self {
        self.max_tokens_per_user = n;
        self
    }

    /// Where the backend keeps its data (the embedded log's data
    /// directory): server stats report the free and total space of its file
    /// system. Without it they report 0 for both, as Apache Iggy does when it
    /// cannot tell.
    pub fn data_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(path.into());
        self
    }

    /// Streams to list even before a client names them (for example the
    /// transport's stream). The core cannot enumerate streams, only the
    /// topics of a named one.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.streams.push(name.into());
        self
    }

    /// Whether [`RunningServer::shutdown`](crate::RunningServer::shutdown) also shuts the backend down
    /// (default no: the backend usually belongs to the application).
    pub fn shutdown_backend(mut self, yes: bool) -> Self {
        self.shutdown_backend = yes;
        self
    }

    /// Serve TLS on the TCP listener, with this certificate chain and key
    /// (PEM files, read at [`start`](Self::start)); plain-TCP clients are
    /// then refused at the handshake. The certificate also serves
    /// [`quic`](Self::quic). The provider is rustls' *ring*, TLS 1.2 and 1.3,
    /// no client certificates.
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Also listen for the SDK's QUIC transport on this UDP address (port 0
    /// picks a free one, see [`RunningServer::quic_addr`](crate::RunningServer::quic_addr)). Needs
    /// [`tls`](Self::tls): QUIC always encrypts, with that certificate.
    /// Connections share the TCP listener's limits, login rules and
    /// commands; one QUIC connection is one session.
    pub fn quic(mut self, addr: SocketAddr) -> Self {
        self.quic = Some(addr);
        self
    }

    /// The checks of [`ServerBuilder::start`] that need nothing but the
    /// builder: credentials off loopback, credential lengths Iggy clients
    /// can send, and non-zero limits.
    pub(crate) fn validate(&self) -> Result<()> {
        for addr in std::iter::once(self.bind).chain(self.quic) {
            if self.credentials.is_none() && !addr.ip().is_loopback() {
                return Err(ServerError::Config(format!(
                    "{addr} is not a loopback address: set credentials (there is no default password off loopback)",
                )));
            }
        }
        if let Some(c) = &self.credentials {
            // What Iggy clients can send: the SDK refuses to log in with
            // anything outside these lengths, so a server started with such
            // credentials could never be used.
            let (user, pass) = (c.username.len(), c.password.expose().len());
            if !(USERNAME_LENGTH.contains(&user) && PASSWORD_LENGTH.contains(&pass)) {
                return Err(ServerError::Config(format!(
                    "the username must have {} to {} bytes and the password {} to {} (what Iggy clients accept); got a username of {user} and a password of {pass}",
                    USERNAME_LENGTH.start(),
                    USERNAME_LENGTH.end(),
                    PASSWORD_LENGTH.start(),
                    PASSWORD_LENGTH.end(),
                )));
            }
        }
        if self.max_connections == 0
            || self.max_frame_bytes < iggy_binary_protocol::HEADER_SIZE as u32
            || self.max_login_failures == 0
            || self.max_poll_messages == 0
            || self.max_batch_messages == 0
            || self.max_tokens_per_user == 0
        {
            return Err(ServerError::Config(
                "max_connections, max_login_failures, max_poll_messages, max_batch_messages and max_tokens_per_user must be at least 1, max_frame_bytes at least 256".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credentials_iggy_clients_cannot_send_are_refused_at_start() {
        let backend: Arc<dyn rustok_iggy::Backend> =
            Arc::new(rustok_iggy_testkit::MemoryBackend::new());
        for (user, pass) in [("ab", "secret"), ("app", "pw"), ("app", &*"p".repeat(101))] {
            let err = crate::Server::builder(backend.clone())
                .bind("127.0.0.1:0".parse().unwrap())
                .credentials(user, Secret::new(pass))
                .start()
                .await
                .err()
                .unwrap();
            let shown = err.to_string();
            assert!(shown.contains("3 to 100"), "{shown}");
            assert!(!shown.contains(pass), "{shown}");
        }
        let running = crate::Server::builder(backend)
            .bind("127.0.0.1:0".parse().unwrap())
            .credentials("app", Secret::new("abc"))
            .start()
            .await
            .unwrap();
        running.shutdown().await.unwrap();
    }

    #[test]
    fn passwords_are_never_shown() {
        let c = Credentials::new("root", Secret::new("s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        let builder = crate::Server::builder(Arc::new(rustok_iggy_testkit::MemoryBackend::new()))
            .credentials("root", Secret::new("s3cret"));
        assert!(!format!("{builder:?}").contains("s3cret"));
    }
}
