//! A `rustok_iggy_server::Server` on a free loopback port, and remote
//! plugins connected to it.
#![allow(dead_code)]

use std::{net::SocketAddr, sync::Arc};

use rustok_iggy::{Backend, DlqStore, OffsetStore};
use rustok_iggy_remote::{RemoteBackend, RemoteConfig, RemoteDlqStore, RemoteOffsetStore};
use rustok_iggy_server::{RunningServer, Server};
use rustok_iggy_testkit::{conformance::offsets::EnsuringTopics, MemoryBackend};

/// Starts a server over a fresh memory backend (default root user
/// `iggy`/`iggy`).
pub async fn server() -> RunningServer {
    Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap()
}

/// A config for the server at `addr`, reconnecting quickly.
pub fn config(addr: SocketAddr) -> RemoteConfig {
    let mut config = RemoteConfig::new(format!("iggy+tcp://iggy:iggy@{addr}"));
    config.reconnect_interval_ms = 100;
    config.send_backoff_ms = 50;
    config
}

/// A remote backend on a server of its own; the server is the guard.
pub async fn backend() -> (Arc<dyn Backend>, RunningServer) {
    let server = server().await;
    let backend = RemoteBackend::connect(config(server.local_addr()))
        .await
        .unwrap();
    (Arc::new(backend), server)
}

/// A remote DLQ store on a server of its own.
pub async fn dlq() -> (Arc<dyn DlqStore>, RunningServer) {
    let server = server().await;
    let store = RemoteDlqStore::new(config(server.local_addr())).unwrap();
    (Arc::new(store), server)
}

/// A remote offset store on a server of its own, creating each topic the
/// conformance suite commits to first: Iggy keeps offsets only for existing
/// partitions.
pub async fn offsets() -> (Arc<dyn OffsetStore>, RunningServer) {
    let server = server().await;
    let store = ensuring_topics(config(server.local_addr())).await;
    (store, server)
}

/// A remote offset store for `config` wrapped in the testkit's
/// [`EnsuringTopics`] over a remote backend on the same server.
pub async fn ensuring_topics(config: RemoteConfig) -> Arc<dyn OffsetStore> {
    let backend = RemoteBackend::connect(config.clone()).await.unwrap();
    let store = RemoteOffsetStore::new(config).unwrap();
    Arc::new(EnsuringTopics::new(Arc::new(store), Arc::new(backend)))
}

/// `RUSTOK_IGGY_TEST_URL`, or `None` after printing that the test skipped.
pub fn real_server_url(test: &str) -> Option<String> {
    match std::env::var("RUSTOK_IGGY_TEST_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("{test}: skipped (RUSTOK_IGGY_TEST_URL is not set)");
            None
        }
    }
}
