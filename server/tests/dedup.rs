//! A backend that deduplicates by message id (the embedded log with
//! `dedup_window`), seen through the official SDK: a send the backend
//! stored whole is confirmed with its base offset; one from which it
//! dropped stored ids is acknowledged with no confirmation (a base offset
//! would claim the batch's messages were stored one after another from
//! there), and nothing is stored twice.

mod common;

use std::sync::Arc;

use iggy::prelude::*;
use rustok_iggy::{Backend, PollFrom, PollRequest, TopicRef};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig};

fn messages(ids: &[u128]) -> Vec<IggyMessage> {
    ids.iter()
        .map(|id| {
            IggyMessage::builder()
                .id(*id)
                .payload(format!("m{id}").into())
                .build()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_with_dropped_duplicates_is_acknowledged_without_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(
        EmbeddedBackend::open(EmbeddedConfig {
            dedup_window: 100,
            ..EmbeddedConfig::new(dir.path())
        })
        .await
        .unwrap(),
    );
    let server = common::start(backend.clone()).await;
    let client = common::client(server.local_addr()).await;
    let (stream, topic) = common::create_orders(&client, "app").await;
    let send = |ids: &'static [u128]| {
        let (client, stream, topic) = (&client, &stream, &topic);
        async move {
            client
                .send_messages(
                    stream,
                    topic,
                    &Partitioning::partition_id(0),
                    &mut messages(ids),
                )
                .await
                .unwrap()
                .confirmations
        }
    };
    let first = send(&[1, 2, 3]).await;
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].partition_id, first[0].base_offset), (0, 0));
    assert_eq!(send(&[1, 2, 3]).await, [], "every message dropped");
    assert_eq!(send(&[4, 2, 5]).await, [], "message 2 dropped");
    let fresh = send(&[6, 7]).await;
    assert_eq!((fresh[0].partition_id, fresh[0].base_offset), (0, 5));

    backend
        .flush(&TopicRef::new("app", "orders"), 0, true)
        .await
        .unwrap();
    let records = backend
        .poll(PollRequest {
            topic: TopicRef::new("app", "orders"),
            partition: 0,
            from: PollFrom::Offset(0),
            max_records: 100,
            max_wait: std::time::Duration::ZERO,
        })
        .await
        .unwrap();
    let stored: Vec<(u64, u128)> = records.iter().map(|r| (r.offset, r.message.id)).collect();
    assert_eq!(
        stored,
        [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7)]
    );
    server.shutdown().await.unwrap();
}
