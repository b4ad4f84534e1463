//! Idempotent publish through the remote backend against `rustok-iggy
//! serve`'s server (in process, on loopback) over an embedded log with
//! `dedup_window`: the server drops a message whose id it stores, and the
//! backend reports the stored copy's offset, as the embedded log does
//! in process (the testkit's outbox scenarios, also run by the embedded
//! backend's `dedup` tests).
//!
//! The killed relay is this test binary, run again with the testkit's
//! `RELAY_CONFIG` set so that only [`relay_child`] does anything.

use std::{path::Path, sync::Arc};

use rustok_iggy::{Backend, TopicRef, Transport, TransportConfig};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig};
use rustok_iggy_remote::{RemoteBackend, RemoteConfig};
use rustok_iggy_server::{RunningServer, Server};
use rustok_iggy_testkit::outbox;

/// `rustok-iggy serve` over an embedded log in `dir` that deduplicates
/// against each partition's newest `window` records (fsync `interval`, the
/// default: polls see a record once it is fsynced).
async fn serve(dir: &Path, window: u64) -> RunningServer {
    let config = EmbeddedConfig {
        dedup_window: window,
        ..EmbeddedConfig::new(dir)
    };
    let backend = EmbeddedBackend::open(config).await.unwrap();
    Server::builder(Arc::new(backend))
        .bind("127.0.0.1:0".parse().unwrap())
        .shutdown_backend(true)
        .start()
        .await
        .unwrap()
}

/// A remote transport config on `server`, in stream `app`, 4 partitions.
fn config_toml(server: &RunningServer) -> String {
    format!(
        "backend = \"remote\"\nstream = \"app\"\n[routing]\npartitions = 4\n\
         [plugins.remote]\nurl = \"iggy+tcp://iggy:iggy@{}\"\nreconnect_interval_ms = 100\n",
        server.local_addr()
    )
}

async fn transport(toml: &str) -> Transport {
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    let config = TransportConfig::from_toml(toml).unwrap();
    Transport::from_config(&config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_again_returns_the_first_receipts_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), 1_000).await;
    let transport = transport(&config_toml(&server)).await;
    let first = outbox::publishing_again_returns_the_first_receipts(&transport).await;
    transport.shutdown().await.unwrap();

    // A new process (no partition end known yet) publishing again.
    let transport = self::transport(&config_toml(&server)).await;
    assert_eq!(
        transport.publish_batch(&outbox::batch(0)).await.unwrap(),
        first
    );
    transport.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_of_stored_messages_reports_each_copy_as_the_embedded_log_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir.path().join("served"), 1_000).await;
    let remote = RemoteBackend::connect(RemoteConfig::new(format!(
        "iggy+tcp://iggy:iggy@{}",
        server.local_addr()
    )))
    .await
    .unwrap();
    let topic = TopicRef::new("app", "acks");
    outbox::appending_again_reports_each_stored_copy(&remote, &topic).await;
    remote.shutdown().await.unwrap();
    server.shutdown().await.unwrap();

    let embedded = EmbeddedBackend::open(EmbeddedConfig {
        dedup_window: 1_000,
        ..EmbeddedConfig::new(dir.path().join("local"))
    })
    .await
    .unwrap();
    outbox::appending_again_reports_each_stored_copy(&embedded, &topic).await;
    embedded.shutdown().await.unwrap();
}

/// The copy of a dropped message further back than `dedup_lookback`: the
/// append fails naming the key, and reports no offset it did not find.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_beyond_the_lookback_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), 1_000).await;
    let mut config = RemoteConfig::new(format!("iggy+tcp://iggy:iggy@{}", server.local_addr()));
    config.dedup_lookback = 5;
    let remote = RemoteBackend::connect(config).await.unwrap();
    let topic = TopicRef::new("app", "far");
    remote.ensure_topic(&topic, 1).await.unwrap();
    let message = |n: u128| outbox::message(0xfa00 + n);
    remote
        .append(&topic, 0, (0..20).map(message).collect())
        .await
        .unwrap();
    // Id 15 is 4 records before the end: found.
    let near = remote.append(&topic, 0, vec![message(15)]).await.unwrap();
    assert_eq!(near.duplicates, [(0, 15)]);
    // Id 2 is 17 records before: beyond 5.
    let err = remote
        .append(&topic, 0, vec![message(2)])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), rustok_iggy::ErrorKind::Backend, "{err}");
    assert_eq!(err.context("key"), Some("plugins.remote.dedup_lookback"));
    assert!(err.to_string().contains("dedup_lookback"), "{err}");
    // Nothing was stored twice, and the next append goes on.
    let next = remote.append(&topic, 0, vec![message(20)]).await.unwrap();
    assert_eq!((next.first_offset, next.count), (20, 1));
    remote.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

/// The relay: publishes batch after batch until killed. Does nothing in a
/// normal test run.
#[test]
fn relay_child() {
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    outbox::relay_child();
}

/// A relay killed mid-batch, then run again from its first batch (it never
/// saw which were stored): each event is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_batch_and_run_again_stores_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), 100_000).await;
    let toml = config_toml(&server);
    outbox::kill_relay_mid_batch("relay_child", &toml);
    let transport = transport(&toml).await;
    outbox::republishing_everything_stores_each_event_once(&transport).await;
    transport.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}
