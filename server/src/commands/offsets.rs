//! Consumer offsets: get, store, delete.
//!
//! Iggy stores the offset of the *last consumed* message; the core's
//! [`OffsetStore`](rustok_iggy::OffsetStore) stores the *next* offset to
//! consume. Storing Iggy offset `n` commits `n + 1`; a committed `0` (nothing
//! consumed) reads back as "no offset".
//!
//! A consumer group's offset is written only by the connection that is a
//! member owning the partition (Apache Iggy's rule); anyone else gets
//! `ConsumerGroupPartitionNotOwned`. Stores go through the backend's fenced
//! commit, so an in-process member and a TCP member are fenced alike.
//! Reading a group's offset needs no membership. A stored offset must name
//! a record the partition holds or held (`InvalidOffset` beyond the last
//! one, and on a partition that never held one), as in Apache Iggy.

use bytes::Bytes;
use iggy_binary_protocol::{
    requests::consumer_offsets::{
        DeleteConsumerOffsetRequest, GetConsumerOffsetRequest, StoreConsumerOffsetRequest,
    },
    responses::consumer_offsets::ConsumerOffsetResponse,
    WireDecode, WireEncode,
};

use super::{groups, resolve, resolve::ConsumerKey, Reply};
use rustok_iggy::Fence;

use crate::{error::Status, session::Session, shared::Shared};

/// `GetConsumerOffset`: an empty reply when nothing was stored.
pub(crate) async fn get(shared: &Shared, body: &[u8]) -> Reply {
    let request = GetConsumerOffsetRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let consumer = resolve::consumer(shared, &topic, &request.consumer).await?;
    let partition = request.partition_id.unwrap_or(0);
    if partition >= topic.partitions {
        return Err(Status::PARTITION_NOT_FOUND);
    }
    let stored = shared
        .offsets
        .load(consumer.offsets_key(), &topic.topic_ref, partition)
        .await?;
    let Some(next) = stored.filter(|next| *next > 0) else {
        return Ok(Bytes::new());
    };
    let info = shared
        .backend
        .partition_info(&topic.topic_ref, partition)
        .await?;
    Ok(ConsumerOffsetResponse {
        partition_id: partition,
        current_offset: info.next_offset.saturating_sub(1),
        stored_offset: next - 1,
    }
    .to_bytes())
}

/// `StoreConsumerOffset`: the membership is checked before the range, in
/// Apache Iggy's order.
pub(crate) async fn store(shared: &Shared, session: &Session, body: &[u8]) -> Reply {
    let request = StoreConsumerOffsetRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let consumer = resolve::consumer(shared, &topic, &request.consumer).await?;
    let partition = request.partition_id.unwrap_or(0);
    if partition >= topic.partitions {
        return Err(Status::PARTITION_NOT_FOUND);
    }
    let fence = fence(session, &topic, &consumer, partition)?;
    // An offset only within the partition's records.
    let end = shared
        .backend
        .partition_info(&topic.topic_ref, partition)
        .await?
        .next_offset;
    if request.offset >= end {
        return Err(Status::INVALID_OFFSET);
    }
    write(
        shared,
        &topic,
        &consumer,
        partition,
        fence,
        request.offset.saturating_add(1),
    )
    .await?;
    Ok(Bytes::new())
}

/// `DeleteConsumerOffset`: a group's only by a member owning the partition.
pub(crate) async fn delete(shared: &Shared, session: &Session, body: &[u8]) -> Reply {
    let request = DeleteConsumerOffsetRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let consumer = resolve::consumer(shared, &topic, &request.consumer).await?;
    let partition = request.partition_id.unwrap_or(0);
    if partition >= topic.partitions {
        return Err(Status::PARTITION_NOT_FOUND);
    }
    fence(session, &topic, &consumer, partition)?;
    shared
        .offsets
        .delete(consumer.offsets_key(), &topic.topic_ref, partition)
        .await?;
    Ok(Bytes::new())
}

/// This connection's claim on `partition` when `consumer` is a group
/// (see [`groups::fence`]); `None` for a standalone consumer, whose
/// offsets are its own.
pub(crate) fn fence(
    session: &Session,
    topic: &resolve::TopicCtx,
    consumer: &ConsumerKey,
    partition: u32,
) -> Result<Option<Fence>, Status> {
    match consumer {
        ConsumerKey::Group(group) => {
            groups::fence(session, topic, &group.name, partition).map(Some)
        }
        ConsumerKey::Standalone(_) => Ok(None),
    }
}

/// Stores `next` as `consumer`'s position: a group's through the backend's
/// fenced commit (which an in-process member's commits go through too), a
/// standalone consumer's straight to the offset store, once the catalog
/// remembers the consumer on the topic (so that a purge or delete of the
/// topic finds its offsets).
pub(crate) async fn write(
    shared: &Shared,
    topic: &resolve::TopicCtx,
    consumer: &ConsumerKey,
    partition: u32,
    fence: Option<Fence>,
    next: u64,
) -> Result<(), Status> {
    let key = consumer.offsets_key();
    match fence {
        Some(fence) => {
            shared
                .backend
                .commit_offset(
                    &shared.offsets,
                    &topic.topic_ref,
                    key,
                    partition,
                    fence,
                    next,
                )
                .await?
        }
        None => {
            shared
                .catalog
                .remember_consumer(topic.stream.id, topic.topic.id, key)
                .await
                .map_err(|error| {
                    tracing::warn!(%error, "catalog update failed");
                    Status::ERROR
                })?;
            shared
                .offsets
                .commit(key, &topic.topic_ref, partition, next)
                .await?
        }
    }
    Ok(())
}
