//! The server stops mid-stream and starts again on the same data (embedded
//! backend + the server's catalog file) and the same port: the transport
//! reconnects, and every acknowledged event is consumed.

mod common;

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use rustok_iggy::{Transport, TransportConfig};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
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
        request_timeout_ms = 2000
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
