//! [`EmbeddedOffsetStore`]: committed group offsets in small files.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use rustok_iggy::{Error, ErrorKind, OffsetCapabilities, OffsetStore, Result, TopicRef};
use serde::{Deserialize, Serialize};

use crate::{
    error::{corrupt, io_error, join_error, NAME},
    fsutil::{sync_dir, write_atomic},
    partition::lock,
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
/// A commit rewrites its group's file atomically: a temporary file is
/// written and fsynced, renamed over the old one, and the directory fsynced
/// (the fsyncs are skipped under `fsync = "never"`). A crash leaves the
/// previous or the new positions, never a mix. Commits that arrive while a
/// write is under way are coalesced into the next one (group commit), so a
/// subscription committing after every batch on many partitions costs one
/// file write per round, not one per partition. Loads are served from memory.
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
    groups: Mutex<Groups>,
    /// Held by the one task writing files; holds the last version written.
    writer: tokio::sync::Mutex<u64>,
}

/// Positions as committed (in memory), and which groups' files lag behind.
#[derive(Debug, Default)]
struct Groups {
    positions: HashMap<String, Positions>,
    /// Groups changed since their file was last written.
    dirty: BTreeSet<String>,
    /// Counts changes; a commit is durable once a write covered its version.
    version: u64,
}

impl EmbeddedOffsetStore {
    /// Loads every group file of the engine's data directory.
    pub(crate) fn open(engine: Arc<Engine>) -> Result<Self> {
        let dir = engine.config.data_dir.join("offsets");
        fs::create_dir_all(&dir).map_err(|e| io_error("open offsets", &dir, e))?;
        let mut positions = HashMap::new();
        for entry in fs::read_dir(&dir).map_err(|e| io_error("open offsets", &dir, e))? {
            let path = entry.map_err(|e| io_error("open offsets", &dir, e))?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let bytes = fs::read(&path).map_err(|e| io_error("open offsets", &path, e))?;
            let file: GroupFile =
                serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e.column() as u64, e))?;
            let group = file
                .offsets
                .into_iter()
                .map(|p| ((TopicRef::new(p.stream, p.topic), p.partition), p.next))
                .collect();
            positions.insert(file.group, group);
        }
        Ok(Self {
            engine,
            dir,
            groups: Mutex::new(Groups {
                positions,
                ..Groups::default()
            }),
            writer: tokio::sync::Mutex::new(0),
        })
    }

    /// Every stored position: (group, topic, partition, next offset), sorted.
    pub fn positions(&self) -> Vec<(String, TopicRef, u32, u64)> {
        let groups = lock(&self.groups);
        let mut all: Vec<_> = groups
            .positions
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
    pub fn groups(&self) -> Vec<String> {
        let groups = lock(&self.groups);
        let mut names: Vec<String> = groups
            .positions
            .iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// Applies `change` to `group`'s positions and returns once a file write
    /// covered it.
    async fn update(
        &self,
        operation: &'static str,
        group: &str,
        change: impl FnOnce(&mut Positions) -> bool,
    ) -> Result<()> {
        self.engine.check_open(operation)?;
        file_name("group", group)?;
        let ticket = {
            let mut groups = lock(&self.groups);
            let positions = groups.positions.entry(group.to_owned()).or_default();
            let changed = change(positions);
            if !changed && !groups.dirty.contains(group) {
                // Already stored exactly so.
                return Ok(());
            }
            groups.dirty.insert(group.to_owned());
            groups.version += 1;
            groups.version
        };
        self.write_through(ticket)
            .await
            .map_err(|e| e.with_context("group", group))
    }

    /// Writes every dirty group's file unless a write already covered `ticket`.
    async fn write_through(&self, ticket: u64) -> Result<()> {
        let mut written = self.writer.lock().await;
        if *written >= ticket {
            return Ok(());
        }
        let (version, files) = {
            let mut groups = lock(&self.groups);
            let dirty = std::mem::take(&mut groups.dirty);
            let files: Vec<(String, Positions)> = dirty
                .into_iter()
                .map(|name| {
                    let positions = groups.positions.get(&name).cloned().unwrap_or_default();
                    (name, positions)
                })
                .collect();
            (groups.version, files)
        };
        for (i, (group, positions)) in files.iter().enumerate() {
            if let Err(e) = self.persist(group, positions).await {
                // Not written: these stay dirty for the next write.
                let mut groups = lock(&self.groups);
                groups
                    .dirty
                    .extend(files[i..].iter().map(|(name, _)| name.clone()));
                return Err(e);
            }
        }
        *written = version;
        Ok(())
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
        Ok(lock(&self.groups)
            .positions
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
            p.insert(key, next_offset) != Some(next_offset)
        })
        .await
    }

    async fn delete(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<()> {
        let key = (topic.clone(), partition);
        self.update("delete offset", group, |p| p.remove(&key).is_some())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedConfig;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_are_coalesced_and_all_durable() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(EmbeddedConfig::new(dir.path())).unwrap();
        let store = Arc::new(EmbeddedOffsetStore::open(engine.clone()).unwrap());
        let topic = TopicRef::new("s", "t");
        let tasks: Vec<_> = (0..16u32)
            .map(|p| {
                let (store, topic) = (store.clone(), topic.clone());
                tokio::spawn(async move {
                    for next in 1..=20 {
                        store.commit("g", &topic, p, next).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        drop(store);
        let reopened = EmbeddedOffsetStore::open(engine).unwrap();
        for p in 0..16 {
            assert_eq!(reopened.load("g", &topic, p).await.unwrap(), Some(20));
        }
    }
}
