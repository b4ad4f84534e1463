//! Consumer groups over the protocol: create, list, get (with members),
//! join, leave, delete; a connection's memberships end with it.

mod common;

use std::{str::FromStr, sync::Arc, time::Duration};

use iggy::prelude::*;
use rustok_iggy::{Backend, TopicRef};
use rustok_iggy_testkit::{eventually, MemoryBackend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_managed_and_left_when_a_connection_drops() {
    let backend = Arc::new(MemoryBackend::new());
    backend
        .ensure_topic(&TopicRef::new("app", "orders"), 2)
        .await
        .unwrap();
    let server = common::start(backend.clone()).await;
    let (stream, topic) = (
        Identifier::named("app").unwrap(),
        Identifier::named("orders").unwrap(),
    );
    let group = Identifier::named("billing").unwrap();

    let a = common::client(server.local_addr()).await;
    assert!(a
        .get_consumer_group(&stream, &topic, &group)
        .await
        .unwrap()
        .is_none());
    let created = a
        .create_consumer_group(&stream, &topic, "billing")
        .await
        .unwrap();
    assert_eq!((created.id, created.partitions_count), (0, 2));
    let error = a
        .create_consumer_group(&stream, &topic, "billing")
        .await
        .unwrap_err();
    // 5004: ConsumerGroupNameAlreadyExists.
    assert_eq!(error.as_code(), 5004, "{error}");
    a.create_consumer_group(&stream, &topic, "audit")
        .await
        .unwrap();
    let groups = a.get_consumer_groups(&stream, &topic).await.unwrap();
    assert_eq!(
        groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["billing", "audit"]
    );

    // Join: the backend sees the member, and so does `get me`.
    a.join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    let topic_ref = TopicRef::new("app", "orders");
    assert_eq!(backend.group_members(&topic_ref, "billing").len(), 1);
    assert_eq!(a.get_me().await.unwrap().consumer_groups_count, 1);
    // The member gets both partitions at its first poll.
    let polled = a
        .poll_messages(
            &stream,
            &topic,
            None,
            &Consumer::group(group.clone()),
            &PollingStrategy::next(),
            10,
            true,
        )
        .await
        .unwrap();
    assert!(polled.messages.is_empty());
    let details = a
        .get_consumer_group(&stream, &topic, &Identifier::numeric(0).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(details.members_count, 1);
    assert_eq!(details.members[0].partitions, vec![0, 1]);

    // Leave, join again, then drop the connection without leaving.
    a.leave_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    assert!(backend.group_members(&topic_ref, "billing").is_empty());
    a.join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    assert_eq!(backend.group_members(&topic_ref, "billing").len(), 1);
    a.disconnect().await.unwrap();
    drop(a);
    eventually("the dropped connection to leave the group", || async {
        backend.group_members(&topic_ref, "billing").is_empty()
    })
    .await;

    // Delete a group: it is gone from the listing.
    let b = common::client(server.local_addr()).await;
    b.delete_consumer_group(&stream, &topic, &Identifier::named("audit").unwrap())
        .await
        .unwrap();
    assert_eq!(
        b.get_consumer_groups(&stream, &topic).await.unwrap().len(),
        1
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_polling_strategy_is_served() {
    let backend = Arc::new(MemoryBackend::new());
    let topic_ref = TopicRef::new("app", "orders");
    backend.ensure_topic(&topic_ref, 1).await.unwrap();
    let server = common::start(backend.clone()).await;
    let client = common::client(server.local_addr()).await;
    let (stream, topic) = (
        Identifier::named("app").unwrap(),
        Identifier::named("orders").unwrap(),
    );
    for i in 0..3 {
        let mut batch: Vec<IggyMessage> = (0..5)
            .map(|j| IggyMessage::from_str(&format!("{i}-{j}")).unwrap())
            .collect();
        client
            .send_messages(&stream, &topic, &Partitioning::partition_id(0), &mut batch)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let records = backend.records(&topic_ref, 0).unwrap();
    let consumer = Consumer::new(Identifier::numeric(1).unwrap());
    let poll = |strategy: PollingStrategy, count: u32| {
        let (client, stream, topic, consumer) = (&client, &stream, &topic, &consumer);
        async move {
            client
                .poll_messages(stream, topic, Some(0), consumer, &strategy, count, false)
                .await
                .unwrap()
                .messages
                .iter()
                .map(|m| m.header.offset)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(poll(PollingStrategy::first(), 3).await, vec![0, 1, 2]);
    assert_eq!(poll(PollingStrategy::last(), 2).await, vec![13, 14]);
    assert_eq!(poll(PollingStrategy::offset(7), 2).await, vec![7, 8]);
    let second_batch = records[5].timestamp_micros;
    assert_eq!(
        poll(PollingStrategy::timestamp(second_batch.into()), 100).await,
        (5..15).collect::<Vec<_>>()
    );
    // `next` without a stored offset starts at the first; the server keeps
    // no position unless asked to (no auto-commit here).
    assert_eq!(poll(PollingStrategy::next(), 2).await, vec![0, 1]);
    client
        .store_consumer_offset(&consumer, &stream, &topic, Some(0), 9)
        .await
        .unwrap();
    assert_eq!(poll(PollingStrategy::next(), 2).await, vec![10, 11]);
    client
        .delete_consumer_offset(&consumer, &stream, &topic, Some(0))
        .await
        .unwrap();
    assert_eq!(poll(PollingStrategy::next(), 1).await, vec![0]);
    assert!(client
        .get_consumer_offset(&consumer, &stream, &topic, Some(0))
        .await
        .unwrap()
        .is_none());
    server.shutdown().await.unwrap();
}

/// Apache Iggy drops a topic's consumer offsets with it: a group of a topic
/// deleted (alone, or with its stream) and created again reads the new
/// topic from its start, not from where it was in the deleted one (where it
/// would wait for records that never come: `iggy-bench`'s consumer-group
/// benchmark run twice on one server hung so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_again_starts_its_groups_afresh() {
    let server = common::start(Arc::new(MemoryBackend::new())).await;
    let client = common::client(server.local_addr()).await;
    let (stream, topic) = (
        Identifier::named("app").unwrap(),
        Identifier::named("orders").unwrap(),
    );
    let group = Identifier::named("billing").unwrap();
    // Each round: a fresh topic (the first time also a fresh stream), a
    // group, as many messages as the round's number, all consumed with
    // auto-commit; then the topic goes, alone or with its stream.
    for (round, delete_stream) in [(3, false), (2, true), (1, false)] {
        if client.get_stream(&stream).await.unwrap().is_none() {
            client.create_stream("app").await.unwrap();
        }
        client
            .create_topic(
                &stream,
                "orders",
                &TopicCreateOptions {
                    partitions_count: Some(1),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        client
            .create_consumer_group(&stream, &topic, "billing")
            .await
            .unwrap();
        client
            .join_consumer_group(&stream, &topic, &group)
            .await
            .unwrap();
        let mut messages: Vec<IggyMessage> = (0..round)
            .map(|i| IggyMessage::from_str(&format!("round {round} #{i}")).unwrap())
            .collect();
        client
            .send_messages(
                &stream,
                &topic,
                &Partitioning::partition_id(0),
                &mut messages,
            )
            .await
            .unwrap();
        let polled = client
            .poll_messages(
                &stream,
                &topic,
                None,
                &Consumer::group(group.clone()),
                &PollingStrategy::next(),
                10,
                true,
            )
            .await
            .unwrap();
        assert_eq!(polled.messages.len(), round, "round {round}");
        assert_eq!(polled.messages[0].header.offset, 0, "round {round}");
        if delete_stream {
            client.delete_stream(&stream).await.unwrap();
        } else {
            client.delete_topic(&stream, &topic).await.unwrap();
        }
    }
    server.shutdown().await.unwrap();
}

/// A group deleted and created again under its name has none of the old
/// group's members, as on Apache Iggy: a connection that was one joins as a
/// new member, and its old member leaves the backend's group (or it would
/// keep partitions nobody polls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_created_again_has_none_of_the_old_members() {
    let backend = Arc::new(MemoryBackend::new());
    let topic_ref = TopicRef::new("app", "orders");
    backend.ensure_topic(&topic_ref, 2).await.unwrap();
    let server = common::start(backend.clone()).await;
    let client = common::client(server.local_addr()).await;
    let (stream, topic) = (
        Identifier::named("app").unwrap(),
        Identifier::named("orders").unwrap(),
    );
    let group = Identifier::named("billing").unwrap();
    client
        .create_consumer_group(&stream, &topic, "billing")
        .await
        .unwrap();
    client
        .join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    let first = backend.group_members(&topic_ref, "billing");
    assert_eq!(first.len(), 1);
    client
        .delete_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    client
        .create_consumer_group(&stream, &topic, "billing")
        .await
        .unwrap();
    client
        .join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    let second = backend.group_members(&topic_ref, "billing");
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(first, second);
    server.shutdown().await.unwrap();
}

/// A partition a member gives up and is given back before it polls again
/// (another member joined, then left) is a new grant: the member's polls of
/// it commit their offsets. This once looped forever: the server fenced the
/// member's commits with the old grant's generation, so every poll of the
/// partition was refused with 5009 and re-read from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_given_up_and_given_back_is_consumed_and_committed() {
    let backend = Arc::new(MemoryBackend::new());
    let server = common::start(backend.clone()).await;
    let a = &common::client(server.local_addr()).await;
    let (stream, topic) = common::create_orders(a, "app").await;
    a.create_consumer_group(&stream, &topic, "billing")
        .await
        .unwrap();
    let group = Identifier::named("billing").unwrap();
    for partition in [0, 1] {
        let mut batch = vec![IggyMessage::from_str("order").unwrap()];
        a.send_messages(
            &stream,
            &topic,
            &Partitioning::partition_id(partition),
            &mut batch,
        )
        .await
        .unwrap();
    }
    let consumer = Consumer::group(group.clone());
    let poll = |client, partition| poll_next(client, &stream, &topic, &consumer, partition);
    // `a` alone holds both partitions; `b` joins, and `a`'s next poll
    // learns it gives partition 1 up (the first member keeps the even ones).
    a.join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    let b = common::client(server.local_addr()).await;
    b.join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    assert_eq!(poll(a, 0).await.unwrap().messages.len(), 1);
    // `b` leaves before `a` polls again: `a`'s next sync releases partition
    // 1 and is granted it again.
    b.leave_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    let polled = poll(a, 1).await.unwrap();
    assert_eq!(polled.messages.len(), 1, "served and committed");
    assert!(poll(a, 1).await.unwrap().messages.is_empty(), "committed");
    let offset = a
        .get_consumer_offset(&consumer, &stream, &topic, Some(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(offset.stored_offset, 0);
}

/// A `next` poll of one partition with auto-commit, as `consumer`.
async fn poll_next(
    client: &IggyClient,
    stream: &Identifier,
    topic: &Identifier,
    consumer: &Consumer,
    partition: u32,
) -> Result<PolledMessages, IggyError> {
    client
        .poll_messages(
            stream,
            topic,
            Some(partition),
            consumer,
            &PollingStrategy::next(),
            10,
            true,
        )
        .await
}

/// The SDK picks a group poll's partition from its last sync and syncs again
/// only when told to: a member granted one of its partitions at its sync and
/// the other once a second member released it polls both. It once never
/// polled the second (`iggy-bench balanced-consumer-group` then waited
/// forever for that partition's messages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_granted_more_after_its_sync_polls_it_too() {
    let backend = Arc::new(MemoryBackend::new());
    let server = common::start(backend.clone()).await;
    let addr = server.local_addr();
    let admin = common::client(addr).await;
    let (stream, topic) = (
        Identifier::named("app").unwrap(),
        Identifier::named("jobs").unwrap(),
    );
    admin.create_stream("app").await.unwrap();
    admin
        .create_topic(
            &stream,
            "jobs",
            &TopicCreateOptions {
                partitions_count: Some(6),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    admin
        .create_consumer_group(&stream, &topic, "workers")
        .await
        .unwrap();
    let group = Identifier::named("workers").unwrap();
    let consumer = Consumer::group(group.clone());
    for partition in 0..6 {
        let mut batch = vec![IggyMessage::from_str(&format!("job-{partition}")).unwrap()];
        admin
            .send_messages(
                &stream,
                &topic,
                &Partitioning::partition_id(partition),
                &mut batch,
            )
            .await
            .unwrap();
    }
    // Two members that name their partitions themselves: a poll is a
    // heartbeat that releases what a rebalance took from them.
    let poll = |client, partition| poll_next(client, &stream, &topic, &consumer, partition);
    let x = &common::client(addr).await;
    x.join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    let z = &common::client(addr).await;
    z.join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    for _ in 0..2 {
        poll(x, 0).await.unwrap(); // gives 1, 3, 5 up
    }
    poll(z, 1).await.unwrap(); // takes 1, 3, 5
                               // `y` joins: it is to get 2 (held by `x`) and 5 (held by `z`).
    let y = &common::client(addr).await;
    y.join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    for _ in 0..2 {
        poll(x, 0).await.unwrap(); // gives 2 up
    }
    let first = y
        .poll_messages(
            &stream,
            &topic,
            None,
            &consumer,
            &PollingStrategy::next(),
            10,
            true,
        )
        .await
        .unwrap();
    assert_eq!(first.partition_id, 2, "granted 2 only, so far");
    for _ in 0..2 {
        poll(z, 1).await.unwrap(); // gives 5 up
    }
    let mut polled = Vec::new();
    for _ in 0..4 {
        let next = y
            .poll_messages(
                &stream,
                &topic,
                None,
                &consumer,
                &PollingStrategy::next(),
                10,
                true,
            )
            .await
            .unwrap();
        polled.extend(
            next.messages
                .iter()
                .map(|m| String::from_utf8_lossy(&m.payload).into_owned()),
        );
    }
    assert_eq!(polled, ["job-5"], "5 is polled once it is granted");
}
