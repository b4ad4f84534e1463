//! One connection: read a frame, dispatch it, write the reply, until the peer
//! leaves, misbehaves, idles out or the server stops.

use std::{net::SocketAddr, sync::Arc};

use bytes::BytesMut;
use iggy_binary_protocol::HEADER_SIZE;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
    time::timeout,
};

use crate::{
    commands,
    error::Status,
    frame::{encode_reply, FrameError, RequestMeta},
    session::Session,
    shared::Shared,
};

/// Largest request body accepted before login (a login request is a few
/// hundred bytes).
const MAX_UNAUTHENTICATED_BODY: usize = 16 * 1024;

/// Serves one connection to its end, then leaves the groups it joined.
pub(crate) async fn serve(
    mut socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    if let Err(error) = socket.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let mut session = Session::new(shared.next_connection_id(), peer);
    tracing::debug!(%peer, client = session.id, "connection opened");
    let end = serve_frames(&mut socket, &shared, &mut session, &mut stopped).await;
    session.leave_all(&shared).await;
    if let Err(error) = socket.shutdown().await {
        tracing::trace!(%peer, %error, "socket shutdown");
    }
    tracing::debug!(%peer, client = session.id, reason = end, "connection closed");
}

/// Reads and answers frames; returns why the connection ends.
///
/// A stop request is honoured between frames only, so a request in flight
/// (an append, say) completes and is answered.
async fn serve_frames(
    socket: &mut TcpStream,
    shared: &Shared,
    session: &mut Session,
    stopped: &mut watch::Receiver<bool>,
) -> &'static str {
    let limits = &shared.limits;
    loop {
        let mut raw = [0u8; HEADER_SIZE];
        // The first byte may take up to the idle timeout; the rest of the
        // frame must follow within the read timeout.
        let first = tokio::select! {
            first = timeout(limits.idle_timeout, socket.read_exact(&mut raw[..1])) => first,
            () = crate::listener::stop_signal(stopped) => return "server shutting down",
        };
        match first {
            Err(_) => return "idle timeout",
            Ok(Err(_)) => return "peer closed",
            Ok(Ok(_)) => {}
        }
        match timeout(limits.read_timeout, socket.read_exact(&mut raw[1..])).await {
            Err(_) => return "read timeout (header)",
            Ok(Err(_)) => return "truncated header",
            Ok(Ok(_)) => {}
        }
        quick_ack(socket);
        let meta = match RequestMeta::parse(&raw, limits.max_frame_bytes) {
            Ok(meta) => meta,
            Err(FrameError::TooLarge(size)) => {
                tracing::warn!(peer = %session.peer, size, "frame larger than the limit");
                // Answer, then close: skipping the body would mean reading it.
                if let Ok(header) = bytemuck::checked::try_pod_read_unaligned(&raw) {
                    let reply = encode_reply(&header, &Err(Status::INVALID_COMMAND));
                    let _ = timeout(limits.read_timeout, socket.write_all(&reply)).await;
                }
                return "frame too large";
            }
            Err(error) => {
                tracing::warn!(peer = %session.peer, ?error, "malformed frame header");
                return "malformed frame header";
            }
        };
        if session.user.is_none() && meta.body_len > MAX_UNAUTHENTICATED_BODY {
            // Before login only ping and login are served, and both are
            // small: do not buffer a large body for an anonymous peer.
            let reply = encode_reply(&meta.header, &Err(Status::UNAUTHENTICATED));
            let _ = timeout(limits.read_timeout, socket.write_all(&reply)).await;
            return "large frame before login";
        }
        let mut body = vec![0u8; meta.body_len];
        match timeout(limits.read_timeout, socket.read_exact(&mut body)).await {
            Err(_) => return "read timeout (body)",
            Ok(Err(_)) => return "truncated body",
            Ok(Ok(_)) => {}
        }
        let reply = answer(shared, session, &meta, &body).await;
        match timeout(limits.read_timeout, socket.write_all(&reply)).await {
            Err(_) => return "write timeout",
            Ok(Err(_)) => return "peer closed while writing",
            Ok(Ok(())) => {}
        }
        if session.close {
            return "closed by the server after this reply";
        }
    }
}

/// Runs the request `meta` and `body` describe and encodes its reply.
pub(crate) async fn answer(
    shared: &Shared,
    session: &mut Session,
    meta: &RequestMeta,
    body: &[u8],
) -> BytesMut {
    let result = match meta.code() {
        Some(code) => commands::dispatch(shared, session, code, body).await,
        None => Err(Status::FEATURE_UNAVAILABLE),
    };
    if let Err(status) = &result {
        tracing::debug!(
            peer = %session.peer,
            code = ?meta.code(),
            status = status.code(),
            "request refused"
        );
    }
    encode_reply(&meta.header, &result)
}

/// Acknowledges what was read at once instead of after the delayed-ACK
/// timer. The SDK writes a request's header and body in two writes and, with
/// its default `nodelay = false`, Nagle holds the body back until the header
/// is acknowledged: without this every request with a body waits ~40 ms.
fn quick_ack(socket: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(error) = socket.set_quickack(true) {
        tracing::trace!(%error, "cannot set TCP_QUICKACK");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = socket;
}
