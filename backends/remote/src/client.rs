//! One SDK connection: dialling the configured addresses in order, login,
//! request timeouts, the SDK's diagnostic events, and ping.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use iggy::prelude::{
    AutoLogin, Client, ClientWrapper, Credentials, IggyClient, IggyDuration, IggyError,
    NonZeroIggyDuration, SystemClient, TcpClient, TcpClientConfig, TcpClientReconnectionConfig,
};
use iggy_common::DiagnosticEvent;
use rustok_iggy::{Error, ErrorKind, Result};
use secrecy::SecretString;
use tokio::{sync::OnceCell, task::JoinHandle};

use crate::{config::Settings, error};

/// What the SDK last said about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Connected and logged in (or no event seen since the connect did both).
    Up,
    /// The SDK reported a disconnect and has not reconnected yet.
    Down,
    /// The client was shut down.
    Shutdown,
}

impl LinkState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => LinkState::Up,
            1 => LinkState::Down,
            _ => LinkState::Shutdown,
        }
    }
    fn as_u8(self) -> u8 {
        match self {
            LinkState::Up => 0,
            LinkState::Down => 1,
            LinkState::Shutdown => 2,
        }
    }
}

/// One connected, logged-in SDK client.
pub(crate) struct Connection {
    client: IggyClient,
    address: String,
    state: Arc<AtomicU8>,
    events: JoinHandle<()>,
    request_timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.address)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

fn duration(ms: u64) -> Result<NonZeroIggyDuration> {
    NonZeroIggyDuration::try_from(Duration::from_millis(ms.max(1)))
        .map_err(|_| Error::config("plugins.remote", format!("{ms} ms is not a valid duration")))
}

fn tcp_config(settings: &Settings, address: &str) -> Result<TcpClientConfig> {
    let c = &settings.config;
    Ok(TcpClientConfig {
        server_address: address.to_owned(),
        tls_enabled: c.tls,
        tls_domain: c.tls_domain.clone().unwrap_or_default(),
        tls_ca_file: c.tls_ca_file.clone(),
        tls_validate_certificate: c.tls_validate_certificate,
        auto_login: AutoLogin::Enabled(Credentials::UsernamePassword(
            settings.username.clone(),
            SecretString::from(settings.password.expose().to_owned()),
        )),
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

impl Connection {
    /// Dials the configured addresses in order and returns the first that
    /// connects and logs in. Bad credentials stop the search at once (every
    /// address would refuse them).
    pub(crate) async fn open(settings: &Settings) -> Result<Self> {
        let connect_timeout = Duration::from_millis(settings.config.connect_timeout_ms);
        let mut last: Option<Error> = None;
        for address in &settings.addresses {
            let client = match TcpClient::create(Arc::new(tcp_config(settings, address)?)) {
                Ok(tcp) => IggyClient::new(ClientWrapper::Tcp(tcp)),
                Err(e) => return Err(error::map(e, "connect")),
            };
            let attempt = tokio::time::timeout(connect_timeout, async {
                client.connect().await?;
                // Auto-login happens inside connect; `get_me` proves it worked.
                client.get_me().await.map(|_| ())
            })
            .await;
            match attempt {
                Ok(Ok(())) => return Ok(Self::watch(client, address.clone(), settings).await),
                Ok(Err(e)) => {
                    let mapped = error::map(e, "connect").with_context("address", address);
                    let _ = client.shutdown().await;
                    if mapped.kind() == ErrorKind::Config {
                        return Err(mapped);
                    }
                    tracing::warn!(address = %address, error = %mapped, "Iggy address failed; trying the next");
                    last = Some(mapped);
                }
                Err(_) => {
                    let _ = client.shutdown().await;
                    tracing::warn!(address = %address, "Iggy address did not connect in time; trying the next");
                    last = Some(error::timeout("connect").with_context("address", address));
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::config("plugins.remote.url", "no address to connect to")))
    }

    async fn watch(client: IggyClient, address: String, settings: &Settings) -> Self {
        let state = Arc::new(AtomicU8::new(LinkState::Up.as_u8()));
        let events = {
            let state = state.clone();
            let mut events = client.subscribe_events().await;
            tokio::spawn(async move {
                while let Ok(event) = events.recv().await {
                    let now = match event {
                        DiagnosticEvent::Disconnected => LinkState::Down,
                        DiagnosticEvent::Connected | DiagnosticEvent::SignedIn => LinkState::Up,
                        DiagnosticEvent::Shutdown => LinkState::Shutdown,
                        DiagnosticEvent::SignedOut => continue,
                    };
                    tracing::debug!(%event, "Iggy connection event");
                    state.store(now.as_u8(), Ordering::Relaxed);
                }
            })
        };
        Self {
            client,
            address,
            state,
            events,
            request_timeout: settings.config.request_timeout(),
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

    /// What the SDK's diagnostic events last said.
    pub(crate) fn state(&self) -> LinkState {
        LinkState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Runs one SDK request under the request timeout and maps its error.
    pub(crate) async fn call<T>(
        &self,
        operation: &'static str,
        request: impl Future<Output = std::result::Result<T, IggyError>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.request_timeout, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(error::map(e, operation)),
            Err(_) => Err(error::timeout(operation)),
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
        if let Err(e) = self.client.shutdown().await {
            tracing::debug!(error = %e, "Iggy client shutdown");
        }
        self.state
            .store(LinkState::Shutdown.as_u8(), Ordering::Relaxed);
        self.events.abort();
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.events.abort();
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
