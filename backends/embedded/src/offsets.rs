//! [`EmbeddedOffsetStore`]: committed group offsets in small files.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    path::PathBuf,
    sync::Arc,
};

use async_trait::async_trait;
use rustok_iggy::{Error, ErrorKind, OffsetCapabilities, OffsetStore, Result, TopicRef};
use serde::{Deserialize, Serialize};

use crate::{
    error::{corrupt, io_error, join_error, NAME},
    fsutil::{sync_dir, write_atomic},
    topology::{file_name, Engine},
};

type Positions = BTreeMap<(TopicRef, u32), u64>;

#[derive(Serialize, Deserialize)]
struct GroupFile {
    version: u32,
    group: String,
    offsets: Vec<Position>,
}

#[derive(Serialize, Deserialize)]
struct Position {
    stream: String,
    topic: String,
    partition: u32,
    next: u64,
}

/// An [`OffsetStore`] keeping each group's committed offsets in one file,
/// `<data_dir>/offsets/<group>.json`.
///
/// Every commit rewrites the group's file atomically: a temporary file is
/// written and fsynced, renamed over the old one, and the directory fsynced
/// (the fsyncs are skipped under `fsync = "never"`). A crash leaves the
/// previous or the new positions, never a mix. Commits are serialized;
/// loads are served from memory.
///
/// It is what [`EmbeddedBackend::offset_store`](rustok_iggy::Backend::offset_store)
/// returns, and is registered as `"embedded"`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use rustok_iggy::{Backend, OffsetStore, TopicRef};
/// use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig};
///
/// let dir = tempfile::tempdir().unwrap();
/// let backend = EmbeddedBackend::open(EmbeddedConfig::new(dir.path())).await?;
/// let store = backend.offsets();
/// let topic = TopicRef::new("app", "orders");
/// store.commit("billing", &topic, 0, 42).await?;
/// assert_eq!(store.load("billing", &topic, 0).await?, Some(42));
/// backend.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EmbeddedOffsetStore {
    engine: Arc<Engine>,
    dir: PathBuf,
    groups: tokio::sync::Mutex<HashMap<String, Positions>>,
}

impl EmbeddedOffsetStore {
    /// Loads every group file of the engine's data directory.
    pub(crate) fn open(engine: Arc<Engine>) -> Result<Self> {
        let dir = engine.config.data_dir.join("offsets");
        fs::create_dir_all(&dir).map_err(|e| io_error("open offsets", &dir, e))?;
        let mut groups = HashMap::new();
        for entry in fs::read_dir(&dir).map_err(|e| io_error("open offsets", &dir, e))? {
            let path = entry.map_err(|e| io_error("open offsets", &dir, e))?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let bytes = fs::read(&path).map_err(|e| io_error("open offsets", &path, e))?;
            let file: GroupFile =
                serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e.column() as u64, e))?;
            let positions = file
                .offsets
                .into_iter()
                .map(|p| ((TopicRef::new(p.stream, p.topic), p.partition), p.next))
                .collect();
            groups.insert(file.group, positions);
        }
        Ok(Self {
            engine,
            dir,
            groups: tokio::sync::Mutex::new(groups),
        })
    }

    /// Every stored position: (group, topic, partition, next offset), sorted.
    pub async fn positions(&self) -> Vec<(String, TopicRef, u32, u64)> {
        let groups = self.groups.lock().await;
        let mut all: Vec<_> = groups
            .iter()
            .flat_map(|(group, positions)| {
                positions
                    .iter()
                    .map(move |((topic, p), next)| (group.clone(), topic.clone(), *p, *next))
            })
            .collect();
        all.sort();
        all
    }

    /// Names of the groups with a stored position, sorted.
    pub async fn groups(&self) -> Vec<String> {
        let mut names: Vec<String> = self.groups.lock().await.keys().cloned().collect();
        names.sort();
        names
    }

    /// Writes `positions` as `group`'s file (or removes it when empty).
    async fn persist(&self, group: &str, positions: &Positions) -> Result<()> {
        let path = self
            .dir
            .join(format!("{}.json", file_name("group", group)?));
        let durable = self.engine.config.durable();
        let bytes = if positions.is_empty() {
            None
        } else {
            let file = GroupFile {
                version: 1,
                group: group.to_owned(),
                offsets: positions
                    .iter()
                    .map(|((topic, partition), next)| Position {
                        stream: topic.stream.clone(),
                        topic: topic.topic.clone(),
                        partition: *partition,
                        next: *next,
                    })
                    .collect(),
            };
            Some(serde_json::to_vec(&file).map_err(|e| {
                Error::new(ErrorKind::Backend, "cannot encode offsets").with_source(e)
            })?)
        };
        let dir = self.dir.clone();
        let task_path = path.clone();
        tokio::task::spawn_blocking(move || match bytes {
            Some(bytes) => write_atomic(&task_path, &bytes, durable),
            None => match fs::remove_file(&task_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ if durable => sync_dir(&dir),
                _ => Ok(()),
            },
        })
        .await
        .map_err(|e| join_error("commit offset", e))?
        .map_err(|e| io_error("commit offset", &path, e))
    }

    async fn update(
        &self,
        operation: &'static str,
        group: &str,
        change: impl FnOnce(&mut Positions),
    ) -> Result<()> {
        self.engine.check_open(operation)?;
        let mut groups = self.groups.lock().await;
        let mut positions = groups.get(group).cloned().unwrap_or_default();
        change(&mut positions);
        if groups.get(group) == Some(&positions)
            || (positions.is_empty() && !groups.contains_key(group))
        {
            return Ok(());
        }
        self.persist(group, &positions)
            .await
            .map_err(|e| e.with_context("group", group))?;
        if positions.is_empty() {
            groups.remove(group);
        } else {
            groups.insert(group.to_owned(), positions);
        }
        Ok(())
    }
}

#[async_trait]
impl OffsetStore for EmbeddedOffsetStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> OffsetCapabilities {
        OffsetCapabilities::new(true)
    }

    async fn load(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<Option<u64>> {
        self.engine.check_open("load offset")?;
        Ok(self
            .groups
            .lock()
            .await
            .get(group)
            .and_then(|p| p.get(&(topic.clone(), partition)))
            .copied())
    }

    async fn commit(
        &self,
        group: &str,
        topic: &TopicRef,
        partition: u32,
        next_offset: u64,
    ) -> Result<()> {
        let key = (topic.clone(), partition);
        self.update("commit offset", group, |p| {
            p.insert(key, next_offset);
        })
        .await
    }

    async fn delete(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<()> {
        let key = (topic.clone(), partition);
        self.update("delete offset", group, |p| {
            p.remove(&key);
        })
        .await
    }
}
