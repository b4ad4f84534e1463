//! The storage a transport runs on: an Iggy-shaped log of streams, topics,
//! partitions and offsets, with consumer-group coordination.
//!
//! For plugin authors: [`Backend`] is the one trait a storage plugin
//! implements; [`BackendLayer`] wraps one and changes only what it must;
//! [`Checked`] is the layer every transport and server puts in front of a
//! backend; [`GroupCoordinator`] and [`long_poll`] are the shared pieces of
//! an in-process backend.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{DlqStore, Error, ErrorKind, HealthStatus, Message, OffsetStore, Record, Result};

mod checked;
mod group;
mod layer;
mod long_poll;

pub use checked::Checked;
pub use group::GroupCoordinator;
pub use layer::BackendLayer;
pub use long_poll::long_poll;

/// A topic inside a stream, Iggy's two-level namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicRef {
    /// Stream name.
    pub stream: String,
    /// Topic name inside the stream.
    pub topic: String,
}

impl TopicRef {
    /// `stream/topic`.
    pub fn new(stream: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            topic: topic.into(),
        }
    }
}

impl fmt::Display for TopicRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stream, self.topic)
    }
}

/// A topic and its partition count, as configured or as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Which topic.
    pub topic: TopicRef,
    /// Number of partitions, numbered `0..partitions`.
    pub partitions: u32,
}

/// Where a partition's data starts and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionInfo {
    /// Offset of the oldest record still stored (retention may have removed
    /// earlier ones).
    pub first_offset: u64,
    /// Offset the next appended record will get; `next_offset - first_offset`
    /// records are stored.
    pub next_offset: u64,
    /// What the stored records take, when the backend keeps them in
    /// segments and tracks it (the embedded log; the remote backend passes
    /// on what the Iggy server reports); `None` when it does not (the memory
    /// backend). An Iggy-protocol server reports it in topic details and
    /// server stats, where Apache Iggy reports its own segments.
    pub storage: Option<PartitionStorage>,
}

/// What one partition's stored records take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionStorage {
    /// Bytes of stored records as the backend frames them (its per-record
    /// headers included).
    pub bytes: u64,
    /// Segments holding them, the one being appended to included.
    pub segments: u32,
}

/// How long a topic keeps its records and how much of them: Apache Iggy's
/// message expiry and max topic size, per topic. Backends delete whole
/// segments, oldest first, and never the one being appended to, so a topic
/// can hold somewhat more (or older) than this; a backend without segments
/// deletes single records.
///
/// ```
/// use std::time::Duration;
/// use rustok_iggy::TopicRetention;
///
/// // Keep a week, at most 10 GiB shared by the topic's partitions.
/// let retention = TopicRetention {
///     max_age: Some(Duration::from_secs(7 * 24 * 3600)),
///     max_bytes: Some(10 << 30),
/// };
/// assert_eq!(retention.partition_share(4), Some(10 << 30 >> 2));
/// assert_eq!(TopicRetention::default().partition_share(4), None, "keeps everything");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopicRetention {
    /// Records older than this (by their append timestamp) go. `None`: kept
    /// however old.
    pub max_age: Option<Duration>,
    /// The topic's records may take about this many bytes, shared equally by
    /// its partitions (Apache Iggy splits its max topic size the same way);
    /// the oldest go first. `None`: no limit.
    pub max_bytes: Option<u64>,
}

impl TopicRetention {
    /// The bytes one of `partitions` partitions may keep: `max_bytes` split
    /// equally (at least 1 byte each).
    pub fn partition_share(&self, partitions: u32) -> Option<u64> {
        self.max_bytes
            .map(|bytes| (bytes / u64::from(partitions.max(1))).max(1))
    }
}

/// Where a poll starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollFrom {
    /// At this offset. An offset below the partition's first offset starts at the
    /// first offset.
    Offset(u64),
    /// At the first record appended at or after this time (microseconds since the
    /// Unix epoch).
    Timestamp(u64),
}

/// One poll of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRequest {
    /// Topic to read.
    pub topic: TopicRef,
    /// Partition to read.
    pub partition: u32,
    /// Where to start.
    pub from: PollFrom,
    /// At most this many records.
    pub max_records: u32,
    /// How long the backend may wait for a record when none is there yet. A
    /// backend without long polling returns at once; the caller then sleeps.
    pub max_wait: Duration,
}

/// What `append` stored.
///
/// A backend that deduplicates message ids appends only the messages it has
/// not stored yet and names the others in `duplicates`; [`offsets`](Self::offsets)
/// gives every message's offset either way.
///
/// ```
/// use rustok_iggy::AppendAck;
///
/// // A batch of four whose second message was stored before, at offset 7.
/// let ack = AppendAck { first_offset: 20, count: 3, duplicates: vec![(1, 7)] };
/// assert_eq!(ack.offsets().collect::<Vec<_>>(), [20, 7, 21, 22]);
/// assert_eq!(AppendAck::new(5, 2).offsets().collect::<Vec<_>>(), [5, 6]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendAck {
    /// Offset of the first appended record; the rest follow densely.
    pub first_offset: u64,
    /// How many were appended.
    pub count: u32,
    /// Messages of the batch that were not appended because the backend
    /// already stores a message with their id (deduplication): their index
    /// in the batch and the stored message's offset, by ascending index.
    /// Empty without deduplication.
    pub duplicates: Vec<(u32, u64)>,
}

impl AppendAck {
    /// `count` messages appended from `first_offset`, none deduplicated.
    pub fn new(first_offset: u64, count: u32) -> Self {
        Self {
            first_offset,
            count,
            duplicates: Vec::new(),
        }
    }

    /// Every message of the batch in batch order: its offset, the stored
    /// copy's for a duplicate.
    pub fn offsets(&self) -> impl Iterator<Item = u64> + '_ {
        let total = self.count as usize + self.duplicates.len();
        let mut duplicates = self.duplicates.iter().peekable();
        let mut next = self.first_offset;
        (0..total).map(move |i| match duplicates.peek() {
            Some(&&(index, offset)) if index as usize == i => {
                duplicates.next();
                offset
            }
            _ => {
                next += 1;
                next - 1
            }
        })
    }
}

/// Identifies one member of a consumer group at a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub u64);

/// The partitions a member of a group may consume now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// Changes whenever the group's membership changes.
    pub generation: u64,
    /// Partitions granted to this member, ascending.
    pub partitions: Vec<u32>,
}

/// Who commits a consumer group's position, so the backend can refuse a
/// commit from a member that no longer owns the partition (a "zombie": it
/// was evicted, or a rebalance moved the partition while it still worked on
/// it). Kafka fences commits with member id and generation the same way; Iggy
/// with the member's connection.
///
/// ```
/// use rustok_iggy::{Assignment, Fence, MemberId};
///
/// // A worker started on partition 3 by the sync that first granted it:
/// let assignment = Assignment { generation: 7, partitions: vec![3] };
/// let fence = Fence::new(MemberId(1), assignment.generation);
/// assert_eq!(fence.generation, 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The committing member.
    pub member: MemberId,
    /// The group generation at which the member was granted the partition:
    /// the [`Assignment::generation`] of the first sync that listed it. A
    /// partition granted again after it moved away carries a newer one.
    pub generation: u64,
}

impl Fence {
    /// `member`'s claim on a partition granted at `generation`.
    pub fn new(member: MemberId, generation: u64) -> Self {
        Self { member, generation }
    }

    /// The [`ErrorKind::Fenced`](crate::ErrorKind::Fenced) error of this
    /// member's refused commit, saying `why`.
    pub fn refused(
        self,
        topic: &TopicRef,
        group: &str,
        partition: u32,
        why: impl fmt::Display,
    ) -> crate::Error {
        crate::Error::new(
            crate::ErrorKind::Fenced,
            format!(
                "offset commit of member {} (granted at generation {}) refused: {why}",
                self.member.0, self.generation
            ),
        )
        .with_context("group", group)
        .with_context("topic", topic)
        .with_context("partition", partition)
    }
}

/// What a backend can do; conformance suites and generic code skip what a
/// backend does not claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackendCapabilities {
    /// Data survives the process (and, per the backend's policy, a crash).
    pub persistent: bool,
    /// `poll` honours [`PollFrom::Timestamp`].
    pub poll_by_timestamp: bool,
    /// `poll` waits up to `max_wait` for data instead of returning at once.
    pub long_poll: bool,
    /// A partition moves between members only after its holder released it, so
    /// a rebalance never lets two members handle one partition at once.
    pub cooperative_rebalance: bool,
}

impl BackendCapabilities {
    /// Sets `persistent`.
    pub fn persistent(mut self, yes: bool) -> Self {
        self.persistent = yes;
        self
    }
    /// Sets `poll_by_timestamp`.
    pub fn poll_by_timestamp(mut self, yes: bool) -> Self {
        self.poll_by_timestamp = yes;
        self
    }
    /// Sets `long_poll`.
    pub fn long_poll(mut self, yes: bool) -> Self {
        self.long_poll = yes;
        self
    }
    /// Sets `cooperative_rebalance`.
    pub fn cooperative_rebalance(mut self, yes: bool) -> Self {
        self.cooperative_rebalance = yes;
        self
    }
}

/// An Iggy-shaped log: the one trait a storage plugin implements.
///
/// Offsets are dense per partition and never reused. Every method is safe to
/// call concurrently; `append` to one partition is serialized by the backend.
///
/// A backend implements the log (topic admin, `append`, `poll`,
/// `partition_info`, `flush`), `health` and `shutdown`. Consumer groups are provided:
/// a backend whose groups live in this process returns its
/// [`GroupCoordinator`] from [`groups`](Backend::groups) and gets
/// `join_group`, `sync_group`, `leave_group` and the fenced `commit_offset`
/// from it; a backend whose server coordinates groups (the remote one)
/// overrides those four. A backend with its own stores returns them from
/// [`offset_store`](Backend::offset_store) and [`dlq_store`](Backend::dlq_store).
///
/// Argument and lifecycle checks common to every backend (partition counts,
/// empty polls, calls after `shutdown`) are made once, by the [`Checked`]
/// layer that the transport and the server put in front of every backend; a
/// backend may assume them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use std::sync::Arc;
/// use rustok_iggy::{Backend, Checked, TopicRef};
///
/// # let backend: Arc<dyn Backend> = Arc::new(rustok_iggy_testkit::MemoryBackend::new());
/// // `backend` is any backend; the transport wraps it like this itself.
/// let checked = Checked::new(backend);
/// let topic = TopicRef::new("app", "orders");
/// assert!(checked.ensure_topic(&topic, 0).await.is_err()); // no partitions
/// checked.ensure_topic(&topic, 2).await?;
/// let member = checked.join_group(&topic, "billing").await?;
/// let assignment = checked.sync_group(&topic, "billing", member, vec![]).await?;
/// assert_eq!(assignment.partitions, vec![0, 1]);
/// # Ok(()) }
/// ```
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Backend: Send + Sync {
    /// The name it is registered under (`"memory"`, `"embedded"`, `"remote"`).
    fn name(&self) -> &str;

    /// What it can do.
    fn capabilities(&self) -> BackendCapabilities;

    /// Creates the stream and topic with `partitions` partitions unless they
    /// exist. Idempotent; an existing topic with another partition count is a
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) error. `partitions`
    /// outside `1..=`[`MAX_PARTITIONS`](crate::MAX_PARTITIONS) is refused
    /// by [`Checked`].
    async fn ensure_topic(&self, topic: &TopicRef, partitions: u32) -> Result<TopicInfo>;

    /// The topic's partition count; [`ErrorKind::NotFound`](crate::ErrorKind::NotFound)
    /// if it does not exist.
    async fn topic_info(&self, topic: &TopicRef) -> Result<TopicInfo>;

    /// Deletes the topic with all its partitions and records.
    ///
    /// Once this resolves, calls naming the topic (`topic_info`, `append`,
    /// `poll`, `partition_info`, ...) fail with
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) until it is created
    /// again, and long polls waiting on its partitions end. A topic that does not
    /// exist is [`ErrorKind::NotFound`](crate::ErrorKind::NotFound). The stream
    /// itself stays, even when this was its last topic.
    ///
    /// Consumer-group offsets committed for the topic may remain in the offset
    /// store (the backend's own or a separate one); a topic created again under
    /// the same name starts at offset 0, so callers that reuse the name should
    /// reset those offsets.
    async fn delete_topic(&self, topic: &TopicRef) -> Result<()>;

    /// Appends `count` new, empty partitions to the topic, numbered after the
    /// existing ones (`n..n + count` for a topic with `n` partitions), and
    /// returns the new partition count. Existing partitions keep their numbers
    /// and data; nothing is ever renumbered.
    ///
    /// `count == 0`, or a total above [`MAX_PARTITIONS`](crate::MAX_PARTITIONS),
    /// is [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (checked by
    /// [`Checked`]); an unknown topic is
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound).
    ///
    /// Adding partitions moves keys: the partition of a key,
    /// [`partition_for(key, n)`](crate::partition_for), depends on the partition count `n`, so per-key
    /// order holds only among events published after the change (events of one
    /// key published before it may sit on another partition and be consumed
    /// concurrently with later ones).
    async fn add_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo>;

    /// Removes the last `count` partitions of the topic (`n - count..n` of a
    /// topic with `n`) with their records, and returns the new partition
    /// count; the others keep their numbers and data. Apache Iggy's
    /// `DeletePartitions`.
    ///
    /// A topic keeps at least one partition: `count == 0` or `count >=`
    /// the partition count is [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// (checked by [`Checked`]); an unknown topic is
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound). Calls naming a
    /// removed partition then fail with NotFound, and long polls waiting on
    /// one end. Offsets committed for the removed partitions may remain in
    /// the offset store, as with [`delete_topic`](Backend::delete_topic).
    /// Keys move, as when partitions are added.
    ///
    /// The default fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    async fn delete_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        let _ = count;
        Err(unsupported(self, topic, "delete_partitions"))
    }

    /// Removes every record of every partition of the topic. Each partition
    /// then starts again empty, at offset 0, as if the topic had been deleted
    /// and created again, and so offsets are reused: the one exception to
    /// "never reused". The topic, its partitions, its retention and consumer
    /// group membership stay. Apache Iggy's `PurgeTopic`.
    ///
    /// Committed offsets are not touched (the offset store may be another
    /// plugin): callers reset them, as `rustok-iggy serve` does for the
    /// consumers it knows, or consumers wait at their old positions for
    /// records that come only after as many new appends. An unknown topic is
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound).
    ///
    /// The default fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    async fn purge_topic(&self, topic: &TopicRef) -> Result<()> {
        Err(unsupported(self, topic, "purge_topic"))
    }

    /// Deletes up to `count` of the partition's oldest segments, never the
    /// one being appended to, and returns how many it deleted (0 with
    /// `count == 0`, or when there is only that one). The partition's first
    /// offset moves up past their records, as after retention. Apache
    /// Iggy's `DeleteSegments`. A backend that keeps no segments (see
    /// [`PartitionInfo::storage`]) holds every record in the one it appends
    /// to, and deletes nothing. An unknown topic or partition is
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound).
    ///
    /// The default fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    async fn delete_segments(&self, topic: &TopicRef, partition: u32, count: u32) -> Result<u32> {
        let _ = (partition, count);
        Err(unsupported(self, topic, "delete_segments"))
    }

    /// The topic's retention: its own if one was set with
    /// [`set_topic_retention`](Backend::set_topic_retention), else what the
    /// backend applies to it by default. An unknown topic is
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound).
    ///
    /// The default fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    async fn topic_retention(&self, topic: &TopicRef) -> Result<TopicRetention> {
        Err(unsupported(self, topic, "topic_retention"))
    }

    /// Sets the topic's retention (both limits: a `None` limit is none) and
    /// returns it; stored as durably as the topic itself and enforced from
    /// then on. A zero limit is
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (checked
    /// by [`Checked`]), as is one the backend cannot enforce (the embedded
    /// log refuses a size below one segment per partition); an unknown topic
    /// is [`ErrorKind::NotFound`](crate::ErrorKind::NotFound).
    ///
    /// The default fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    async fn set_topic_retention(
        &self,
        topic: &TopicRef,
        retention: TopicRetention,
    ) -> Result<TopicRetention> {
        let _ = retention;
        Err(unsupported(self, topic, "set_topic_retention"))
    }

    /// Every topic of `stream` (empty, or NotFound, for an unknown stream).
    async fn list_topics(&self, stream: &str) -> Result<Vec<TopicInfo>>;

    /// Appends `messages` to one partition in order. Resolves once they are
    /// stored per the backend's durability policy, never before.
    ///
    /// A message's id, headers, payload and origin timestamp (when it has
    /// one) come back from [`poll`](Self::poll) as they were appended; a
    /// message appended without an origin timestamp may come back with one
    /// the backend gave it (an Iggy server stamps every message).
    async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        messages: Vec<Message>,
    ) -> Result<AppendAck>;

    /// Reads records in offset order. From an offset at or beyond the
    /// partition's next offset it returns nothing (after waiting up to
    /// `max_wait` where long polling is supported). [`Checked`] answers a
    /// poll of `max_records == 0` without calling it.
    async fn poll(&self, request: PollRequest) -> Result<Vec<Record>>;

    /// First and next offset of a partition, and what it takes in storage
    /// if the backend tracks that.
    async fn partition_info(&self, topic: &TopicRef, partition: u32) -> Result<PartitionInfo>;

    /// Makes everything appended to `partition` so far as durable as the
    /// backend can, whatever its own durability policy: written to its
    /// storage, and with `fsync` also synced to the disk (Iggy's
    /// `FlushUnsavedBuffer`). Resolves once that holds, never before; an
    /// unknown topic or partition is
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound). A backend with no
    /// storage to sync (see [`BackendCapabilities::persistent`]) only checks
    /// the partition exists; one whose server cannot flush on demand fails
    /// with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported), never
    /// `Ok` without having done it.
    async fn flush(&self, topic: &TopicRef, partition: u32, fsync: bool) -> Result<()>;

    /// How the backend is doing.
    async fn health(&self) -> HealthStatus;

    /// Flushes and closes. Behind [`Checked`], calls after this fail with
    /// [`ErrorKind::Closed`](crate::ErrorKind::Closed) and a second
    /// `shutdown` is `Ok`; a long poll waiting on the backend should end.
    async fn shutdown(&self) -> Result<()>;

    /// The in-process coordinator that the provided group methods use, for a
    /// backend whose consumer groups live in this process. `None` (the
    /// default): the backend overrides the group methods, or has no groups
    /// ([`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported)).
    fn groups(&self) -> Option<Arc<GroupCoordinator>> {
        None
    }

    /// Joins `group` on `topic` as a new member; the topic must exist.
    async fn join_group(&self, topic: &TopicRef, group: &str) -> Result<MemberId> {
        let groups = in_process(self, "join_group")?;
        self.topic_info(topic).await?;
        Ok(groups.join(topic, group))
    }

    /// Heartbeat: tells the backend which partitions `member` still holds and
    /// returns those it may consume now. With cooperative rebalancing a partition
    /// is granted only once no other member holds it. A member the backend does
    /// not know (it left, was evicted, or the backend restarted) is
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound): the subscription then
    /// joins again.
    async fn sync_group(
        &self,
        topic: &TopicRef,
        group: &str,
        member: MemberId,
        held: Vec<u32>,
    ) -> Result<Assignment> {
        let groups = in_process(self, "sync_group")?;
        let partitions = self.topic_info(topic).await?.partitions;
        groups
            .sync(topic, group, member, &held, partitions)
            .map_err(|e| e.with_context("backend", self.name()))
    }

    /// Leaves the group; its partitions go to the remaining members.
    async fn leave_group(&self, topic: &TopicRef, group: &str, member: MemberId) -> Result<()> {
        in_process(self, "leave_group")?
            .leave(topic, group, member)
            .map_err(|e| e.with_context("backend", self.name()))
    }

    /// Commits `next_offset` as `group`'s position on `partition` of `topic`,
    /// on behalf of the member `fence` names, into `store` (the transport's
    /// offset store: the backend's own, or one configured beside it).
    ///
    /// Fenced: unless `fence.member` is in the group and still owns the
    /// partition under the grant of `fence.generation`, nothing is stored and
    /// the error is [`ErrorKind::Fenced`](crate::ErrorKind::Fenced). A member
    /// keeps owning a partition it was told to give up until its next
    /// [`sync_group`](Backend::sync_group) reports it released, so the last
    /// commit of a cooperative hand-over is accepted. Administrative writes
    /// (a reset for replay) go to [`OffsetStore::commit`] directly.
    async fn commit_offset(
        &self,
        store: &Arc<dyn OffsetStore>,
        topic: &TopicRef,
        group: &str,
        partition: u32,
        fence: Fence,
        next_offset: u64,
    ) -> Result<()> {
        in_process(self, "commit_offset")?
            .commit(store.as_ref(), topic, group, partition, fence, next_offset)
            .await
            .map_err(|e| e.with_context("backend", self.name()))
    }

    /// The backend's own offset store, if it has one (the default when config
    /// names none). `None` by default.
    fn offset_store(&self) -> Option<Arc<dyn OffsetStore>> {
        None
    }

    /// The backend's own dead-letter store, if it has one (the default when
    /// config names none). `None` by default.
    fn dlq_store(&self) -> Option<Arc<dyn DlqStore>> {
        None
    }
}

/// The error of a topic administration method the backend does not have.
fn unsupported<B: Backend + ?Sized>(
    backend: &B,
    topic: &TopicRef,
    operation: &'static str,
) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("the {} backend cannot {operation}", backend.name()),
    )
    .with_context("backend", backend.name())
    .with_context("topic", topic)
    .with_context("operation", operation)
}

/// The coordinator of a backend whose groups live in this process, or the
/// error of one that has none.
fn in_process<B: Backend + ?Sized>(
    backend: &B,
    operation: &'static str,
) -> Result<Arc<GroupCoordinator>> {
    backend.groups().ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            "this backend has no consumer groups",
        )
        .with_context("backend", backend.name())
        .with_context("operation", operation)
    })
}

impl fmt::Debug for dyn Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Backend({})", self.name())
    }
}
