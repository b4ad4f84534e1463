//! One SDK connection: dialling the configured addresses in order over the
//! URL's transport (TCP, with or without TLS, or QUIC), login, request
//! timeouts, whether the SDK is reconnecting, and ping; and sets of them
//! opened on first use ([`Connections`]).
//!
//! Everything past the dial goes through the SDK's transport-neutral
//! `IggyClient`, so the backend, its stores and the raw group-sync request
//! are the same code on every transport.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use iggy::prelude::{
    AutoLogin, Client, ClientWrapper, Credentials, IggyClient, IggyDuration, IggyError,
    NonZeroIggyDuration, QuicClient, QuicClientConfig, QuicClientReconnectionConfig, SystemClient,
    TcpClient, TcpClientConfig, TcpClientReconnectionConfig,
};
use iggy_common::{locking::IggyRwLockFn, BinaryTransport, ClientState};
use rustok_iggy::{Error, ErrorKind, Result};
use secrecy::SecretString;
use tokio::sync::OnceCell;

use crate::{backend::lock, config::Settings, error, url::TransportProtocol};

/// One connected, logged-in SDK client.
pub(crate) struct Connection {
    client: IggyClient,
    address: String,
    request_timeout: Duration,
    /// A redial [`Connection::reconnecting`] started is under way.
    redialing: Arc<AtomicBool>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn duration(ms: u64) -> Result<NonZeroIggyDuration> {
    NonZeroIggyDuration::try_from(Duration::from_millis(ms.max(1)))
        .map_err(|_| Error::config("plugins.remote", format!("{ms} ms is not a valid duration")))
}

fn auto_login(settings: &Settings) -> AutoLogin {
    AutoLogin::Enabled(Credentials::UsernamePassword(
        settings.username.clone(),
        SecretString::from(settings.password.expose().to_owned()),
    ))
}

fn tcp_config(settings: &Settings, address: &str) -> Result<TcpClientConfig> {
    let c = &settings.config;
    Ok(TcpClientConfig {
        server_address: address.to_owned(),
        tls_enabled: c.tls,
        tls_domain: c.tls_domain.clone().unwrap_or_default(),
        tls_ca_file: c.tls_ca_file.clone(),
        tls_validate_certificate: c.tls_validate_certificate,
        auto_login: auto_login(settings),
        reconnection: TcpClientReconnectionConfig {
            enabled: true,
            max_retries: c.reconnect_retries,
            interval: duration(c.reconnect_interval_ms)?,
            reestablish_after: IggyDuration::from(Duration::from_millis(c.reconnect_interval_ms)),
        },
        heartbeat_interval: duration(c.heartbeat_interval_ms)?,
        nodelay: c.nodelay,
    })
}

/// The host part of `host:port` (brackets of an IPv6 literal removed): the
/// name a certificate must carry when `tls_domain` is not set, as the SDK's
/// TCP client does for TLS.
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// `local` is the UDP address to bind: the SDK's default is loopback
/// (`127.0.0.1:0`), which cannot reach any other host.
fn quic_config(settings: &Settings, address: &str, local: &str) -> Result<QuicClientConfig> {
    let c = &settings.config;
    Ok(QuicClientConfig {
        client_address: local.to_owned(),
        server_address: address.to_owned(),
        server_name: c
            .tls_domain
            .clone()
            .unwrap_or_else(|| host_of(address).to_owned()),
        validate_certificate: c.tls_validate_certificate,
        auto_login: auto_login(settings),
        reconnection: QuicClientReconnectionConfig {
            enabled: true,
            max_retries: c.reconnect_retries,
            interval: duration(c.reconnect_interval_ms)?,
            reestablish_after: IggyDuration::from(Duration::from_millis(c.reconnect_interval_ms)),
        },
        heartbeat_interval: duration(c.heartbeat_interval_ms)?,
        ..QuicClientConfig::default()
    })
}

/// The SDK client for one address over the configured transport, not yet
/// connected.
async fn sdk_client(settings: &Settings, address: &str) -> Result<IggyClient> {
    let wrapper = match settings.transport {
        TransportProtocol::Tcp => TcpClient::create(Arc::new(tcp_config(settings, address)?))
            .map(ClientWrapper::Tcp)
            .map_err(|e| error::map(e, "connect"))?,
        TransportProtocol::Quic => {
            // The local socket's family must match the server's.
            let remote = tokio::net::lookup_host(address)
                .await
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Unavailable,
                        format!("cannot resolve `{address}`"),
                    )
                    .with_context("address", address)
                })?;
            let local = if remote.is_ipv6() {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            QuicClient::create(Arc::new(quic_config(settings, address, local)?))
                .map(ClientWrapper::Quic)
                .map_err(|e| quic_create_error(e, settings))?
        }
    };
    Ok(IggyClient::new(wrapper))
}

/// Why the SDK could not make a QUIC client. With validation on, its
/// "invalid configuration" means the platform verifier found no CA
/// certificate to trust (the SDK logs the cause and returns the bare code):
/// say so, naming the key.
fn quic_create_error(e: IggyError, settings: &Settings) -> Error {
    if matches!(e, IggyError::InvalidConfiguration) && settings.config.tls_validate_certificate {
        return Error::config(
            "plugins.remote.tls_validate_certificate",
            "the SDK's QUIC client validates against the platform trust store and found no CA certificate there (on Linux it reads SSL_CERT_FILE / SSL_CERT_DIR, else the system roots): add the server's CA there",
        );
    }
    error::map(e, "connect")
}

impl Connection {
    /// Dials the configured addresses in order and returns the first that
    /// connects and logs in. Bad credentials stop the search at once (every
    /// address would refuse them).
    pub(crate) async fn open(settings: &Settings) -> Result<Self> {
        let connect_timeout = Duration::from_millis(settings.config.connect_timeout_ms);
        let mut last: Option<Error> = None;
        for (i, address) in settings.addresses.iter().enumerate() {
            // Addresses still to try after this one.
            let left = settings.addresses.len() - i - 1;
            let client = match sdk_client(settings, address).await {
                Ok(client) => client,
                Err(e) if e.kind() == ErrorKind::Unavailable => {
                    tracing::warn!(address = %address, error = %e, left, "Iggy address failed");
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let attempt = tokio::time::timeout(connect_timeout, async {
                client.connect().await?;
                // Auto-login happens inside connect; `get_me` proves it worked.
                client.get_me().await.map(|_| ())
            })
            .await;
            match attempt {
                Ok(Ok(())) => return Ok(Self::new(client, address.clone(), settings)),
                Ok(Err(e)) => {
                    let mapped = error::map(e, "connect").with_context("address", address);
                    shut_down(&client).await;
                    if mapped.kind() == ErrorKind::Config {
                        return Err(mapped);
                    }
                    tracing::warn!(address = %address, error = %mapped, left, "Iggy address failed");
                    last = Some(mapped);
                }
                Err(_) => {
                    shut_down(&client).await;
                    tracing::warn!(address = %address, left, "Iggy address did not connect in time");
                    last = Some(error::timeout("connect").with_context("address", address));
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::config("plugins.remote.url", "no address to connect to")))
    }

    fn new(client: IggyClient, address: String, settings: &Settings) -> Self {
        Self {
            client,
            address,
            request_timeout: settings.config.request_timeout(),
            redialing: Arc::default(),
        }
    }

    /// The SDK client.
    pub(crate) fn client(&self) -> &IggyClient {
        &self.client
    }

    /// The address this connection was established to.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Whether the SDK lost this connection and has not signed in again
    /// yet: it is dialling, signing in, or waiting for the next request to
    /// redial. Read from the client's own state rather than its diagnostic
    /// events: the SDK (0.11) raises no `Disconnected` when a request finds
    /// the socket gone (it marks the client disconnected and redials
    /// silently, its retries running as `Connecting`), only when a redial
    /// gives up. A socket that died unseen counts once a request or the
    /// heartbeat finds it; a shut-down client does not count.
    ///
    /// A client found anywhere but signed in also gets a `connect()`, in
    /// the background: one left half signed in by a request
    /// cancelled while the SDK redialled (see [`Connection::call`]; a
    /// waiting poll of a subscription that stops during an outage) is never
    /// redialled by the SDK itself, not even by its heartbeat, and a
    /// connection nothing uses would stay so, and health degraded, for good.
    /// The redial runs in its own task because a cancelled one would strand
    /// the client again.
    pub(crate) async fn reconnecting(&self) -> bool {
        let wrapper = self.client.client();
        let state = match &*wrapper.read().await {
            ClientWrapper::Tcp(client) => client.get_state().await,
            ClientWrapper::Quic(client) => client.get_state().await,
            // `sdk_client` builds only the two above.
            _ => return false,
        };
        if matches!(state, ClientState::Authenticated | ClientState::Shutdown) {
            return false;
        }
        // A connect() joins one already under way, so this is harmless
        // while the SDK redials by itself.
        if !self.redialing.swap(true, Ordering::AcqRel) {
            let (redialing, address) = (self.redialing.clone(), self.address.clone());
            tokio::spawn(async move {
                if let Err(e) = wrapper.read().await.connect().await {
                    tracing::debug!(%address, error = %e, "Iggy redial failed");
                }
                redialing.store(false, Ordering::Release);
            });
        }
        true
    }

    /// Runs one SDK request under the request timeout and maps its error.
    ///
    /// A request the SDK refuses for want of a session is followed by a
    /// `connect()` within the same deadline, because the SDK does not heal
    /// that state by itself: when a request future is dropped (a timeout, a
    /// cancelled caller) while the SDK reconnects under it, the sign-in it
    /// started never completes and the client stays `Authenticating` (or
    /// `Connected`). From then on the SDK answers every request with
    /// `Disconnected` (or `Unauthenticated`) before sending it, so its own
    /// reconnect never runs; only the next `connect()` notices the abandoned
    /// attempt and dials again. It waits for a reconnect already under way
    /// and does nothing on a signed-in client. The request still fails
    /// (retryably); the caller's next attempt finds a session.
    pub(crate) async fn call<T>(
        &self,
        operation: &'static str,
        request: impl Future<Output = std::result::Result<T, IggyError>>,
    ) -> Result<T> {
        self.call_within(operation, Duration::ZERO, request).await
    }

    /// [`Connection::call`] for a request the server may hold for up to
    /// `held` before it answers (a waiting poll): the request timeout
    /// starts after it.
    pub(crate) async fn call_within<T>(
        &self,
        operation: &'static str,
        held: Duration,
        request: impl Future<Output = std::result::Result<T, IggyError>>,
    ) -> Result<T> {
        let deadline = tokio::time::Instant::now() + held + self.request_timeout;
        match tokio::time::timeout_at(deadline, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if matches!(e, IggyError::Disconnected | IggyError::Unauthenticated) {
                    self.reconnect_before(deadline).await;
                }
                Err(error::map(e, operation))
            }
            Err(_) => Err(error::timeout(operation)),
        }
    }

    /// Lets the SDK reconnect (see [`Connection::call`]) until `deadline`.
    async fn reconnect_before(&self, deadline: tokio::time::Instant) {
        match tokio::time::timeout_at(deadline, self.client.connect()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(address = %self.address, error = %e, "Iggy reconnect failed")
            }
            Err(_) => tracing::debug!(address = %self.address, "Iggy reconnect still under way"),
        }
    }

    /// Pings the server; the round-trip time.
    pub(crate) async fn ping(&self) -> Result<Duration> {
        let start = Instant::now();
        self.call("ping", self.client.ping()).await?;
        Ok(start.elapsed())
    }

    /// Closes the connection (ends its server-side group memberships).
    pub(crate) async fn shutdown(&self) {
        shut_down(&self.client).await;
    }
}

/// How long a client's shutdown may take; on loopback it takes milliseconds.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Shuts `client` down, giving up after [`SHUTDOWN_WAIT`]. The SDK's shutdown
/// waits for a request in flight to finish and, over QUIC, for every
/// connection of its endpoint to drain, and its heartbeat can dial a new one
/// meanwhile (seen once in CI: a QUIC conformance test hung in `leave_group`);
/// a peer or an SDK that never finishes must not hold up ours.
async fn shut_down(client: &IggyClient) {
    match tokio::time::timeout(SHUTDOWN_WAIT, client.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "Iggy client shutdown"),
        Err(_) => tracing::warn!(
            waited_ms = SHUTDOWN_WAIT.as_millis() as u64,
            "Iggy client shutdown did not finish in time; dropping the client"
        ),
    }
}

/// A connection opened on first use, shared by the backend and its stores.
pub(crate) struct Link {
    settings: Settings,
    connection: OnceCell<Arc<Connection>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("settings", &self.settings)
            .field("connection", &self.connection.get())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Link {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            connection: OnceCell::new(),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The connection, opening it first if needed; `Closed` after `close`.
    pub(crate) async fn get(&self, operation: &'static str) -> Result<&Arc<Connection>> {
        if self.is_closed() {
            return Err(error::closed(operation));
        }
        self.connection
            .get_or_try_init(|| async { Connection::open(&self.settings).await.map(Arc::new) })
            .await
    }

    /// The connection if it was opened.
    pub(crate) fn opened(&self) -> Option<&Arc<Connection>> {
        self.connection.get()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the link closed; `true` the first time.
    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }
}

/// Connections of their own, opened on first use per key and closed
/// together: the waiting polls' (one per long-polled partition) and the
/// sends' (one per send slot). An SDK connection carries one request at a
/// time, so work that must not queue behind the shared connection's gets
/// one of these.
#[derive(Debug)]
pub(crate) struct Connections<K> {
    open: Mutex<HashMap<K, Arc<Connection>>>,
}

impl<K> Default for Connections<K> {
    fn default() -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone> Connections<K> {
    /// The connection of `key`, opened (and logged in) first if needed;
    /// `Closed` once the link is.
    pub(crate) async fn get(
        &self,
        link: &Link,
        key: &K,
        operation: &'static str,
    ) -> Result<Arc<Connection>> {
        if let Some(conn) = lock(&self.open).get(key) {
            return Ok(conn.clone());
        }
        let opened = Arc::new(Connection::open(link.settings()).await?);
        if link.is_closed() {
            opened.shutdown().await;
            return Err(error::closed(operation));
        }
        // Another request for the key may have opened one meanwhile.
        let (conn, spare) = {
            let mut open = lock(&self.open);
            match open.get(key) {
                Some(conn) => (conn.clone(), Some(opened)),
                None => {
                    open.insert(key.clone(), opened.clone());
                    (opened, None)
                }
            }
        };
        if let Some(spare) = spare {
            spare.shutdown().await;
        }
        Ok(conn)
    }

    /// How many are reconnecting (the SDK redials a lost connection by
    /// itself; health reports them meanwhile).
    pub(crate) async fn reconnecting(&self) -> usize {
        let open: Vec<_> = lock(&self.open).values().cloned().collect();
        count_reconnecting(&open).await
    }

    /// Closes every connection.
    pub(crate) async fn close(&self) {
        let open: Vec<_> = lock(&self.open).drain().map(|(_, c)| c).collect();
        for conn in open {
            conn.shutdown().await;
        }
    }
}

/// How many of `connections` are reconnecting.
pub(crate) async fn count_reconnecting(connections: &[Arc<Connection>]) -> usize {
    let mut down = 0;
    for conn in connections {
        down += usize::from(conn.reconnecting().await);
    }
    down
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_default_certificate_name_is_the_dialled_host() {
        assert_eq!(host_of("iggy.example:8080"), "iggy.example");
        assert_eq!(host_of("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_of("[::1]:8080"), "::1");
    }
}
