//! Topic administration: `UpdateTopic`, `PurgeTopic`, `DeletePartitions`,
//! `DeleteSegments`, with Apache Iggy's semantics and status codes. A
//! rename changes the catalog only (see the catalog module); expiry and
//! size are the backend's per-topic retention.

use bytes::Bytes;
use iggy_binary_protocol::{
    requests::{
        partitions::DeletePartitionsRequest,
        segments::DeleteSegmentsRequest,
        topics::{PurgeTopicRequest, UpdateTopicRequest},
    },
    WireDecode, MAX_PARTITIONS_PER_REQUEST,
};
use rustok_iggy::{ErrorKind, TopicRef, TopicRetention};

use super::{
    options::{self, TopicOptions},
    resolve, Reply,
};
use crate::{catalog::Renamed, error::Status, shared::Shared};

/// Patches the topic's retention with the options' expiry and size (a limit
/// the options leave out stays). A size the backend cannot enforce (below
/// one segment) is `InvalidTopicSize`, as in Apache Iggy.
pub(crate) async fn set_retention(
    shared: &Shared,
    topic: &TopicRef,
    settings: &TopicOptions,
) -> Result<TopicRetention, Status> {
    let mut retention = shared.backend.topic_retention(topic).await?;
    if let Some(expiry) = settings.message_expiry {
        retention.max_age = expiry.value().map(std::time::Duration::from_micros);
    }
    if let Some(size) = settings.max_topic_size {
        retention.max_bytes = size.value();
    }
    shared
        .backend
        .set_topic_retention(topic, retention)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidInput => Status::INVALID_TOPIC_SIZE,
            _ => Status::from(e),
        })
}

/// `UpdateTopic`: a new name (another topic of the stream with it is
/// `TopicNameAlreadyExists`) and, from the options, compression, message
/// expiry and max topic size; options it leaves out stay as they are.
pub(crate) async fn update(shared: &Shared, body: &[u8]) -> Reply {
    let request = UpdateTopicRequest::decode_from(body)?;
    let settings = options::topic(&request.options, options::UPDATE_TOPIC_KEYS)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let name = request.name.as_str();
    // Every topic the backend holds is in the catalog before the name is
    // checked, so a rename cannot hide one of them.
    resolve::topics(shared, &topic.stream).await?;
    let taken = shared
        .catalog
        .topics(topic.stream.id)
        .iter()
        .any(|t| t.name == name && t.id != topic.topic.id);
    if taken {
        return Err(Status::TOPIC_NAME_ALREADY_EXISTS);
    }
    if settings.sets_retention() {
        set_retention(shared, &topic.topic_ref, &settings).await?;
    }
    let renamed = shared
        .catalog
        .update_topic(topic.stream.id, topic.topic.id, name, settings.compression)
        .await
        .map_err(catalog_error)?;
    match renamed {
        Renamed::Done => Ok(Bytes::new()),
        Renamed::NameTaken => Err(Status::TOPIC_NAME_ALREADY_EXISTS),
        Renamed::NotFound => Err(Status::TOPIC_ID_NOT_FOUND),
    }
}

/// `PurgeTopic`: every partition is emptied and starts again at offset 0
/// (`purge_topic` on the backend), and the offsets of the topic's groups
/// and standalone consumers go, as Apache Iggy clears a purged partition's
/// consumer offsets.
pub(crate) async fn purge(shared: &Shared, body: &[u8]) -> Reply {
    let request = PurgeTopicRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    purge_topic(shared, &topic).await?;
    Ok(Bytes::new())
}

/// Purges one resolved topic (also `PurgeStream`'s step).
pub(crate) async fn purge_topic(shared: &Shared, topic: &resolve::TopicCtx) -> Result<(), Status> {
    shared.backend.purge_topic(&topic.topic_ref).await?;
    resolve::forget_offsets(
        shared,
        topic.stream.id,
        &topic.topic,
        &topic.topic_ref,
        0..topic.partitions,
    )
    .await;
    Ok(())
}

/// `DeletePartitions`: the last `partitions_count` partitions go, with their
/// records and the offsets stored on them. None, or more than one request may
/// name, is `TooManyPartitions`; more than the topic has is
/// `InvalidPartitionsCount`, and so is all of them (Apache Iggy leaves a
/// topic without partitions; a topic here keeps one, see the docs).
pub(crate) async fn delete_partitions(shared: &Shared, body: &[u8]) -> Reply {
    let request = DeletePartitionsRequest::decode_from(body)?;
    let count = request.partitions_count;
    if count == 0 || count > MAX_PARTITIONS_PER_REQUEST {
        return Err(Status::TOO_MANY_PARTITIONS);
    }
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    if count >= topic.partitions {
        return Err(Status::INVALID_PARTITIONS_COUNT);
    }
    let info = shared
        .backend
        .delete_partitions(&topic.topic_ref, count)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Status::TOPIC_ID_NOT_FOUND,
            ErrorKind::InvalidInput => Status::INVALID_PARTITIONS_COUNT,
            _ => Status::from(e),
        })?;
    resolve::forget_offsets(
        shared,
        topic.stream.id,
        &topic.topic,
        &topic.topic_ref,
        info.partitions..topic.partitions,
    )
    .await;
    Ok(Bytes::new())
}

/// `DeleteSegments`: up to `segments_count` of the partition's oldest
/// segments go, never the one being appended to (none is a no-op, as in
/// Apache Iggy). An unknown partition is `PartitionNotFound`.
pub(crate) async fn delete_segments(shared: &Shared, body: &[u8]) -> Reply {
    let request = DeleteSegmentsRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    if request.partition_id >= topic.partitions {
        return Err(Status::PARTITION_NOT_FOUND);
    }
    shared
        .backend
        .delete_segments(
            &topic.topic_ref,
            request.partition_id,
            request.segments_count,
        )
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Status::PARTITION_NOT_FOUND,
            _ => Status::from(e),
        })?;
    Ok(Bytes::new())
}

fn catalog_error(error: crate::error::ServerError) -> Status {
    tracing::warn!(%error, "catalog update failed");
    Status::ERROR
}
