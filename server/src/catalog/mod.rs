//! Stable numeric ids for streams, topics and consumer groups.
//!
//! Iggy addresses resources by numeric id or by name; the core knows names
//! only. The catalog hands out ids per level (streams; topics of a stream;
//! groups of a topic), from 0, in order of first sight, and never reuses one.
//! Topics the backend already holds are learned in name order, so the same
//! backend yields the same ids. With a catalog file the ids (and streams
//! without topics, which a backend cannot hold) survive restarts exactly; the
//! file is rewritten after every change, and a change is acknowledged only
//! once it is on disk (see [`Durable`]).
//!
//! A rename (`UpdateStream`, `UpdateTopic`) changes only the name clients
//! see: the entry keeps the name the backend stores the stream or topic
//! under (its *storage* name, the one [`TopicRef`](rustok_iggy::TopicRef)s
//! carry), so a rename is one atomic catalog write, with nothing to move on
//! the backend and no offsets or groups to re-key. A stream or topic created
//! under a name whose storage name is taken by a renamed one gets a storage
//! name of its own (`name~1`, `name~2`, ...). See docs/architecture.md.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use iggy_binary_protocol::WireIdentifier;
use serde::{Deserialize, Serialize};

use crate::{durable::Durable, error::Result};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Data {
    next_stream_id: u32,
    streams: Vec<StreamEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StreamEntry {
    id: u32,
    name: String,
    /// The backend's name of it, when not `name` (it was renamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    storage: Option<String>,
    created_at: u64,
    next_topic_id: u32,
    topics: Vec<TopicEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TopicEntry {
    id: u32,
    name: String,
    /// The backend's name of it, when not `name` (it was renamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    storage: Option<String>,
    /// Iggy's compression algorithm code (metadata only: Apache Iggy does
    /// not compress payloads either); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compression: Option<u8>,
    created_at: u64,
    next_group_id: u32,
    groups: Vec<GroupEntry>,
    /// The offset keys of the standalone consumers that stored an offset on
    /// the topic, so that a purge or delete can forget their offsets as
    /// Apache Iggy does (an offset store cannot list what it holds).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    consumers: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GroupEntry {
    id: u32,
    name: String,
}

/// A stream known to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamIds {
    pub(crate) id: u32,
    /// The name clients see.
    pub(crate) name: String,
    /// The name the backend stores it under.
    pub(crate) storage: String,
    pub(crate) created_at: u64,
}

/// A topic known to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicIds {
    pub(crate) id: u32,
    /// The name clients see.
    pub(crate) name: String,
    /// The name the backend stores it under.
    pub(crate) storage: String,
    /// Iggy's compression algorithm code, if one was set.
    pub(crate) compression: Option<u8>,
    pub(crate) created_at: u64,
}

/// How a rename went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Renamed {
    Done,
    /// Another stream (of the catalog), or topic of the stream, has the name.
    NameTaken,
    NotFound,
}

/// A consumer group known to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupIds {
    pub(crate) id: u32,
    pub(crate) name: String,
}

/// The id ↔ name map, optionally persisted.
#[derive(Debug)]
pub(crate) struct Catalog {
    state: Durable<Data>,
}

fn matches(id: &WireIdentifier, entry_id: u32, entry_name: &str) -> bool {
    match id {
        WireIdentifier::Numeric(n) => *n == entry_id,
        WireIdentifier::String(name) => name.as_str() == entry_name,
    }
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn stream_ids(s: &StreamEntry) -> StreamIds {
    StreamIds {
        id: s.id,
        name: s.name.clone(),
        storage: s.storage.clone().unwrap_or_else(|| s.name.clone()),
        created_at: s.created_at,
    }
}

fn topic_ids(t: &TopicEntry) -> TopicIds {
    TopicIds {
        id: t.id,
        name: t.name.clone(),
        storage: t.storage.clone().unwrap_or_else(|| t.name.clone()),
        compression: t.compression,
        created_at: t.created_at,
    }
}

impl StreamEntry {
    fn storage(&self) -> &str {
        self.storage.as_deref().unwrap_or(&self.name)
    }
}

impl TopicEntry {
    fn storage(&self) -> &str {
        self.storage.as_deref().unwrap_or(&self.name)
    }
}

/// `storage` unless it is `name` (the common case, left out of the file).
fn distinct(storage: &str, name: &str) -> Option<String> {
    (storage != name).then(|| storage.to_owned())
}

fn group_ids(g: &GroupEntry) -> GroupIds {
    GroupIds {
        id: g.id,
        name: g.name.clone(),
    }
}

/// The changes, on a copy of the data: each returns its answer and whether
/// the data changed (so whether it must be written).
impl Data {
    fn add_stream(&mut self, name: &str, storage: &str) -> ((StreamIds, bool), bool) {
        if let Some(s) = self.streams.iter().find(|s| s.name == name) {
            return ((stream_ids(s), false), false);
        }
        let id = self.next_stream_id;
        self.next_stream_id = id.saturating_add(1);
        let entry = StreamEntry {
            id,
            name: name.to_owned(),
            storage: distinct(storage, name),
            created_at: now_micros(),
            next_topic_id: 0,
            topics: Vec::new(),
        };
        let ids = stream_ids(&entry);
        self.streams.push(entry);
        ((ids, true), true)
    }

    fn stream_mut(&mut self, stream_id: u32) -> Option<&mut StreamEntry> {
        self.streams.iter_mut().find(|s| s.id == stream_id)
    }

    fn topic_mut(&mut self, stream_id: u32, topic_id: u32) -> Option<&mut TopicEntry> {
        self.stream_mut(stream_id)?
            .topics
            .iter_mut()
            .find(|t| t.id == topic_id)
    }

    fn topic(&self, stream_id: u32, topic_id: u32) -> Option<&TopicEntry> {
        self.streams
            .iter()
            .find(|s| s.id == stream_id)?
            .topics
            .iter()
            .find(|t| t.id == topic_id)
    }
}

impl Catalog {
    /// Loads the catalog file if there is one (a missing file is an empty
    /// catalog), then adds `streams` that are not in it yet. Blocks on the
    /// file: call it where blocking is allowed (the server opens it on the
    /// blocking pool).
    pub(crate) fn open(path: Option<PathBuf>, streams: &[String]) -> Result<Self> {
        let state = Durable::open(path, "catalog", |data: &mut Data| {
            let mut changed = false;
            for name in streams {
                if !data.streams.iter().any(|s| s.storage() == name) {
                    changed |= data.add_stream(name, name).1;
                }
            }
            Ok(changed)
        })?;
        Ok(Self { state })
    }

    /// The current snapshot.
    fn read(&self) -> Arc<Data> {
        self.state.read()
    }

    /// Applies `change` to a copy of the data; if it changed anything,
    /// writes the copy and publishes it. Returns the change's answer once
    /// it is durable.
    async fn change<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Data) -> (T, bool),
    ) -> Result<T> {
        self.state.change(change).await
    }

    /// Every stream, by id.
    pub(crate) fn streams(&self) -> Vec<StreamIds> {
        let mut streams: Vec<StreamIds> = self.read().streams.iter().map(stream_ids).collect();
        streams.sort_by_key(|s| s.id);
        streams
    }

    /// The stream `id` names, if known.
    pub(crate) fn stream(&self, id: &WireIdentifier) -> Option<StreamIds> {
        self.read()
            .streams
            .iter()
            .find(|s| matches(id, s.id, &s.name))
            .map(stream_ids)
    }

    /// Adds a stream stored under `storage` unless one named `name` exists;
    /// returns it and whether it was new.
    pub(crate) async fn add_stream(&self, name: &str, storage: &str) -> Result<(StreamIds, bool)> {
        self.change(|data| data.add_stream(name, storage)).await
    }

    /// Whether a stream is stored under `storage`.
    pub(crate) fn stream_storage_taken(&self, storage: &str) -> bool {
        self.read().streams.iter().any(|s| s.storage() == storage)
    }

    /// Whether a topic of the stream is stored under `storage`.
    pub(crate) fn topic_storage_taken(&self, stream_id: u32, storage: &str) -> bool {
        self.read()
            .streams
            .iter()
            .find(|s| s.id == stream_id)
            .is_some_and(|s| s.topics.iter().any(|t| t.storage() == storage))
    }

    /// Gives the stream the name `name` clients see (its storage name stays).
    pub(crate) async fn rename_stream(&self, stream_id: u32, name: &str) -> Result<Renamed> {
        self.change(|data| {
            if data
                .streams
                .iter()
                .any(|s| s.name == name && s.id != stream_id)
            {
                return (Renamed::NameTaken, false);
            }
            let Some(stream) = data.stream_mut(stream_id) else {
                return (Renamed::NotFound, false);
            };
            let changed = stream.name != name;
            stream.storage = distinct(stream.storage(), name);
            stream.name = name.to_owned();
            (Renamed::Done, changed)
        })
        .await
    }

    /// Gives the topic the name `name` clients see (its storage name
    /// stays), and sets its compression code if `compression` is given.
    pub(crate) async fn update_topic(
        &self,
        stream_id: u32,
        topic_id: u32,
        name: &str,
        compression: Option<u8>,
    ) -> Result<Renamed> {
        self.change(|data| {
            let Some(stream) = data.stream_mut(stream_id) else {
                return (Renamed::NotFound, false);
            };
            if stream
                .topics
                .iter()
                .any(|t| t.name == name && t.id != topic_id)
            {
                return (Renamed::NameTaken, false);
            }
            let Some(topic) = stream.topics.iter_mut().find(|t| t.id == topic_id) else {
                return (Renamed::NotFound, false);
            };
            let compression = compression.or(topic.compression);
            let changed = topic.name != name || topic.compression != compression;
            topic.storage = distinct(topic.storage(), name);
            topic.name = name.to_owned();
            topic.compression = compression;
            (Renamed::Done, changed)
        })
        .await
    }

    /// Adds a topic named `name` stored under `storage` to the stream;
    /// `None` if the stream is unknown. An entry with either name is
    /// returned as it is.
    pub(crate) async fn add_topic(
        &self,
        stream_id: u32,
        name: &str,
        storage: &str,
        compression: Option<u8>,
    ) -> Result<Option<TopicIds>> {
        self.change(|data| {
            let Some(stream) = data.stream_mut(stream_id) else {
                return (None, false);
            };
            if let Some(t) = stream
                .topics
                .iter_mut()
                .find(|t| t.name == name || t.storage() == storage)
            {
                // Learned meanwhile from the backend (a listing ran between
                // its creation and this): the same topic.
                let changed = compression.is_some() && t.compression != compression;
                if changed {
                    t.compression = compression;
                }
                return (Some(topic_ids(t)), changed);
            }
            let id = stream.next_topic_id;
            stream.next_topic_id = id.saturating_add(1);
            let entry = TopicEntry {
                id,
                name: name.to_owned(),
                storage: distinct(storage, name),
                compression,
                created_at: now_micros(),
                next_group_id: 0,
                groups: Vec::new(),
                consumers: BTreeSet::new(),
            };
            let ids = topic_ids(&entry);
            stream.topics.push(entry);
            (Some(ids), true)
        })
        .await
    }

    /// Forgets a stream (its id is not reused).
    pub(crate) async fn remove_stream(&self, stream_id: u32) -> Result<()> {
        self.change(|data| {
            let before = data.streams.len();
            data.streams.retain(|s| s.id != stream_id);
            ((), data.streams.len() != before)
        })
        .await
    }

    /// Forgets a topic and its groups (its id is not reused).
    pub(crate) async fn remove_topic(&self, stream_id: u32, topic_id: u32) -> Result<()> {
        self.change(|data| {
            let Some(stream) = data.stream_mut(stream_id) else {
                return ((), false);
            };
            let before = stream.topics.len();
            stream.topics.retain(|t| t.id != topic_id);
            ((), stream.topics.len() != before)
        })
        .await
    }

    /// Learns topics the backend holds: storage names no entry has get ids
    /// in the order given (callers pass them sorted by name). One whose name
    /// a renamed topic took is left out (and logged): two topics of a
    /// stream cannot share a name.
    pub(crate) async fn learn_topics(&self, stream_id: u32, names: &[String]) -> Result<()> {
        self.change(|data| {
            let Some(stream) = data.stream_mut(stream_id) else {
                return ((), false);
            };
            let mut changed = false;
            for name in names {
                if stream.topics.iter().any(|t| t.storage() == name) {
                    continue;
                }
                if stream.topics.iter().any(|t| &t.name == name) {
                    tracing::warn!(
                        stream = stream.name,
                        topic = name,
                        "a backend topic has the name a renamed topic took; it is not served"
                    );
                    continue;
                }
                let id = stream.next_topic_id;
                stream.next_topic_id = id.saturating_add(1);
                stream.topics.push(TopicEntry {
                    id,
                    name: name.clone(),
                    storage: None,
                    compression: None,
                    created_at: now_micros(),
                    next_group_id: 0,
                    groups: Vec::new(),
                    consumers: BTreeSet::new(),
                });
                changed = true;
            }
            ((), changed)
        })
        .await
    }

    /// The topic `id` names in a stream, if known.
    pub(crate) fn topic(&self, stream_id: u32, id: &WireIdentifier) -> Option<TopicIds> {
        self.read()
            .streams
            .iter()
            .find(|s| s.id == stream_id)?
            .topics
            .iter()
            .find(|t| matches(id, t.id, &t.name))
            .map(topic_ids)
    }

    /// The topics of a stream, by id.
    pub(crate) fn topics(&self, stream_id: u32) -> Vec<TopicIds> {
        let mut topics: Vec<TopicIds> = self
            .read()
            .streams
            .iter()
            .find(|s| s.id == stream_id)
            .map(|s| s.topics.iter().map(topic_ids).collect())
            .unwrap_or_default();
        topics.sort_by_key(|t| t.id);
        topics
    }

    /// The groups of a topic, by id.
    pub(crate) fn groups(&self, stream_id: u32, topic_id: u32) -> Vec<GroupIds> {
        let mut groups: Vec<GroupIds> = self
            .read()
            .topic(stream_id, topic_id)
            .map(|t| t.groups.iter().map(group_ids).collect())
            .unwrap_or_default();
        groups.sort_by_key(|g| g.id);
        groups
    }

    /// The group `id` names on a topic, if known.
    pub(crate) fn group(
        &self,
        stream_id: u32,
        topic_id: u32,
        id: &WireIdentifier,
    ) -> Option<GroupIds> {
        self.groups(stream_id, topic_id)
            .into_iter()
            .find(|g| matches(id, g.id, &g.name))
    }

    /// Adds a group; `None` if the topic is unknown, `Some((group, false))`
    /// if one of that name exists.
    pub(crate) async fn add_group(
        &self,
        stream_id: u32,
        topic_id: u32,
        name: &str,
    ) -> Result<Option<(GroupIds, bool)>> {
        self.change(|data| {
            let Some(topic) = data.topic_mut(stream_id, topic_id) else {
                return (None, false);
            };
            if let Some(g) = topic.groups.iter().find(|g| g.name == name) {
                return (Some((group_ids(g), false)), false);
            }
            let id = topic.next_group_id;
            topic.next_group_id = id.saturating_add(1);
            let entry = GroupEntry {
                id,
                name: name.to_owned(),
            };
            let ids = group_ids(&entry);
            topic.groups.push(entry);
            (Some((ids, true)), true)
        })
        .await
    }

    /// The offset keys of the standalone consumers remembered on a topic.
    pub(crate) fn consumers(&self, stream_id: u32, topic_id: u32) -> Vec<String> {
        self.read()
            .topic(stream_id, topic_id)
            .map(|t| t.consumers.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Remembers that the standalone consumer `key` stores offsets on a
    /// topic (see [`consumers`](Self::consumers)), for as long as the topic
    /// exists: a purge deletes the offsets but keeps the consumers, so that
    /// an offset stored while the purge runs is still found by the next one.
    /// Writes the catalog only the first time: a consumer already
    /// remembered costs one lookup.
    pub(crate) async fn remember_consumer(
        &self,
        stream_id: u32,
        topic_id: u32,
        key: &str,
    ) -> Result<()> {
        let known = |data: &Data| {
            data.topic(stream_id, topic_id)
                .is_none_or(|t| t.consumers.contains(key))
        };
        if known(&self.read()) {
            return Ok(());
        }
        self.change(|data| {
            let Some(topic) = data.topic_mut(stream_id, topic_id) else {
                return ((), false);
            };
            ((), topic.consumers.insert(key.to_owned()))
        })
        .await
    }

    /// Forgets a group.
    pub(crate) async fn remove_group(
        &self,
        stream_id: u32,
        topic_id: u32,
        group_id: u32,
    ) -> Result<()> {
        self.change(|data| {
            let Some(topic) = data.topic_mut(stream_id, topic_id) else {
                return ((), false);
            };
            let before = topic.groups.len();
            topic.groups.retain(|g| g.id != group_id);
            ((), topic.groups.len() != before)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A catalog file in a fresh directory that does not exist yet.
    fn new_path() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog").join("catalog.json");
        (dir, path)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn ids_are_stable_and_survive_a_reopen() {
        let (_dir, path) = new_path();
        let catalog = Catalog::open(Some(path.clone()), &["app".to_owned()]).unwrap();
        let (other, new) = catalog.add_stream("other", "other").await.unwrap();
        assert!(new);
        assert_eq!(other.id, 1);
        catalog
            .learn_topics(0, &["a".to_owned(), "b".to_owned()])
            .await
            .unwrap();
        catalog
            .learn_topics(0, &["0-first".to_owned()])
            .await
            .unwrap();
        let (group, _) = catalog.add_group(0, 1, "billing").await.unwrap().unwrap();
        catalog.remove_stream(other.id).await.unwrap();
        drop(catalog);

        let catalog = Catalog::open(Some(path), &[]).unwrap();
        let app = catalog.stream(&WireIdentifier::numeric(0)).unwrap();
        assert_eq!(app.name, "app");
        assert_eq!(catalog.stream(&WireIdentifier::numeric(1)), None);
        let b = catalog
            .topic(0, &WireIdentifier::named("b").unwrap())
            .unwrap();
        assert_eq!(b.id, 1);
        assert_eq!(
            catalog.topic(0, &WireIdentifier::numeric(2)).unwrap().name,
            "0-first"
        );
        assert_eq!(
            catalog.group(0, 1, &WireIdentifier::numeric(group.id)),
            Some(group)
        );
        let (again, new) = catalog.add_stream("again", "again").await.unwrap();
        assert!(new);
        assert_eq!(again.id, 2, "the removed stream's id is not reused");
    }

    /// A rename changes the name clients see, keeps the storage name, and
    /// survives a reopen; learning the backend's topics does not add the
    /// renamed one again under its storage name.
    #[tokio::test(flavor = "current_thread")]
    async fn renames_keep_the_storage_name_and_survive_a_reopen() {
        let (_dir, path) = new_path();
        let catalog = Catalog::open(Some(path.clone()), &["app".to_owned()]).unwrap();
        catalog
            .learn_topics(0, &["a".to_owned(), "b".to_owned()])
            .await
            .unwrap();
        assert_eq!(
            catalog.rename_stream(0, "shop").await.unwrap(),
            Renamed::Done
        );
        assert_eq!(
            catalog.update_topic(0, 0, "b", None).await.unwrap(),
            Renamed::NameTaken
        );
        assert_eq!(
            catalog.update_topic(0, 0, "orders", Some(2)).await.unwrap(),
            Renamed::Done
        );
        assert_eq!(
            catalog.rename_stream(9, "x").await.unwrap(),
            Renamed::NotFound
        );
        drop(catalog);

        let catalog = Catalog::open(Some(path), &["app".to_owned()]).unwrap();
        let names: Vec<_> = catalog
            .streams()
            .into_iter()
            .map(|s| (s.name, s.storage))
            .collect();
        assert_eq!(
            names,
            [("shop".to_owned(), "app".to_owned())],
            "`app` is not added again"
        );
        catalog
            .learn_topics(0, &["a".to_owned(), "b".to_owned()])
            .await
            .unwrap();
        let topics: Vec<_> = catalog
            .topics(0)
            .into_iter()
            .map(|t| (t.name, t.storage, t.compression))
            .collect();
        assert_eq!(
            topics,
            [
                ("orders".to_owned(), "a".to_owned(), Some(2)),
                ("b".to_owned(), "b".to_owned(), None)
            ]
        );
        assert!(catalog.topic_storage_taken(0, "a"));
        assert!(catalog.stream_storage_taken("app"));
        // Renamed back, the storage name is the name again.
        catalog.update_topic(0, 0, "a", None).await.unwrap();
        let a = catalog
            .topic(0, &WireIdentifier::named("a").unwrap())
            .unwrap();
        assert_eq!((a.storage.as_str(), a.compression), ("a", Some(2)));
    }

    /// On a current-thread runtime the test's own thread is the only async
    /// worker: every rename and directory fsync must have run elsewhere (on
    /// the blocking pool), and the directory is fsynced after each rename.
    #[tokio::test(flavor = "current_thread")]
    async fn changes_write_the_file_off_the_async_worker_and_sync_its_directory() {
        let (dir, path) = new_path();
        let catalog = Catalog::open(Some(path.clone()), &[]).unwrap();
        catalog.add_stream("app", "app").await.unwrap();
        catalog.learn_topics(0, &["t".to_owned()]).await.unwrap();
        catalog.add_group(0, 0, "g").await.unwrap();
        catalog.remove_group(0, 0, 0).await.unwrap();

        let worker = std::thread::current().id();
        let steps = crate::durable::trace::steps_under(dir.path());
        let renames = steps
            .iter()
            .filter(|(s, _)| matches!(s, crate::durable::trace::Step::Renamed(_)))
            .count();
        assert_eq!(renames, 4, "one write per change: {steps:?}");
        assert!(
            steps.iter().all(|(_, thread)| *thread != worker),
            "a catalog write ran on the async worker: {steps:?}"
        );
        let parent = path.parent().unwrap().to_owned();
        for (i, (step, _)) in steps.iter().enumerate() {
            if let crate::durable::trace::Step::Renamed(_) = step {
                assert_eq!(
                    steps.get(i + 1).map(|(s, _)| s),
                    Some(&crate::durable::trace::Step::SyncedDir(parent.clone())),
                    "the directory is fsynced after rename {i}: {steps:?}"
                );
            }
        }
    }

    /// A request dropped while its change is being written (its client went
    /// away) does not lose the change: the write finishes and is published
    /// before the next change starts, so ids are not handed out twice.
    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_change_is_still_written_and_published() {
        use futures::FutureExt;

        let (_dir, path) = new_path();
        let catalog = Catalog::open(Some(path.clone()), &[]).unwrap();
        // Polled once (up to the write on the blocking pool), then dropped.
        let dropped = catalog.add_stream("dropped", "dropped").now_or_never();
        assert!(dropped.is_none(), "still writing when dropped");
        let (next, _) = catalog.add_stream("next", "next").await.unwrap();
        assert_eq!(next.id, 1, "the dropped change took id 0");
        let reopened = Catalog::open(Some(path), &[]).unwrap();
        let names: Vec<String> = reopened.streams().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["dropped", "next"]);
    }

    /// Readers see a change only once it is written: a failed write leaves
    /// the snapshot (and the ids) as they were.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_write_changes_nothing() {
        let (dir, path) = new_path();
        let catalog = Catalog::open(Some(path.clone()), &["app".to_owned()]).unwrap();
        // A directory where the temp file should go: the write fails.
        std::fs::create_dir(path.with_extension("tmp")).unwrap();
        assert!(catalog.add_stream("lost", "lost").await.is_err());
        assert_eq!(catalog.streams().len(), 1);
        std::fs::remove_dir(path.with_extension("tmp")).unwrap();
        let (stream, new) = catalog.add_stream("kept", "kept").await.unwrap();
        assert!(new);
        assert_eq!(stream.id, 1, "the failed change took no id");
        drop(dir);
    }
}
