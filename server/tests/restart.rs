//! Restart on the same data: the embedded backend's data directory and the
//! server's catalog file. Messages, ids and committed offsets come back.

mod common;

use std::{str::FromStr, sync::Arc};

use iggy::prelude::*;
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use rustok_iggy_server::{RunningServer, Server};

async fn start(dir: &std::path::Path) -> RunningServer {
    let backend =
        EmbeddedBackend::open(EmbeddedConfig::new(dir.join("data")).fsync(FsyncPolicy::Always))
            .await
            .unwrap();
    Server::builder(Arc::new(backend))
        .bind("127.0.0.1:0".parse().unwrap())
        .catalog_path(dir.join("catalog.json"))
        .shutdown_backend(true)
        .start()
        .await
        .unwrap()
}

async fn poll(client: &IggyClient, strategy: PollingStrategy, count: u32) -> PolledMessages {
    // Auto-commit only for `next`: the other polls just look.
    let auto_commit = strategy.kind == PollingKind::Next;
    client
        .poll_messages(
            &Identifier::numeric(0).unwrap(),
            &Identifier::numeric(0).unwrap(),
            Some(1),
            &Consumer::new(Identifier::named("reader").unwrap()),
            &strategy,
            count,
            auto_commit,
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_ids_and_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();

    let server = start(dir.path()).await;
    let client = common::client(server.local_addr()).await;
    client.create_stream("app").await.unwrap();
    client
        .create_topic(
            &Identifier::named("app").unwrap(),
            "orders",
            &TopicCreateOptions {
                partitions_count: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut messages: Vec<IggyMessage> = (0..10)
        .map(|i| IggyMessage::from_str(&format!("message {i}")).unwrap())
        .collect();
    client
        .send_messages(
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            &Partitioning::partition_id(1),
            &mut messages,
        )
        .await
        .unwrap();
    let before = poll(&client, PollingStrategy::offset(0), 100).await;
    assert_eq!(before.messages.len(), 10);
    // `reader` consumes four with auto-commit: stored offset 3.
    assert_eq!(
        poll(&client, PollingStrategy::next(), 4)
            .await
            .messages
            .len(),
        4
    );
    // And a group's offset is stored explicitly, by a member (Iggy takes a
    // group's offset only from the member owning the partition).
    let (app, orders) = (
        Identifier::named("app").unwrap(),
        Identifier::named("orders").unwrap(),
    );
    client
        .create_consumer_group(&app, &orders, "billing")
        .await
        .unwrap();
    client
        .join_consumer_group(&app, &orders, &Identifier::named("billing").unwrap())
        .await
        .unwrap();
    client
        .store_consumer_offset(
            &Consumer::group(Identifier::named("billing").unwrap()),
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            Some(1),
            6,
        )
        .await
        .unwrap();
    client.disconnect().await.unwrap();
    server.shutdown().await.unwrap();

    let server = start(dir.path()).await;
    let client = common::client(server.local_addr()).await;
    // The numeric ids are the same.
    let stream = client
        .get_stream(&Identifier::numeric(0).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stream.name, "app");
    assert_eq!(stream.topics[0].name, "orders");
    assert_eq!(stream.topics[0].id, 0);
    assert_eq!(stream.messages_count, 10);
    // The same messages, ids and all.
    let after = poll(&client, PollingStrategy::offset(0), 100).await;
    assert_eq!(after.messages.len(), 10);
    for (a, b) in before.messages.iter().zip(&after.messages) {
        assert_eq!(a.header.id, b.header.id);
        assert_eq!(a.header.offset, b.header.offset);
        assert_eq!(a.payload, b.payload);
    }
    // The committed positions too.
    let offset = client
        .get_consumer_offset(
            &Consumer::new(Identifier::named("reader").unwrap()),
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            Some(1),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((offset.stored_offset, offset.current_offset), (3, 9));
    let rest = poll(&client, PollingStrategy::next(), 100).await;
    assert_eq!(
        rest.messages
            .iter()
            .map(|m| m.header.offset)
            .collect::<Vec<_>>(),
        (4..10).collect::<Vec<_>>()
    );
    let group = client
        .get_consumer_offset(
            &Consumer::group(Identifier::named("billing").unwrap()),
            &Identifier::numeric(0).unwrap(),
            &Identifier::numeric(0).unwrap(),
            Some(1),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.stored_offset, 6);
    client.disconnect().await.unwrap();
    server.shutdown().await.unwrap();
}

/// Without a catalog file, ids are derived from the backend: a server
/// restarted on the same backend hands out the same ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_catalog_file_ids_are_derived_from_the_backend() {
    use rustok_iggy::{Backend, TopicRef};
    let backend = Arc::new(rustok_iggy_testkit::MemoryBackend::new());
    for name in ["payments", "orders", "audit"] {
        backend
            .ensure_topic(&TopicRef::new("app", name), 1)
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..2 {
        let server = Server::builder(backend.clone())
            .bind("127.0.0.1:0".parse().unwrap())
            .stream("app")
            .start()
            .await
            .unwrap();
        let client = common::client(server.local_addr()).await;
        let streams = client.get_streams().await.unwrap();
        assert_eq!((streams[0].id, streams[0].name.as_str()), (0, "app"));
        let topics = client
            .get_topics(&Identifier::numeric(0).unwrap())
            .await
            .unwrap();
        seen.push(
            topics
                .iter()
                .map(|t| (t.id, t.name.clone()))
                .collect::<Vec<_>>(),
        );
        client.disconnect().await.unwrap();
        server.shutdown().await.unwrap();
    }
    assert_eq!(
        seen[0],
        vec![
            (0, "audit".to_owned()),
            (1, "orders".to_owned()),
            (2, "payments".to_owned())
        ]
    );
    assert_eq!(seen[0], seen[1]);
}
