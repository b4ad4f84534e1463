//! The server takes a consumer group's offset only as Apache Iggy does: from
//! a connection that is a member owning the partition, and only within the
//! partition's records. Checked with the official SDK's raw calls, with the
//! codes Iggy answers (`ConsumerGroupPartitionNotOwned` 5009,
//! `InvalidOffset` 4100).

mod common;

use std::sync::Arc;

use iggy::prelude::*;
use rustok_iggy_testkit::MemoryBackend;

fn code(result: Result<(), IggyError>) -> u32 {
    result.expect_err("the store should be refused").as_code()
}

const NOT_OWNED: u32 = 5009;
const INVALID_OFFSET: u32 = 4100;

async fn store(client: &IggyClient, partition: u32, offset: u64) -> Result<(), IggyError> {
    let group = Consumer::group(Identifier::named("workers").unwrap());
    client
        .store_consumer_offset(
            &group,
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            Some(partition),
            offset,
        )
        .await
}

async fn stored(client: &IggyClient, partition: u32) -> Option<u64> {
    let group = Consumer::group(Identifier::named("workers").unwrap());
    client
        .get_consumer_offset(
            &group,
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            Some(partition),
        )
        .await
        .unwrap()
        .map(|info| info.stored_offset)
}

/// Iggy's sync-group request (the SDK sends it from its group consumer; a
/// heartbeat of the member's assignment).
async fn sync(client: &IggyClient) {
    use iggy_binary_protocol::{
        codes::SYNC_CONSUMER_GROUP_CODE, requests::consumer_groups::SyncConsumerGroupRequest,
        WireEncode, WireIdentifier,
    };
    let request = SyncConsumerGroupRequest {
        stream_id: WireIdentifier::named("app").unwrap(),
        topic_id: WireIdentifier::named("orders").unwrap(),
        group_id: WireIdentifier::named("workers").unwrap(),
    };
    client
        .send_binary_request(SYNC_CONSUMER_GROUP_CODE, request.to_bytes())
        .await
        .unwrap();
}

async fn join(client: &IggyClient) {
    client
        .join_consumer_group(
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            &Identifier::named("workers").unwrap(),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_offsets_come_only_from_the_owning_member_and_within_the_log() {
    let server = common::start(Arc::new(MemoryBackend::new())).await;
    let admin = common::client(server.local_addr()).await;
    admin.create_stream("app").await.unwrap();
    admin
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
    admin
        .create_consumer_group(
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            "workers",
        )
        .await
        .unwrap();
    for partition in 0..2 {
        let mut messages: Vec<IggyMessage> = (1..=10u128)
            .map(|id| {
                IggyMessage::builder()
                    .id(id)
                    .payload("x".into())
                    .build()
                    .unwrap()
            })
            .collect();
        admin
            .send_messages(
                &Identifier::named("app").unwrap(),
                &Identifier::named("orders").unwrap(),
                &Partitioning::partition_id(partition),
                &mut messages,
            )
            .await
            .unwrap();
    }

    // Not a member: refused, whatever the offset.
    assert_eq!(code(store(&admin, 0, 3).await), NOT_OWNED);
    assert_eq!(stored(&admin, 0).await, None);

    // The only member owns both partitions from its join on.
    let a = common::client(server.local_addr()).await;
    join(&a).await;
    store(&a, 0, 3).await.unwrap();
    store(&a, 1, 9).await.unwrap();
    assert_eq!(stored(&admin, 0).await, Some(3), "reads need no membership");
    // Within the log only: the last record is offset 9.
    assert_eq!(code(store(&a, 0, 10).await), INVALID_OFFSET);
    assert_eq!(stored(&admin, 0).await, Some(3));

    // A second member joins; once the first syncs twice (it learns of the
    // revocation, then reports the partition released), one partition is
    // the second member's and the first may no longer commit it.
    let b = common::client(server.local_addr()).await;
    join(&b).await;
    // Revoked but not yet released: the last commit of a hand-over is taken.
    sync(&a).await;
    store(&a, 1, 9).await.unwrap();
    sync(&a).await;
    sync(&b).await;
    assert_eq!(code(store(&a, 1, 8).await), NOT_OWNED);
    store(&b, 1, 8).await.unwrap();
    assert_eq!(stored(&admin, 1).await, Some(8));
    store(&a, 0, 4).await.unwrap();

    // A member that left is no member.
    a.leave_consumer_group(
        &Identifier::named("app").unwrap(),
        &Identifier::named("orders").unwrap(),
        &Identifier::named("workers").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(code(store(&a, 0, 5).await), NOT_OWNED);
    server.shutdown().await.unwrap();
}
