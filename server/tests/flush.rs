//! `FlushUnsavedBuffer` reaches the backend with its `fsync` flag, and with
//! `fsync` it answers once the partition is durable: under
//! `fsync = "interval"` the embedded log shows consumers only fsynced data,
//! so a poll right after it sees the message.

mod common;

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
};

use iggy::prelude::*;
use rustok_iggy::{Backend, TopicRef};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};

/// The embedded backend, noting the partition and `fsync` flag of every
/// `flush` (the log fsyncs on its own under `interval`, so a flag that
/// went missing would not show in what consumers see).
struct Flushes {
    inner: Arc<EmbeddedBackend>,
    seen: Mutex<Vec<(u32, bool)>>,
}

#[async_trait::async_trait]
impl rustok_iggy::BackendLayer for Flushes {
    type Inner = EmbeddedBackend;

    fn inner(&self) -> &EmbeddedBackend {
        &self.inner
    }

    async fn flush(
        &self,
        topic: &TopicRef,
        partition: u32,
        fsync: bool,
    ) -> rustok_iggy::Result<()> {
        self.seen.lock().unwrap().push((partition, fsync));
        self.inner.flush(topic, partition, fsync).await
    }
}

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
async fn flush_reaches_the_backend_with_its_fsync_flag_and_answers_once_durable() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        fsync_interval_ms: 3_600_000,
        ..EmbeddedConfig::new(dir.path()).fsync(FsyncPolicy::Interval)
    };
    let backend = Arc::new(Flushes {
        inner: Arc::new(EmbeddedBackend::open(config).await.unwrap()),
        seen: Mutex::new(Vec::new()),
    });
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

    client
        .flush_unsaved_buffer(&stream, &topic, 0, false)
        .await
        .unwrap();
    client
        .flush_unsaved_buffer(&stream, &topic, 0, true)
        .await
        .unwrap();
    assert_eq!(visible(&client, &stream, &topic).await, 1, "fsync ignored");
    assert_eq!(*backend.seen.lock().unwrap(), [(0, false), (0, true)]);

    let missing = client
        .flush_unsaved_buffer(&stream, &topic, 2, true)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, IggyError::PartitionNotFound(..)),
        "{missing:?}"
    );
    server.shutdown().await.unwrap();
    Backend::shutdown(&*backend).await.unwrap();
}
