//! One connection: read a frame, dispatch it, write the reply, until the peer
//! leaves, misbehaves, idles out or the server stops.
//!
//! The framing is transport-neutral: plain TCP and TLS over TCP run
//! [`serve`] on their stream, and QUIC runs [`serve_request`] once per
//! bidirectional stream (see `quic.rs`), so every transport has the same
//! frame limits, login rules and command code.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use iggy_binary_protocol::HEADER_SIZE;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
    time::timeout,
};

use crate::{
    commands,
    error::Status,
    frame::{encode_reply, EncodedReply, FrameError, RequestMeta},
    session::{Session, Transport},
    shared::Shared,
};

/// Resolves once the server is told to stop (or its handle is gone). Here,
/// not in `listener.rs`, so the accept loops depend on connections and not
/// the other way round.
pub(crate) async fn stop_signal(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// The largest request body read into a buffer of its declared size; a
/// larger one's buffer starts at this and grows as the body arrives.
const MAX_PRESIZED_BODY: usize = 2 << 20;

/// Largest request body accepted before login (a login request is a few
/// hundred bytes).
const MAX_UNAUTHENTICATED_BODY: usize = 16 * 1024;

/// A byte stream requests arrive on: a TCP socket, a TLS session over one,
/// or one QUIC stream pair.
pub(crate) trait Wire: AsyncRead + AsyncWrite + Unpin + Send {
    /// Called once a request header was read (TCP acknowledges it at once,
    /// see [`quick_ack`]).
    fn header_read(&self) {}
}

impl Wire for TcpStream {
    fn header_read(&self) {
        quick_ack(self);
    }
}

impl Wire for tokio_rustls::server::TlsStream<TcpStream> {
    fn header_read(&self) {
        // The SDK's TLS client also writes header and body apart.
        quick_ack(self.get_ref().0);
    }
}

/// Serves one TCP or TLS connection to its end, then leaves the groups it
/// joined.
pub(crate) async fn serve<S: Wire>(
    mut stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let _open = crate::metrics::OpenConnection::new("tcp");
    let mut session = Session::new(shared.next_connection_id(), peer, Transport::Tcp);
    let _listed = shared.clients.register(&session);
    tracing::debug!(%peer, client = session.id, "connection opened");
    let end = serve_frames(&mut stream, &shared, &mut session, &mut stopped).await;
    session.leave_all(&shared).await;
    if let Err(error) = stream.shutdown().await {
        tracing::trace!(%peer, %error, "socket shutdown");
    }
    tracing::debug!(%peer, client = session.id, reason = end, "connection closed");
}

/// Reads and answers frames; returns why the connection ends.
///
/// A stop request is honoured between frames only, so a request in flight
/// (an append, say) completes and is answered.
async fn serve_frames<S: Wire>(
    stream: &mut S,
    shared: &Shared,
    session: &mut Session,
    stopped: &mut watch::Receiver<bool>,
) -> &'static str {
    loop {
        let mut raw = [0u8; HEADER_SIZE];
        // The first byte may take up to the idle timeout; the rest of the
        // frame must follow within the read timeout.
        let first = tokio::select! {
            first = timeout(shared.limits.idle_timeout, stream.read_exact(&mut raw[..1])) => first,
            () = stop_signal(stopped) => return "server shutting down",
        };
        match first {
            Err(_) => return "idle timeout",
            Ok(Err(_)) => return "peer closed",
            Ok(Ok(_)) => {}
        }
        if let Err(end) = serve_request(stream, &mut raw, shared, session).await {
            return end;
        }
        if session.close {
            return "closed by the server after this reply";
        }
    }
}

/// Serves one request whose first header byte is already in `raw[0]`:
/// reads the rest of the header and the body (within the read timeout and
/// the frame limits), answers it and writes the reply. `Err` says why the
/// connection must end.
pub(crate) async fn serve_request<S: Wire>(
    stream: &mut S,
    raw: &mut [u8; HEADER_SIZE],
    shared: &Shared,
    session: &mut Session,
) -> Result<(), &'static str> {
    let limits = &shared.limits;
    match timeout(limits.read_timeout, stream.read_exact(&mut raw[1..])).await {
        Err(_) => return Err("read timeout (header)"),
        Ok(Err(_)) => return Err("truncated header"),
        Ok(Ok(_)) => {}
    }
    stream.header_read();
    let meta = match RequestMeta::parse(raw, limits.max_frame_bytes) {
        Ok(meta) => meta,
        Err(FrameError::TooLarge(size)) => {
            tracing::warn!(peer = %session.peer, size, "frame larger than the limit");
            // Answer, then close: skipping the body would mean reading it.
            if let Ok(header) = bytemuck::checked::try_pod_read_unaligned(raw) {
                let reply = encode_reply(&header, &Err(Status::INVALID_COMMAND));
                let _ = timeout(limits.read_timeout, write_reply(stream, reply)).await;
            }
            return Err("frame too large");
        }
        Err(error) => {
            tracing::warn!(peer = %session.peer, ?error, "malformed frame header");
            return Err("malformed frame header");
        }
    };
    if session.user.is_none() && meta.body_len > MAX_UNAUTHENTICATED_BODY {
        // Before login only ping and login are served, and both are
        // small: do not buffer a large body for an anonymous peer.
        let reply = encode_reply(&meta.header, &Err(Status::UNAUTHENTICATED));
        let _ = timeout(limits.read_timeout, write_reply(stream, reply)).await;
        return Err("large frame before login");
    }
    // A body up to `MAX_PRESIZED_BODY` (a batch of messages) is read into
    // one buffer of its declared size: growing it by doubling copied a 1 MB
    // batch four times over. Beyond that the buffer grows with the bytes
    // that arrive, not with the length the header declares, so a peer
    // announcing `max_frame_bytes` and sending nothing holds no more than
    // that, and the pages of a large allocation are only touched as bytes
    // arrive.
    let mut body = Vec::with_capacity(meta.body_len.min(MAX_PRESIZED_BODY));
    let declared = meta.body_len as u64;
    match timeout(
        limits.read_timeout,
        (&mut *stream).take(declared).read_to_end(&mut body),
    )
    .await
    {
        Err(_) => return Err("read timeout (body)"),
        Ok(Err(_)) => return Err("truncated body"),
        Ok(Ok(read)) if read as u64 != declared => return Err("truncated body"),
        Ok(Ok(_)) => {}
    }
    // Shared, so that the messages of a `SendMessages` are slices of it.
    let body = Bytes::from(body);
    let reply = answer(shared, session, &meta, &body).await;
    match timeout(limits.read_timeout, write_reply(stream, reply)).await {
        Err(_) => Err("write timeout"),
        Ok(Err(_)) => Err("peer closed while writing"),
        Ok(Ok(())) => Ok(()),
    }
}

/// Runs the request `meta` and `body` describe and encodes its reply.
pub(crate) async fn answer(
    shared: &Shared,
    session: &mut Session,
    meta: &RequestMeta,
    body: &Bytes,
) -> EncodedReply {
    let started = std::time::Instant::now();
    let result = match meta.code() {
        Some(code) => commands::dispatch(shared, session, code, body).await,
        None => Err(Status::FEATURE_UNAVAILABLE),
    };
    crate::metrics::request(meta.code(), body, &result, started.elapsed());
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

/// Writes a reply's header and body, in vectored writes where the stream
/// takes them (a TCP socket does: one `writev` for a poll's reply).
async fn write_reply<S: Wire>(stream: &mut S, reply: EncodedReply) -> std::io::Result<()> {
    stream.write_all_buf(&mut reply.into_buf()).await
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
