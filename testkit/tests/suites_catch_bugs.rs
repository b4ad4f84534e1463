//! The suites are only worth something if they fail on broken plugins: each
//! test here runs one case against a deliberately broken implementation and
//! expects it to fail.

mod common;

use std::{panic::AssertUnwindSafe, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use rustok_iggy::{
    AppendAck, Assignment, Backend, BackendCapabilities, Codec, CodecCapabilities, DeadLetter,
    DecodeSink, DlqCapabilities, DlqEntry, DlqFilter, DlqPage, DlqStore, Error, ErrorKind, Fence,
    HealthStatus, MemberId, Message, OffsetCapabilities, OffsetStore, PartitionInfo, PollRequest,
    Record, Result, TopicInfo, TopicRef,
};
use rustok_iggy_testkit::{conformance, MemoryBackend, MemoryDlqStore, MemoryOffsetStore};

async fn fails(case: impl std::future::Future<Output = ()>) -> bool {
    AssertUnwindSafe(case).catch_unwind().await.is_err()
}

/// The memory backend with the bugs a test switches on.
#[derive(Default)]
struct Broken {
    inner: MemoryBackend,
    drop_last: bool,
    skip_first_on_poll: bool,
    ignore_partition_mismatch: bool,
    open_after_shutdown: bool,
    delete_is_noop: bool,
    add_partitions_renumbers: bool,
    unfenced_commits: bool,
}

#[async_trait]
impl Backend for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    fn capabilities(&self) -> BackendCapabilities {
        self.inner.capabilities()
    }
    async fn ensure_topic(&self, topic: &TopicRef, partitions: u32) -> Result<TopicInfo> {
        match self.inner.ensure_topic(topic, partitions).await {
            Err(e) if self.ignore_partition_mismatch && e.kind() == ErrorKind::Config => {
                Ok(TopicInfo {
                    topic: topic.clone(),
                    partitions,
                })
            }
            other => other,
        }
    }
    async fn topic_info(&self, topic: &TopicRef) -> Result<TopicInfo> {
        self.inner.topic_info(topic).await
    }
    async fn list_topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        self.inner.list_topics(stream).await
    }
    async fn delete_topic(&self, topic: &TopicRef) -> Result<()> {
        if self.delete_is_noop {
            self.inner.topic_info(topic).await.map(|_| ())
        } else {
            self.inner.delete_topic(topic).await
        }
    }
    async fn add_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        if self.add_partitions_renumbers {
            // Recreates the topic with the new count: existing data is lost.
            let info = self.inner.topic_info(topic).await?;
            self.inner.delete_topic(topic).await?;
            self.inner
                .ensure_topic(topic, info.partitions + count)
                .await
        } else {
            self.inner.add_partitions(topic, count).await
        }
    }
    async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        mut messages: Vec<Message>,
    ) -> Result<AppendAck> {
        let count = messages.len() as u32;
        if self.drop_last && messages.len() > 1 {
            messages.pop();
        }
        let ack = self.inner.append(topic, partition, messages).await?;
        Ok(AppendAck { count, ..ack })
    }
    async fn poll(&self, request: PollRequest) -> Result<Vec<Record>> {
        let mut records = self.inner.poll(request).await?;
        if self.skip_first_on_poll && !records.is_empty() {
            records.remove(0);
        }
        Ok(records)
    }
    async fn partition_info(&self, topic: &TopicRef, partition: u32) -> Result<PartitionInfo> {
        self.inner.partition_info(topic, partition).await
    }
    async fn flush(&self, topic: &TopicRef, partition: u32, fsync: bool) -> Result<()> {
        self.inner.flush(topic, partition, fsync).await
    }
    async fn join_group(&self, topic: &TopicRef, group: &str) -> Result<MemberId> {
        self.inner.join_group(topic, group).await
    }
    async fn sync_group(
        &self,
        topic: &TopicRef,
        group: &str,
        member: MemberId,
        held: Vec<u32>,
    ) -> Result<Assignment> {
        self.inner.sync_group(topic, group, member, held).await
    }
    async fn leave_group(&self, topic: &TopicRef, group: &str, member: MemberId) -> Result<()> {
        self.inner.leave_group(topic, group, member).await
    }
    async fn commit_offset(
        &self,
        store: &Arc<dyn OffsetStore>,
        topic: &TopicRef,
        group: &str,
        partition: u32,
        fence: Fence,
        next_offset: u64,
    ) -> Result<()> {
        if self.unfenced_commits {
            // Stores whoever commits: a zombie overwrites the new owner.
            store.commit(group, topic, partition, next_offset).await
        } else {
            self.inner
                .commit_offset(store, topic, group, partition, fence, next_offset)
                .await
        }
    }
    async fn health(&self) -> HealthStatus {
        self.inner.health().await
    }
    async fn shutdown(&self) -> Result<()> {
        if self.open_after_shutdown {
            Ok(())
        } else {
            self.inner.shutdown().await
        }
    }
    fn offset_store(&self) -> Option<Arc<dyn OffsetStore>> {
        None
    }
    fn dlq_store(&self) -> Option<Arc<dyn DlqStore>> {
        None
    }
}

#[tokio::test]
async fn backend_suite_catches_lost_records_and_bad_topology() {
    let dropping = || {
        Arc::new(Broken {
            drop_last: true,
            ..Broken::default()
        }) as Arc<dyn Backend>
    };
    assert!(
        fails(conformance::backend::append_returns_dense_offsets(
            dropping()
        ))
        .await
    );
    assert!(
        fails(conformance::backend::records_keep_id_headers_and_payload(
            dropping()
        ))
        .await
    );
    let skipping = || {
        Arc::new(Broken {
            skip_first_on_poll: true,
            ..Broken::default()
        }) as Arc<dyn Backend>
    };
    assert!(fails(conformance::backend::poll_from_offset(skipping())).await);
    assert!(fails(conformance::backend::poll_by_timestamp(skipping())).await);
    let lax = Arc::new(Broken {
        ignore_partition_mismatch: true,
        ..Broken::default()
    });
    assert!(fails(conformance::backend::ensure_topic_rejects_another_partition_count(lax)).await);
    let immortal = Arc::new(Broken {
        open_after_shutdown: true,
        ..Broken::default()
    });
    assert!(fails(conformance::backend::shutdown_closes(immortal)).await);
    let undeletable = Arc::new(Broken {
        delete_is_noop: true,
        ..Broken::default()
    });
    assert!(
        fails(conformance::backend::delete_topic_removes_it_and_polls_fail_not_found(undeletable))
            .await
    );
    let renumbering = Arc::new(Broken {
        add_partitions_renumbers: true,
        ..Broken::default()
    });
    assert!(
        fails(
            conformance::backend::add_partitions_appends_empty_partitions_and_keeps_existing_data(
                renumbering
            )
        )
        .await
    );
    let unfenced = Arc::new(Broken {
        unfenced_commits: true,
        ..Broken::default()
    });
    assert!(fails(conformance::backend::commits_are_fenced_to_the_partition_owner(unfenced)).await);
    // And the unbroken wrapper passes the same cases.
    assert!(
        !fails(conformance::backend::append_returns_dense_offsets(
            Arc::new(Broken::default())
        ))
        .await
    );
    assert!(
        !fails(conformance::backend::shutdown_closes(Arc::new(
            Broken::default()
        )))
        .await
    );
    assert!(
        !fails(
            conformance::backend::commits_are_fenced_to_the_partition_owner(Arc::new(
                Broken::default()
            ))
        )
        .await
    );
}

/// An offset store that never moves backwards.
#[derive(Default)]
struct Monotonic(MemoryOffsetStore);

#[async_trait]
impl OffsetStore for Monotonic {
    fn name(&self) -> &str {
        "monotonic"
    }
    fn capabilities(&self) -> OffsetCapabilities {
        OffsetCapabilities::new(false)
    }
    async fn load(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<Option<u64>> {
        self.0.load(group, topic, partition).await
    }
    async fn commit(&self, group: &str, topic: &TopicRef, partition: u32, next: u64) -> Result<()> {
        let current = self.0.load(group, topic, partition).await?.unwrap_or(0);
        self.0
            .commit(group, topic, partition, next.max(current))
            .await
    }
    async fn delete(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<()> {
        self.0.delete(group, topic, partition).await
    }
}

#[tokio::test]
async fn offsets_suite_catches_a_store_that_cannot_reset() {
    assert!(
        fails(conformance::offsets::commit_can_move_backwards(Arc::new(
            Monotonic::default()
        )))
        .await
    );
    assert!(
        !fails(conformance::offsets::commit_then_load(Arc::new(
            Monotonic::default()
        )))
        .await
    );
}

/// A DLQ store whose pages always carry a cursor and whose redrive does not stick.
#[derive(Default)]
struct SloppyDlq(MemoryDlqStore);

#[async_trait]
impl DlqStore for SloppyDlq {
    fn name(&self) -> &str {
        "sloppy"
    }
    fn capabilities(&self) -> DlqCapabilities {
        DlqCapabilities::new(false)
    }
    async fn put(&self, letter: DeadLetter) -> Result<u64> {
        self.0.put(letter).await
    }
    async fn list(&self, filter: DlqFilter, after: Option<u64>, limit: usize) -> Result<DlqPage> {
        let mut page = self.0.list(filter, after, limit).await?;
        page.next_after = page.entries.last().map(|e| e.id);
        Ok(page)
    }
    async fn get(&self, id: u64) -> Result<Option<DlqEntry>> {
        self.0.get(id).await
    }
    async fn delete(&self, id: u64) -> Result<bool> {
        self.0.delete(id).await
    }
    async fn mark_redriven(&self, _id: u64, _at: DateTime<Utc>) -> Result<()> {
        Ok(())
    }
    async fn count(&self, filter: DlqFilter) -> Result<u64> {
        self.0.count(filter).await
    }
}

#[tokio::test]
async fn dlq_suite_catches_bad_cursors_and_lost_redrives() {
    assert!(
        fails(
            conformance::dlq::list_pages_with_after_limit_and_next_after(Arc::new(
                SloppyDlq::default()
            ))
        )
        .await
    );
    assert!(
        fails(conformance::dlq::mark_redriven_hides_entries_by_default(
            Arc::new(SloppyDlq::default())
        ))
        .await
    );
    assert!(
        fails(conformance::dlq::mark_redriven_of_unknown_id_is_not_found(
            Arc::new(SloppyDlq::default())
        ))
        .await
    );
    assert!(
        !fails(conformance::dlq::get_returns_the_letter_unchanged(
            Arc::new(SloppyDlq::default())
        ))
        .await
    );
}

/// JSON that ignores whatever follows the first value.
struct LenientJson;

impl Codec for LenientJson {
    fn name(&self) -> &str {
        "lenient-json"
    }
    fn capabilities(&self) -> CodecCapabilities {
        CodecCapabilities::new(true)
    }
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
        common::TestJson.encode(value)
    }
    fn decode(&self, bytes: &[u8], sink: &mut dyn DecodeSink) -> Result<()> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        sink.deserialize(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
            .map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))
    }
}

#[test]
fn codec_suite_catches_ignored_trailing_bytes() {
    let lenient = || Arc::new(LenientJson) as Arc<dyn Codec>;
    let caught = std::panic::catch_unwind(|| conformance::codec::rejects_trailing_bytes(lenient()));
    assert!(caught.is_err());
    conformance::codec::round_trips_sample_events(lenient());
}
