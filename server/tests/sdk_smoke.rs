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

/// Typed headers (values and keys of every kind) and origin timestamps come
/// back as the SDK sent them, from the embedded log and after a restart;
/// the core still reads the values as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_kinds_and_origin_timestamps_survive_the_log() {
    use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};

    let dir = tempfile::tempdir().unwrap();
    let open = || async {
        // Synced per append, so the backend's readers see a send at once.
        let config = EmbeddedConfig::new(dir.path()).fsync(FsyncPolicy::Always);
        let backend = EmbeddedBackend::open(config).await.unwrap();
        let backend: Arc<dyn Backend> = Arc::new(backend);
        let server = rustok_iggy_server::Server::builder(backend.clone())
            .bind("127.0.0.1:0".parse().unwrap())
            .catalog_path(dir.path().join("catalog.json"))
            .shutdown_backend(true)
            .start()
            .await
            .unwrap();
        (backend, server)
    };
    let headers: std::collections::BTreeMap<HeaderKey, HeaderValue> = [
        (HeaderKey::try_from("u64").unwrap(), HeaderValue::from(7u64)),
        (
            HeaderKey::try_from("i32").unwrap(),
            HeaderValue::from(-3i32),
        ),
        (
            HeaderKey::try_from("f64").unwrap(),
            HeaderValue::from(0.1f64),
        ),
        (HeaderKey::try_from("ok").unwrap(), HeaderValue::from(true)),
        (
            HeaderKey::try_from("raw").unwrap(),
            HeaderValue::try_from(b"text-like bytes".as_slice()).unwrap(),
        ),
        (
            HeaderKey::try_from("s").unwrap(),
            HeaderValue::try_from("plain").unwrap(),
        ),
        (HeaderKey::from(42u32), HeaderValue::from(1u8)),
        // The name serve keeps its own metadata under: a client may use it
        // too, as on Apache Iggy.
        (
            HeaderKey::try_from("iggy.meta").unwrap(),
            HeaderValue::try_from("the client's").unwrap(),
        ),
    ]
    .into();
    let origins = [1_600_000_000_000_001u64, 1_600_000_000_000_900];
    let mut messages: Vec<IggyMessage> = origins
        .iter()
        .map(|&origin| {
            let mut m = IggyMessage::builder()
                .payload("typed".into())
                .user_headers(headers.clone())
                .build()
                .unwrap();
            m.header.origin_timestamp = origin;
            m
        })
        .collect();

    let (backend, server) = open().await;
    let client = common::client(server.local_addr()).await;
    let (stream, topic) = common::create_orders(&client, "app").await;
    client
        .send_messages(
            &stream,
            &topic,
            &Partitioning::partition_id(0),
            &mut messages,
        )
        .await
        .unwrap();
    let stored = backend
        .poll(rustok_iggy::PollRequest {
            topic: TopicRef::new("app", "orders"),
            partition: 0,
            from: rustok_iggy::PollFrom::Offset(0),
            max_records: 10,
            max_wait: std::time::Duration::ZERO,
        })
        .await
        .unwrap();
    assert_eq!(stored[0].message.headers.get_str("u64").unwrap(), Some("7"));
    assert_eq!(stored[0].message.headers.get_str("42").unwrap(), Some("1"));
    assert_eq!(
        stored[0]
            .message
            .headers
            .get_str("0x696767792e6d657461")
            .unwrap(),
        Some("the client's")
    );
    drop((client, backend));
    server.shutdown().await.unwrap();

    let (_backend, server) = open().await;
    let client = common::client(server.local_addr()).await;
    let polled = client
        .poll_messages(
            &stream,
            &topic,
            Some(0),
            &Consumer::new(Identifier::named("reader").unwrap()),
            &PollingStrategy::offset(0),
            10,
            false,
        )
        .await
        .unwrap();
    assert_eq!(polled.messages.len(), 2);
    for (message, origin) in polled.messages.iter().zip(origins) {
        assert_eq!(message.user_headers_map().unwrap().unwrap(), headers);
        assert_eq!(message.header.origin_timestamp, origin);
        assert!(message.header.timestamp > origin, "the append time");
    }
    server.shutdown().await.unwrap();
}
