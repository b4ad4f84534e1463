//! The log operations over one connection: topology, append, poll and
//! partition info. Shared by [`RemoteBackend`](crate::RemoteBackend) and the
//! DLQ store.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use iggy::prelude::{
    Consumer, Durability, Identifier, IggyMessage, IggyTimestamp, MessageClient, PartitionClient,
    Partitioning, PolledMessages, PollingStrategy, SendMessagesResponse, StreamClient, TopicClient,
    TopicCreateOptions, TopicDetails,
};
use rustok_iggy::{
    AppendAck, Error, ErrorKind, Message, PartitionInfo, PartitionStorage, PollFrom, PollRequest,
    Record, Result, TopicInfo, TopicRef,
};

use crate::{
    client::{Connection, Connections, Link},
    mapping,
    waiting::WaitingPolls,
    TopicDurability,
};

/// The standalone Iggy consumer name `poll` reads as. Polls never commit
/// (auto-commit off), so no offset is ever stored under it.
pub(crate) const READER: &str = "rustok-remote-reader";

/// Records per poll of [`Log::scan`].
const SCAN_PAGE: u64 = 1_000;

/// What this process knows of one partition's appends.
#[derive(Debug, Default)]
struct PartitionState {
    /// Serializes this process's appends that read the partition's end
    /// before sending (see [`Log::append`]).
    serial: tokio::sync::Mutex<()>,
    /// The partition's end after this process's last append to it, plus
    /// one; 0 while unknown (no append yet, or the last one failed). Offsets
    /// only grow, so it is a lower bound of where any later append goes.
    end_plus_one: AtomicU64,
}

impl PartitionState {
    /// A lower bound of the offset the next append gets, if known.
    fn end(&self) -> Option<u64> {
        self.end_plus_one.load(Ordering::Acquire).checked_sub(1)
    }

    /// The partition's end is at least `end`, read from the server (or from
    /// an append that also knew it).
    fn known(&self, end: u64) {
        self.end_plus_one
            .fetch_max(end.saturating_add(1), Ordering::AcqRel);
    }

    /// An append confirmed up to `end`: raises a known end, but does not
    /// make an unknown one known (a failed append may have stored records
    /// above it meanwhile, which a later append must not count as its own).
    fn advanced(&self, end: u64) {
        let _ = self
            .end_plus_one
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (current != 0).then(|| current.max(end.saturating_add(1)))
            });
    }

    /// An append failed: it may have been stored or not.
    fn forget(&self) {
        self.end_plus_one.store(0, Ordering::Release);
    }
}

/// An Iggy identifier by name; a name Iggy cannot hold is `InvalidInput`.
pub(crate) fn ident(name: &str) -> Result<Identifier> {
    Identifier::named(name).map_err(|e| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("`{name}` is not a valid Iggy name: {e}"),
        )
        .with_context("backend", crate::NAME)
    })
}

fn not_found(what: String) -> Error {
    Error::new(ErrorKind::NotFound, what).with_context("backend", crate::NAME)
}

/// Log operations on the server the link connects to.
pub(crate) struct Log {
    pub(crate) link: Arc<Link>,
    /// Whether the server has reported the base offset of a send (Apache
    /// Iggy 0.9 and `rustok-iggy serve` do; older servers answer with no
    /// confirmation, and a server that dropped duplicates must).
    confirms: AtomicBool,
    /// Per partition this process appended to.
    partitions: Mutex<HashMap<TopicRef, HashMap<u32, Arc<PartitionState>>>>,
    reader: Consumer,
    /// Polls that may wait, on a server that holds them.
    pub(crate) waiting: WaitingPolls,
    /// The send slots after the first (see [`Log::sender`]).
    pub(crate) senders: Connections<u32>,
}

impl Log {
    pub(crate) fn new(link: Arc<Link>) -> Result<Self> {
        Ok(Self {
            link,
            confirms: AtomicBool::new(false),
            partitions: Mutex::new(HashMap::new()),
            reader: Consumer::new(ident(READER)?),
            waiting: WaitingPolls::default(),
            senders: Connections::default(),
        })
    }

    pub(crate) async fn conn(&self, operation: &'static str) -> Result<&Arc<Connection>> {
        self.link.get(operation).await
    }

    /// The connection appends to `partition` are sent over: send slot
    /// `partition % send_connections`, slot 0 being the shared connection
    /// and the others opened on their first append.
    ///
    /// An SDK connection carries one request at a time, so over one
    /// connection a `publish_batch` spanning partitions would wait a round
    /// trip per partition, one after another. A partition always uses the
    /// same slot, so one caller's appends to it leave in order.
    async fn sender(&self, partition: u32) -> Result<Arc<Connection>> {
        let slots = self.link.settings().config.send_connections.max(1);
        match partition % slots {
            0 => self.conn("append").await.cloned(),
            slot => self.senders.get(&self.link, &slot, "append").await,
        }
    }

    /// The topic's details, `None` if it (or its stream) does not exist.
    pub(crate) async fn topic_details(&self, topic: &TopicRef) -> Result<Option<TopicDetails>> {
        let conn = self.conn("topic_info").await?;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        match conn
            .call("get_topic", conn.client().get_topic(&s, &t))
            .await
        {
            Ok(details) => Ok(details),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.with_context("topic", topic)),
        }
    }

    pub(crate) async fn ensure_topic(
        &self,
        topic: &TopicRef,
        partitions: u32,
    ) -> Result<TopicInfo> {
        let conn = self.conn("ensure_topic").await?;
        let client = conn.client();
        let s = ident(&topic.stream)?;
        ident(&topic.topic)?;
        let stream = match conn.call("get_stream", client.get_stream(&s)).await {
            Ok(found) => found,
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if stream.is_none() {
            match conn
                .call("create_stream", client.create_stream(&topic.stream))
                .await
            {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.with_context("stream", &topic.stream)),
            }
        }
        let details = match self.topic_details(topic).await? {
            Some(details) => details,
            None => {
                // Group offsets stay `replicated` either way: a commit lost
                // in a crash only delivers a batch again, and an fsync per
                // commit would bound consumption by the disk.
                let options = match self.link.settings().config.durability {
                    // On stable storage at commit: fsynced, and written to the
                    // segment at once rather than after 1,024 messages in the
                    // server's memory (which a crash of a single-node server
                    // loses even with fsync on).
                    TopicDurability::Persisted => TopicCreateOptions {
                        partitions_count: Some(partitions),
                        durability: Durability::Persisted,
                        messages_required_to_save: Some(1),
                        ..Default::default()
                    },
                    TopicDurability::Replicated => TopicCreateOptions {
                        partitions_count: Some(partitions),
                        durability: Durability::Replicated,
                        ..Default::default()
                    },
                };
                match conn
                    .call(
                        "create_topic",
                        client.create_topic(&s, &topic.topic, &options),
                    )
                    .await
                {
                    Ok(details) => details,
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                        self.topic_details(topic).await?.ok_or_else(|| {
                            not_found(format!("topic {topic} vanished while it was created"))
                        })?
                    }
                    Err(e) => return Err(e.with_context("topic", topic)),
                }
            }
        };
        if details.partitions_count != partitions {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "topic {topic} has {} partitions on the Iggy server, the config asks for {partitions}",
                    details.partitions_count
                ),
            )
            .with_context("topic", topic));
        }
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions,
        })
    }

    pub(crate) async fn topic_info(&self, topic: &TopicRef) -> Result<TopicInfo> {
        let details = self
            .topic_details(topic)
            .await?
            .ok_or_else(|| not_found(format!("topic {topic} does not exist")))?;
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions: details.partitions_count,
        })
    }

    /// Deletes the topic on the server (SDK `delete_topic`).
    pub(crate) async fn delete_topic(&self, topic: &TopicRef) -> Result<()> {
        let conn = self.conn("delete_topic").await?;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        conn.call("delete_topic", conn.client().delete_topic(&s, &t))
            .await
            .map_err(|e| e.with_context("topic", topic))?;
        self.forget(topic);
        Ok(())
    }

    /// Drops what this process knew of the topic's partitions' ends (its
    /// partitions were deleted, or purged back to offset 0).
    pub(crate) fn forget(&self, topic: &TopicRef) {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(topic);
    }

    /// Adds `count` partitions on the server (SDK `create_partitions`; the
    /// count was checked by [`rustok_iggy::Checked`]) and returns the count
    /// the server reports.
    pub(crate) async fn add_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        let conn = self.conn("add_partitions").await?;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        conn.call(
            "create_partitions",
            conn.client().create_partitions(&s, &t, count),
        )
        .await
        .map_err(|e| e.with_context("topic", topic))?;
        self.topic_info(topic).await
    }

    pub(crate) async fn list_topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        let conn = self.conn("list_topics").await?;
        let s = ident(stream)?;
        let topics = match conn.call("get_topics", conn.client().get_topics(&s)).await {
            Ok(topics) => topics,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out: Vec<TopicInfo> = topics
            .into_iter()
            .map(|t| TopicInfo {
                topic: TopicRef::new(stream, t.name),
                partitions: t.partitions_count,
            })
            .collect();
        out.sort_by(|a, b| a.topic.cmp(&b.topic));
        Ok(out)
    }

    pub(crate) async fn partition_info(
        &self,
        topic: &TopicRef,
        partition: u32,
    ) -> Result<PartitionInfo> {
        let details = self
            .topic_details(topic)
            .await?
            .ok_or_else(|| not_found(format!("topic {topic} does not exist")))?;
        let p = details
            .partitions
            .iter()
            .find(|p| p.id == partition)
            .ok_or_else(|| {
                not_found(format!(
                    "partition {partition} of {topic} does not exist ({} partitions)",
                    details.partitions_count
                ))
            })?;
        // Iggy reports the offset of the last message (0 when empty) and how
        // many messages the partition holds.
        let next_offset = if p.messages_count == 0 && p.current_offset == 0 {
            0
        } else {
            p.current_offset.saturating_add(1)
        };
        Ok(PartitionInfo {
            first_offset: next_offset.saturating_sub(p.messages_count),
            next_offset,
            storage: Some(PartitionStorage {
                bytes: p.size.as_bytes_u64(),
                segments: p.segments_count,
            }),
        })
    }

    /// Iggy's `FlushUnsavedBuffer`: the server writes what it buffers for
    /// the partition, and with `fsync` syncs it. Apache Iggy 0.9 has no
    /// on-demand flush and refuses it (`FeatureUnavailable`, here
    /// `Unsupported`); there, topics created `persisted` (the default
    /// `durability`) have every append fsynced before it is acknowledged.
    pub(crate) async fn flush(&self, topic: &TopicRef, partition: u32, fsync: bool) -> Result<()> {
        let conn = self.conn("flush").await?;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        conn.call(
            "flush_unsaved_buffer",
            conn.client().flush_unsaved_buffer(&s, &t, partition, fsync),
        )
        .await
        .map_err(|e| {
            e.with_context("topic", topic)
                .with_context("partition", partition)
        })
    }

    /// What this process knows of `partition` (looked up without
    /// allocating once it is there: the fast path of every append).
    fn partition(&self, topic: &TopicRef, partition: u32) -> Arc<PartitionState> {
        let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = partitions.get(topic).and_then(|t| t.get(&partition)) {
            return state.clone();
        }
        partitions
            .entry(topic.clone())
            .or_default()
            .entry(partition)
            .or_default()
            .clone()
    }

    /// Sends one batch, again after a retryable failure (with backoff).
    async fn send(
        &self,
        conn: &Connection,
        topic: &TopicRef,
        partition: u32,
        batch: &mut [IggyMessage],
    ) -> Result<SendMessagesResponse> {
        let config = &self.link.settings().config;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        let partitioning = Partitioning::partition_id(partition);
        let mut backoff = Duration::from_millis(config.send_backoff_ms);
        let mut attempt = 0u32;
        loop {
            if self.link.is_closed() {
                return Err(crate::error::closed("append"));
            }
            match conn
                .call(
                    "send_messages",
                    conn.client().send_messages(&s, &t, &partitioning, batch),
                )
                .await
            {
                Ok(response) => return Ok(response),
                Err(e) if e.is_retryable() && attempt < config.send_retries => {
                    attempt += 1;
                    tracing::warn!(%topic, partition, attempt, error = %e, "append failed; sending again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(config.send_backoff_max_ms));
                }
                Err(e) => {
                    return Err(e
                        .with_context("topic", topic)
                        .with_context("partition", partition))
                }
            }
        }
    }

    /// Appends with an explicit partition id and says where each message
    /// is stored.
    ///
    /// A send the server confirms is the fast path: the confirmation's
    /// `base_offset`, and the batch's messages after it. A server confirms
    /// nothing when it dropped messages as duplicates (`rustok-iggy serve`
    /// with `dedup_window`), and servers before Apache Iggy 0.9 (the ones
    /// with message deduplication) never do: then [`locate`](Self::locate)
    /// reads the messages back by id from a lower bound of where the batch
    /// went. That bound is this process's last known end of the partition,
    /// kept after each append, so the fast path reads nothing before it
    /// sends; without one (the first append here, the last one failed, or a
    /// server that never confirmed) it is the end read just before sending,
    /// with this process's appends to the partition serialized meanwhile.
    pub(crate) async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        messages: Vec<Message>,
    ) -> Result<AppendAck> {
        if messages.is_empty() {
            let info = self.partition_info(topic, partition).await?;
            return Ok(AppendAck::new(info.next_offset, 0));
        }
        let count = u32::try_from(messages.len()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                "more than u32::MAX messages in one append",
            )
        })?;
        let mut batch = messages
            .iter()
            .map(mapping::to_iggy)
            .collect::<Result<Vec<_>>>()?;
        mapping::check_origin_span(&batch)?;
        let conn = &self.sender(partition).await?;
        let state = self.partition(topic, partition);
        if self.confirms.load(Ordering::Relaxed) {
            if let Some(lower) = state.end() {
                return self
                    .settle(conn, topic, partition, &mut batch, (count, lower), &state)
                    .await;
            }
        }
        let _serial = state.serial.lock().await;
        let before = self.partition_info(topic, partition).await?.next_offset;
        state.known(before);
        self.settle(conn, topic, partition, &mut batch, (count, before), &state)
            .await
    }

    /// Sends `batch` (`count` messages, going to `lower` or later) and
    /// returns its ack, keeping the partition's known end.
    async fn settle(
        &self,
        conn: &Connection,
        topic: &TopicRef,
        partition: u32,
        batch: &mut [IggyMessage],
        (count, lower): (u32, u64),
        state: &PartitionState,
    ) -> Result<AppendAck> {
        let settled = async {
            let response = self.send(conn, topic, partition, batch).await?;
            let confirmed = response
                .confirmations
                .iter()
                .find(|c| c.partition_id == partition)
                .map(|c| c.base_offset);
            if let Some(first_offset) = confirmed {
                self.confirms.store(true, Ordering::Relaxed);
                return Ok((
                    AppendAck::new(first_offset, count),
                    first_offset.saturating_add(u64::from(count)),
                ));
            }
            self.locate(topic, partition, batch, lower).await
        }
        .await;
        match settled {
            Ok((ack, end)) => {
                state.advanced(end);
                Ok(ack)
            }
            Err(e) => {
                state.forget();
                Err(e)
            }
        }
    }

    /// Where the messages of `batch`, sent without a confirmation, are
    /// stored, and the partition's end read meanwhile.
    ///
    /// Each message id (the SDK gives a message without one a random id
    /// before sending) is looked up from `lower`, a lower bound of where the
    /// batch went, to the partition's end: the first copy there is this
    /// append's (or, from a server without deduplication, an identical
    /// resend's). An id not found there was dropped by the server as a
    /// duplicate of a stored copy, which the server's deduplication window
    /// keeps within the records before the append: the newest copy among
    /// the `dedup_lookback` records before `lower` (and after the
    /// partition's first offset) is taken. The search stops once every id
    /// is found. Copies from `lower` on that are consecutive in batch order
    /// are the append's own; every other message is a duplicate with its
    /// copy's offset (see [`located_ack`]).
    ///
    /// A copy the server does not serve yet (`rustok-iggy serve` under
    /// `fsync = "interval"` polls only fsynced records) is found after one
    /// flush with fsync. A message found nowhere is an error naming
    /// `dedup_lookback`: a receipt is never a guess.
    async fn locate(
        &self,
        topic: &TopicRef,
        partition: u32,
        batch: &[IggyMessage],
        lower: u64,
    ) -> Result<(AppendAck, u64)> {
        let lookback = self.link.settings().config.dedup_lookback;
        let ids: Vec<u128> = batch.iter().map(|m| m.header.id).collect();
        let mut flushed = false;
        'search: loop {
            let info = self.partition_info(topic, partition).await?;
            let end = info.next_offset;
            // Above the end only if the partition was deleted and created
            // again meanwhile.
            let lower = lower.min(end);
            let mut found: HashMap<u128, Option<u64>> = ids.iter().map(|id| (*id, None)).collect();
            let mut missing = found.len();
            let mut served = self
                .scan(topic, partition, (lower, end), |record| {
                    if let Some(slot @ None) = found.get_mut(&record.message.id) {
                        *slot = Some(record.offset);
                        missing -= 1;
                    }
                    missing == 0
                })
                .await?;
            let floor = lower.saturating_sub(lookback).max(info.first_offset);
            let mut high = lower;
            // After a flush, every page: the server serves what it has.
            while (served || flushed) && missing > 0 && high > floor {
                let low = high.saturating_sub(SCAN_PAGE).max(floor);
                // Newest first: a later copy in the page replaces an earlier.
                let mut page = HashMap::new();
                served = self
                    .scan(topic, partition, (low, high), |record| {
                        if found.get(&record.message.id) == Some(&None) {
                            page.insert(record.message.id, record.offset);
                        }
                        false
                    })
                    .await?;
                missing -= page.len();
                for (id, offset) in page {
                    found.insert(id, Some(offset));
                }
                high = low;
            }
            if missing == 0 {
                let offsets: Vec<u64> = ids
                    .iter()
                    .map(|id| found.get(id).copied().flatten().unwrap_or(end))
                    .collect();
                return Ok((located_ack(&offsets, lower, end), end));
            }
            // Records the server did not serve, or ids not found: once,
            // flush the partition to where the server serves records from,
            // and search again.
            if !flushed {
                flushed = true;
                let flushed_now = match self.flush(topic, partition, true).await {
                    Ok(()) => true,
                    // Apache Iggy 0.9 serves what it acknowledged.
                    Err(e) if e.kind() == ErrorKind::Unsupported => false,
                    Err(e) => return Err(e),
                };
                if flushed_now || !served {
                    continue 'search;
                }
            }
            let first_missing = ids
                .iter()
                .find(|id| found.get(id) == Some(&None))
                .copied()
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::Backend,
                format!(
                    "the server acknowledged the batch without offsets, and {missing} of its {} \
                     messages are neither where it appended them nor among the {lookback} records \
                     before: a server that deduplicates kept the id of a copy further back. Set \
                     `plugins.remote.dedup_lookback` to at least the server's deduplication window",
                    batch.len()
                ),
            )
            .with_context("backend", crate::NAME)
            .with_context("topic", topic)
            .with_context("partition", partition)
            .with_context("key", "plugins.remote.dedup_lookback")
            .with_context("message_id", format!("{first_missing:032x}")));
        }
    }

    /// Polls the records of `[from, to)` in offset order, handing each to
    /// `visit` until it returns `true`. `false` if a poll came back empty
    /// before `to`: the server does not serve those records (yet).
    async fn scan(
        &self,
        topic: &TopicRef,
        partition: u32,
        (from, to): (u64, u64),
        mut visit: impl FnMut(&Record) -> bool,
    ) -> Result<bool> {
        let mut next = from;
        while next < to {
            let page = self
                .poll(PollRequest {
                    topic: topic.clone(),
                    partition,
                    from: PollFrom::Offset(next),
                    // At most SCAN_PAGE.
                    max_records: (to - next).min(SCAN_PAGE) as u32,
                    max_wait: Duration::ZERO,
                })
                .await?;
            let Some(last) = page.last().map(|r| r.offset) else {
                return Ok(false);
            };
            for record in page.iter().take_while(|r| r.offset < to) {
                if visit(record) {
                    return Ok(true);
                }
            }
            next = last.saturating_add(1);
        }
        Ok(true)
    }

    /// The records `request` asks for: a waiting poll where it may wait and
    /// the server holds polls (see [`WaitingPolls`]), a standard one else.
    pub(crate) async fn poll(&self, request: PollRequest) -> Result<Vec<Record>> {
        let polled = match self.waiting.poll(&self.link, &request).await {
            Ok(Some(polled)) => polled,
            Ok(None) => self.poll_now(&request).await?,
            Err(e) => {
                return Err(e
                    .with_context("topic", &request.topic)
                    .with_context("partition", request.partition))
            }
        };
        let mut records = polled
            .messages
            .into_iter()
            .map(mapping::from_iggy)
            .collect::<Result<Vec<_>>>()?;
        if let PollFrom::Offset(from) = request.from {
            records.retain(|r| r.offset >= from);
        }
        records.truncate(request.max_records as usize);
        Ok(records)
    }

    /// A standard `PollMessages`, answered at once.
    async fn poll_now(&self, request: &PollRequest) -> Result<PolledMessages> {
        let conn = self.conn("poll").await?;
        let topic = &request.topic;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        let strategy = match request.from {
            PollFrom::Offset(offset) => PollingStrategy::offset(offset),
            PollFrom::Timestamp(micros) => PollingStrategy::timestamp(IggyTimestamp::from(micros)),
        };
        let max = request.max_records.max(1);
        conn.call(
            "poll",
            conn.client().poll_messages(
                &s,
                &t,
                Some(request.partition),
                &self.reader,
                &strategy,
                max,
                false,
            ),
        )
        .await
        .map_err(|e| {
            e.with_context("topic", topic)
                .with_context("partition", request.partition)
        })
    }
}

/// The ack of a batch whose messages were found stored at `offsets` (in
/// batch order) by a search from `lower`, with the partition ending at
/// `end`: the first copy at or after `lower` and those following it at
/// consecutive offsets in batch order are the append's own messages, dense
/// from its `first_offset` as an ack requires; every other message is a
/// duplicate, with its copy's offset. So every message's offset in
/// [`AppendAck::offsets`] is where its copy is, whatever the labels: a copy
/// another writer stored after `lower`, or one a server left a gap before,
/// is reported where it is, as a duplicate.
fn located_ack(offsets: &[u64], lower: u64, end: u64) -> AppendAck {
    let mut first_offset = None;
    let mut next = 0;
    let mut count = 0u32;
    let mut duplicates = Vec::new();
    for (index, &offset) in offsets.iter().enumerate() {
        let own = offset >= lower && first_offset.is_none_or(|_| offset == next);
        if own {
            first_offset.get_or_insert(offset);
            next = offset.saturating_add(1);
            count += 1;
        } else {
            // A batch holds at most u32::MAX messages (checked by `append`).
            duplicates.push((index as u32, offset));
        }
    }
    AppendAck {
        first_offset: first_offset.unwrap_or(end),
        count,
        duplicates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn located_copies_after_the_bound_in_batch_order_are_the_appends_own() {
        // Stored at 10..13, nothing dropped.
        let ack = located_ack(&[10, 11, 12], 10, 13);
        assert_eq!((ack.first_offset, ack.count), (10, 3));
        assert!(ack.duplicates.is_empty());
        // Half new, half stored before the bound, interleaved.
        let ack = located_ack(&[4, 20, 5, 21], 20, 22);
        assert_eq!((ack.first_offset, ack.count), (20, 2));
        assert_eq!(ack.duplicates, [(0, 4), (2, 5)]);
        assert_eq!(ack.offsets().collect::<Vec<_>>(), [4, 20, 5, 21]);
        // Every message stored before: nothing appended, the end as
        // first offset (as the embedded log answers).
        let ack = located_ack(&[4, 5], 20, 20);
        assert_eq!((ack.first_offset, ack.count), (20, 0));
        assert_eq!(ack.offsets().collect::<Vec<_>>(), [4, 5]);
        // An id twice in the batch: one copy, the second is a duplicate.
        let ack = located_ack(&[30, 31, 30], 30, 32);
        assert_eq!((ack.first_offset, ack.count), (30, 2));
        assert_eq!(ack.duplicates, [(2, 30)]);
    }

    #[test]
    fn a_copy_out_of_line_keeps_its_offset_as_a_duplicate() {
        // Another writer stored message 0's id at 40 before this append
        // stored the rest at 45 and 46.
        let ack = located_ack(&[40, 45, 46], 40, 47);
        assert_eq!(ack.offsets().collect::<Vec<_>>(), [40, 45, 46]);
        // A server that left a gap where it dropped a message (Apache
        // Iggy before 0.9 assigned offsets before dropping duplicates).
        let ack = located_ack(&[50, 3, 52], 50, 53);
        assert_eq!(ack.offsets().collect::<Vec<_>>(), [50, 3, 52]);
        assert_eq!(ack.count + ack.duplicates.len() as u32, 3);
    }
}
