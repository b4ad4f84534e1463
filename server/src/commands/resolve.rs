//! Resolving Iggy identifiers (numeric id or name) to core names through the
//! catalog, learning what the backend holds on a miss.

use iggy_binary_protocol::{WireConsumer, WireIdentifier, KIND_CONSUMER, KIND_CONSUMER_GROUP};
use rustok_iggy::{ErrorKind, TopicInfo, TopicRef};

use crate::{
    catalog::{GroupIds, StreamIds, TopicIds},
    error::Status,
    shared::Shared,
};

/// A resolved topic.
#[derive(Debug, Clone)]
pub(crate) struct TopicCtx {
    pub(crate) stream: StreamIds,
    pub(crate) topic: TopicIds,
    pub(crate) topic_ref: TopicRef,
    pub(crate) partitions: u32,
}

fn catalog_error(error: crate::error::ServerError) -> Status {
    tracing::warn!(%error, "catalog update failed");
    Status::ERROR
}

/// The stream `id` names: from the catalog, or (by name) a stream the backend
/// holds topics in that no catalog stream is stored under.
pub(crate) async fn stream(shared: &Shared, id: &WireIdentifier) -> Result<StreamIds, Status> {
    if let Some(stream) = shared.catalog.stream(id) {
        return Ok(stream);
    }
    if let WireIdentifier::String(name) = id {
        let name = name.as_str();
        let topics = match shared.catalog.stream_storage_taken(name) {
            true => Vec::new(),
            false => backend_topics(shared, name).await?,
        };
        if !topics.is_empty() {
            let (stream, _) = shared
                .catalog
                .add_stream(name, name)
                .await
                .map_err(catalog_error)?;
            learn(shared, &stream, &topics).await?;
            return Ok(stream);
        }
    }
    Err(Status::STREAM_ID_NOT_FOUND)
}

/// Topics the backend holds in `stream` (none for an unknown stream).
pub(crate) async fn backend_topics(
    shared: &Shared,
    stream: &str,
) -> Result<Vec<TopicInfo>, Status> {
    match shared.backend.list_topics(stream).await {
        Ok(topics) => Ok(topics),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

async fn learn(shared: &Shared, stream: &StreamIds, topics: &[TopicInfo]) -> Result<(), Status> {
    let mut names: Vec<String> = topics.iter().map(|t| t.topic.topic.clone()).collect();
    names.sort();
    shared
        .catalog
        .learn_topics(stream.id, &names)
        .await
        .map_err(catalog_error)
}

/// Lists the backend's topics of `stream`, learning new ones; returns them
/// with their catalog ids, by id.
pub(crate) async fn topics(
    shared: &Shared,
    stream: &StreamIds,
) -> Result<Vec<(TopicIds, TopicInfo)>, Status> {
    let infos = backend_topics(shared, &stream.storage).await?;
    learn(shared, stream, &infos).await?;
    Ok(shared
        .catalog
        .topics(stream.id)
        .into_iter()
        .filter_map(|ids| {
            infos
                .iter()
                .find(|i| i.topic.topic == ids.storage)
                .map(|info| (ids, info.clone()))
        })
        .collect())
}

/// The topic `topic_id` names in the stream `stream_id` names.
pub(crate) async fn topic(
    shared: &Shared,
    stream_id: &WireIdentifier,
    topic_id: &WireIdentifier,
) -> Result<TopicCtx, Status> {
    let stream = stream(shared, stream_id).await?;
    let topic = match shared.catalog.topic(stream.id, topic_id) {
        Some(topic) => topic,
        None => {
            let infos = backend_topics(shared, &stream.storage).await?;
            learn(shared, &stream, &infos).await?;
            shared
                .catalog
                .topic(stream.id, topic_id)
                .ok_or(Status::TOPIC_ID_NOT_FOUND)?
        }
    };
    let topic_ref = TopicRef::new(stream.storage.clone(), topic.storage.clone());
    let info = shared
        .backend
        .topic_info(&topic_ref)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Status::TOPIC_ID_NOT_FOUND,
            _ => Status::from(e),
        })?;
    Ok(TopicCtx {
        stream,
        topic,
        topic_ref,
        partitions: info.partitions,
    })
}

/// Forgets the offsets the groups and standalone consumers of a topic
/// stored on `partitions` (the groups and consumers the catalog knows), as
/// Apache Iggy drops consumer offsets with a deleted topic or partition, or
/// a purged one: a topic created again under the name (or purged) is read
/// from its start, not from old positions (where a group would wait for
/// records that never come, and a consumer polling `next` would skip the
/// first records to arrive). The records are gone by now, so a failure is
/// logged, not returned: the request could not be repeated to get this far.
pub(crate) async fn forget_offsets(
    shared: &Shared,
    stream_id: u32,
    topic: &TopicIds,
    topic_ref: &TopicRef,
    partitions: std::ops::Range<u32>,
) {
    let keys = shared
        .catalog
        .groups(stream_id, topic.id)
        .into_iter()
        .map(|group| group.name)
        .chain(shared.catalog.consumers(stream_id, topic.id));
    for key in keys {
        for partition in partitions.clone() {
            if let Err(error) = shared.offsets.delete(&key, topic_ref, partition).await {
                tracing::warn!(%error, %topic_ref, consumer = key, partition, "the offset of a deleted topic's consumer stays");
            }
        }
    }
}

/// The first of `name`, `name~1`, `name~2`, ... that `free` accepts: the
/// storage name of a stream or topic created under a name a renamed one is
/// still stored under.
pub(crate) async fn free_storage<F, Fut>(name: &str, mut free: F) -> Result<String, Status>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<bool, Status>>,
{
    for n in 0..MAX_STORAGE_TRIES {
        let candidate = match n {
            0 => name.to_owned(),
            n => format!("{name}~{n}"),
        };
        if free(candidate.clone()).await? {
            return Ok(candidate);
        }
    }
    tracing::warn!(name, "no free storage name");
    Err(Status::ERROR)
}

/// How many storage names [`free_storage`] tries: one per rename that left
/// its old name taken, so far more than any real history.
const MAX_STORAGE_TRIES: u32 = 1_000;

/// Removes a deleted topic from the catalog (persisted when it has a file).
pub(crate) async fn forget_topic(shared: &Shared, topic: &TopicCtx) -> Result<(), Status> {
    shared
        .catalog
        .remove_topic(topic.stream.id, topic.topic.id)
        .await
        .map_err(catalog_error)
}

/// Whose offsets a request is about.
#[derive(Debug, Clone)]
pub(crate) enum ConsumerKey {
    /// A standalone consumer; its offsets are kept under
    /// `iggy-consumer-<id or name>`.
    Standalone(String),
    /// A consumer group; its offsets are kept under the group's name, the
    /// same key an in-process subscription of that group uses.
    Group(GroupIds),
}

impl ConsumerKey {
    /// The offset-store key.
    pub(crate) fn offsets_key(&self) -> &str {
        match self {
            ConsumerKey::Standalone(key) => key,
            ConsumerKey::Group(group) => &group.name,
        }
    }
}

/// The group `id` names on a topic. A group named but not yet in the catalog
/// (say, one only in-process subscribers use) is added when `learn` is set.
pub(crate) async fn group(
    shared: &Shared,
    topic: &TopicCtx,
    id: &WireIdentifier,
    learn: bool,
) -> Result<GroupIds, Status> {
    if let Some(group) = shared.catalog.group(topic.stream.id, topic.topic.id, id) {
        return Ok(group);
    }
    match id {
        WireIdentifier::String(name) if learn => shared
            .catalog
            .add_group(topic.stream.id, topic.topic.id, name.as_str())
            .await
            .map_err(catalog_error)?
            .map(|(group, _)| group)
            .ok_or(Status::TOPIC_ID_NOT_FOUND),
        _ => Err(Status::CONSUMER_GROUP_ID_NOT_FOUND),
    }
}

/// The offsets key of a consumer.
pub(crate) async fn consumer(
    shared: &Shared,
    topic: &TopicCtx,
    consumer: &WireConsumer,
) -> Result<ConsumerKey, Status> {
    match consumer.kind {
        KIND_CONSUMER => Ok(ConsumerKey::Standalone(format!(
            "iggy-consumer-{}",
            consumer.id
        ))),
        KIND_CONSUMER_GROUP => group(shared, topic, &consumer.id, true)
            .await
            .map(ConsumerKey::Group),
        _ => Err(Status::INVALID_FORMAT),
    }
}

/// The catalog id of the stream `id` names, for a permission check: learned
/// from the backend on a miss as [`stream`] learns it; `None` when there is
/// no such stream (the command then answers "not found" itself, before any
/// permission is checked, as Apache Iggy answers).
pub(crate) async fn stream_scope(
    shared: &Shared,
    id: &WireIdentifier,
) -> Result<Option<u32>, Status> {
    match stream(shared, id).await {
        Ok(stream) => Ok(Some(stream.id)),
        Err(Status::STREAM_ID_NOT_FOUND) => Ok(None),
        Err(status) => Err(status),
    }
}

/// The catalog ids of a stream and a topic in it, for a permission check:
/// as [`stream_scope`], learning the stream's topics on a miss as [`topic`]
/// learns them, without asking the backend about the topic itself.
pub(crate) async fn topic_scope(
    shared: &Shared,
    stream_id: &WireIdentifier,
    topic_id: &WireIdentifier,
) -> Result<Option<(u32, u32)>, Status> {
    let stream = match stream(shared, stream_id).await {
        Ok(stream) => stream,
        Err(Status::STREAM_ID_NOT_FOUND) => return Ok(None),
        Err(status) => return Err(status),
    };
    if shared.catalog.topic(stream.id, topic_id).is_none() {
        let infos = backend_topics(shared, &stream.name).await?;
        learn(shared, &stream, &infos).await?;
    }
    Ok(shared
        .catalog
        .topic(stream.id, topic_id)
        .map(|topic| (stream.id, topic.id)))
}
