//! The official SDK against the server: topology, send and poll.

mod common;

use std::{str::FromStr, sync::Arc};

use iggy::prelude::*;
use rustok_iggy::{Backend, TopicRef};
use rustok_iggy_testkit::MemoryBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_creates_topology_sends_and_polls() {
    let backend = Arc::new(MemoryBackend::new());
    let server = common::start(backend.clone()).await;
    let client = common::client(server.local_addr()).await;
    client.ping().await.unwrap();
    let me = client.get_me().await.unwrap();
    assert!(me.client_id > 0);

    let stream = client.create_stream("app").await.unwrap();
    assert_eq!(stream.id, 0);
    let topic = client
        .create_topic(
            &Identifier::named("app").unwrap(),
            "orders",
            &TopicCreateOptions {
                partitions_count: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(topic.partitions_count, 3);
    assert_eq!(
        backend
            .topic_info(&TopicRef::new("app", "orders"))
            .await
            .unwrap()
            .partitions,
        3
    );
    assert!(client
        .get_stream(&Identifier::named("missing").unwrap())
        .await
        .unwrap()
        .is_none());

    let mut messages = vec![
        IggyMessage::from_str("one").unwrap(),
        IggyMessage::builder()
            .id(42)
            .payload("two".into())
            .user_headers(
                [(
                    HeaderKey::try_from("codec").unwrap(),
                    HeaderValue::try_from("json").unwrap(),
                )]
                .into(),
            )
            .build()
            .unwrap(),
    ];
    client
        .send_messages(
            &Identifier::numeric(0).unwrap(),
            &Identifier::named("orders").unwrap(),
            &Partitioning::partition_id(1),
            &mut messages,
        )
        .await
        .unwrap();
    let stored = backend.records(&TopicRef::new("app", "orders"), 1).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].message.id, 42);
    assert_eq!(
        stored[1].message.headers.get_str("codec").unwrap(),
        Some("json")
    );

    let consumer = Consumer::new(Identifier::named("reader").unwrap());
    let polled = client
        .poll_messages(
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            Some(1),
            &consumer,
            &PollingStrategy::next(),
            10,
            true,
        )
        .await
        .unwrap();
    assert_eq!(polled.messages.len(), 2);
    assert_eq!(polled.messages[1].header.id, 42);
    assert_eq!(polled.messages[1].header.offset, 1);
    assert_eq!(polled.messages[0].payload.as_ref(), b"one");
    let headers = polled.messages[1].user_headers_map().unwrap().unwrap();
    assert_eq!(
        headers[&HeaderKey::try_from("codec").unwrap()]
            .as_str()
            .unwrap(),
        "json"
    );
    // Auto-commit stored the last offset: the next `next` poll is empty.
    let again = client
        .poll_messages(
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            Some(1),
            &consumer,
            &PollingStrategy::next(),
            10,
            true,
        )
        .await
        .unwrap();
    assert!(again.messages.is_empty());
    let offset = client
        .get_consumer_offset(
            &consumer,
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            Some(1),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(offset.stored_offset, 1);

    client.logout_user().await.unwrap();
    server.shutdown().await.unwrap();
}
