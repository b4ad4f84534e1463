//! End to end through `rustok_iggy::Transport` built from config
//! (`backend = "remote"`) against a `rustok_iggy_server::Server` started by
//! the test: publish, consume every event in a group, commit; over plain
//! TCP, TLS and QUIC.

mod common;

use std::{collections::HashSet, sync::Arc};

use common::Wire;

use rustok_iggy::{HealthStatus, PluginKind, Registry, Transport, TransportConfig};
use rustok_iggy_remote::{RemoteBackend, RemoteConfig};
use rustok_iggy_server::RunningServer;
use rustok_iggy_testkit::{
    fixtures::{order_placed_envelope, tenant},
    outage,
};
use uuid::Uuid;

/// A transport config whose `[plugins.remote]` section reaches `server`
/// over `wire` (the keys of [`common::config_over`], written as TOML).
fn config(wire: Wire, server: &RunningServer) -> TransportConfig {
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    let remote = common::config_over(wire, server);
    let mut section = format!(
        "url = {:?}\nreconnect_interval_ms = 100\ntls = {}\n",
        remote.url, remote.tls
    );
    if let Some(ca) = &remote.tls_ca_file {
        section.push_str(&format!("tls_ca_file = {ca:?}\n"));
    }
    if let Some(domain) = &remote.tls_domain {
        section.push_str(&format!("tls_domain = {domain:?}\n"));
    }
    TransportConfig::from_toml(&format!(
        r#"
        backend = "remote"
        stream = "app"
        [routing]
        partitions = 4
        [consumer]
        heartbeat_ms = 50
        poll_wait_ms = 20
        [plugins.remote]
        {section}
        "#
    ))
    .unwrap()
}

#[test]
fn the_remote_plugins_are_registered() {
    rustok_iggy_remote::link();
    let registry = Registry::from_inventory();
    for kind in [PluginKind::Backend, PluginKind::Offsets, PluginKind::Dlq] {
        assert!(registry.names(kind).contains(&"remote"), "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_handled_and_committed_through_a_transport_from_config() {
    handled_and_committed(Wire::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_handled_and_committed_over_tls() {
    handled_and_committed(Wire::Tls).await;
}

/// Over QUIC, the group's members are server-side members on QUIC
/// connections of their own (join, the raw sync request, leave).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SSL_CERT_FILE: run by the_quic_test_runs_in_a_child_trusting_the_test_ca"]
async fn every_event_is_handled_and_committed_over_quic() {
    handled_and_committed(Wire::Quic).await;
}

/// Publishes 300 events through a transport built from config over `wire`,
/// consumes them in the group `billing`, and checks every partition is
/// committed to its end on the server.
async fn handled_and_committed(wire: Wire) {
    let server = common::server_over(wire).await;
    let transport = Transport::from_config(&config(wire, &server))
        .await
        .unwrap();
    assert_eq!(transport.backend().name(), "remote");
    // The stores default to the backend's own.
    assert!(Arc::ptr_eq(
        transport.offset_store(),
        &transport.backend().offset_store().unwrap()
    ));
    assert_eq!(transport.dlq_store().name(), "remote");

    let (subscription, seen) = outage::record_handled(&transport, "billing", "events").await;
    let events: Vec<_> = (0..300)
        .map(|i| order_placed_envelope(tenant(i % 29), i as u64))
        .collect();
    for chunk in events.chunks(25) {
        transport.publish_batch(chunk).await.unwrap();
    }
    let expected: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    outage::wait_until_handled(&seen, &expected).await;
    assert_eq!(*seen.lock().unwrap(), expected);
    assert!(subscription.shutdown().await.unwrap().is_clean());

    // Every partition is committed up to its end, on the server.
    let topic = transport.topic("events");
    let backend = transport.backend();
    for p in 0..4 {
        let next = backend.partition_info(&topic, p).await.unwrap().next_offset;
        let committed = transport
            .offset_store()
            .load("billing", &topic, p)
            .await
            .unwrap();
        assert_eq!(committed.unwrap_or(0), next, "partition {p}");
    }
    let report = transport.health().await;
    assert!(
        !matches!(report.backend, HealthStatus::Unhealthy(_)),
        "{report:?}"
    );
    transport.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_connection_and_credentials_never_show() {
    let server = common::server().await;
    let mut config = common::config(server.local_addr());
    config.password = Some(rustok_iggy::config::Secret::new("iggy"));
    config.url = format!("iggy+tcp://iggy:iggy@{}", server.local_addr());
    config.request_timeout_ms = 2_000;
    config.reconnect_retries = Some(0);
    let backend = RemoteBackend::connect(config.clone()).await.unwrap();
    assert_eq!(
        rustok_iggy::Backend::health(&backend).await,
        HealthStatus::Healthy
    );
    let shown = format!("{backend:?} {config:?}");
    assert!(!shown.contains(":iggy@"), "{shown}");

    server.shutdown().await.unwrap();
    let health = rustok_iggy::Backend::health(&backend).await;
    assert!(matches!(health, HealthStatus::Unhealthy(_)), "{health:?}");
    rustok_iggy::Backend::shutdown(&backend).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_config_error_without_the_password() {
    let server = common::server().await;
    let config = RemoteConfig::new(format!(
        "iggy+tcp://iggy:not-the-password@{}",
        server.local_addr()
    ));
    let err = RemoteBackend::connect(config).await.unwrap_err();
    assert_eq!(err.kind(), rustok_iggy::ErrorKind::Config, "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("not-the-password"), "{shown}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_are_tried_in_order() {
    let server = common::server().await;
    // Nothing listens on the first address (a port just released).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = RemoteConfig::new(format!(
        "iggy+tcp://iggy:iggy@{dead},{}",
        server.local_addr()
    ));
    config.reconnect_retries = Some(0);
    config.connect_timeout_ms = 2_000;
    let backend = RemoteBackend::connect(config).await.unwrap();
    assert_eq!(
        rustok_iggy::Backend::health(&backend).await,
        HealthStatus::Healthy
    );
    rustok_iggy::Backend::shutdown(&backend).await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_count_mismatch_names_both_counts() {
    let (backend, _server) = common::backend().await;
    let topic = rustok_iggy::TopicRef::new("app", "orders");
    backend.ensure_topic(&topic, 3).await.unwrap();
    let err = backend.ensure_topic(&topic, 5).await.unwrap_err();
    assert_eq!(err.kind(), rustok_iggy::ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("has 3 partitions") && text.contains("asks for 5"),
        "{text}"
    );
}

/// The SDK's QUIC client trusts only the platform verifier (`SSL_CERT_FILE`):
/// the QUIC test runs in a child process whose environment names the test CA.
#[test]
fn the_quic_test_runs_in_a_child_trusting_the_test_ca() {
    let passed = common::run_trusting_in_child("over_quic").unwrap();
    assert_eq!(passed, 1);
}
