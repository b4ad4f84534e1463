//! The QUIC listener: the transport of the SDK's `QuicClient`.
//!
//! The SDK sends each request on a bidirectional stream of its own: the
//! 256-byte request header and the body, then it finishes the stream and
//! reads the reply to its end. One QUIC connection is one session (login,
//! group memberships), exactly like one TCP connection; its streams are
//! served one after the other through the same [`serve_request`] the TCP
//! path uses, so frame limits, login rules and commands are shared. (The SDK
//! holds its connection's lock for a whole request, so it never has two
//! streams open at once; a peer that does simply waits.)

use std::{net::SocketAddr, sync::Arc, time::Duration};

use iggy_binary_protocol::HEADER_SIZE;
use quinn::{Connection, Endpoint, Incoming, RecvStream, SendStream, VarInt};
use tokio::{
    io::{AsyncReadExt, Join},
    sync::{watch, Semaphore},
    task::JoinSet,
    time::timeout,
};

use crate::{
    connection::{serve_request, stop_signal, Wire},
    error::{Result, ServerError},
    session::{Session, Transport},
    shared::{Limits, Shared},
    tls::Identity,
};

/// Streams a client may have open at once on one connection. The SDK uses
/// one at a time; a few more let a pipelining client queue without being
/// refused, and bound what one peer can make the server buffer.
const MAX_STREAMS_PER_CONNECTION: u32 = 16;

impl Wire for Join<RecvStream, SendStream> {}

/// Binds the UDP socket of the QUIC listener.
pub(crate) fn bind(addr: SocketAddr, identity: &Identity, limits: &Limits) -> Result<Endpoint> {
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(identity.quic()?));
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(VarInt::from_u32(MAX_STREAMS_PER_CONNECTION));
    transport.max_concurrent_uni_streams(VarInt::from_u32(0));
    // A peer that vanished is noticed at the transport level after the idle
    // timeout; a live but silent one is closed by `serve_streams`.
    transport.max_idle_timeout(quinn::IdleTimeout::try_from(limits.idle_timeout).ok());
    config.transport_config(Arc::new(transport));
    Endpoint::server(config, addr).map_err(|source| ServerError::Bind { addr, source })
}

/// Accepts QUIC connections until told to stop; each runs as a task, under
/// the same connection limit as TCP.
pub(crate) async fn accept_loop(
    endpoint: Endpoint,
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
            incoming = endpoint.accept() => {
                // `None`: the endpoint was closed.
                let Some(incoming) = incoming else { break };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(peer = %incoming.remote_address(), "connection limit reached; refusing the new QUIC connection");
                    incoming.refuse();
                    continue;
                };
                let shared = shared.clone();
                let stopped = for_connections.clone();
                connections.spawn(async move {
                    serve(incoming, shared, stopped).await;
                    drop(permit);
                });
            }
        }
    }
    while connections.join_next().await.is_some() {}
    endpoint.close(VarInt::from_u32(0), b"server stopped");
    endpoint.wait_idle().await;
    tracing::info!("QUIC listener stopped");
}

/// Completes the handshake and serves the connection to its end, then
/// leaves the groups it joined. A failed handshake ends this connection
/// only.
async fn serve(incoming: Incoming, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let peer = incoming.remote_address();
    let connection = match timeout(shared.limits.read_timeout, incoming).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "QUIC handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "QUIC handshake timed out");
            return;
        }
    };
    let _open = crate::metrics::OpenConnection::new("quic");
    let mut session = Session::new(shared.next_connection_id(), peer, Transport::Quic);
    let _listed = shared.clients.register(&session);
    tracing::debug!(%peer, client = session.id, "QUIC connection opened");
    let end = serve_streams(&connection, &shared, &mut session, &mut stopped).await;
    session.leave_all(&shared).await;
    connection.close(VarInt::from_u32(0), end.as_bytes());
    tracing::debug!(%peer, client = session.id, reason = end, "QUIC connection closed");
}

/// Serves the connection's streams one by one; returns why it ends.
///
/// As on TCP, a stop request is honoured between requests only.
async fn serve_streams(
    connection: &Connection,
    shared: &Shared,
    session: &mut Session,
    stopped: &mut watch::Receiver<bool>,
) -> &'static str {
    let limits = &shared.limits;
    loop {
        let accepted = tokio::select! {
            accepted = timeout(limits.idle_timeout, connection.accept_bi()) => accepted,
            () = stop_signal(stopped) => return "server shutting down",
        };
        let (send, recv) = match accepted {
            Err(_) => return "idle timeout",
            Ok(Err(error)) => {
                tracing::trace!(peer = %session.peer, %error, "QUIC connection ended");
                return "peer closed";
            }
            Ok(Ok(pair)) => pair,
        };
        let mut stream = tokio::io::join(recv, send);
        let mut raw = [0u8; HEADER_SIZE];
        let served = match timeout(limits.read_timeout, stream.read_exact(&mut raw[..1])).await {
            Err(_) => Err("read timeout (header)"),
            Ok(Err(_)) => Err("empty request stream"),
            Ok(Ok(_)) => serve_request(&mut stream, &mut raw, shared, session).await,
        };
        let (_, mut send) = stream.into_inner();
        // Ends the reply; fails only if the peer already reset the stream.
        let finished = send.finish().is_ok();
        let end = match served {
            Err(end) => Some(end),
            Ok(()) if !finished => Some("peer reset the stream"),
            Ok(()) if session.close => Some("closed by the server after this reply"),
            Ok(()) => None,
        };
        if let Some(end) = end {
            // Closing the connection drops unsent data: let a last reply
            // (a refusal, say) reach the peer first.
            deliver(&mut send, limits.read_timeout).await;
            return end;
        }
    }
}

/// Waits until the peer acknowledged everything sent on `send` (or stopped
/// it), at most `within`.
async fn deliver(send: &mut SendStream, within: Duration) {
    if let Err(error) = timeout(within, send.stopped()).await {
        tracing::trace!(%error, "the last reply was not acknowledged in time");
    }
}
