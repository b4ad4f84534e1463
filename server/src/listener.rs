//! The accept loop: connection limit, one task per connection, graceful stop.

use std::{net::SocketAddr, sync::Arc};

use rustok_iggy::Backend;
use tokio::{
    net::TcpListener,
    sync::{watch, Semaphore},
    task::{JoinHandle, JoinSet},
};

use crate::{
    catalog::Catalog,
    config::{Credentials, ServerBuilder, DEFAULT_ROOT_PASSWORD, DEFAULT_ROOT_USERNAME},
    connection,
    error::{Result, ServerError},
    shared::{Limits, Shared},
};

/// A server that is accepting connections. Dropping it stops the accept loop
/// and closes every connection (without waiting); [`RunningServer::shutdown`]
/// does the same and waits.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    backend: Arc<dyn Backend>,
    shutdown_backend: bool,
}

impl RunningServer {
    /// The address the server listens on (with the real port when bound to
    /// port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection (each at its next frame
    /// boundary; members leave their groups), waits for them, and shuts the
    /// backend down if the builder asked for it.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            if let Err(error) = task.await {
                tracing::warn!(%error, "the accept loop ended abnormally");
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

pub(crate) async fn start(builder: ServerBuilder) -> Result<RunningServer> {
    let listener = TcpListener::bind(builder.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: builder.bind,
            source,
        })?;
    let local_addr = listener.local_addr()?;
    let shared = Arc::new(shared(&builder, local_addr)?);
    let (stop, stopped) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(builder.max_connections));
    let task = tokio::spawn(accept_loop(listener, shared, permits, stopped));
    tracing::info!(%local_addr, backend = builder.backend.name(), "Iggy-protocol server listening");
    Ok(RunningServer {
        local_addr,
        stop,
        task: Some(task),
        backend: builder.backend,
        shutdown_backend: builder.shutdown_backend,
    })
}

/// What every connection of the server `builder` describes shares, serving
/// on `local_addr`. Also builds the socket-less [`crate::fuzzing::Harness`].
pub(crate) fn shared(builder: &ServerBuilder, local_addr: SocketAddr) -> Result<Shared> {
    let offsets = match &builder.offsets {
        Some(store) => store.clone(),
        None => builder.backend.offset_store().ok_or_else(|| {
            ServerError::Config(format!(
                "backend `{}` has no offset store of its own; pass one with `offsets`",
                builder.backend.name()
            ))
        })?,
    };
    let credentials = builder.credentials.clone().unwrap_or_else(|| {
        Credentials::new(
            DEFAULT_ROOT_USERNAME,
            rustok_iggy::config::Secret::new(DEFAULT_ROOT_PASSWORD),
        )
    });
    let catalog = Catalog::open(builder.catalog_path.clone(), &builder.streams)?;
    Ok(Shared::new(
        builder.backend.clone(),
        offsets,
        catalog,
        credentials,
        Limits {
            max_frame_bytes: builder.max_frame_bytes,
            idle_timeout: builder.idle_timeout,
            read_timeout: builder.read_timeout,
            max_login_failures: builder.max_login_failures,
            max_poll_messages: builder.max_poll_messages,
            max_batch_messages: builder.max_batch_messages,
        },
        local_addr,
    ))
}

async fn accept_loop(
    listener: TcpListener,
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
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "connection limit reached; closing the new connection");
                    drop(socket);
                    continue;
                };
                let shared = shared.clone();
                let stopped = for_connections.clone();
                connections.spawn(async move {
                    connection::serve(socket, peer, shared, stopped).await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    tracing::info!("Iggy-protocol server stopped");
}

/// Resolves once the server is told to stop (or its handle is gone).
pub(crate) async fn stop_signal(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
