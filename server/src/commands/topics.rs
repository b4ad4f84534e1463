//! Topics: get, list, create, delete; partitions.

use bytes::Bytes;
use iggy_binary_protocol::{
    requests::{
        partitions::CreatePartitionsRequest,
        topics::{CreateTopicRequest, DeleteTopicRequest, GetTopicRequest, GetTopicsRequest},
    },
    responses::{
        streams::TopicHeader,
        topics::{GetTopicResponse, GetTopicsResponse, PartitionResponse},
    },
    WireDecode, WireEncode, WireIdentifier, WireName, WireOptions, MAX_PARTITIONS_PER_REQUEST,
};
use rustok_iggy::{ErrorKind, TopicInfo, TopicRef, TopicRetention, MAX_PARTITIONS};

use super::{
    options::{self, Limit, COMPRESSION_NONE},
    resolve, topic_admin, Reply,
};
use crate::{catalog::TopicIds, error::Status, shared::Shared};

/// Segments a partition reports at least: Apache Iggy reports a partition
/// whose storage it does not know yet as one empty segment, and so does this
/// server for a backend that does not track storage (the memory backend).
const SEGMENTS_FLOOR: u32 = 1;

/// A topic's header and its partitions (0-based ids, as in Iggy 0.11). The
/// one source of partition figures: topic and stream details and server
/// stats add these up, so they cannot disagree.
pub(crate) async fn header(
    shared: &Shared,
    ids: &TopicIds,
    info: &TopicInfo,
) -> Result<(TopicHeader, Vec<PartitionResponse>), Status> {
    let mut partitions = Vec::new();
    let mut messages_count = 0u64;
    let mut size_bytes = 0u64;
    for partition in 0..info.partitions {
        let p = shared
            .backend
            .partition_info(&info.topic, partition)
            .await?;
        let count = p.next_offset.saturating_sub(p.first_offset);
        let storage = p.storage.unwrap_or_default();
        messages_count = messages_count.saturating_add(count);
        size_bytes = size_bytes.saturating_add(storage.bytes);
        partitions.push(PartitionResponse {
            id: partition,
            created_at: ids.created_at,
            segments_count: storage.segments.max(SEGMENTS_FLOOR),
            current_offset: p.next_offset.saturating_sub(1),
            size_bytes: storage.bytes,
            messages_count: count,
        });
    }
    let retention = retention(shared, &info.topic).await?;
    let header = TopicHeader {
        id: ids.id,
        created_at: ids.created_at,
        partitions_count: info.partitions,
        message_expiry: Limit::wire(
            retention
                .max_age
                .map(|age| u64::try_from(age.as_micros()).unwrap_or(u64::MAX - 1)),
        ),
        compression_algorithm: ids.compression.unwrap_or(COMPRESSION_NONE),
        max_topic_size: Limit::wire(retention.max_bytes),
        size_bytes,
        messages_count,
        name: WireName::new(ids.name.clone())?,
        options: WireOptions::empty(),
        derived_options: WireOptions::empty(),
    };
    Ok((header, partitions))
}

/// The topic's retention as the backend applies it; a backend without
/// per-topic retention keeps everything, which is what Apache Iggy reports
/// as never expiring and unlimited.
async fn retention(shared: &Shared, topic: &TopicRef) -> Result<TopicRetention, Status> {
    match shared.backend.topic_retention(topic).await {
        Ok(retention) => Ok(retention),
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(TopicRetention::default()),
        Err(e) => Err(e.into()),
    }
}

async fn details(shared: &Shared, topic: &resolve::TopicCtx) -> Reply {
    let info = TopicInfo {
        topic: topic.topic_ref.clone(),
        partitions: topic.partitions,
    };
    let (topic, partitions) = header(shared, &topic.topic, &info).await?;
    Ok(GetTopicResponse { topic, partitions }.to_bytes())
}

/// `GetTopic`: an empty reply when the stream or topic does not exist.
pub(crate) async fn get(shared: &Shared, body: &[u8]) -> Reply {
    let request = GetTopicRequest::decode_from(body)?;
    match resolve::topic(shared, &request.stream_id, &request.topic_id).await {
        Ok(topic) => details(shared, &topic).await,
        Err(Status::STREAM_ID_NOT_FOUND | Status::TOPIC_ID_NOT_FOUND) => Ok(Bytes::new()),
        Err(status) => Err(status),
    }
}

/// `GetTopics` of a stream.
pub(crate) async fn list(shared: &Shared, body: &[u8]) -> Reply {
    let request = GetTopicsRequest::decode_from(body)?;
    let stream = resolve::stream(shared, &request.stream_id).await?;
    let mut topics = Vec::new();
    for (ids, info) in resolve::topics(shared, &stream).await? {
        topics.push(header(shared, &ids, &info).await?.0);
    }
    Ok(GetTopicsResponse { topics }.to_bytes())
}

/// `CreateTopic`: ensures it on the backend with its partition count, under
/// its name unless a renamed topic is stored under that (then under a free
/// storage name), with the compression, expiry and size of its options.
pub(crate) async fn create(shared: &Shared, body: &[u8]) -> Reply {
    let request = CreateTopicRequest::decode_from(body)?;
    // More than one request may create is refused before anything else, as
    // Apache Iggy refuses it; none is refused too (Apache Iggy creates a
    // topic without partitions, a core topic has at least one).
    if request.partitions_count > MAX_PARTITIONS_PER_REQUEST {
        return Err(Status::TOO_MANY_PARTITIONS);
    }
    let settings = options::topic(&request.options, options::CREATE_TOPIC_KEYS)?;
    let stream = resolve::stream(shared, &request.stream_id).await?;
    if request.partitions_count == 0 || request.partitions_count > MAX_PARTITIONS {
        return Err(Status::INVALID_PARTITIONS_COUNT);
    }
    let stream_id = WireIdentifier::numeric(stream.id);
    let name = WireIdentifier::String(request.name.clone());
    match resolve::topic(shared, &stream_id, &name).await {
        Ok(_) => return Err(Status::TOPIC_NAME_ALREADY_EXISTS),
        Err(Status::TOPIC_ID_NOT_FOUND) => {}
        Err(status) => return Err(status),
    }
    let storage = resolve::free_storage(request.name.as_str(), |candidate| {
        let topic_ref = TopicRef::new(stream.storage.clone(), candidate.clone());
        let stream = &stream;
        async move {
            if shared.catalog.topic_storage_taken(stream.id, &candidate) {
                return Ok(false);
            }
            match shared.backend.topic_info(&topic_ref).await {
                Ok(_) => Ok(false),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
                Err(e) => Err(e.into()),
            }
        }
    })
    .await?;
    let topic_ref = TopicRef::new(stream.storage.clone(), storage.clone());
    shared
        .backend
        .ensure_topic(&topic_ref, request.partitions_count)
        .await?;
    if settings.sets_retention() {
        topic_admin::set_retention(shared, &topic_ref, &settings).await?;
    }
    shared
        .catalog
        .add_topic(
            stream.id,
            request.name.as_str(),
            &storage,
            settings.compression,
        )
        .await
        .map_err(|error| {
            tracing::warn!(%error, "catalog update failed");
            Status::ERROR
        })?;
    let topic = resolve::topic(shared, &stream_id, &name).await?;
    details(shared, &topic).await
}

/// `DeleteTopic`: `delete_topic` on the backend, then the offsets of its
/// groups and standalone consumers go, then the topic (and its groups)
/// leaves the catalog.
pub(crate) async fn delete(shared: &Shared, body: &[u8]) -> Reply {
    let request = DeleteTopicRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    match shared.backend.delete_topic(&topic.topic_ref).await {
        Ok(()) => {}
        // Deleted concurrently: the catalog entry goes all the same.
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    resolve::forget_offsets(
        shared,
        topic.stream.id,
        &topic.topic,
        &topic.topic_ref,
        0..topic.partitions,
    )
    .await;
    resolve::forget_topic(shared, &topic).await?;
    Ok(Bytes::new())
}

/// `CreatePartitions`: `add_partitions` on the backend; the new partitions
/// are numbered after the existing ones. None, or more than one request may
/// name, is `TooManyPartitions` (checked before the topic, as Apache Iggy
/// does); more than a topic may have in all is `InvalidPartitionsCount`.
pub(crate) async fn create_partitions(shared: &Shared, body: &[u8]) -> Reply {
    let request = CreatePartitionsRequest::decode_from(body)?;
    let count = request.partitions_count;
    if count == 0 || count > MAX_PARTITIONS_PER_REQUEST {
        return Err(Status::TOO_MANY_PARTITIONS);
    }
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    if topic
        .partitions
        .checked_add(count)
        .is_none_or(|total| total > MAX_PARTITIONS)
    {
        return Err(Status::INVALID_PARTITIONS_COUNT);
    }
    shared
        .backend
        .add_partitions(&topic.topic_ref, count)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Status::TOPIC_ID_NOT_FOUND,
            ErrorKind::InvalidInput => Status::INVALID_PARTITIONS_COUNT,
            _ => Status::from(e),
        })?;
    Ok(Bytes::new())
}
