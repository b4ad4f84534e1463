//! The HTTP side of `serve`: `GET /metrics` (Prometheus text format) and
//! `GET /health` (the transport's health report as JSON; 200 when healthy or
//! degraded, 503 when unhealthy), for scrapers and container probes.
//!
//! Served by axum and bounded, so a probe endpoint cannot be used to exhaust
//! the process:
//! - at most [`MAX_CONNECTIONS`] connections at once; further ones wait in
//!   the listen backlog until one closes;
//! - one request per connection (every response says `connection: close`),
//!   and a connection is cut [`CONNECTION_DEADLINE`] after it was accepted,
//!   whatever it is doing (a slow or silent client included);
//! - a handler gets [`REQUEST_TIMEOUT`], and request bodies are never read
//!   (any extractor reading one would be capped at [`MAX_BODY`] bytes);
//! - `/health` answers from a report refreshed every [`HEALTH_REFRESH`] in
//!   the background, so probes never reach the backend themselves.
//!
//! Cancelling the `stop` token of [`run`] stops accepting and lets open
//! connections finish (each within its deadline).

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use metrics_exporter_prometheus::PrometheusHandle;
use rustok_iggy::{Error, ErrorKind, HealthStatus, Result, Transport};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{watch, OwnedSemaphorePermit, Semaphore},
    time::Sleep,
};
use tokio_util::sync::CancellationToken;

/// Connections served at once; the rest wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// How long a connection may stay open, from accept to close.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
/// How long a handler may take before the request is answered 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request body an extractor would read (the handlers read none).
const MAX_BODY: usize = 1024;
/// How often the cached `/health` report is refreshed.
const HEALTH_REFRESH: Duration = Duration::from_secs(1);
/// How long one health check may take before `/health` says unhealthy.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `address`; serve it with [`run`].
pub async fn bind(address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("cannot listen on {address} for HTTP"),
        )
        .with_source(e)
    })
}

/// Answers requests until `stop` is cancelled.
pub async fn run(
    listener: TcpListener,
    transport: Transport,
    metrics: PrometheusHandle,
    stop: CancellationToken,
) {
    let health = cached_health(transport, stop.clone()).await;
    let listener = BoundedListener {
        inner: listener,
        permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        deadline: CONNECTION_DEADLINE,
    };
    let served = axum::serve(listener, router(metrics, health))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "the HTTP server stopped");
    }
}

/// What the handlers share.
#[derive(Clone)]
struct Endpoints {
    metrics: PrometheusHandle,
    health: watch::Receiver<HealthAnswer>,
}

/// The `/health` response, computed in the background.
#[derive(Clone)]
struct HealthAnswer {
    status: StatusCode,
    body: Bytes,
}

fn router(metrics: PrometheusHandle, health: watch::Receiver<HealthAnswer>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/health", get(health_json))
        .method_not_allowed_fallback(not_allowed)
        .fallback(not_found)
        .with_state(Endpoints { metrics, health })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(within_timeout))
        .layer(middleware::map_response(close_after))
}

async fn metrics_text(State(endpoints): State<Endpoints>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        endpoints.metrics.render(),
    )
        .into_response()
}

async fn health_json(State(endpoints): State<Endpoints>) -> Response {
    let answer = endpoints.health.borrow().clone();
    (
        answer.status,
        [(header::CONTENT_TYPE, "application/json")],
        answer.body,
    )
        .into_response()
}

async fn not_allowed() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n")
}

/// 405 for anything but `GET` (as on the served paths), else 404.
async fn not_found(method: Method) -> Response {
    if method == Method::GET {
        text(StatusCode::NOT_FOUND, "try /metrics or /health\n")
    } else {
        not_allowed().await
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

async fn within_timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "the request timed out\n"),
    }
}

/// One request per connection: hyper closes a connection whose response says
/// `connection: close`.
async fn close_after(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The first health report, then a task refreshing it every
/// [`HEALTH_REFRESH`] until `stop` is cancelled.
async fn cached_health(
    transport: Transport,
    stop: CancellationToken,
) -> watch::Receiver<HealthAnswer> {
    let (sender, receiver) = watch::channel(health_answer(&transport).await);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                answer = async {
                    tokio::time::sleep(HEALTH_REFRESH).await;
                    health_answer(&transport).await
                } => {
                    sender.send_replace(answer);
                }
            }
        }
    });
    receiver
}

/// The transport's health report as `/health` answers it: 503 when
/// unhealthy (or when the check does not answer within [`HEALTH_TIMEOUT`]).
async fn health_answer(transport: &Transport) -> HealthAnswer {
    let Ok(report) = tokio::time::timeout(HEALTH_TIMEOUT, transport.health()).await else {
        let status = HealthStatus::Unhealthy(vec![format!(
            "the health check did not answer within {}s",
            HEALTH_TIMEOUT.as_secs()
        )]);
        let body = serde_json::to_vec(&serde_json::json!({ "status": status }))
            .unwrap_or_else(|_| b"{}".to_vec());
        return HealthAnswer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: body.into(),
        };
    };
    let status = match report.status {
        HealthStatus::Unhealthy(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    let body = serde_json::to_vec(&report).unwrap_or_else(|_| b"{}".to_vec());
    HealthAnswer {
        status,
        body: body.into(),
    }
}

/// The listener `axum::serve` accepts from: a connection is accepted only
/// once one of `permits` is free, keeps it until it closes, and is cut after
/// `deadline`.
struct BoundedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    deadline: Duration,
}

impl axum::serve::Listener for BoundedListener {
    type Io = BoundedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so this only waits.
        let permit = self.permits.clone().acquire_owned().await.ok();
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let stream = BoundedStream {
                        inner: stream,
                        deadline: Box::pin(tokio::time::sleep(self.deadline)),
                        _permit: permit,
                    };
                    return (stream, peer);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off a little.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection: reads and writes fail once its deadline passed,
/// which makes hyper drop it; its permit is released when it is dropped.
struct BoundedStream {
    inner: TcpStream,
    deadline: Pin<Box<Sleep>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl BoundedStream {
    /// `Err` once the deadline passed; otherwise the deadline wakes the
    /// task when it does.
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the HTTP connection's deadline passed",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for BoundedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A test server's address and its stop token.
    async fn serve(health: HealthAnswer) -> (SocketAddr, CancellationToken) {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let address = listener.local_addr().unwrap();
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let (_, receiver) = watch::channel(health);
        let stop = CancellationToken::new();
        let listener = BoundedListener {
            inner: listener,
            permits: Arc::new(Semaphore::new(2)),
            deadline: Duration::from_millis(500),
        };
        let app = router(recorder.handle(), receiver);
        let served =
            axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
        tokio::spawn(async move { served.await });
        (address, stop)
    }

    fn healthy() -> HealthAnswer {
        HealthAnswer {
            status: StatusCode::OK,
            body: Bytes::from_static(br#"{"status":{"status":"healthy"}}"#),
        }
    }

    /// Sends `request` and reads the response to EOF (the server closes).
    async fn exchange(address: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn answers_like_the_hand_written_server_did_and_closes() {
        let (address, stop) = serve(healthy()).await;
        let response = exchange(address, "GET /health HTTP/1.1\r\nhost: t\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("content-type: application/json\r\n"));
        assert!(response.contains("connection: close\r\n"));
        assert!(response.ends_with(r#"{"status":{"status":"healthy"}}"#));
        let response = exchange(address, "GET /metrics HTTP/1.1\r\nhost: t\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("content-type: text/plain; version=0.0.4\r\n"));
        for (request, status, body) in [
            (
                "GET /nope HTTP/1.1\r\nhost: t\r\n\r\n",
                "404",
                "try /metrics",
            ),
            (
                "POST /metrics HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n",
                "405",
                "only GET",
            ),
            (
                "DELETE /nope HTTP/1.1\r\nhost: t\r\n\r\n",
                "405",
                "only GET",
            ),
        ] {
            let response = exchange(address, request).await;
            assert!(
                response.starts_with(&format!("HTTP/1.1 {status} ")),
                "{response}"
            );
            assert!(response.contains(body), "{response}");
        }
        stop.cancel();
    }

    #[tokio::test]
    async fn unhealthy_is_503() {
        let (address, stop) = serve(HealthAnswer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: Bytes::from_static(b"{}"),
        })
        .await;
        let response = exchange(address, "GET /health HTTP/1.1\r\nhost: t\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
        stop.cancel();
    }

    #[tokio::test]
    async fn silent_clients_are_cut_and_free_their_slot() {
        let (address, stop) = serve(healthy()).await;
        // Both slots taken by clients that never send a request...
        let mut silent = Vec::new();
        for _ in 0..2 {
            silent.push(TcpStream::connect(address).await.unwrap());
        }
        // ...are closed at their deadline, and the next client is served.
        for stream in &mut silent {
            let mut rest = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest));
            assert!(read.await.is_ok(), "a silent connection was not cut");
        }
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            exchange(address, "GET /health HTTP/1.1\r\nhost: t\r\n\r\n"),
        )
        .await
        .unwrap();
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
        stop.cancel();
    }
}
