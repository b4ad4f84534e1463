//! [`EmbeddedBackend`]: the [`Backend`] trait over the engine.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use rustok_iggy::{
    AppendAck, Backend, BackendCapabilities, DlqStore, GroupCoordinator, HealthStatus, LogDlqStore,
    MemberId, Message, OffsetStore, PartitionInfo, PollRequest, Record, Result, TopicInfo,
    TopicRef, TopicRetention,
};

use crate::{
    config::EmbeddedConfig,
    error::{join_error, NAME},
    offsets::EmbeddedOffsetStore,
    partition::Clamp,
    topology::Engine,
};

/// The embedded backend: a durable, in-process, Iggy-shaped log under one
/// data directory, with its own offset and DLQ stores.
///
/// - offsets are dense per partition from 0 and never reused; timestamps are
///   microseconds since the Unix epoch, assigned per append, never decreasing;
/// - `append` returns once the batch is stored per the [`FsyncPolicy`](crate::FsyncPolicy);
///   `poll` returns only records below the visible mark (see the crate docs),
///   honours [`PollFrom::Timestamp`](rustok_iggy::PollFrom::Timestamp) and
///   long-polls;
/// - consumer groups are coordinated in process by the core's
///   [`GroupCoordinator`] (cooperative rebalancing); membership is not
///   persisted (members are live subscribers), committed offsets are;
/// - `partition_info().next_offset` is the offset the next append gets, which
///   under `fsync = "interval"` can be ahead of what `poll` returns yet.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use std::time::Duration;
/// use rustok_iggy::{Backend, Headers, Message, PollFrom, PollRequest, TopicRef};
/// use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
///
/// let dir = tempfile::tempdir().unwrap();
/// let config = EmbeddedConfig::new(dir.path()).fsync(FsyncPolicy::Always);
/// let backend = EmbeddedBackend::open(config.clone()).await?;
/// let topic = TopicRef::new("app", "orders");
/// backend.ensure_topic(&topic, 2).await?;
/// let message = Message { id: 1, origin_timestamp_micros: None, headers: Headers::new(), payload: bytes::Bytes::from_static(b"hi") };
/// let ack = backend.append(&topic, 1, vec![message.clone()]).await?;
/// assert_eq!(ack.first_offset, 0);
/// backend.shutdown().await?;
///
/// // Reopened, the record is still there.
/// let backend = EmbeddedBackend::open(config).await?;
/// let request = PollRequest {
///     topic, partition: 1, from: PollFrom::Offset(0), max_records: 10, max_wait: Duration::ZERO,
/// };
/// assert_eq!(backend.poll(request).await?[0].message, message);
/// # Ok(()) }
/// ```
pub struct EmbeddedBackend {
    engine: Arc<Engine>,
    groups: Arc<GroupCoordinator>,
    offsets: Arc<EmbeddedOffsetStore>,
    dlq: Arc<LogDlqStore>,
}

impl fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("data_dir", &self.engine.config.data_dir)
            .field("fsync", &self.engine.config.fsync)
            .finish()
    }
}

/// A poll that started at the first offset because retention had removed
/// the offset it asked for: records the consumer never saw are gone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig};
///
/// let dir = tempfile::tempdir().unwrap();
/// let backend = EmbeddedBackend::open(EmbeddedConfig::new(dir.path())).await?;
/// for clamp in backend.retention_clamps() {
///     eprintln!(
///         "{}/{}: asked for {}, retention starts at {}",
///         clamp.topic, clamp.partition, clamp.requested, clamp.first_offset
///     );
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionClamp {
    /// Topic polled.
    pub topic: TopicRef,
    /// Partition polled.
    pub partition: u32,
    /// Offset asked for.
    pub requested: u64,
    /// Where the poll started instead.
    pub first_offset: u64,
}

impl EmbeddedBackend {
    /// Opens (creating) the data directory: takes its lock, recovers every
    /// partition (see the crate docs), loads offsets and moves dead letters
    /// of the layout before 0.1 into the DLQ's topics.
    ///
    /// Fails with [`ErrorKind::Unavailable`] if another process (or another
    /// backend in this one) has it open, after waiting half a second for
    /// it to be released (a lock let go a moment ago can linger in a child
    /// process forked meanwhile), and with [`ErrorKind::Backend`]
    /// naming the file and byte position if a sealed segment is damaged.
    pub async fn open(config: EmbeddedConfig) -> Result<Self> {
        let (engine, offsets) = tokio::task::spawn_blocking(move || {
            let engine = Engine::open(config)?;
            let offsets = EmbeddedOffsetStore::open(engine.clone());
            Ok::<_, rustok_iggy::Error>((engine, offsets))
        })
        .await
        .map_err(|e| join_error("open", e))??;
        let opened = match offsets {
            Ok(offsets) => crate::dlq::open(engine.clone())
                .await
                .map(|dlq| (Arc::new(offsets), dlq)),
            Err(e) => Err(e),
        };
        match opened {
            Ok((offsets, dlq)) => Ok(Self {
                engine,
                groups: Arc::default(),
                offsets,
                dlq,
            }),
            Err(e) => {
                // Its background tasks hold it (and the directory's lock).
                let _ = engine.close().await;
                Err(e)
            }
        }
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &EmbeddedConfig {
        &self.engine.config
    }

    /// Its offset store, typed.
    pub fn offsets(&self) -> &Arc<EmbeddedOffsetStore> {
        &self.offsets
    }

    /// Its DLQ store, typed: the topics `entries` and `marks` of the
    /// stream [`DLQ_STREAM`](crate::DLQ_STREAM).
    pub fn dlq(&self) -> &Arc<LogDlqStore> {
        &self.dlq
    }

    /// Runs retention now (it also runs every `retention_check_secs` and
    /// after each segment roll); returns how many segments were deleted.
    pub async fn enforce_retention(&self) -> Result<usize> {
        self.engine.check_open("enforce_retention")?;
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.enforce_retention())
            .await
            .map_err(|e| join_error("enforce_retention", e))?
    }

    /// Fsyncs every partition holding data above its durable mark, now,
    /// whatever the policy: an early group commit under `interval`, and the
    /// way to make a batch load durable under `never` with one fsync per
    /// partition at the end.
    pub async fn flush_all(&self) -> Result<()> {
        self.engine.check_open("flush")?;
        self.engine.sync_pending().await
    }

    /// The last clamped poll of each partition that had one.
    pub fn retention_clamps(&self) -> Vec<RetentionClamp> {
        self.engine
            .partitions()
            .into_iter()
            .filter_map(|(topic, partition, p)| {
                let Clamp {
                    requested,
                    first_offset,
                } = p.state().clamped?;
                Some(RetentionClamp {
                    topic,
                    partition,
                    requested,
                    first_offset,
                })
            })
            .collect()
    }

    /// Live members of `group` on `topic`.
    pub fn group_members(&self, topic: &TopicRef, group: &str) -> Vec<MemberId> {
        self.groups.members(topic, group)
    }
}

#[async_trait]
impl Backend for EmbeddedBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> BackendCapabilities {
        BackendCapabilities::default()
            .persistent(true)
            .poll_by_timestamp(true)
            .long_poll(true)
            .cooperative_rebalance(true)
    }

    async fn ensure_topic(&self, topic: &TopicRef, partitions: u32) -> Result<TopicInfo> {
        let (engine, t) = (self.engine.clone(), topic.clone());
        tokio::task::spawn_blocking(move || engine.ensure_topic(&t, partitions))
            .await
            .map_err(|e| join_error("ensure_topic", e))?
    }

    async fn topic_info(&self, topic: &TopicRef) -> Result<TopicInfo> {
        let state = self.engine.topic(topic)?;
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions: state.partitions.len() as u32,
        })
    }

    async fn delete_topic(&self, topic: &TopicRef) -> Result<()> {
        let (engine, t) = (self.engine.clone(), topic.clone());
        let deleted = tokio::task::spawn_blocking(move || engine.delete_topic(&t))
            .await
            .map_err(|e| join_error("delete_topic", e))?;
        // Once it reached the engine the topic is gone from memory, even if
        // removing its files failed: so are its groups.
        self.groups.forget_topic(topic);
        deleted
    }

    async fn add_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        let (engine, t) = (self.engine.clone(), topic.clone());
        tokio::task::spawn_blocking(move || engine.add_partitions(&t, count))
            .await
            .map_err(|e| join_error("add_partitions", e))?
    }

    async fn delete_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        let (engine, t) = (self.engine.clone(), topic.clone());
        let info = tokio::task::spawn_blocking(move || engine.delete_partitions(&t, count))
            .await
            .map_err(|e| join_error("delete_partitions", e))??;
        self.groups.forget_partitions_from(topic, info.partitions);
        Ok(info)
    }

    async fn purge_topic(&self, topic: &TopicRef) -> Result<()> {
        let (engine, t) = (self.engine.clone(), topic.clone());
        tokio::task::spawn_blocking(move || engine.purge_topic(&t))
            .await
            .map_err(|e| join_error("purge_topic", e))?
    }

    async fn delete_segments(&self, topic: &TopicRef, partition: u32, count: u32) -> Result<u32> {
        let p = self.engine.partition(topic, partition)?;
        let deleted = tokio::task::spawn_blocking(move || p.delete_segments(count))
            .await
            .map_err(|e| join_error("delete_segments", e))??;
        Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
    }

    async fn topic_retention(&self, topic: &TopicRef) -> Result<TopicRetention> {
        self.engine.topic_retention(topic)
    }

    /// Stored in `topic.meta`, as durably as the topic; a size limit below
    /// `segment_bytes` is refused (the active segment is never deleted).
    async fn set_topic_retention(
        &self,
        topic: &TopicRef,
        retention: TopicRetention,
    ) -> Result<TopicRetention> {
        let (engine, t) = (self.engine.clone(), topic.clone());
        tokio::task::spawn_blocking(move || engine.set_topic_retention(&t, retention))
            .await
            .map_err(|e| join_error("set_topic_retention", e))?
    }

    async fn list_topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        self.engine.list_topics(stream)
    }

    async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        messages: Vec<Message>,
    ) -> Result<AppendAck> {
        let p = self.engine.partition(topic, partition)?;
        let appended = p
            .append(messages)
            .await
            .map_err(|e| e.with_context("topic", topic))?;
        if appended.rolled {
            // Size retention can only change after a roll; a failure here
            // does not undo the append, so it is logged, not returned.
            if let Err(e) = self.enforce_retention().await {
                tracing::error!(error = %e, "embedded retention after a roll failed");
            }
        }
        Ok(appended.ack)
    }

    async fn poll(&self, request: PollRequest) -> Result<Vec<Record>> {
        let p = self.engine.partition(&request.topic, request.partition)?;
        rustok_iggy::long_poll(
            request.max_wait,
            p.subscribe(),
            self.engine.closed(),
            || {
                self.engine.check_open("poll")?;
                p.read(request.from, request.max_records)
            },
        )
        .await
    }

    async fn partition_info(&self, topic: &TopicRef, partition: u32) -> Result<PartitionInfo> {
        let p = self.engine.partition(topic, partition)?;
        let state = p.state();
        Ok(PartitionInfo {
            first_offset: state.first_offset(),
            next_offset: state.next_offset(),
            storage: Some(state.storage()),
        })
    }

    /// Every append is in the page cache when it is acknowledged, so only
    /// `fsync` has work to do: it syncs every segment of the partition above
    /// its durable mark, under any fsync policy.
    async fn flush(&self, topic: &TopicRef, partition: u32, fsync: bool) -> Result<()> {
        self.engine.check_open("flush")?;
        let p = self.engine.partition(topic, partition)?;
        if fsync {
            let next = p.state().next_offset();
            p.sync_to(next).await?;
        }
        Ok(())
    }

    /// Unhealthy when closed or when a partition was poisoned by an I/O
    /// failure; degraded when a group's committed offset is below its
    /// partition's first offset (retention removed records it never consumed).
    async fn health(&self) -> HealthStatus {
        if self.engine.check_open("health").is_err() {
            return HealthStatus::Unhealthy(vec!["embedded backend is closed".to_owned()]);
        }
        let mut unhealthy = Vec::new();
        for (_, _, p) in self.engine.partitions() {
            if let Some(reason) = &p.state().poisoned {
                unhealthy.push(format!("partition {} refuses appends: {reason}", p.label()));
            }
        }
        let mut degraded = Vec::new();
        for (group, topic, partition, next) in self.offsets.positions() {
            let Ok(p) = self.engine.partition(&topic, partition) else {
                continue;
            };
            let first = p.state().first_offset();
            if next < first {
                degraded.push(format!(
                    "group `{group}` committed offset {next} on {topic}/{partition}, below the retained start {first}: retention removed {} records it had not consumed",
                    first - next
                ));
            }
        }
        let status = if unhealthy.is_empty() {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy(unhealthy)
        };
        if degraded.is_empty() {
            status
        } else {
            status.merge(HealthStatus::Degraded(degraded))
        }
    }

    async fn shutdown(&self) -> Result<()> {
        self.engine.close().await
    }

    fn groups(&self) -> Option<Arc<GroupCoordinator>> {
        Some(self.groups.clone())
    }

    fn offset_store(&self) -> Option<Arc<dyn OffsetStore>> {
        Some(self.offsets.clone())
    }

    fn dlq_store(&self) -> Option<Arc<dyn DlqStore>> {
        Some(self.dlq.clone())
    }
}
