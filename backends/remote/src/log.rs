//! The log operations over one connection: topology, append, poll and
//! partition info. Shared by [`RemoteBackend`](crate::RemoteBackend) and the
//! DLQ store.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use iggy::prelude::{
    Consumer, Durability, Identifier, IggyMessage, IggyTimestamp, MessageClient, PartitionClient,
    Partitioning, PollingStrategy, SendMessagesResponse, StreamClient, TopicClient,
    TopicCreateOptions, TopicDetails,
};
use rustok_iggy::{
    AppendAck, Error, ErrorKind, Message, PartitionInfo, PartitionStorage, PollFrom, PollRequest,
    Record, Result, TopicInfo, TopicRef,
};

use crate::{
    client::{Connection, Link},
    mapping, TopicDurability,
};

/// The standalone Iggy consumer name `poll` reads as. Polls never commit
/// (auto-commit off), so no offset is ever stored under it.
pub(crate) const READER: &str = "rustok-remote-reader";

const CONFIRMS_UNKNOWN: u8 = 0;
const CONFIRMS_YES: u8 = 1;
const CONFIRMS_NO: u8 = 2;

/// Serializes this process's appends to one partition.
type PartitionLock = Arc<tokio::sync::Mutex<()>>;

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
    /// Whether the server reports the base offset of a send (SDK 0.11's
    /// `SendMessagesResponse` may be empty on older servers).
    confirms: AtomicU8,
    /// Serializes appends of this process per partition while the server's
    /// confirmations are unknown or absent (see [`Log::append`]).
    locks: Mutex<HashMap<(TopicRef, u32), PartitionLock>>,
    reader: Consumer,
}

impl Log {
    pub(crate) fn new(link: Arc<Link>) -> Result<Self> {
        Ok(Self {
            link,
            confirms: AtomicU8::new(CONFIRMS_UNKNOWN),
            locks: Mutex::new(HashMap::new()),
            reader: Consumer::new(ident(READER)?),
        })
    }

    pub(crate) async fn conn(&self, operation: &'static str) -> Result<&Arc<Connection>> {
        self.link.get(operation).await
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
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, _), _| t != topic);
        Ok(())
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

    fn lock(&self, topic: &TopicRef, partition: u32) -> PartitionLock {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry((topic.clone(), partition)).or_default().clone()
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

    /// Appends with an explicit partition id and returns the offsets the
    /// server assigned: the base offset of the send confirmation, or, from a
    /// server that sends none, the offset where the batch's first message id
    /// is found at or after the partition's end read before the send (this
    /// process's appends to the partition are serialized meanwhile, other
    /// writers can only move the batch later, and ids are unique).
    pub(crate) async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        messages: Vec<Message>,
    ) -> Result<AppendAck> {
        let conn = self.conn("append").await?;
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
        let base = |response: &SendMessagesResponse| {
            response
                .confirmations
                .iter()
                .find(|c| c.partition_id == partition)
                .map(|c| c.base_offset)
        };
        if self.confirms.load(Ordering::Relaxed) == CONFIRMS_YES {
            let response = self.send(conn, topic, partition, &mut batch).await?;
            if let Some(first_offset) = base(&response) {
                return Ok(AppendAck::new(first_offset, count));
            }
            self.confirms.store(CONFIRMS_UNKNOWN, Ordering::Relaxed);
            let first = self.partition_info(topic, partition).await?.first_offset;
            let first_offset = self.locate(topic, partition, first, messages[0].id).await?;
            return Ok(AppendAck::new(first_offset, count));
        }
        let lock = self.lock(topic, partition);
        let _serial = lock.lock().await;
        let before = self.partition_info(topic, partition).await?.next_offset;
        let response = self.send(conn, topic, partition, &mut batch).await?;
        if let Some(first_offset) = base(&response) {
            self.confirms.store(CONFIRMS_YES, Ordering::Relaxed);
            return Ok(AppendAck::new(first_offset, count));
        }
        self.confirms.store(CONFIRMS_NO, Ordering::Relaxed);
        let first_offset = self
            .locate(topic, partition, before, messages[0].id)
            .await?;
        Ok(AppendAck::new(first_offset, count))
    }

    /// The offset of the first message with `id` at or after `from`.
    async fn locate(&self, topic: &TopicRef, partition: u32, from: u64, id: u128) -> Result<u64> {
        if id == 0 {
            // The server assigned the id: only the position read before the
            // send is known (exact while this process is the only writer).
            return Ok(from);
        }
        let mut next = from;
        loop {
            let page = self
                .poll(PollRequest {
                    topic: topic.clone(),
                    partition,
                    from: PollFrom::Offset(next),
                    max_records: 1_000,
                    max_wait: Duration::ZERO,
                })
                .await?;
            let Some(last) = page.last().map(|r| r.offset) else {
                return Err(Error::new(
                    ErrorKind::Backend,
                    "the appended batch was not found in its partition",
                )
                .with_context("topic", topic)
                .with_context("partition", partition));
            };
            if let Some(found) = page.iter().find(|r| r.message.id == id) {
                return Ok(found.offset);
            }
            next = last + 1;
        }
    }

    pub(crate) async fn poll(&self, request: PollRequest) -> Result<Vec<Record>> {
        let conn = self.conn("poll").await?;
        let topic = &request.topic;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        let strategy = match request.from {
            PollFrom::Offset(offset) => PollingStrategy::offset(offset),
            PollFrom::Timestamp(micros) => PollingStrategy::timestamp(IggyTimestamp::from(micros)),
        };
        let max = request.max_records.max(1);
        let polled = conn
            .call(
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
            })?;
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
}
