//! [`MemoryBackend`]: an Iggy-shaped log in memory.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, RwLock,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use rustok_iggy::{
    AppendAck, Backend, BackendCapabilities, DlqStore, Error, ErrorKind, GroupCoordinator,
    HealthStatus, MemberId, Message, OffsetStore, PartitionInfo, PollFrom, PollRequest, Record,
    Result, TopicInfo, TopicRef, TopicRetention, MAX_PARTITIONS,
};
use tokio::sync::watch;

use crate::{lock, MemoryDlqStore, MemoryOffsetStore};

/// One partition: its records and a signal that fires on every append.
#[derive(Debug)]
struct Partition {
    log: Mutex<Log>,
    /// Carries the partition's next offset; long polls wait for it to change.
    appended: watch::Sender<u64>,
    /// Set when `delete_partitions` removed it: calls holding it fail.
    removed: AtomicBool,
}

#[derive(Debug, Default)]
struct Log {
    /// Offset of `records[0]` (or of the next record when `records` is empty).
    first_offset: u64,
    records: Vec<Record>,
    /// What `records` take (payloads and headers), for size retention.
    bytes: u64,
    /// Timestamp of the last append, so timestamps never go backwards even if
    /// the wall clock does.
    last_timestamp: u64,
}

/// What a record counts for against a size limit.
fn record_bytes(record: &Record) -> u64 {
    (record.message.payload.len() + record.message.headers.encoded_len()) as u64
}

impl Log {
    fn next_offset(&self) -> u64 {
        self.first_offset + self.records.len() as u64
    }

    /// Removes the first `count` records; the first offset moves past them.
    fn remove_oldest(&mut self, count: usize) {
        let count = count.min(self.records.len());
        let bytes: u64 = self.records[..count].iter().map(record_bytes).sum();
        self.records.drain(..count);
        self.first_offset += count as u64;
        self.bytes -= bytes;
    }

    /// Applies a retention to single records (the memory backend has no
    /// segments): removes those older than `max_age` and the oldest while
    /// the partition holds more than `max_bytes`.
    fn retain(&mut self, now: u64, max_age: Option<Duration>, max_bytes: Option<u64>) {
        let mut bytes = self.bytes;
        let expired = |r: &Record| {
            max_age.is_some_and(|age| {
                let age = u64::try_from(age.as_micros()).unwrap_or(u64::MAX);
                r.timestamp_micros.saturating_add(age) < now
            })
        };
        let remove = self
            .records
            .iter()
            .take_while(|r| {
                let go = expired(r) || max_bytes.is_some_and(|limit| bytes > limit);
                if go {
                    bytes -= record_bytes(r);
                }
                go
            })
            .count();
        self.remove_oldest(remove);
    }

    fn read(&self, from: PollFrom, max_records: u32) -> Vec<Record> {
        let start = match from {
            PollFrom::Offset(offset) => {
                usize::try_from(offset.saturating_sub(self.first_offset)).unwrap_or(usize::MAX)
            }
            PollFrom::Timestamp(micros) => self
                .records
                .partition_point(|r| r.timestamp_micros < micros),
        };
        let max = usize::try_from(max_records).unwrap_or(usize::MAX);
        self.records
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take(max)
            .cloned()
            .collect()
    }
}

#[derive(Debug)]
struct Topic {
    /// Shared with the topic's next version when partitions are added.
    partitions: Vec<Arc<Partition>>,
    /// Set when the topic is deleted, so calls that already hold it (a long
    /// poll) fail with NotFound instead of reading a removed log.
    deleted: Arc<AtomicBool>,
    /// Its retention; shared with the topic's next version, like `deleted`.
    retention: Arc<Mutex<TopicRetention>>,
}

impl Partition {
    fn new() -> Self {
        Self {
            log: Mutex::new(Log::default()),
            appended: watch::Sender::new(0),
            removed: AtomicBool::new(false),
        }
    }
}

impl Topic {
    fn check_live(&self, topic: &TopicRef) -> Result<()> {
        if self.deleted.load(Ordering::Acquire) {
            Err(not_found(topic))
        } else {
            Ok(())
        }
    }
}

type Streams = BTreeMap<String, BTreeMap<String, Arc<Topic>>>;

/// A [`Backend`] that keeps everything in memory: streams → topics →
/// partitions → records with dense offsets from 0.
///
/// It is the reference implementation of the backend contract and the way to
/// test code built on rustok-iggy without a broker:
///
/// - offsets are dense per partition, from 0; timestamps (microseconds since
///   the Unix epoch) are assigned at append and never decrease per partition;
/// - `poll` honours [`PollFrom::Timestamp`] and long-polls: with nothing to
///   return it waits up to `max_wait` for an append to that partition;
/// - consumer groups are coordinated in process by the core's
///   [`GroupCoordinator`] (cooperative rebalancing);
/// - it owns a [`MemoryOffsetStore`] and a [`MemoryDlqStore`], returned by
///   [`Backend::offset_store`] and [`Backend::dlq_store`], so
///   `Transport::builder(backend, codec).build()` needs no other store;
/// - message ids are not deduplicated;
/// - after [`Backend::shutdown`] every call fails with [`ErrorKind::Closed`]
///   (shutting down again is a no-op), and health is unhealthy. The stores keep
///   working, so a test can still inspect them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use std::time::Duration;
/// use rustok_iggy::{Backend, PollFrom, PollRequest, TopicRef};
/// use rustok_iggy_memory::MemoryBackend;
/// use rustok_iggy_testkit::fixtures;
///
/// let backend = MemoryBackend::new();
/// let topic = TopicRef::new("app", "orders");
/// backend.ensure_topic(&topic, 2).await?;
/// let ack = backend.append(&topic, 1, vec![fixtures::test_message(1), fixtures::test_message(2)]).await?;
/// assert_eq!((ack.first_offset, ack.count), (0, 2));
///
/// let records = backend
///     .poll(PollRequest {
///         topic: topic.clone(),
///         partition: 1,
///         from: PollFrom::Offset(1),
///         max_records: 10,
///         max_wait: Duration::ZERO,
///     })
///     .await?;
/// assert_eq!(records.len(), 1);
/// assert_eq!(records[0].message, fixtures::test_message(2));
/// # Ok(()) }
/// ```
pub struct MemoryBackend {
    streams: RwLock<Streams>,
    groups: Arc<GroupCoordinator>,
    offsets: Arc<MemoryOffsetStore>,
    dlq: Arc<MemoryDlqStore>,
    closed: watch::Sender<bool>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let streams = self
            .streams
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(s, topics)| (s.clone(), topics.len()))
            .collect::<BTreeMap<_, _>>();
        f.debug_struct("MemoryBackend")
            .field("topics_per_stream", &streams)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl MemoryBackend {
    /// An empty backend with its own empty offset and DLQ stores.
    pub fn new() -> Self {
        Self {
            streams: RwLock::new(BTreeMap::new()),
            groups: Arc::default(),
            offsets: Arc::new(MemoryOffsetStore::new()),
            dlq: Arc::new(MemoryDlqStore::new()),
            closed: watch::Sender::new(false),
        }
    }

    /// The offset store [`Backend::offset_store`] returns, typed.
    pub fn offsets(&self) -> &Arc<MemoryOffsetStore> {
        &self.offsets
    }

    /// The DLQ store [`Backend::dlq_store`] returns, typed.
    pub fn dlq(&self) -> &Arc<MemoryDlqStore> {
        &self.dlq
    }

    /// Whether [`Backend::shutdown`] was called.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Every record stored in a partition, in offset order (works after
    /// shutdown too, for inspection).
    pub fn records(&self, topic: &TopicRef, partition: u32) -> Result<Vec<Record>> {
        let topic_state = self.topic(topic)?;
        let p = partition_of(&topic_state, topic, partition)?;
        let log = lock(&p.log);
        Ok(log.records.clone())
    }

    /// Removes the records below `offset` from a partition, as retention would,
    /// and returns the partition's new first offset. Offsets are never reused:
    /// removing everything leaves `first_offset == next_offset`.
    pub fn truncate_before(&self, topic: &TopicRef, partition: u32, offset: u64) -> Result<u64> {
        let topic_state = self.topic(topic)?;
        let p = partition_of(&topic_state, topic, partition)?;
        let mut log = lock(&p.log);
        let target = offset.min(log.next_offset());
        if target > log.first_offset {
            let remove = usize::try_from(target - log.first_offset).unwrap_or(usize::MAX);
            log.remove_oldest(remove);
        }
        Ok(log.first_offset)
    }

    /// Live members of `group` on `topic`.
    pub fn group_members(&self, topic: &TopicRef, group: &str) -> Vec<MemberId> {
        self.groups.members(topic, group)
    }

    fn check_open(&self, operation: &'static str) -> Result<()> {
        if self.is_closed() {
            Err(closed_error(operation))
        } else {
            Ok(())
        }
    }

    fn topic(&self, topic: &TopicRef) -> Result<Arc<Topic>> {
        self.streams
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&topic.stream)
            .and_then(|topics| topics.get(&topic.topic))
            .cloned()
            .ok_or_else(|| not_found(topic))
    }
}

fn not_found(topic: &TopicRef) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("topic `{topic}` does not exist"),
    )
    .with_context("backend", "memory")
    .with_context("topic", topic)
}

fn partition_of<'t>(
    topic_state: &'t Topic,
    topic: &TopicRef,
    partition: u32,
) -> Result<&'t Partition> {
    usize::try_from(partition)
        .ok()
        .and_then(|p| topic_state.partitions.get(p))
        .map(|p| &**p)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "topic `{topic}` has {} partitions; there is no partition {partition}",
                    topic_state.partitions.len()
                ),
            )
            .with_context("backend", "memory")
            .with_context("topic", topic)
            .with_context("partition", partition)
        })
}

fn closed_error(operation: &'static str) -> Error {
    Error::new(ErrorKind::Closed, "the memory backend was shut down")
        .with_context("backend", "memory")
        .with_context("operation", operation)
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> BackendCapabilities {
        BackendCapabilities::default()
            .persistent(false)
            .poll_by_timestamp(true)
            .long_poll(true)
            .cooperative_rebalance(true)
    }

    async fn ensure_topic(&self, topic: &TopicRef, partitions: u32) -> Result<TopicInfo> {
        let mut streams = self.streams.write().unwrap_or_else(|p| p.into_inner());
        let topics = streams.entry(topic.stream.clone()).or_default();
        if let Some(existing) = topics.get(&topic.topic) {
            let found = existing.partitions.len();
            if found != partitions as usize {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "topic `{topic}` exists with {found} partitions, but {partitions} were requested"
                    ),
                )
                .with_context("backend", "memory")
                .with_context("topic", topic));
            }
        } else {
            let partitions = (0..partitions)
                .map(|_| Arc::new(Partition::new()))
                .collect();
            topics.insert(
                topic.topic.clone(),
                Arc::new(Topic {
                    partitions,
                    deleted: Arc::new(AtomicBool::new(false)),
                    retention: Arc::default(),
                }),
            );
        }
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions,
        })
    }

    async fn topic_info(&self, topic: &TopicRef) -> Result<TopicInfo> {
        let state = self.topic(topic)?;
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions: state.partitions.len() as u32,
        })
    }

    async fn delete_topic(&self, topic: &TopicRef) -> Result<()> {
        let removed = {
            let mut streams = self.streams.write().unwrap_or_else(|p| p.into_inner());
            streams
                .get_mut(&topic.stream)
                .and_then(|topics| topics.remove(&topic.topic))
                .ok_or_else(|| not_found(topic))?
        };
        removed.deleted.store(true, Ordering::Release);
        self.groups.forget_topic(topic);
        // Wakes long polls on its partitions; they see `deleted` and fail.
        for p in &removed.partitions {
            p.appended.send_modify(|_| {});
        }
        Ok(())
    }

    async fn add_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        let mut streams = self.streams.write().unwrap_or_else(|p| p.into_inner());
        let existing = streams
            .get_mut(&topic.stream)
            .and_then(|topics| topics.get_mut(&topic.topic))
            .ok_or_else(|| not_found(topic))?;
        let total = (existing.partitions.len() as u32).saturating_add(count);
        // Checked refused a count past the limit when it read the topic;
        // this re-check under the write lock keeps two concurrent calls from
        // passing it together.
        if total > MAX_PARTITIONS {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{total} partitions would exceed the limit of {MAX_PARTITIONS}"),
            )
            .with_context("backend", "memory")
            .with_context("topic", topic));
        }
        let mut partitions = existing.partitions.clone();
        partitions.extend((0..count).map(|_| Arc::new(Partition::new())));
        *existing = Arc::new(Topic {
            partitions,
            deleted: Arc::clone(&existing.deleted),
            retention: Arc::clone(&existing.retention),
        });
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions: total,
        })
    }

    async fn delete_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        let (removed, keep) = {
            let mut streams = self.streams.write().unwrap_or_else(|p| p.into_inner());
            let existing = streams
                .get_mut(&topic.stream)
                .and_then(|topics| topics.get_mut(&topic.topic))
                .ok_or_else(|| not_found(topic))?;
            let current = existing.partitions.len();
            // Checked refused it when it read the topic; checked again under
            // the write lock against a concurrent deletion.
            let keep = current
                .checked_sub(count as usize)
                .filter(|keep| *keep > 0 && count > 0)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        format!("cannot delete {count} of the topic's {current} partitions"),
                    )
                    .with_context("backend", "memory")
                    .with_context("topic", topic)
                })?;
            let mut partitions = existing.partitions.clone();
            let removed = partitions.split_off(keep);
            *existing = Arc::new(Topic {
                partitions,
                deleted: Arc::clone(&existing.deleted),
                retention: Arc::clone(&existing.retention),
            });
            (removed, keep as u32)
        };
        // Wakes long polls on the removed partitions; they see `removed`
        // and fail.
        for p in &removed {
            p.removed.store(true, Ordering::Release);
            p.appended.send_modify(|_| {});
        }
        self.groups.forget_partitions_from(topic, keep);
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions: keep,
        })
    }

    /// Every partition starts again empty at offset 0.
    async fn purge_topic(&self, topic: &TopicRef) -> Result<()> {
        let state = self.topic(topic)?;
        for p in &state.partitions {
            let mut log = lock(&p.log);
            *log = Log {
                last_timestamp: log.last_timestamp,
                ..Log::default()
            };
            p.appended.send_replace(0);
        }
        Ok(())
    }

    /// Every record is in the one segment being appended to: nothing goes.
    async fn delete_segments(&self, topic: &TopicRef, partition: u32, _count: u32) -> Result<u32> {
        let state = self.topic(topic)?;
        partition_of(&state, topic, partition)?;
        Ok(0)
    }

    async fn topic_retention(&self, topic: &TopicRef) -> Result<TopicRetention> {
        Ok(*lock(&self.topic(topic)?.retention))
    }

    /// Applies it at once and after every append, record by record.
    async fn set_topic_retention(
        &self,
        topic: &TopicRef,
        retention: TopicRetention,
    ) -> Result<TopicRetention> {
        let state = self.topic(topic)?;
        *lock(&state.retention) = retention;
        let share = retention.partition_share(state.partitions.len() as u32);
        for p in &state.partitions {
            lock(&p.log).retain(now_micros(), retention.max_age, share);
        }
        Ok(retention)
    }

    async fn list_topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        let streams = self.streams.read().unwrap_or_else(|p| p.into_inner());
        Ok(streams
            .get(stream)
            .map(|topics| {
                topics
                    .iter()
                    .map(|(name, state)| TopicInfo {
                        topic: TopicRef::new(stream, name.clone()),
                        partitions: state.partitions.len() as u32,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        messages: Vec<Message>,
    ) -> Result<AppendAck> {
        let state = self.topic(topic)?;
        let p = partition_of(&state, topic, partition)?;
        // Checked refuses more than u32::MAX messages.
        let count = messages.len() as u32;
        let retention = *lock(&state.retention);
        let mut log = lock(&p.log);
        let first_offset = log.next_offset();
        let now = now_micros();
        let timestamp = now.max(log.last_timestamp);
        log.last_timestamp = timestamp;
        for (i, message) in messages.into_iter().enumerate() {
            let record = Record {
                offset: first_offset + i as u64,
                timestamp_micros: timestamp,
                message,
            };
            log.bytes += record_bytes(&record);
            log.records.push(record);
        }
        if retention != TopicRetention::default() {
            let share = retention.partition_share(state.partitions.len() as u32);
            log.retain(now, retention.max_age, share);
        }
        // Wakes long polls; sent under the log lock so the value only grows.
        p.appended.send_replace(log.next_offset());
        Ok(AppendAck::new(first_offset, count))
    }

    async fn poll(&self, request: PollRequest) -> Result<Vec<Record>> {
        let state = self.topic(&request.topic)?;
        let p = partition_of(&state, &request.topic, request.partition)?;
        rustok_iggy::long_poll(
            request.max_wait,
            p.appended.subscribe(),
            self.closed.subscribe(),
            || {
                self.check_open("poll")?;
                state.check_live(&request.topic)?;
                if p.removed.load(Ordering::Acquire) {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "partition {} of `{}` was deleted",
                            request.partition, request.topic
                        ),
                    )
                    .with_context("backend", "memory")
                    .with_context("topic", &request.topic));
                }
                Ok(lock(&p.log).read(request.from, request.max_records))
            },
        )
        .await
    }

    async fn partition_info(&self, topic: &TopicRef, partition: u32) -> Result<PartitionInfo> {
        let state = self.topic(topic)?;
        let p = partition_of(&state, topic, partition)?;
        let log = lock(&p.log);
        Ok(PartitionInfo {
            first_offset: log.first_offset,
            next_offset: log.next_offset(),
            // Records live in a `Vec`, not in segments of a storage.
            storage: None,
        })
    }

    /// Nothing to write or sync: the memory backend keeps no storage
    /// (`capabilities().persistent` is false). Checks the partition exists.
    async fn flush(&self, topic: &TopicRef, partition: u32, _fsync: bool) -> Result<()> {
        self.check_open("flush")?;
        let state = self.topic(topic)?;
        partition_of(&state, topic, partition).map(|_| ())
    }

    async fn health(&self) -> HealthStatus {
        if self.is_closed() {
            HealthStatus::Unhealthy(vec!["memory backend is closed".to_owned()])
        } else {
            HealthStatus::Healthy
        }
    }

    async fn shutdown(&self) -> Result<()> {
        // Also wakes every long poll, which then fails with `Closed`.
        self.closed.send_replace(true);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use rustok_iggy_testkit::fixtures::test_message;
    use std::time::Duration;
    use tokio::time::Instant;

    fn request(topic: &TopicRef, from: PollFrom, max_wait: Duration) -> PollRequest {
        PollRequest {
            topic: topic.clone(),
            partition: 0,
            from,
            max_records: 100,
            max_wait,
        }
    }

    #[tokio::test]
    async fn mismatched_partition_count_names_both_counts() {
        let b = MemoryBackend::new();
        let t = TopicRef::new("s", "t");
        b.ensure_topic(&t, 3).await.unwrap();
        let err = b.ensure_topic(&t, 5).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.message().contains('3') && err.message().contains('5'),
            "{err}"
        );
    }

    #[tokio::test]
    async fn truncation_moves_the_first_offset_and_polls_start_there() {
        let b = MemoryBackend::new();
        let t = TopicRef::new("s", "t");
        b.ensure_topic(&t, 1).await.unwrap();
        b.append(&t, 0, (0..5).map(test_message).collect())
            .await
            .unwrap();
        assert_eq!(b.truncate_before(&t, 0, 3).unwrap(), 3);
        let info = b.partition_info(&t, 0).await.unwrap();
        assert_eq!((info.first_offset, info.next_offset), (3, 5));
        let records = b
            .poll(request(&t, PollFrom::Offset(0), Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![3, 4]
        );
        // Removing everything keeps the offsets: the next append gets 5.
        assert_eq!(b.truncate_before(&t, 0, 100).unwrap(), 5);
        assert_eq!(
            b.append(&t, 0, vec![test_message(9)])
                .await
                .unwrap()
                .first_offset,
            5
        );
        assert_eq!(b.records(&t, 0).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn empty_appends_and_zero_record_polls_are_harmless() {
        // Zero-record polls are answered by the layer every backend runs behind.
        let b = rustok_iggy::Checked::new(Arc::new(MemoryBackend::new()));
        let t = TopicRef::new("s", "t");
        b.ensure_topic(&t, 1).await.unwrap();
        let ack = b.append(&t, 0, Vec::new()).await.unwrap();
        assert_eq!((ack.first_offset, ack.count), (0, 0));
        b.append(&t, 0, vec![test_message(1)]).await.unwrap();
        let mut req = request(&t, PollFrom::Offset(0), Duration::from_secs(3600));
        req.max_records = 0;
        assert!(b.poll(req).await.unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn long_poll_times_out_empty() {
        let b = MemoryBackend::new();
        let t = TopicRef::new("s", "t");
        b.ensure_topic(&t, 1).await.unwrap();
        let started = Instant::now();
        let records = b
            .poll(request(&t, PollFrom::Offset(0), Duration::from_secs(5)))
            .await
            .unwrap();
        assert!(records.is_empty());
        assert!(started.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn long_poll_by_timestamp_skips_records_older_than_asked() {
        let b = Arc::new(MemoryBackend::new());
        let t = TopicRef::new("s", "t");
        b.ensure_topic(&t, 1).await.unwrap();
        let future = now_micros() + 3_600_000_000;
        let poll = tokio::spawn({
            let (b, t) = (b.clone(), t.clone());
            async move {
                b.poll(request(
                    &t,
                    PollFrom::Timestamp(future),
                    Duration::from_secs(5),
                ))
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Older than asked: the poll keeps waiting and ends empty.
        b.append(&t, 0, vec![test_message(1)]).await.unwrap();
        assert!(poll.await.unwrap().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_wakes_a_waiting_poll_with_closed() {
        let b = Arc::new(MemoryBackend::new());
        let t = TopicRef::new("s", "t");
        b.ensure_topic(&t, 1).await.unwrap();
        let poll = tokio::spawn({
            let (b, t) = (b.clone(), t.clone());
            async move {
                b.poll(request(&t, PollFrom::Offset(0), Duration::from_secs(3600)))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        b.shutdown().await.unwrap();
        let err = poll.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed);
        // Shutting down twice is fine; the stores stay readable.
        b.shutdown().await.unwrap();
        assert!(b.records(&t, 0).unwrap().is_empty());
        assert!(b.is_closed());
        assert!(matches!(b.health().await, HealthStatus::Unhealthy(r) if r[0].contains("closed")));
    }

    #[tokio::test]
    async fn backend_stores_are_its_own() {
        let b = MemoryBackend::new();
        let t = TopicRef::new("s", "t");
        b.offset_store()
            .unwrap()
            .commit("g", &t, 0, 7)
            .await
            .unwrap();
        assert_eq!(b.offsets().load("g", &t, 0).await.unwrap(), Some(7));
        b.dlq_store()
            .unwrap()
            .put(rustok_iggy_testkit::fixtures::test_dead_letter(1))
            .await
            .unwrap();
        assert_eq!(b.dlq().len(), 1);
        assert_eq!(b.offset_store().unwrap().name(), "memory");
        assert_eq!(b.dlq_store().unwrap().name(), "memory");
    }

    #[tokio::test]
    async fn deleting_a_topic_forgets_its_groups() {
        let b = MemoryBackend::new();
        let t = TopicRef::new("s", "t");
        b.ensure_topic(&t, 2).await.unwrap();
        let m = b.join_group(&t, "g").await.unwrap();
        b.delete_topic(&t).await.unwrap();
        assert!(b.group_members(&t, "g").is_empty());
        b.ensure_topic(&t, 2).await.unwrap();
        assert_eq!(
            b.sync_group(&t, "g", m, vec![]).await.unwrap_err().kind(),
            ErrorKind::NotFound,
            "a member of the deleted topic's group must join again"
        );
        let fresh = b.join_group(&t, "g").await.unwrap();
        assert_eq!(
            b.sync_group(&t, "g", fresh, vec![])
                .await
                .unwrap()
                .partitions,
            vec![0, 1],
            "no ghost member of the deleted topic holds partitions"
        );
    }

    #[tokio::test]
    async fn group_members_are_visible() {
        let b = MemoryBackend::new();
        let t = TopicRef::new("s", "t");
        assert_eq!(
            b.join_group(&t, "g").await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        b.ensure_topic(&t, 2).await.unwrap();
        let m = b.join_group(&t, "g").await.unwrap();
        assert_eq!(b.group_members(&t, "g"), vec![m]);
        b.leave_group(&t, "g", m).await.unwrap();
        assert!(b.group_members(&t, "g").is_empty());
    }
}
