//! The official SDK changing topology through the server: create partitions,
//! delete topics, delete streams that still have topics.

mod common;

use std::{str::FromStr, sync::Arc};

use iggy::prelude::*;
use iggy_binary_protocol::MAX_PARTITIONS_PER_REQUEST;
use rustok_iggy::{Backend, ErrorKind, TopicRef};
use rustok_iggy_server::Server;
use rustok_iggy_testkit::MemoryBackend;

fn name(s: &str) -> Identifier {
    Identifier::named(s).unwrap()
}

/// The code `CreatePartitions` of `count` to `app`/`topic` is refused with.
async fn add(client: &IggyClient, topic: &str, count: u32) -> u32 {
    client
        .create_partitions(&name("app"), &name(topic), count)
        .await
        .expect_err("the server refused it")
        .as_code()
}

async fn topic(client: &IggyClient, stream: &str, topic: &str, partitions: u32) -> TopicDetails {
    client
        .create_topic(
            &name(stream),
            topic,
            &TopicCreateOptions {
                partitions_count: Some(partitions),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

async fn send(client: &IggyClient, stream: &str, topic: &str, partition: u32, payload: &str) {
    let mut messages = vec![IggyMessage::from_str(payload).unwrap()];
    client
        .send_messages(
            &name(stream),
            &name(topic),
            &Partitioning::partition_id(partition),
            &mut messages,
        )
        .await
        .unwrap();
}

async fn poll(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    partition: u32,
) -> Result<PolledMessages, IggyError> {
    client
        .poll_messages(
            &name(stream),
            &name(topic),
            Some(partition),
            &Consumer::new(name("reader")),
            &PollingStrategy::offset(0),
            10,
            false,
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_creates_partitions_and_uses_the_new_ones() {
    let backend = Arc::new(MemoryBackend::new());
    let server = common::start(backend.clone()).await;
    let client = common::client(server.local_addr()).await;
    client.create_stream("app").await.unwrap();
    topic(&client, "app", "orders", 2).await;
    send(&client, "app", "orders", 1, "before").await;

    client
        .create_partitions(&name("app"), &name("orders"), 2)
        .await
        .unwrap();
    let details = client
        .get_topic(&name("app"), &name("orders"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(details.partitions_count, 4);
    assert_eq!(
        details.partitions.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    let orders = TopicRef::new("app", "orders");
    assert_eq!(backend.topic_info(&orders).await.unwrap().partitions, 4);

    send(&client, "app", "orders", 3, "on the new partition").await;
    let polled = poll(&client, "app", "orders", 3).await.unwrap();
    assert_eq!(polled.messages.len(), 1);
    assert_eq!(polled.messages[0].header.offset, 0);
    assert_eq!(polled.messages[0].payload.as_ref(), b"on the new partition");
    let old = poll(&client, "app", "orders", 1).await.unwrap();
    assert_eq!(old.messages.len(), 1);
    assert_eq!(old.messages[0].payload.as_ref(), b"before");

    // Beyond the limits: refused with Apache Iggy's codes, nothing changes.
    // None, or more than one request may add, before the topic is looked up.
    let too_many = IggyError::TooManyPartitions.as_code();
    assert_eq!(add(&client, "orders", 0).await, too_many);
    assert_eq!(add(&client, "missing", 0).await, too_many);
    assert_eq!(
        add(&client, "orders", MAX_PARTITIONS_PER_REQUEST + 1).await,
        too_many
    );
    // Within one request, but more than a topic may have in all.
    assert_eq!(
        add(&client, "orders", rustok_iggy::MAX_PARTITIONS).await,
        IggyError::InvalidPartitionsCount.as_code()
    );
    assert_eq!(backend.topic_info(&orders).await.unwrap().partitions, 4);
    let create = |partitions| {
        let options = TopicCreateOptions {
            partitions_count: Some(partitions),
            ..Default::default()
        };
        let client = &client;
        async move { client.create_topic(&name("app"), "wide", &options).await }
    };
    let refused = |result: Result<TopicDetails, IggyError>| result.unwrap_err().as_code();
    assert_eq!(
        refused(create(MAX_PARTITIONS_PER_REQUEST + 1).await),
        too_many
    );
    // Apache Iggy creates a topic without partitions; a core topic has one.
    assert_eq!(
        refused(create(0).await),
        IggyError::InvalidPartitionsCount.as_code()
    );
    // Unknown topic.
    assert!(client
        .create_partitions(&name("app"), &name("missing"), 1)
        .await
        .is_err());
    // Deleting the last one, on the memory backend too (server/tests/admin.rs
    // covers the embedded log and the status codes).
    client
        .delete_partitions(&name("app"), &name("orders"), 1)
        .await
        .unwrap();
    assert_eq!(backend.topic_info(&orders).await.unwrap().partitions, 3);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_deletes_a_topic() {
    let backend = Arc::new(MemoryBackend::new());
    let server = common::start(backend.clone()).await;
    let client = common::client(server.local_addr()).await;
    client.create_stream("app").await.unwrap();
    let orders = topic(&client, "app", "orders", 2).await;
    let kept = topic(&client, "app", "kept", 1).await;
    send(&client, "app", "orders", 0, "gone").await;
    send(&client, "app", "kept", 0, "stays").await;

    client
        .delete_topic(&name("app"), &name("orders"))
        .await
        .unwrap();
    assert!(client
        .get_topic(&name("app"), &name("orders"))
        .await
        .unwrap()
        .is_none());
    assert!(client
        .get_topic(&name("app"), &Identifier::numeric(orders.id).unwrap())
        .await
        .unwrap()
        .is_none());
    assert!(poll(&client, "app", "orders", 0).await.is_err());
    assert_eq!(
        backend
            .topic_info(&TopicRef::new("app", "orders"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let stream = client.get_stream(&name("app")).await.unwrap().unwrap();
    assert_eq!(stream.topics_count, 1);
    assert_eq!(stream.topics[0].id, kept.id);
    assert_eq!(
        poll(&client, "app", "kept", 0).await.unwrap().messages[0]
            .payload
            .as_ref(),
        b"stays"
    );
    // Deleting it again: not found.
    assert!(client
        .delete_topic(&name("app"), &name("orders"))
        .await
        .is_err());

    // Created again: a new id (ids are never reused) and no old records.
    let again = topic(&client, "app", "orders", 1).await;
    assert_ne!(again.id, orders.id);
    assert!(poll(&client, "app", "orders", 0)
        .await
        .unwrap()
        .messages
        .is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_deletes_a_stream_with_its_topics() {
    let backend = Arc::new(MemoryBackend::new());
    let server = common::start(backend.clone()).await;
    let client = common::client(server.local_addr()).await;
    client.create_stream("app").await.unwrap();
    client.create_stream("other").await.unwrap();
    topic(&client, "app", "orders", 2).await;
    topic(&client, "app", "refunds", 1).await;
    topic(&client, "other", "audit", 1).await;
    send(&client, "app", "orders", 1, "x").await;

    client.delete_stream(&name("app")).await.unwrap();
    assert!(client.get_stream(&name("app")).await.unwrap().is_none());
    assert!(backend.list_topics("app").await.unwrap().is_empty());
    assert!(poll(&client, "app", "orders", 1).await.is_err());
    let streams = client.get_streams().await.unwrap();
    assert_eq!(
        streams.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["other"]
    );
    assert_eq!(
        backend.list_topics("other").await.unwrap().len(),
        1,
        "other streams keep their topics"
    );

    // The name can be used again, empty.
    client.create_stream("app").await.unwrap();
    let stream = client.get_stream(&name("app")).await.unwrap().unwrap();
    assert_eq!(stream.topics_count, 0);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topic_stays_out_of_the_persisted_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let start = || {
        Server::builder(backend.clone())
            .bind("127.0.0.1:0".parse().unwrap())
            .catalog_path(dir.path().join("catalog.json"))
            .start()
    };
    let orders_id = {
        let server = start().await.unwrap();
        let client = common::client(server.local_addr()).await;
        client.create_stream("app").await.unwrap();
        let orders = topic(&client, "app", "orders", 1).await;
        client
            .delete_topic(&name("app"), &name("orders"))
            .await
            .unwrap();
        server.shutdown().await.unwrap();
        orders.id
    };
    let server = start().await.unwrap();
    let client = common::client(server.local_addr()).await;
    assert!(client
        .get_topic(&name("app"), &Identifier::numeric(orders_id).unwrap())
        .await
        .unwrap()
        .is_none());
    let again = topic(&client, "app", "orders", 1).await;
    assert_ne!(again.id, orders_id, "a deleted topic's id is not reused");
    server.shutdown().await.unwrap();
}
