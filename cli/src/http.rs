//! The HTTP side of `serve`: `GET /metrics` (Prometheus text format) and
//! `GET /health` (the transport's health report as JSON; 200 when healthy or
//! degraded, 503 when unhealthy), for scrapers and container probes.
//!
//! Deliberately tiny: one request per connection, `GET` only, bounded request
//! size and read time, so a probe endpoint cannot be used to exhaust the
//! process.

use std::{net::SocketAddr, time::Duration};

use metrics_exporter_prometheus::PrometheusHandle;
use rustok_iggy::{Error, ErrorKind, HealthStatus, Result, Transport};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

/// Largest request head read before answering 431.
const MAX_REQUEST: usize = 8 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

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
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let transport = transport.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &transport, &metrics).await {
                        tracing::debug!(error = %e, "HTTP request failed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(
    mut stream: TcpStream,
    transport: &Transport,
    metrics: &PrometheusHandle,
) -> std::io::Result<()> {
    let (status, content_type, body) = match read_request_line(&mut stream).await? {
        None => (
            431,
            "text/plain",
            "request too large or too slow\n".to_owned(),
        ),
        Some(line) => route(&line, transport, metrics).await,
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

async fn route(
    request_line: &str,
    transport: &Transport,
    metrics: &PrometheusHandle,
) -> (u16, &'static str, String) {
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return (405, "text/plain", "only GET is served\n".into());
    }
    match path {
        "/metrics" => (200, "text/plain; version=0.0.4", metrics.render()),
        "/health" => {
            let report = transport.health().await;
            let status = match report.status {
                HealthStatus::Unhealthy(_) => 503,
                _ => 200,
            };
            let body = serde_json::to_string(&report).unwrap_or_else(|_| "{}".into());
            (status, "application/json", body)
        }
        _ => (404, "text/plain", "try /metrics or /health\n".into()),
    }
}

/// The request line, once the whole head arrived; `None` if it is too large or
/// too slow (the caller answers 431 and closes).
async fn read_request_line(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(true);
            }
            if head.len() > MAX_REQUEST {
                return Ok(false);
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(false);
            }
            head.extend_from_slice(&chunk[..n]);
        }
    };
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) | Err(_) => return Ok(None),
        Ok(Err(e)) => return Err(e),
    }
    let text = String::from_utf8_lossy(&head);
    Ok(text.lines().next().map(str::to_owned))
}
