//! Streams: get, list, create, delete, update (rename), purge.

use bytes::Bytes;
use iggy_binary_protocol::{
    requests::streams::{
        CreateStreamRequest, DeleteStreamRequest, GetStreamRequest, PurgeStreamRequest,
        UpdateStreamRequest,
    },
    responses::streams::{GetStreamResponse, GetStreamsResponse, StreamResponse},
    WireDecode, WireEncode, WireName, WireOptions,
};

use rustok_iggy::ErrorKind;

use super::{options, resolve, topic_admin, topics, Reply};
use crate::{
    catalog::{Renamed, StreamIds},
    error::Status,
    shared::Shared,
};

/// The `GetStream` payload of a stream, with its topics.
async fn details(shared: &Shared, stream: &StreamIds) -> Result<GetStreamResponse, Status> {
    let mut headers = Vec::new();
    let mut messages_count = 0u64;
    let mut size_bytes = 0u64;
    for (ids, info) in resolve::topics(shared, stream).await? {
        let (header, _) = topics::header(shared, &ids, &info).await?;
        messages_count = messages_count.saturating_add(header.messages_count);
        size_bytes = size_bytes.saturating_add(header.size_bytes);
        headers.push(header);
    }
    Ok(GetStreamResponse {
        stream: StreamResponse {
            id: stream.id,
            created_at: stream.created_at,
            topics_count: u32::try_from(headers.len()).unwrap_or(u32::MAX),
            size_bytes,
            messages_count,
            name: WireName::new(stream.name.clone())?,
            options: WireOptions::empty(),
        },
        topics: headers,
    })
}

/// `GetStream`: an empty reply when the stream does not exist.
pub(crate) async fn get(shared: &Shared, body: &[u8]) -> Reply {
    let request = GetStreamRequest::decode_from(body)?;
    match resolve::stream(shared, &request.stream_id).await {
        Ok(stream) => Ok(details(shared, &stream).await?.to_bytes()),
        Err(Status::STREAM_ID_NOT_FOUND) => Ok(Bytes::new()),
        Err(status) => Err(status),
    }
}

/// `GetStreams`: every stream the catalog knows.
pub(crate) async fn list(shared: &Shared) -> Reply {
    let mut streams = Vec::new();
    for stream in shared.catalog.streams() {
        streams.push(details(shared, &stream).await?.stream);
    }
    Ok(GetStreamsResponse { streams }.to_bytes())
}

/// `CreateStream`: a stream lives in the catalog until it gets a topic. Its
/// storage name is its name, unless a renamed stream is stored under that.
pub(crate) async fn create(shared: &Shared, body: &[u8]) -> Reply {
    let request = CreateStreamRequest::decode_from(body)?;
    let name = request.name.as_str();
    let adoptable = !shared.catalog.stream_storage_taken(name);
    if adoptable && !resolve::backend_topics(shared, name).await?.is_empty() {
        return Err(Status::STREAM_NAME_ALREADY_EXISTS);
    }
    let storage = resolve::free_storage(name, |candidate| async move {
        Ok(!shared.catalog.stream_storage_taken(&candidate)
            && resolve::backend_topics(shared, &candidate)
                .await?
                .is_empty())
    })
    .await?;
    let (stream, new) = shared
        .catalog
        .add_stream(name, &storage)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "catalog update failed");
            Status::ERROR
        })?;
    if !new {
        return Err(Status::STREAM_NAME_ALREADY_EXISTS);
    }
    Ok(details(shared, &stream).await?.to_bytes())
}

/// `DeleteStream`: deletes every topic of the stream on the backend first
/// (`delete_topic`, and the offsets stored on it, as `DeleteTopic` does), then
/// forgets the stream. A failure part-way leaves the
/// stream with the topics not deleted yet; deleting it again finishes.
pub(crate) async fn delete(shared: &Shared, body: &[u8]) -> Reply {
    let request = DeleteStreamRequest::decode_from(body)?;
    let stream = resolve::stream(shared, &request.stream_id).await?;
    let known = shared.catalog.topics(stream.id);
    for topic in resolve::backend_topics(shared, &stream.storage).await? {
        match shared.backend.delete_topic(&topic.topic).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(ids) = known.iter().find(|ids| ids.storage == topic.topic.topic) {
            resolve::forget_offsets(shared, stream.id, ids, &topic.topic, 0..topic.partitions)
                .await;
        }
    }
    shared
        .catalog
        .remove_stream(stream.id)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "catalog update failed");
            Status::ERROR
        })?;
    Ok(Bytes::new())
}

/// `UpdateStream`: a new name, in the catalog only (the backend keeps
/// storing the stream under its old one). Another stream with the name,
/// or topics the backend holds under it, is `StreamNameAlreadyExists`; any
/// option is `UnsupportedOptionKey` (streams have none, as in Apache Iggy).
pub(crate) async fn update(shared: &Shared, body: &[u8]) -> Reply {
    let request = UpdateStreamRequest::decode_from(body)?;
    options::check_keys(&request.options, options::UPDATE_STREAM_KEYS)?;
    let stream = resolve::stream(shared, &request.stream_id).await?;
    let name = request.name.as_str();
    let unknown_backend_stream = name != stream.storage
        && !shared.catalog.stream_storage_taken(name)
        && !resolve::backend_topics(shared, name).await?.is_empty();
    if unknown_backend_stream {
        return Err(Status::STREAM_NAME_ALREADY_EXISTS);
    }
    let renamed = shared
        .catalog
        .rename_stream(stream.id, name)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "catalog update failed");
            Status::ERROR
        })?;
    match renamed {
        Renamed::Done => Ok(Bytes::new()),
        Renamed::NameTaken => Err(Status::STREAM_NAME_ALREADY_EXISTS),
        Renamed::NotFound => Err(Status::STREAM_ID_NOT_FOUND),
    }
}

/// `PurgeStream`: `PurgeTopic` of every topic of the stream.
pub(crate) async fn purge(shared: &Shared, body: &[u8]) -> Reply {
    let request = PurgeStreamRequest::decode_from(body)?;
    let stream = resolve::stream(shared, &request.stream_id).await?;
    for (ids, info) in resolve::topics(shared, &stream).await? {
        let topic = resolve::TopicCtx {
            stream: stream.clone(),
            topic: ids,
            topic_ref: info.topic,
            partitions: info.partitions,
        };
        topic_admin::purge_topic(shared, &topic).await?;
    }
    Ok(Bytes::new())
}
