//! Consumer offsets: get, store, delete.
//!
//! Iggy stores the offset of the *last consumed* message; the core's
//! [`OffsetStore`](rustok_iggy::OffsetStore) stores the *next* offset to
//! consume. Storing Iggy offset `n` commits `n + 1`; a committed `0` (nothing
//! consumed) reads back as "no offset".

use bytes::Bytes;
use iggy_binary_protocol::{
    requests::consumer_offsets::{
        DeleteConsumerOffsetRequest, GetConsumerOffsetRequest, StoreConsumerOffsetRequest,
    },
    responses::consumer_offsets::ConsumerOffsetResponse,
    WireDecode, WireEncode,
};

use super::{resolve, Reply};
use crate::{error::Status, shared::Shared};

/// `GetConsumerOffset`: an empty reply when nothing was stored.
pub(crate) async fn get(shared: &Shared, body: &[u8]) -> Reply {
    let request = GetConsumerOffsetRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let consumer = resolve::consumer(shared, &topic, &request.consumer)?;
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

/// `StoreConsumerOffset`.
pub(crate) async fn store(shared: &Shared, body: &[u8]) -> Reply {
    let request = StoreConsumerOffsetRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let consumer = resolve::consumer(shared, &topic, &request.consumer)?;
    let partition = request.partition_id.unwrap_or(0);
    if partition >= topic.partitions {
        return Err(Status::PARTITION_NOT_FOUND);
    }
    shared
        .offsets
        .commit(
            consumer.offsets_key(),
            &topic.topic_ref,
            partition,
            request.offset.saturating_add(1),
        )
        .await?;
    Ok(Bytes::new())
}

/// `DeleteConsumerOffset`.
pub(crate) async fn delete(shared: &Shared, body: &[u8]) -> Reply {
    let request = DeleteConsumerOffsetRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let consumer = resolve::consumer(shared, &topic, &request.consumer)?;
    let partition = request.partition_id.unwrap_or(0);
    if partition >= topic.partitions {
        return Err(Status::PARTITION_NOT_FOUND);
    }
    shared
        .offsets
        .delete(consumer.offsets_key(), &topic.topic_ref, partition)
        .await?;
    Ok(Bytes::new())
}
