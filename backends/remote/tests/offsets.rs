//! `RemoteOffsetStore` against the Iggy-protocol server: Iggy keeps the last
//! consumed offset, the core the next one.

mod common;

use std::sync::Arc;

use rustok_iggy::{Backend, ErrorKind, OffsetStore, TopicRef};
use rustok_iggy_remote::{RemoteBackend, RemoteOffsetStore};
use rustok_iggy_server::Server;
use rustok_iggy_testkit::{MemoryBackend, MemoryOffsetStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_load_back_and_are_stored_as_the_last_consumed_offset() {
    // The server keeps its offsets in a store this test can read.
    let core_offsets = Arc::new(MemoryOffsetStore::new());
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .offsets(core_offsets.clone())
        .start()
        .await
        .unwrap();
    let config = common::config(server.local_addr());
    let backend = RemoteBackend::connect(config.clone()).await.unwrap();
    let topic = TopicRef::new("app", "orders");
    let other = TopicRef::new("app", "refunds");
    backend.ensure_topic(&topic, 3).await.unwrap();
    backend.ensure_topic(&other, 1).await.unwrap();
    let store = RemoteOffsetStore::new(config).unwrap();
    assert_eq!(store.name(), "remote");
    assert!(store.capabilities().persistent);

    assert_eq!(store.load("billing", &topic, 0).await.unwrap(), None);
    store.commit("billing", &topic, 0, 42).await.unwrap();
    assert_eq!(store.load("billing", &topic, 0).await.unwrap(), Some(42));
    // The server stored the last consumed offset, 41, which the core side
    // of the server reads as next offset 42: both views agree.
    assert_eq!(
        core_offsets.load("billing", &topic, 0).await.unwrap(),
        Some(42)
    );
    // Backwards, idempotent, up to u64::MAX.
    store.commit("billing", &topic, 0, 5).await.unwrap();
    store.commit("billing", &topic, 0, 5).await.unwrap();
    assert_eq!(store.load("billing", &topic, 0).await.unwrap(), Some(5));
    store.commit("billing", &topic, 0, u64::MAX).await.unwrap();
    assert_eq!(
        store.load("billing", &topic, 0).await.unwrap(),
        Some(u64::MAX)
    );
    // Positions are independent per group, partition and topic.
    store.commit("billing", &topic, 2, 7).await.unwrap();
    store.commit("audit", &topic, 0, 3).await.unwrap();
    store.commit("billing", &other, 0, 9).await.unwrap();
    assert_eq!(store.load("billing", &topic, 2).await.unwrap(), Some(7));
    assert_eq!(store.load("billing", &topic, 1).await.unwrap(), None);
    assert_eq!(store.load("audit", &topic, 0).await.unwrap(), Some(3));
    assert_eq!(store.load("billing", &other, 0).await.unwrap(), Some(9));
    // Delete forgets one position; deleting an unknown one is fine.
    store.delete("billing", &topic, 2).await.unwrap();
    store.delete("billing", &topic, 1).await.unwrap();
    assert_eq!(store.load("billing", &topic, 2).await.unwrap(), None);
    assert_eq!(store.load("audit", &topic, 0).await.unwrap(), Some(3));
    // A committed 0 (nothing consumed) has no Iggy representation: deleted.
    store.commit("audit", &topic, 0, 0).await.unwrap();
    assert_eq!(store.load("audit", &topic, 0).await.unwrap(), None);
    // The backend hands out the same store.
    assert_eq!(backend.offset_store().unwrap().name(), "remote");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_need_an_existing_topic() {
    let server = common::server().await;
    let store = RemoteOffsetStore::new(common::config(server.local_addr())).unwrap();
    let missing = TopicRef::new("nowhere", "orders");
    assert_eq!(store.load("g", &missing, 0).await.unwrap(), None);
    store.delete("g", &missing, 0).await.unwrap();
    let err = store.commit("g", &missing, 0, 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}
