//! The server stops mid-stream and starts again on the same data (embedded
//! backend + the server's catalog file) and the same port: the transport
//! reconnects, and every acknowledged event is consumed.

mod common;

use std::{
    net::SocketAddr,
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use rustok_iggy::{Backend, TopicRef, Transport, TransportConfig};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use rustok_iggy_remote::RemoteBackend;
use rustok_iggy_server::{RunningServer, Server};
use rustok_iggy_testkit::{
    eventually,
    outage::{self, Producer},
};

async fn start(dir: &Path, addr: SocketAddr) -> RunningServer {
    // The port was just released by the previous server; binding it again
    // can take a moment on some systems.
    loop {
        let backend =
            EmbeddedBackend::open(EmbeddedConfig::new(dir.join("data")).fsync(FsyncPolicy::Always))
                .await
                .unwrap();
        match Server::builder(Arc::new(backend))
            .bind(addr)
            .catalog_path(dir.join("catalog.json"))
            .shutdown_backend(true)
            .start()
            .await
        {
            Ok(server) => return server,
            Err(e) => {
                eprintln!("binding {addr} again: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The SDK's sign-in after a reconnect is cut short when the request that
/// started it times out (here the address accepts the connection and never
/// answers the login). The SDK is left without a session and refuses every
/// later request itself; the backend must still get back to the server once
/// it answers again. The heartbeat is off: its ping would be another way
/// back, one a busy connection cannot count on (its pings succeed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_cut_short_by_a_timeout_does_not_wedge_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let addr = server.local_addr();
    let mut config = common::config(addr);
    config.reconnect_interval_ms = 50;
    config.request_timeout_ms = 500;
    config.heartbeat_interval_ms = 3_600_000;
    let backend = RemoteBackend::connect(config).await.unwrap();
    let topic = TopicRef::new("app", "events");
    backend.ensure_topic(&topic, 1).await.unwrap();

    // The server goes; in its place, one that takes connections and never
    // answers. The next request reconnects, signs in, and times out.
    server.shutdown().await.unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let silent = {
        let listener = loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        })
    };
    let refused = backend.partition_info(&topic, 0).await.unwrap_err();
    assert!(refused.is_retryable(), "{refused}");
    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "the SDK never dialled"
    );

    // The server is back on the same data and port.
    silent.abort();
    let _ = silent.await;
    let server = start(dir.path(), addr).await;
    eventually("a request succeeds after the server is back", || async {
        backend.partition_info(&topic, 0).await.is_ok()
    })
    .await;
    backend.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_stream_loses_no_acknowledged_event() {
    run(Duration::from_millis(300)).await;
}

/// Down longer than `request_timeout_ms` and the resends: publishes fail
/// with a retryable error meanwhile and the application publishes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_fails_publishes_retryably_and_loses_nothing() {
    let failures = run(Duration::from_millis(4_000)).await;
    assert!(failures > 0, "no publish failed during a 4 s outage");
}

/// Returns how many publishes failed (and were published again).
async fn run(downtime: Duration) -> u32 {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let addr = server.local_addr();
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    let config = TransportConfig::from_toml(&format!(
        r#"
        backend = "remote"
        stream = "app"
        [routing]
        partitions = 3
        [consumer]
        heartbeat_ms = 50
        poll_wait_ms = 20
        [plugins.remote]
        url = "iggy+tcp://iggy:iggy@{addr}"
        reconnect_interval_ms = 100
        reconnect_retries = 1000
        request_timeout_ms = 500
        send_backoff_ms = 50
        send_backoff_max_ms = 200
        send_retries = 3
        "#
    ))
    .unwrap();
    let transport = Arc::new(Transport::from_config(&config).await.unwrap());
    let (subscription, handled) = outage::record_handled(&transport, "billing", "events").await;
    let producer = Producer::spawn(transport.clone());

    // Let some events flow, stop the server, start it again on the same
    // data and port.
    eventually("100 events acknowledged", || async {
        producer.acknowledged() >= 100
    })
    .await;
    server.shutdown().await.unwrap();
    let before_restart = producer.acknowledged();
    tokio::time::sleep(downtime).await;
    let server = start(dir.path(), addr).await;
    // Events acknowledged after the restart too.
    eventually("100 more events acknowledged after the restart", || async {
        producer.acknowledged() >= before_restart + 100
    })
    .await;
    let (acknowledged, failures) = producer.stop().await;
    eprintln!(
        "{} events acknowledged, {before_restart} before the restart, {failures} publishes retried by the test",
        acknowledged.len()
    );

    outage::wait_until_handled(&handled, &acknowledged).await;
    assert!(subscription.shutdown().await.unwrap().is_clean());
    // The group's positions on the restarted server reach every partition's end.
    outage::assert_committed_to_end(&transport, "billing", "events", 3).await;
    transport.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
    failures
}
