//! `FlushUnsavedBuffer` reaches the backend with its `fsync` flag: under
//! `fsync = "interval"` the embedded log shows consumers only fsynced data, so
//! a flush that ignored the flag would leave the message invisible.

mod common;

use std::{str::FromStr, sync::Arc};

use iggy::prelude::*;
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};

async fn visible(client: &IggyClient, stream: &Identifier, topic: &Identifier) -> usize {
    client
        .poll_messages(
            stream,
            topic,
            Some(0),
            &Consumer::new(Identifier::numeric(1).unwrap()),
            &PollingStrategy::offset(0),
            10,
            false,
        )
        .await
        .unwrap()
        .messages
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_with_fsync_syncs_the_partition_and_without_it_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        // Never comes due here: only a flush with fsync makes data durable.
        fsync_interval_ms: 3_600_000,
        ..EmbeddedConfig::new(dir.path()).fsync(FsyncPolicy::Interval)
    };
    let backend = Arc::new(EmbeddedBackend::open(config).await.unwrap());
    let server = common::start(backend.clone()).await;
    let client = common::client(server.local_addr()).await;
    let (stream, topic) = common::create_orders(&client, "app").await;
    let mut messages = vec![IggyMessage::from_str("one").unwrap()];
    client
        .send_messages(
            &stream,
            &topic,
            &Partitioning::partition_id(0),
            &mut messages,
        )
        .await
        .unwrap();
    assert_eq!(
        visible(&client, &stream, &topic).await,
        0,
        "not fsynced yet"
    );

    client
        .flush_unsaved_buffer(&stream, &topic, 0, false)
        .await
        .unwrap();
    assert_eq!(
        visible(&client, &stream, &topic).await,
        0,
        "a flush without fsync synced"
    );

    client
        .flush_unsaved_buffer(&stream, &topic, 0, true)
        .await
        .unwrap();
    assert_eq!(visible(&client, &stream, &topic).await, 1, "fsync ignored");

    let missing = client
        .flush_unsaved_buffer(&stream, &topic, 2, true)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, IggyError::PartitionNotFound(..)),
        "{missing:?}"
    );
    server.shutdown().await.unwrap();
    rustok_iggy::Backend::shutdown(&*backend).await.unwrap();
}
