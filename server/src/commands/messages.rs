//! Messages: send (with Iggy's partitioning), poll (with the polling
//! strategies and auto-commit), flush.

use std::time::Duration;

use bytes::Bytes;
use iggy_binary_protocol::{
    requests::messages::{FlushUnsavedBufferRequest, PollMessagesRequest},
    responses::messages::{SendMessagesConfirmationResponse, SendMessagesResponse},
    WireDecode, WireEncode, WirePartitioning,
};
use rustok_iggy::{
    iggy_extension::decode_waiting_poll, partition_for, ErrorKind, PollFrom, PollRequest,
};

use super::{
    groups, offsets,
    resolve::{self, ConsumerKey},
    Reply,
};
use crate::{
    error::Status,
    mapping::{decode_send, encode_poll},
    session::Session,
    shared::Shared,
};

/// The SDK's "no partition is assigned to this member" partition id.
const NO_ASSIGNED_PARTITION: u32 = u32::MAX - 1;
/// The partition id of an empty poll reply that makes the SDK sync its
/// group assignment again (`RESYNC_REQUIRED_PARTITION_SENTINEL`).
const RESYNC_REQUIRED: u32 = u32::MAX;

const STRATEGY_OFFSET: u8 = 1;
const STRATEGY_TIMESTAMP: u8 = 2;
const STRATEGY_FIRST: u8 = 3;
const STRATEGY_LAST: u8 = 4;
const STRATEGY_NEXT: u8 = 5;

/// `SendMessages`: one append to the partition the partitioning picks.
///
/// Partition ids are 0-based, as in Iggy 0.11 and the core. `Balanced`
/// round-robins per topic; a messages key goes to `partition_for(key)`
/// (xxh32, seed 0 — what the SDK computes client-side too).
///
/// The reply confirms the batch's partition and base offset, which tells
/// a client that its messages are stored from there on, one after another.
/// When the backend deduplicates (the embedded log's `dedup_window`) and
/// dropped messages whose id it stores, they are not: then the reply holds
/// no confirmation, which the protocol defines as a committed batch with no
/// offsets to report, and a client finds its messages by id (the remote
/// backend does). Apache Iggy with `message_deduplication` (before 0.9)
/// drops duplicates the same silent way and confirms no offsets at all.
pub(crate) async fn send(shared: &Shared, body: &Bytes) -> Reply {
    let batch = decode_send(body, shared.limits.max_batch_messages)?;
    let topic = resolve::topic(shared, &batch.header.stream_id, &batch.header.topic_id).await?;
    let partition = match &batch.header.partitioning {
        WirePartitioning::PartitionId(p) => *p,
        WirePartitioning::Balanced => shared.next_balanced(&topic.topic_ref, topic.partitions),
        WirePartitioning::MessagesKey(key) => partition_for(key, topic.partitions),
    };
    if partition >= topic.partitions {
        return Err(Status::PARTITION_NOT_FOUND);
    }
    let ack = shared
        .backend
        .append(&topic.topic_ref, partition, batch.messages)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Status::PARTITION_NOT_FOUND,
            ErrorKind::InvalidInput => Status::CANNOT_APPEND_MESSAGE,
            _ => Status::from(e),
        })?;
    let confirmations = if ack.duplicates.is_empty() {
        vec![SendMessagesConfirmationResponse {
            stream_id: topic.stream.id,
            topic_id: topic.topic.id,
            partition_id: partition,
            base_offset: ack.first_offset,
        }]
    } else {
        Vec::new()
    };
    Ok(SendMessagesResponse { confirmations }.to_bytes())
}

/// `PollMessages` from one partition.
///
/// A consumer-group poll must come from a member that owns the partition:
/// the member's assignment is re-synced first; a member whose grant changed
/// since its last `SyncConsumerGroup` gets an empty reply for partition
/// `u32::MAX`, and one polling a partition it lost gets
/// `ConsumerGroupPartitionNotOwned`, on both of which the SDK re-syncs. `next` starts
/// at the committed offset (the core stores the next offset to consume);
/// auto-commit stores the offset after the last polled message.
pub(crate) async fn poll(shared: &Shared, session: &mut Session, body: &[u8]) -> Reply {
    poll_for(shared, session, body, Duration::ZERO).await
}

/// A waiting poll ([`rustok_iggy::iggy_extension`]): [`poll`], except that
/// a partition with nothing to read from the requested position is watched
/// for up to the request's wait, and what arrives meanwhile is returned at
/// once. Only this server's clients send it; Apache Iggy refuses the code.
/// With `max_poll_wait` zero the code is refused as Apache Iggy refuses a
/// code it does not know.
pub(crate) async fn poll_waiting(shared: &Shared, session: &mut Session, body: &[u8]) -> Reply {
    let max_wait = shared.limits.max_poll_wait;
    if max_wait.is_zero() {
        return Err(Status::INVALID_COMMAND);
    }
    let (wait, body) = decode_waiting_poll(body).ok_or(Status::INVALID_COMMAND)?;
    poll_for(shared, session, body, wait.min(max_wait)).await
}

async fn poll_for(shared: &Shared, session: &mut Session, body: &[u8], wait: Duration) -> Reply {
    let request = PollMessagesRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let consumer = resolve::consumer(shared, &topic, &request.consumer).await?;
    let partition = match &consumer {
        ConsumerKey::Group(group) => {
            let Some(assigned) = groups::refresh(shared, session, &topic, group).await? else {
                return Ok(encode_poll(RESYNC_REQUIRED, 0, &[]));
            };
            match request.partition_id {
                Some(p) if assigned.contains(&p) => p,
                Some(_) => return Err(Status::CONSUMER_GROUP_PARTITION_NOT_OWNED),
                None => match assigned.first() {
                    Some(p) => *p,
                    None => return Ok(encode_poll(NO_ASSIGNED_PARTITION, 0, &[])),
                },
            }
        }
        ConsumerKey::Standalone(_) => request.partition_id.unwrap_or(0),
    };
    if partition >= topic.partitions {
        return Err(Status::PARTITION_NOT_FOUND);
    }
    let info = shared
        .backend
        .partition_info(&topic.topic_ref, partition)
        .await?;
    let count = request.count.min(shared.limits.max_poll_messages);
    let key = consumer.offsets_key();
    let from = match request.strategy.kind {
        STRATEGY_OFFSET => PollFrom::Offset(request.strategy.value),
        STRATEGY_TIMESTAMP => PollFrom::Timestamp(request.strategy.value),
        STRATEGY_FIRST => PollFrom::Offset(info.first_offset),
        STRATEGY_LAST => PollFrom::Offset(
            info.next_offset
                .saturating_sub(u64::from(count))
                .max(info.first_offset),
        ),
        STRATEGY_NEXT => PollFrom::Offset(
            shared
                .offsets
                .load(key, &topic.topic_ref, partition)
                .await?
                .unwrap_or(info.first_offset),
        ),
        _ => return Err(Status::INVALID_FORMAT),
    };
    let records = if count == 0 {
        Vec::new()
    } else {
        shared
            .backend
            .poll(PollRequest {
                topic: topic.topic_ref.clone(),
                partition,
                from,
                max_records: count,
                max_wait: wait,
            })
            .await?
    };
    let mut current_offset = info.next_offset.saturating_sub(1);
    if let Some(last) = records.last() {
        current_offset = current_offset.max(last.offset);
        if request.auto_commit {
            let fence = offsets::fence(session, &topic, &consumer, partition)?;
            let next = last.offset.saturating_add(1);
            offsets::write(shared, &topic, &consumer, partition, fence, next).await?;
        }
    }
    Ok(encode_poll(partition, current_offset, &records))
}

/// `FlushUnsavedBuffer`: [`Backend::flush`](rustok_iggy::Backend::flush)
/// with the request's `fsync` flag. Appends reach the backend's storage when
/// they are acknowledged; `fsync` syncs them to the disk whatever the
/// backend's fsync policy.
pub(crate) async fn flush(shared: &Shared, body: &[u8]) -> Reply {
    let request = FlushUnsavedBufferRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    if request.partition_id >= topic.partitions {
        return Err(Status::PARTITION_NOT_FOUND);
    }
    shared
        .backend
        .flush(&topic.topic_ref, request.partition_id, request.fsync)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Status::PARTITION_NOT_FOUND,
            _ => Status::from(e),
        })?;
    Ok(Bytes::new())
}
