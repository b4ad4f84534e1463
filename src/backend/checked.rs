//! [`Checked`]: the argument and lifecycle checks every backend would
//! otherwise repeat, made once in front of it.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use async_trait::async_trait;

use super::{
    AppendAck, Assignment, Backend, BackendLayer, Fence, MemberId, PartitionInfo, PollRequest,
    TopicInfo, TopicRef, TopicRetention,
};
use crate::{Error, ErrorKind, HealthStatus, Message, OffsetStore, Record, Result, MAX_PARTITIONS};

/// The layer the transport and the server put in front of every backend.
///
/// - Partition counts: `ensure_topic` with `0` or more than
///   [`MAX_PARTITIONS`] partitions, `add_partitions` of `0` or past
///   [`MAX_PARTITIONS`], `delete_partitions` of `0` or of every partition,
///   and empty stream or topic names are [`ErrorKind::InvalidInput`].
/// - A retention limit of zero (`set_topic_retention`) is
///   [`ErrorKind::InvalidInput`].
/// - An `append` of more than `u32::MAX` messages is
///   [`ErrorKind::InvalidInput`]; a poll of `max_records == 0` returns
///   nothing once the partition is known to exist.
/// - After [`shutdown`](Backend::shutdown), every call is
///   [`ErrorKind::Closed`], health is unhealthy, and another `shutdown` is
///   `Ok` without reaching the backend.
///
/// The checks need no I/O except where they say so; a backend behind this
/// layer may assume them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use std::sync::Arc;
/// use rustok_iggy::{Backend, Checked, ErrorKind, TopicRef};
///
/// # let memory: Arc<dyn Backend> = Arc::new(rustok_iggy_testkit::MemoryBackend::new());
/// let backend = Checked::new(memory);
/// let topic = TopicRef::new("app", "orders");
/// backend.ensure_topic(&topic, 1).await?;
/// backend.shutdown().await?;
/// let err = backend.topic_info(&topic).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Closed);
/// backend.shutdown().await?; // a second shutdown is fine
/// # Ok(()) }
/// ```
pub struct Checked {
    inner: Arc<dyn Backend>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked")
            .field("inner", &self.inner.name())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl Checked {
    /// Puts the checks in front of `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            inner: backend,
            closed: AtomicBool::new(false),
        }
    }

    /// The backend behind the checks.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner
    }

    fn open(&self, operation: &'static str) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::new(ErrorKind::Closed, "the backend was shut down")
                .with_context("backend", self.inner.name())
                .with_context("operation", operation))
        } else {
            Ok(())
        }
    }

    fn invalid(&self, topic: &TopicRef, message: String) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
            .with_context("backend", self.inner.name())
            .with_context("topic", topic)
    }
}

#[async_trait]
impl BackendLayer for Checked {
    type Inner = dyn Backend;

    fn inner(&self) -> &Self::Inner {
        &*self.inner
    }

    async fn ensure_topic(&self, topic: &TopicRef, partitions: u32) -> Result<TopicInfo> {
        self.open("ensure_topic")?;
        if topic.stream.is_empty() || topic.topic.is_empty() {
            return Err(self.invalid(topic, "stream and topic names must not be empty".into()));
        }
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(self.invalid(
                topic,
                format!("a topic needs 1 to {MAX_PARTITIONS} partitions, not {partitions}"),
            ));
        }
        self.inner.ensure_topic(topic, partitions).await
    }

    async fn topic_info(&self, topic: &TopicRef) -> Result<TopicInfo> {
        self.open("topic_info")?;
        self.inner.topic_info(topic).await
    }

    async fn delete_topic(&self, topic: &TopicRef) -> Result<()> {
        self.open("delete_topic")?;
        self.inner.delete_topic(topic).await
    }

    /// Reads the partition count first, to refuse a total past
    /// [`MAX_PARTITIONS`]; the backend checks again under its own lock if
    /// partitions can be added concurrently.
    async fn add_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        self.open("add_partitions")?;
        let current = self.inner.topic_info(topic).await?.partitions;
        if count == 0 || current.saturating_add(count) > MAX_PARTITIONS {
            return Err(self.invalid(
                topic,
                format!(
                    "can add 1 to {} partitions to a topic with {current}, not {count}",
                    MAX_PARTITIONS.saturating_sub(current)
                ),
            ));
        }
        self.inner.add_partitions(topic, count).await
    }

    /// Reads the partition count first, to refuse removing every partition;
    /// the backend checks again under its own lock.
    async fn delete_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        self.open("delete_partitions")?;
        let current = self.inner.topic_info(topic).await?.partitions;
        if count == 0 || count >= current {
            return Err(self.invalid(
                topic,
                format!(
                    "can delete 1 to {} of the topic's {current} partitions (it keeps one), not {count}",
                    current.saturating_sub(1)
                ),
            ));
        }
        self.inner.delete_partitions(topic, count).await
    }

    async fn purge_topic(&self, topic: &TopicRef) -> Result<()> {
        self.open("purge_topic")?;
        self.inner.purge_topic(topic).await
    }

    async fn delete_segments(&self, topic: &TopicRef, partition: u32, count: u32) -> Result<u32> {
        self.open("delete_segments")?;
        self.inner.delete_segments(topic, partition, count).await
    }

    async fn topic_retention(&self, topic: &TopicRef) -> Result<TopicRetention> {
        self.open("topic_retention")?;
        self.inner.topic_retention(topic).await
    }

    async fn set_topic_retention(
        &self,
        topic: &TopicRef,
        retention: TopicRetention,
    ) -> Result<TopicRetention> {
        self.open("set_topic_retention")?;
        if retention.max_age.is_some_and(|age| age.is_zero()) || retention.max_bytes == Some(0) {
            return Err(self.invalid(
                topic,
                "a retention limit must be above zero (None for no limit)".into(),
            ));
        }
        self.inner.set_topic_retention(topic, retention).await
    }

    async fn list_topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        self.open("list_topics")?;
        self.inner.list_topics(stream).await
    }

    async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        messages: Vec<Message>,
    ) -> Result<AppendAck> {
        self.open("append")?;
        if u32::try_from(messages.len()).is_err() {
            return Err(self
                .invalid(topic, "too many messages in one append".into())
                .with_context("partition", partition));
        }
        self.inner.append(topic, partition, messages).await
    }

    async fn poll(&self, request: PollRequest) -> Result<Vec<Record>> {
        self.open("poll")?;
        if request.max_records == 0 {
            self.inner
                .partition_info(&request.topic, request.partition)
                .await?;
            return Ok(Vec::new());
        }
        self.inner.poll(request).await
    }

    async fn partition_info(&self, topic: &TopicRef, partition: u32) -> Result<PartitionInfo> {
        self.open("partition_info")?;
        self.inner.partition_info(topic, partition).await
    }

    async fn flush(&self, topic: &TopicRef, partition: u32, fsync: bool) -> Result<()> {
        self.open("flush")?;
        self.inner.flush(topic, partition, fsync).await
    }

    async fn health(&self) -> HealthStatus {
        if self.open("health").is_err() {
            return HealthStatus::Unhealthy(vec![format!(
                "{} backend is closed",
                self.inner.name()
            )]);
        }
        self.inner.health().await
    }

    async fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.shutdown().await
    }

    async fn join_group(&self, topic: &TopicRef, group: &str) -> Result<MemberId> {
        self.open("join_group")?;
        self.inner.join_group(topic, group).await
    }

    async fn sync_group(
        &self,
        topic: &TopicRef,
        group: &str,
        member: MemberId,
        held: Vec<u32>,
    ) -> Result<Assignment> {
        self.open("sync_group")?;
        self.inner.sync_group(topic, group, member, held).await
    }

    async fn leave_group(&self, topic: &TopicRef, group: &str, member: MemberId) -> Result<()> {
        self.open("leave_group")?;
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
        self.open("commit_offset")?;
        self.inner
            .commit_offset(store, topic, group, partition, fence, next_offset)
            .await
    }
}
