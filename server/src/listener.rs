//! The accept loops (TCP, with or without TLS, and QUIC): connection limit,
//! one task per connection, graceful stop.
//!
//! Reads the [`ServerBuilder`] of `config.rs` (which knows nothing of this
//! module): [`ServerBuilder::start`] is implemented here.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rustok_iggy::Backend;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{watch, Semaphore},
    task::{JoinHandle, JoinSet},
    time::timeout,
};
use tokio_rustls::TlsAcceptor;

use crate::{
    auth::Users,
    catalog::Catalog,
    config::{Credentials, ServerBuilder, DEFAULT_ROOT_PASSWORD, DEFAULT_ROOT_USERNAME},
    connection::{self, stop_signal},
    error::{Result, ServerError},
    host::HostProbe,
    quic,
    shared::{Limits, Parts, Shared},
    snapshot::Snapshots,
    tls::Identity,
};

/// A server that is accepting connections. Dropping it stops the accept loop
/// and closes every connection (without waiting); [`RunningServer::shutdown`]
/// does the same and waits.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    quic_addr: Option<SocketAddr>,
    tls: bool,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    backend: Arc<dyn Backend>,
    shutdown_backend: bool,
}

impl RunningServer {
    /// The address the server listens on (with the real port when bound to
    /// port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The UDP address of the QUIC listener (with the real port when bound
    /// to port 0), if [`ServerBuilder::quic`] asked for one.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.quic_addr
    }

    /// Whether the TCP listener speaks TLS ([`ServerBuilder::tls`]).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Stops accepting, closes every connection (each at its next frame
    /// boundary; members leave their groups), waits for them, and shuts the
    /// backend down if the builder asked for it.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(error) = task.await {
                tracing::warn!(%error, "an accept loop ended abnormally");
            }
        }
        if self.shutdown_backend {
            self.backend.shutdown().await?;
        }
        Ok(())
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl ServerBuilder {
    /// Binds the address(es) and starts serving.
    ///
    /// Fails without credentials on a non-loopback address, with a zero
    /// limit, with `quic` but no `tls`, with certificate or key files that
    /// cannot be read or do not belong together, or when neither the builder
    /// nor the backend has an offset store.
    pub async fn start(self) -> Result<RunningServer> {
        self.validate()?;
        launch(self).await
    }
}

async fn launch(builder: ServerBuilder) -> Result<RunningServer> {
    // Certificate problems fail here, before anything is bound.
    let identity = builder.tls.as_ref().map(Identity::load).transpose()?;
    let acceptor = identity
        .as_ref()
        .map(|identity| identity.tcp().map(TlsAcceptor::from))
        .transpose()?;
    let listener = TcpListener::bind(builder.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: builder.bind,
            source,
        })?;
    let local_addr = listener.local_addr()?;
    let limits = limits(&builder);
    let quic = match (builder.quic, &identity) {
        (Some(addr), Some(identity)) => {
            let endpoint = quic::bind(addr, identity, &limits)?;
            let bound = endpoint.local_addr()?;
            Some((endpoint, bound))
        }
        (Some(_), None) => {
            return Err(ServerError::Config(
                "quic needs a certificate: set `tls` (cert_file and key_file) as well".into(),
            ))
        }
        (None, _) => None,
    };
    let quic_addr = quic.as_ref().map(|(_, addr)| *addr);
    let catalog = open_catalog(&builder).await?;
    let users = open_users(&builder).await?;
    let shared = Arc::new(shared(&builder, local_addr, quic_addr, catalog, users)?);
    shared.host.prime().await;
    let (stop, stopped) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(builder.max_connections));
    let tls = acceptor.is_some();
    let mut tasks = vec![tokio::spawn(accept_loop(
        listener,
        acceptor,
        shared.clone(),
        permits.clone(),
        stopped.clone(),
    ))];
    if let Some((endpoint, _)) = quic {
        tasks.push(tokio::spawn(quic::accept_loop(
            endpoint, shared, permits, stopped,
        )));
    }
    tracing::info!(
        %local_addr,
        tls,
        quic = ?quic_addr,
        backend = builder.backend.name(),
        "Iggy-protocol server listening"
    );
    Ok(RunningServer {
        local_addr,
        quic_addr,
        tls,
        stop,
        tasks,
        backend: builder.backend,
        shutdown_backend: builder.shutdown_backend,
    })
}

fn limits(builder: &ServerBuilder) -> Limits {
    Limits {
        max_frame_bytes: builder.max_frame_bytes,
        idle_timeout: builder.idle_timeout,
        read_timeout: builder.read_timeout,
        max_login_failures: builder.max_login_failures,
        max_poll_messages: builder.max_poll_messages,
        max_poll_wait: builder.max_poll_wait,
        max_batch_messages: builder.max_batch_messages,
    }
}

/// The builder's catalog, read (and written, for new `streams`) on the
/// blocking pool: file I/O does not run on an async worker.
async fn open_catalog(builder: &ServerBuilder) -> Result<Catalog> {
    let (path, streams) = (builder.catalog_path.clone(), builder.streams.clone());
    tokio::task::spawn_blocking(move || Catalog::open(path, &streams))
        .await
        .map_err(|e| {
            ServerError::Io(std::io::Error::other(format!(
                "opening the catalog did not finish: {e}"
            )))
        })?
}

/// The builder's users, read (and, at the first start, written with the
/// root user) on the blocking pool: file I/O and password hashing do not
/// run on an async worker.
async fn open_users(builder: &ServerBuilder) -> Result<Users> {
    let path = builder.users_path.clone();
    let configured = builder.credentials.clone();
    let public = std::iter::once(builder.bind)
        .chain(builder.quic)
        .any(|addr| !addr.ip().is_loopback());
    let max_tokens = builder.max_tokens_per_user;
    tokio::task::spawn_blocking(move || {
        let users = Users::open(
            path.clone(),
            &root_credentials(configured.as_ref()),
            max_tokens,
        )?;
        if path.is_some() {
            check_stored_root(&users, configured.as_ref(), public)?;
        }
        Ok(users)
    })
    .await
    .map_err(|e| {
        ServerError::Io(std::io::Error::other(format!(
            "opening the users did not finish: {e}"
        )))
    })?
}

/// The configured root credentials, or the loopback-only default.
fn root_credentials(configured: Option<&Credentials>) -> Credentials {
    configured.cloned().unwrap_or_else(|| {
        Credentials::new(
            DEFAULT_ROOT_USERNAME,
            rustok_iggy::config::Secret::new(DEFAULT_ROOT_PASSWORD),
        )
    })
}

/// A stored root user outlives the credentials that created it. Off
/// loopback, refuse one that still has the loopback-only default password
/// (a server first started on loopback without credentials); elsewhere,
/// say when the configured credentials are not the stored ones.
fn check_stored_root(users: &Users, configured: Option<&Credentials>, public: bool) -> Result<()> {
    if public && users.root_is(&root_credentials(None)) {
        return Err(ServerError::Config(format!(
            "the stored root user is still `{DEFAULT_ROOT_USERNAME}` with the default password, which is for loopback only: change its password (on a loopback address) before serving on a public one"
        )));
    }
    if let Some(configured) = configured {
        if !users.root_is(configured) {
            tracing::warn!(
                username = configured.username(),
                "the configured root credentials are not the stored root user's: the stored root user stays (credentials seed the first start only; see `users_path`)"
            );
        }
    }
    Ok(())
}

/// What every connection of the server `builder` describes shares, serving
/// on `local_addr` (and QUIC on `quic_addr`). Also builds the socket-less
/// [`crate::fuzzing::Harness`].
pub(crate) fn shared(
    builder: &ServerBuilder,
    local_addr: SocketAddr,
    quic_addr: Option<SocketAddr>,
    catalog: Catalog,
    users: Users,
) -> Result<Shared> {
    let offsets = match &builder.offsets {
        Some(store) => store.clone(),
        None => builder.backend.offset_store().ok_or_else(|| {
            ServerError::Config(format!(
                "backend `{}` has no offset store of its own; pass one with `offsets`",
                builder.backend.name()
            ))
        })?,
    };
    let parts = Parts {
        backend: builder.backend.clone(),
        offsets,
        catalog,
        users,
        host: HostProbe::new(builder.data_dir.clone()),
        snapshots: Snapshots::new(
            builder.data_dir.clone(),
            format!(
                "server, listening on {local_addr}:\n{builder:#?}\n\n{}",
                builder.snapshot_config
            ),
        ),
    };
    Ok(Shared::new(parts, limits(builder), local_addr, quic_addr))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let for_connections = stopped.clone();
    loop {
        tokio::select! {
            () = stop_signal(&mut stopped) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off a little.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "connection limit reached; closing the new connection");
                    drop(socket);
                    continue;
                };
                if let Err(error) = socket.set_nodelay(true) {
                    tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
                }
                let shared = shared.clone();
                let stopped = for_connections.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        None => connection::serve(socket, peer, shared, stopped).await,
                        Some(tls) => {
                            if let Some(stream) = handshake(&tls, socket, peer, shared.limits.read_timeout).await {
                                connection::serve(stream, peer, shared, stopped).await;
                            }
                        }
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    tracing::info!("Iggy-protocol server stopped");
}

/// The TLS handshake of an accepted connection, within the read timeout. A
/// peer that fails it (speaks plain TCP, distrusts the certificate...) is
/// logged and dropped; the server serves on.
async fn handshake(
    tls: &TlsAcceptor,
    socket: TcpStream,
    peer: SocketAddr,
    within: Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match timeout(within, tls.accept(socket)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}
