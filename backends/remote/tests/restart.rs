//! The server stops mid-stream and starts again on the same data (embedded
//! backend + the server's catalog file) and the same port: the transport
//! reconnects, and every acknowledged event is consumed.

mod common;

use std::{
    collections::HashSet,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use rustok_iggy::{handler_fn, EventEnvelope, HandlerError, Transport, TransportConfig};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use rustok_iggy_server::{RunningServer, Server};
use rustok_iggy_testkit::fixtures::{order_placed_envelope, tenant, OrderPlaced};
use uuid::Uuid;

type Seen = Arc<Mutex<HashSet<Uuid>>>;

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
    let seen: Seen = Arc::default();
    let subscription = {
        let seen = seen.clone();
        transport
            .subscribe(
                "billing",
                &["events"],
                handler_fn(move |event: EventEnvelope<OrderPlaced>| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().unwrap().insert(event.id);
                        Ok::<(), HandlerError>(())
                    }
                }),
            )
            .await
            .unwrap()
    };

    // A producer that publishes batches until told to stop, publishing a
    // batch again until it is acknowledged.
    let acknowledged: Seen = Arc::default();
    let stop = Arc::new(tokio::sync::Notify::new());
    let producer = {
        let (transport, acknowledged, stop) =
            (transport.clone(), acknowledged.clone(), stop.clone());
        tokio::spawn(async move {
            let mut failures = 0u32;
            for batch in 0u64.. {
                let events: Vec<_> = (0..10)
                    .map(|i| order_placed_envelope(tenant(u128::from(i % 7)), batch * 10 + i))
                    .collect();
                loop {
                    match transport.publish_batch(&events).await {
                        Ok(_) => break,
                        Err(e) => {
                            assert!(e.is_retryable(), "publish failed for good: {e}");
                            failures += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                acknowledged
                    .lock()
                    .unwrap()
                    .extend(events.iter().map(|e| e.id));
                tokio::select! {
                    _ = stop.notified() => return failures,
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
            failures
        })
    };

    // Let some events flow, stop the server, start it again on the same
    // data and port.
    while acknowledged.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown().await.unwrap();
    let before_restart = acknowledged.lock().unwrap().len();
    tokio::time::sleep(downtime).await;
    let server = start(dir.path(), addr).await;
    // Events acknowledged after the restart too.
    while acknowledged.lock().unwrap().len() < before_restart + 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.notify_one();
    let failures = producer.await.unwrap();
    eprintln!(
        "{} events acknowledged, {before_restart} before the restart, {failures} publishes retried by the test",
        acknowledged.lock().unwrap().len()
    );

    let expected = acknowledged.lock().unwrap().clone();
    while !expected.is_subset(&seen.lock().unwrap()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(subscription.shutdown().await.unwrap().is_clean());
    // The group's positions on the restarted server reach every partition's end.
    let topic = transport.topic("events");
    for p in 0..3 {
        let next = transport
            .backend()
            .partition_info(&topic, p)
            .await
            .unwrap()
            .next_offset;
        let committed = transport
            .offset_store()
            .load("billing", &topic, p)
            .await
            .unwrap();
        assert_eq!(committed.unwrap_or(0), next, "partition {p}");
    }
    transport.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
    failures
}
