//! The official SDK administering topics through the server, on the
//! embedded log with a catalog file: purging, renaming, changing a topic's
//! expiry, size and compression, deleting partitions and segments, with
//! Apache Iggy's status codes, and what survives a restart.

mod common;

use std::{str::FromStr, sync::Arc};

use iggy::prelude::*;
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use rustok_iggy_server::{RunningServer, Server};

fn name(s: &str) -> Identifier {
    Identifier::named(s).unwrap()
}

/// A server on the embedded log in `dir`, segments of `segment_bytes`.
async fn start(dir: &std::path::Path, segment_bytes: u64) -> RunningServer {
    let config = EmbeddedConfig {
        segment_bytes,
        ..EmbeddedConfig::new(dir.join("data")).fsync(FsyncPolicy::Always)
    };
    let backend = EmbeddedBackend::open(config).await.unwrap();
    Server::builder(Arc::new(backend))
        .bind("127.0.0.1:0".parse().unwrap())
        .catalog_path(dir.join("catalog.json"))
        .shutdown_backend(true)
        .start()
        .await
        .unwrap()
}

async fn topic(client: &IggyClient, stream: &str, topic: &str, partitions: u32) {
    let options = TopicCreateOptions {
        partitions_count: Some(partitions),
        ..Default::default()
    };
    client
        .create_topic(&name(stream), topic, &options)
        .await
        .unwrap();
}

async fn send(client: &IggyClient, stream: &str, topic: &str, partition: u32, payloads: &[&str]) {
    let mut messages: Vec<IggyMessage> = payloads
        .iter()
        .map(|p| IggyMessage::from_str(p).unwrap())
        .collect();
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

/// `(offset, payload)` of what partition `partition` holds from offset 0.
async fn read(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    partition: u32,
) -> Vec<(u64, String)> {
    client
        .poll_messages(
            &name(stream),
            &name(topic),
            Some(partition),
            &Consumer::new(name("reader")),
            &PollingStrategy::offset(0),
            1_000,
            false,
        )
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| {
            (
                m.header.offset,
                String::from_utf8_lossy(&m.payload).into_owned(),
            )
        })
        .collect()
}

async fn details(client: &IggyClient, stream: &str, topic: &str) -> Option<TopicDetails> {
    client.get_topic(&name(stream), &name(topic)).await.unwrap()
}

fn code<T: std::fmt::Debug>(result: Result<T, IggyError>) -> u32 {
    result.expect_err("the server refused it").as_code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_empty_partitions_restart_offsets_and_drop_group_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), 128 << 20).await;
    let client = common::client(server.local_addr()).await;
    client.create_stream("app").await.unwrap();
    topic(&client, "app", "orders", 2).await;
    topic(&client, "app", "audit", 1).await;
    send(&client, "app", "orders", 0, &["a", "b", "c"]).await;
    send(&client, "app", "orders", 1, &["d"]).await;
    send(&client, "app", "audit", 0, &["e"]).await;
    client
        .create_consumer_group(&name("app"), &name("orders"), "billing")
        .await
        .unwrap();
    client
        .join_consumer_group(&name("app"), &name("orders"), &name("billing"))
        .await
        .unwrap();
    let group = Consumer::group(name("billing"));
    client
        .store_consumer_offset(&group, &name("app"), &name("orders"), Some(0), 2)
        .await
        .unwrap();

    client
        .purge_topic(&name("app"), &name("orders"))
        .await
        .unwrap();
    let orders = details(&client, "app", "orders").await.unwrap();
    assert_eq!((orders.partitions_count, orders.messages_count), (2, 0));
    assert!(orders
        .partitions
        .iter()
        .all(|p| p.messages_count == 0 && p.current_offset == 0));
    let offset = client
        .get_consumer_offset(&group, &name("app"), &name("orders"), Some(0))
        .await
        .unwrap();
    assert!(
        offset.is_none(),
        "the group's offset outlived the purge: {offset:?}"
    );
    assert_eq!(
        read(&client, "app", "audit", 0).await.len(),
        1,
        "another topic was purged"
    );
    send(&client, "app", "orders", 0, &["again"]).await;
    assert_eq!(
        read(&client, "app", "orders", 0).await,
        [(0, "again".to_owned())]
    );

    client.purge_stream(&name("app")).await.unwrap();
    let stream = client.get_stream(&name("app")).await.unwrap().unwrap();
    assert_eq!((stream.topics_count, stream.messages_count), (2, 0));
    assert!(read(&client, "app", "audit", 0).await.is_empty());

    let missing = IggyError::StreamIdNotFound(Identifier::default()).as_code();
    assert_eq!(code(client.purge_stream(&name("nope")).await), missing);
    let missing =
        IggyError::TopicIdNotFound(Identifier::default(), Identifier::default()).as_code();
    assert_eq!(
        code(client.purge_topic(&name("app"), &name("nope")).await),
        missing
    );
}

/// The offset standalone consumer 7 stored on `partition`, if any.
async fn stored(client: &IggyClient, topic: &str, partition: u32) -> Option<u64> {
    client
        .get_consumer_offset(
            &Consumer::new(Identifier::numeric(7).unwrap()),
            &name("app"),
            &name(topic),
            Some(partition),
        )
        .await
        .unwrap()
        .map(|o| o.stored_offset)
}

async fn store(client: &IggyClient, topic: &str, partition: u32, offset: u64) {
    client
        .store_consumer_offset(
            &Consumer::new(Identifier::numeric(7).unwrap()),
            &name("app"),
            &name(topic),
            Some(partition),
            offset,
        )
        .await
        .unwrap();
}

/// A standalone consumer's offsets go with a purge, deleted partitions and
/// a deleted topic, as Apache Iggy drops them (tried on it with the
/// official CLI): a consumer polling `next` afterwards reads the records
/// that arrive from the first, instead of skipping as many as it had
/// consumed before. The server remembers which consumers stored offsets
/// in its catalog, so this holds across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_consumer_offsets_go_with_purged_and_deleted_topics() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), 128 << 20).await;
    let client = common::client(server.local_addr()).await;
    client.create_stream("app").await.unwrap();
    topic(&client, "app", "orders", 2).await;
    send(&client, "app", "orders", 0, &["a", "b", "c", "d", "e"]).await;
    send(&client, "app", "orders", 1, &["f"]).await;
    store(&client, "orders", 0, 3).await;
    store(&client, "orders", 1, 0).await;
    drop(client);
    server.shutdown().await.unwrap();

    let server = start(dir.path(), 128 << 20).await;
    let client = common::client(server.local_addr()).await;
    assert_eq!(stored(&client, "orders", 0).await, Some(3));
    client
        .purge_topic(&name("app"), &name("orders"))
        .await
        .unwrap();
    assert_eq!(stored(&client, "orders", 0).await, None);
    assert_eq!(stored(&client, "orders", 1).await, None);
    send(&client, "app", "orders", 0, &["g", "h", "i", "j", "k"]).await;
    let next = client
        .poll_messages(
            &name("app"),
            &name("orders"),
            Some(0),
            &Consumer::new(Identifier::numeric(7).unwrap()),
            &PollingStrategy::next(),
            10,
            true,
        )
        .await
        .unwrap();
    let offsets: Vec<u64> = next.messages.iter().map(|m| m.header.offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4], "polling next skipped records");

    send(&client, "app", "orders", 1, &["l"]).await;
    store(&client, "orders", 1, 0).await;
    client
        .delete_partitions(&name("app"), &name("orders"), 1)
        .await
        .unwrap();
    client
        .create_partitions(&name("app"), &name("orders"), 1)
        .await
        .unwrap();
    send(&client, "app", "orders", 1, &["m"]).await;
    assert_eq!(stored(&client, "orders", 1).await, None);
    assert_eq!(stored(&client, "orders", 0).await, Some(4));

    client
        .delete_topic(&name("app"), &name("orders"))
        .await
        .unwrap();
    topic(&client, "app", "orders", 2).await;
    send(&client, "app", "orders", 0, &["n"]).await;
    assert_eq!(stored(&client, "orders", 0).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_updates_rename_and_set_expiry_size_and_compression_durably() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), 1 << 20).await;
    let client = common::client(server.local_addr()).await;
    client.create_stream("app").await.unwrap();
    topic(&client, "app", "orders", 1).await;
    topic(&client, "app", "audit", 1).await;
    send(&client, "app", "orders", 0, &["kept"]).await;
    let fresh = details(&client, "app", "orders").await.unwrap();
    assert_eq!(
        (
            fresh.message_expiry,
            fresh.max_topic_size,
            fresh.compression_algorithm
        ),
        (
            IggyExpiry::NeverExpire,
            MaxTopicSize::Unlimited,
            CompressionAlgorithm::None
        )
    );

    let day = IggyExpiry::ExpireDuration(IggyDuration::from_str("1day").unwrap());
    let update = TopicUpdateOptions {
        compression_algorithm: Some(CompressionAlgorithm::Gzip),
        message_expiry: Some(day),
        max_topic_size: Some(MaxTopicSize::from(1u64 << 30)),
        ..Default::default()
    };
    client
        .update_topic(&name("app"), &name("orders"), "sales", &update)
        .await
        .unwrap();
    assert!(details(&client, "app", "orders").await.is_none());
    let sales = details(&client, "app", "sales").await.unwrap();
    assert_eq!(sales.id, fresh.id, "a rename keeps the id");
    assert_eq!(sales.message_expiry, day);
    assert_eq!(sales.max_topic_size, MaxTopicSize::from(1u64 << 30));
    assert_eq!(sales.compression_algorithm, CompressionAlgorithm::Gzip);
    assert_eq!(
        read(&client, "app", "sales", 0).await,
        [(0, "kept".to_owned())]
    );
    // A rename alone leaves the settings as they are.
    client
        .update_topic(
            &name("app"),
            &name("sales"),
            "sales",
            &TopicUpdateOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        details(&client, "app", "sales")
            .await
            .unwrap()
            .message_expiry,
        day
    );

    let taken = IggyError::TopicNameAlreadyExists(String::new(), Identifier::default()).as_code();
    let to_audit = client
        .update_topic(
            &name("app"),
            &name("sales"),
            "audit",
            &TopicUpdateOptions::default(),
        )
        .await;
    assert_eq!(code(to_audit), taken);
    let create_only = TopicUpdateOptions {
        raw: [("segment_size".to_owned(), "1GiB".to_owned())].into(),
        ..Default::default()
    };
    let refused = client
        .update_topic(&name("app"), &name("sales"), "sales", &create_only)
        .await;
    assert_eq!(
        code(refused),
        IggyError::UnsupportedOptionKey(String::new()).as_code()
    );
    let tiny = TopicUpdateOptions {
        max_topic_size: Some(MaxTopicSize::from(4096u64)),
        ..Default::default()
    };
    let refused = client
        .update_topic(&name("app"), &name("sales"), "sales", &tiny)
        .await;
    assert_eq!(
        refused.unwrap_err().as_code(),
        1019,
        "InvalidTopicSize: below one segment"
    );

    // The old name is free for a new topic, stored apart from the renamed one.
    topic(&client, "app", "orders", 1).await;
    assert!(read(&client, "app", "orders", 0).await.is_empty());
    send(&client, "app", "orders", 0, &["new"]).await;
    drop(client);
    server.shutdown().await.unwrap();

    let server = start(dir.path(), 1 << 20).await;
    let client = common::client(server.local_addr()).await;
    let sales = details(&client, "app", "sales").await.unwrap();
    assert_eq!((sales.id, sales.message_expiry), (fresh.id, day));
    assert_eq!(sales.compression_algorithm, CompressionAlgorithm::Gzip);
    assert_eq!(
        read(&client, "app", "sales", 0).await,
        [(0, "kept".to_owned())]
    );
    assert_eq!(
        read(&client, "app", "orders", 0).await,
        [(0, "new".to_owned())]
    );
    let names: Vec<String> = client
        .get_topics(&name("app"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["sales", "audit", "orders"], "by id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_updates_rename_it_durably() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), 128 << 20).await;
    let client = common::client(server.local_addr()).await;
    client.create_stream("app").await.unwrap();
    client.create_stream("other").await.unwrap();
    topic(&client, "app", "orders", 1).await;
    send(&client, "app", "orders", 0, &["kept"]).await;

    let taken = IggyError::StreamNameAlreadyExists(String::new()).as_code();
    let to_other = client
        .update_stream(&name("app"), "other", &StreamUpdateOptions::default())
        .await;
    assert_eq!(code(to_other), taken);
    let with_option = StreamUpdateOptions {
        raw: [("anything".to_owned(), "x".to_owned())].into(),
    };
    let refused = client
        .update_stream(&name("app"), "shop", &with_option)
        .await;
    assert_eq!(
        code(refused),
        IggyError::UnsupportedOptionKey(String::new()).as_code()
    );
    client
        .update_stream(&name("app"), "app", &StreamUpdateOptions::default())
        .await
        .unwrap();
    client
        .update_stream(&name("app"), "shop", &StreamUpdateOptions::default())
        .await
        .unwrap();
    assert!(client.get_stream(&name("app")).await.unwrap().is_none());
    assert_eq!(
        read(&client, "shop", "orders", 0).await,
        [(0, "kept".to_owned())]
    );
    // A new stream under the old name is a stream of its own.
    client.create_stream("app").await.unwrap();
    assert_eq!(
        client
            .get_stream(&name("app"))
            .await
            .unwrap()
            .unwrap()
            .topics_count,
        0
    );
    topic(&client, "app", "orders", 1).await;
    drop(client);
    server.shutdown().await.unwrap();

    let server = start(dir.path(), 128 << 20).await;
    let client = common::client(server.local_addr()).await;
    let names: Vec<(u32, String)> = client
        .get_streams()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    assert_eq!(
        names.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>(),
        ["shop", "other", "app"]
    );
    assert_eq!(
        read(&client, "shop", "orders", 0).await,
        [(0, "kept".to_owned())]
    );
    assert!(read(&client, "app", "orders", 0).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_and_segments_are_deleted_with_apache_iggys_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), 4096).await;
    let client = common::client(server.local_addr()).await;
    client.create_stream("app").await.unwrap();
    topic(&client, "app", "orders", 3).await;
    send(&client, "app", "orders", 2, &["gone"]).await;

    let too_many = IggyError::TooManyPartitions.as_code();
    let invalid = IggyError::InvalidPartitionsCount.as_code();
    let (app, orders) = (name("app"), name("orders"));
    let delete = |count| client.delete_partitions(&app, &orders, count);
    assert_eq!(code(delete(0).await), too_many);
    assert_eq!(code(delete(4).await), invalid);
    assert_eq!(
        code(delete(3).await),
        invalid,
        "a topic keeps one partition"
    );
    delete(1).await.unwrap();
    let orders = details(&client, "app", "orders").await.unwrap();
    assert_eq!((orders.partitions_count, orders.messages_count), (2, 0));

    let payload = "x".repeat(200);
    for _ in 0..100 {
        send(&client, "app", "orders", 0, &[payload.as_str()]).await;
    }
    let before = details(&client, "app", "orders").await.unwrap().partitions[0].clone();
    assert!(
        before.segments_count > 3,
        "{} segments",
        before.segments_count
    );
    client
        .delete_segments(&name("app"), &name("orders"), 0, 2)
        .await
        .unwrap();
    let after = details(&client, "app", "orders").await.unwrap().partitions[0].clone();
    assert_eq!(after.segments_count, before.segments_count - 2);
    assert!(after.messages_count < before.messages_count);
    assert_eq!(after.current_offset, 99);
    let first = read(&client, "app", "orders", 0).await[0].0;
    assert_eq!(
        first,
        100 - after.messages_count,
        "reads start after the deleted segments"
    );
    client
        .delete_segments(&name("app"), &name("orders"), 0, 0)
        .await
        .unwrap();
    client
        .delete_segments(&name("app"), &name("orders"), 0, 100_000)
        .await
        .unwrap();
    let last = details(&client, "app", "orders").await.unwrap().partitions[0].clone();
    assert_eq!(last.segments_count, 1, "only the active segment is left");
    let missing = client
        .delete_segments(&name("app"), &name("orders"), 7, 1)
        .await;
    assert_eq!(code(missing), 3007, "PartitionNotFound");
}
