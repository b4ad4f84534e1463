//! A `rustok_iggy_server::Server` on a free loopback port, and remote
//! plugins connected to it over plain TCP, TLS or QUIC.
#![allow(dead_code)]

use std::{net::SocketAddr, path::Path, sync::Arc};

use rustok_iggy::{Backend, DlqStore, OffsetStore};
use rustok_iggy_remote::{dlq_store, RemoteBackend, RemoteConfig, RemoteOffsetStore};
use rustok_iggy_server::{
    test_support::{self, TestPki},
    RunningServer, Server,
};
use rustok_iggy_testkit::{conformance::offsets::EnsuringTopics, MemoryBackend};

/// How the remote plugins reach the test server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `iggy+tcp://`, no TLS.
    Tcp,
    /// `iggy+tcp://` with `tls = true`, the test CA as `tls_ca_file`,
    /// `tls_domain = "localhost"`, validation on (the default).
    Tls,
    /// `iggy+quic://` with `tls_domain = "localhost"`, validation on (the
    /// default) against the platform trust store, which `SSL_CERT_FILE`
    /// points at the test CA in a child process only (see
    /// [`run_trusting_in_child`]).
    Quic,
}

/// This test binary's certificates: a CA and a server certificate for
/// `localhost`/`127.0.0.1`, made once per process under the target
/// directory (in a child of [`run_trusting_in_child`], the parent's).
pub fn pki() -> &'static TestPki {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(concat!(env!("CARGO_CRATE_NAME"), "-pki"));
    test_support::process_pki(&dir).unwrap()
}

/// Runs this binary's `#[ignore]`d tests matching `filter` in a child process
/// whose platform trust store is [`pki`]'s CA (the SDK's QUIC client reads
/// it from `SSL_CERT_FILE` and has no CA-file option); how many passed.
pub fn run_trusting_in_child(filter: &str) -> Result<usize, test_support::TestPkiError> {
    test_support::run_trusting_in_child(filter, pki())
}

/// Starts a server over a fresh memory backend (default root user
/// `iggy`/`iggy`).
pub async fn server() -> RunningServer {
    server_over(Wire::Tcp).await
}

/// Starts a server over a fresh memory backend that serves `wire`: TLS on
/// the TCP listener for `Tls`, a QUIC listener (and TLS) for `Quic`.
pub async fn server_over(wire: Wire) -> RunningServer {
    let mut builder =
        Server::builder(Arc::new(MemoryBackend::new())).bind("127.0.0.1:0".parse().unwrap());
    if wire != Wire::Tcp {
        builder = builder.tls(pki().tls_config());
    }
    if wire == Wire::Quic {
        builder = builder.quic("127.0.0.1:0".parse().unwrap());
    }
    builder.start().await.unwrap()
}

/// A config for the server at `addr`, reconnecting quickly.
pub fn config(addr: SocketAddr) -> RemoteConfig {
    let mut config = RemoteConfig::new(format!("iggy+tcp://iggy:iggy@{addr}"));
    config.reconnect_interval_ms = 100;
    config.send_backoff_ms = 50;
    config
}

/// A config reaching `server` over `wire` (see [`Wire`]), reconnecting
/// quickly.
pub fn config_over(wire: Wire, server: &RunningServer) -> RemoteConfig {
    match wire {
        Wire::Tcp => config(server.local_addr()),
        Wire::Tls => {
            let mut config = config(server.local_addr());
            config.tls = true;
            config.tls_ca_file = Some(pki().ca_file.display().to_string());
            config.tls_domain = Some("localhost".to_owned());
            config
        }
        Wire::Quic => {
            let addr = server.quic_addr().unwrap();
            let mut config = config(addr);
            config.url = format!("iggy+quic://iggy:iggy@{addr}");
            config.tls_domain = Some("localhost".to_owned());
            config
        }
    }
}

/// A remote backend on a server of its own; the server is the guard.
pub async fn backend() -> (Arc<dyn Backend>, RunningServer) {
    backend_over(Wire::Tcp).await
}

/// [`backend`] over `wire`.
pub async fn backend_over(wire: Wire) -> (Arc<dyn Backend>, RunningServer) {
    let server = server_over(wire).await;
    let backend = RemoteBackend::connect(config_over(wire, &server))
        .await
        .unwrap();
    (Arc::new(backend), server)
}

/// A remote DLQ store on a server of its own.
pub async fn dlq() -> (Arc<dyn DlqStore>, RunningServer) {
    dlq_over(Wire::Tcp).await
}

/// [`dlq`] over `wire`.
pub async fn dlq_over(wire: Wire) -> (Arc<dyn DlqStore>, RunningServer) {
    let server = server_over(wire).await;
    let store = dlq_store(config_over(wire, &server)).unwrap();
    (Arc::new(store), server)
}

/// A remote offset store on a server of its own, creating each topic the
/// conformance suite commits to first: Iggy keeps offsets only for existing
/// partitions.
pub async fn offsets() -> (Arc<dyn OffsetStore>, RunningServer) {
    offsets_over(Wire::Tcp).await
}

/// [`offsets`] over `wire`.
pub async fn offsets_over(wire: Wire) -> (Arc<dyn OffsetStore>, RunningServer) {
    let server = server_over(wire).await;
    let store = ensuring_topics(config_over(wire, &server)).await;
    (store, server)
}

/// A remote offset store for `config` wrapped in the testkit's
/// [`EnsuringTopics`] over a remote backend on the same server.
pub async fn ensuring_topics(config: RemoteConfig) -> Arc<dyn OffsetStore> {
    let backend = RemoteBackend::connect(config.clone()).await.unwrap();
    let store = RemoteOffsetStore::new(config).unwrap();
    Arc::new(EnsuringTopics::new(Arc::new(store), Arc::new(backend)))
}

/// `RUSTOK_IGGY_TEST_URL`, the real Apache Iggy server the `#[ignore]`d
/// real-server tests run against.
///
/// # Panics
///
/// When it is not set: such a test must fail, not pass, without its server.
pub fn real_server_url() -> String {
    match std::env::var("RUSTOK_IGGY_TEST_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("RUSTOK_IGGY_TEST_URL is not set: run scripts/real-iggy.sh"),
    }
}

/// `RUSTOK_IGGY_TEST_DEDUP_URL`, a real Apache Iggy server started with
/// message deduplication on (`IGGY_SYSTEM_MESSAGE_DEDUPLICATION_ENABLED`),
/// which the `#[ignore]`d deduplication tests run against.
///
/// # Panics
///
/// When it is not set: such a test must fail, not pass, without its server.
pub fn real_dedup_server_url() -> String {
    match std::env::var("RUSTOK_IGGY_TEST_DEDUP_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "RUSTOK_IGGY_TEST_DEDUP_URL is not set: run scripts/real-iggy.sh (it starts a second server with message deduplication)"
        ),
    }
}
