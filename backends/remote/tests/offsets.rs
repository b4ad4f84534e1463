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
    // Iggy takes a position only within the partition's records.
    for (t, partition, records) in [(&topic, 0, 50), (&topic, 2, 10), (&other, 0, 10)] {
        let messages = (1..=records)
            .map(rustok_iggy_testkit::fixtures::test_message)
            .collect();
        backend.append(t, partition, messages).await.unwrap();
    }
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
    // Backwards, idempotent, up to the partition's end and not beyond.
    store.commit("billing", &topic, 0, 5).await.unwrap();
    store.commit("billing", &topic, 0, 5).await.unwrap();
    assert_eq!(store.load("billing", &topic, 0).await.unwrap(), Some(5));
    store.commit("billing", &topic, 0, 50).await.unwrap();
    assert_eq!(store.load("billing", &topic, 0).await.unwrap(), Some(50));
    let beyond = store.commit("billing", &topic, 0, 51).await.unwrap_err();
    assert_eq!(beyond.kind(), ErrorKind::InvalidInput, "{beyond}");
    assert!(store.capabilities().within_log);
    assert_eq!(store.load("billing", &topic, 0).await.unwrap(), Some(50));
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

/// An administrative write (a reset) joins the group only while it has no
/// live member: with one, it is refused as fenced and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_is_refused_while_the_group_has_live_members() {
    let (backend, _server) = common::backend().await;
    let topic = TopicRef::new("app", "orders");
    backend.ensure_topic(&topic, 1).await.unwrap();
    let messages = (1..=5)
        .map(rustok_iggy_testkit::fixtures::test_message)
        .collect();
    backend.append(&topic, 0, messages).await.unwrap();
    let store = backend.offset_store().unwrap();
    store.commit("billing", &topic, 0, 3).await.unwrap();
    let member = backend.join_group(&topic, "billing").await.unwrap();
    let refused = store.commit("billing", &topic, 0, 1).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Fenced, "{refused}");
    assert!(refused.to_string().contains("live member"), "{refused}");
    assert_eq!(store.load("billing", &topic, 0).await.unwrap(), Some(3));
    backend
        .leave_group(&topic, "billing", member)
        .await
        .unwrap();
    store.commit("billing", &topic, 0, 1).await.unwrap();
    assert_eq!(store.load("billing", &topic, 0).await.unwrap(), Some(1));
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
