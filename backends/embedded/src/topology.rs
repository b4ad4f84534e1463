//! Streams → topics → partitions on disk, the data directory lock, and the
//! background retention. (The group commit of `fsync = "interval"` runs
//! only while partitions have unsynced data: see the `partition` module.)
//!
//! ```text
//! <data_dir>/.lock                                  held while open
//! <data_dir>/streams/<stream>/<topic>/topic.meta    partition count, retention + CRC-32C (written last)
//! <data_dir>/streams/<stream>/<topic>/<n>/<base>.log
//! <data_dir>/streams/<stream>/<topic>/<n>/<base>.index
//! <data_dir>/offsets/<group>.a, .b                  committed offsets (two slots)
//! ```
//!
//! `topic.meta` is the commit point of a topic's shape and settings:
//! creating a topic writes it last, adding partitions creates their
//! directories and then rewrites it (temp file, fsync, rename, directory
//! fsync), deleting partitions rewrites it first and then removes their
//! directories, setting the topic's retention rewrites it, and deleting a
//! topic removes it first, then the directory. A topic directory without
//! `topic.meta` is debris of an interrupted create or delete: it is not
//! loaded, and creating the topic again replaces it. Partition directories
//! beyond the count (a deletion of partitions cut short) and those a purge
//! was moving away are removed when the topic is opened.
//!
//! Names are stored percent-encoded: ASCII letters, digits, `_` and `-` as
//! they are, every other byte as `%XX`, so any stream or topic name is a safe
//! file name and no two names share one.

use std::{
    collections::BTreeMap,
    fs::{self, File, TryLockError},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock, Weak},
    time::{Duration, Instant},
};

use rustok_iggy::{Error, ErrorKind, Result, TopicInfo, TopicRef, TopicRetention, MAX_PARTITIONS};
use tokio::sync::watch;

use crate::{
    config::EmbeddedConfig,
    error::{closed, io_error, NAME},
    fsutil::{sync_dir, write_atomic},
    partition::{
        lock, now_micros, remove_dir_if_present, GroupCommit, Partition, Settings, PURGED_SUFFIX,
    },
    recovery::open_partition,
};

/// The stream the DLQ topic lives in; exempt from retention.
pub(crate) const DLQ_STREAM: &str = rustok_iggy::DEFAULT_DLQ_STREAM;
/// Longest encoded name accepted (file names are limited to 255 bytes).
const MAX_ENCODED_NAME: usize = 200;
const TOPIC_META: &str = "topic.meta";

/// Encodes a name as a file name (see the module docs).
pub(crate) fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes [`encode_name`]; `None` for anything it cannot have produced.
pub(crate) fn decode_name(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A checked, encoded name.
pub(crate) fn file_name(what: &str, name: &str) -> Result<String> {
    let encoded = encode_name(name);
    if name.is_empty() || encoded.len() > MAX_ENCODED_NAME {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{what} name `{name}` must be 1 to about {MAX_ENCODED_NAME} bytes"),
        )
        .with_context("backend", NAME));
    }
    Ok(encoded)
}

/// One topic: its partitions and settings. Replaced as a whole (never
/// changed in place) when either changes.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) partitions: Vec<Arc<Partition>>,
    /// Its own retention; `None`: the config's.
    pub(crate) retention: Option<TopicRetention>,
}

impl Topic {
    fn meta(&self) -> TopicMeta {
        TopicMeta {
            partitions: self.partitions.len() as u32,
            retention: self.retention,
        }
    }
}

type Streams = BTreeMap<String, BTreeMap<String, Arc<Topic>>>;

/// The open log: every stream, topic and partition under one data directory.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) config: EmbeddedConfig,
    lock_file: Mutex<Option<File>>,
    /// Serializes the topology changes that touch the disk (create, delete,
    /// add partitions); taken before `streams`.
    topology: Mutex<()>,
    streams: RwLock<Streams>,
    closed: watch::Sender<bool>,
    /// The group commit of `fsync = "interval"`, shared by every partition.
    commit: Arc<GroupCommit>,
    /// Whether the retention task runs (it starts with the first retention
    /// configured or set on a topic).
    retention_task: std::sync::atomic::AtomicBool,
}

/// The error of a data directory another backend holds.
fn in_use(root: &Path) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "data_dir {} is already open (by another process or another backend in this one)",
            root.display()
        ),
    )
    .with_context("backend", NAME)
}

/// How long [`Engine::open`] waits for the data directory's lock.
const LOCK_WAIT: Duration = Duration::from_millis(500);
/// How often it tries meanwhile.
const LOCK_RETRY: Duration = Duration::from_millis(5);

impl Engine {
    /// Opens (creating) `config.data_dir`, taking its lock and recovering
    /// every partition. Blocking; starts the background task if called
    /// inside a tokio runtime.
    pub(crate) fn open(config: EmbeddedConfig) -> Result<Arc<Self>> {
        config.validate("")?;
        let root = config.data_dir.clone();
        fs::create_dir_all(root.join("streams")).map_err(|e| io_error("open", &root, e))?;
        let lock_path = root.join(".lock");
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_error("open", &lock_path, e))?;
        // A lock released a moment ago can still be held by a child process
        // this one forked meanwhile: the child holds a copy of every
        // descriptor until it executes its program (seen in a test binary
        // whose other tests spawn processes). So wait a little before
        // calling the directory in use.
        let give_up = Instant::now() + LOCK_WAIT;
        loop {
            match lock_file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < give_up => {
                    std::thread::sleep(LOCK_RETRY);
                }
                Err(TryLockError::WouldBlock) => return Err(in_use(&root)),
                Err(TryLockError::Error(e)) => return Err(io_error("lock", &lock_path, e)),
            }
        }
        let engine = Arc::new(Self {
            streams: RwLock::new(Streams::new()),
            lock_file: Mutex::new(Some(lock_file)),
            topology: Mutex::new(()),
            closed: watch::Sender::new(false),
            commit: Arc::default(),
            retention_task: std::sync::atomic::AtomicBool::new(false),
            config,
        });
        engine.load()?;
        engine.start_background();
        Ok(engine)
    }

    fn root(&self) -> &Path {
        &self.config.data_dir
    }

    fn settings(&self) -> Settings {
        Settings {
            fsync: self.config.fsync,
            fsync_interval: self.config.fsync_interval(),
            segment_bytes: self.config.segment_bytes,
            index_interval: self.config.index_interval_bytes,
            dedup: self.config.dedup(),
        }
    }

    fn topic_dir(&self, topic: &TopicRef) -> Result<PathBuf> {
        Ok(self
            .root()
            .join("streams")
            .join(file_name("stream", &topic.stream)?)
            .join(file_name("topic", &topic.topic)?))
    }

    fn open_topic(&self, topic: &TopicRef, dir: &Path, meta: TopicMeta) -> Result<Topic> {
        let partitions = (0..meta.partitions)
            .map(|p| {
                open_partition(
                    &dir.join(p.to_string()),
                    format!("{topic}/{p}"),
                    self.settings(),
                    self.commit.clone(),
                )
                .map(Arc::new)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Topic {
            partitions,
            retention: meta.retention,
        })
    }

    /// Opens every topic whose `topic.meta` exists. A topic directory without
    /// one is a creation interrupted before it completed, and is skipped.
    fn load(&self) -> Result<()> {
        let streams_dir = self.root().join("streams");
        let mut streams = Streams::new();
        for stream_entry in read_dir(&streams_dir)? {
            let Some(stream) = decode_name(&stream_entry.file_name().to_string_lossy()) else {
                continue;
            };
            for topic_entry in read_dir(&stream_entry.path())? {
                let Some(name) = decode_name(&topic_entry.file_name().to_string_lossy()) else {
                    continue;
                };
                let dir = topic_entry.path();
                let meta_path = dir.join(TOPIC_META);
                let text = match fs::read_to_string(&meta_path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error("open", &meta_path, e)),
                };
                let meta = parse_topic_meta(&text)
                    .ok_or_else(|| crate::error::corrupt(&meta_path, 0, "unreadable topic.meta"))?;
                remove_partition_debris(&dir, meta.partitions)?;
                let topic = TopicRef::new(stream.clone(), name.clone());
                let opened = self.open_topic(&topic, &dir, meta)?;
                streams
                    .entry(stream.clone())
                    .or_default()
                    .insert(name, Arc::new(opened));
            }
        }
        *self.streams.write().unwrap_or_else(|p| p.into_inner()) = streams;
        Ok(())
    }

    /// Fails with `Closed` after shutdown.
    pub(crate) fn check_open(&self, operation: &'static str) -> Result<()> {
        if *self.closed.borrow() {
            Err(closed(operation))
        } else {
            Ok(())
        }
    }

    /// A receiver that sees `true` once the engine is shut down.
    pub(crate) fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// Creates the topic unless it exists (with the same partition count).
    pub(crate) fn ensure_topic(&self, topic: &TopicRef, partitions: u32) -> Result<TopicInfo> {
        self.check_open("ensure_topic")?;
        let dir = self.topic_dir(topic)?;
        // Topology changes serialize on `topology`; `streams`, which every
        // append and poll reads, is locked only to look and to publish, never
        // across the file work below.
        let _topology = lock(&self.topology);
        let existing = self
            .streams
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&topic.stream)
            .and_then(|t| t.get(&topic.topic))
            .cloned();
        if let Some(existing) = existing {
            let found = existing.partitions.len();
            if found != partitions as usize {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "topic `{topic}` exists with {found} partitions (as {} records), \
                         but {partitions} were requested",
                        // Names the file: a damaged count is fixed there.
                        dir.join(TOPIC_META).display()
                    ),
                )
                .with_context("backend", NAME)
                .with_context("topic", topic));
            }
            return Ok(TopicInfo {
                topic: topic.clone(),
                partitions,
            });
        }
        // A directory of a topic that is not loaded is debris of a creation
        // or a deletion that was interrupted: it never held published data.
        remove_dir_if_present(&dir).map_err(|e| io_error("ensure_topic", &dir, e))?;
        let meta = TopicMeta {
            partitions,
            retention: None,
        };
        let opened = self.open_topic(topic, &dir, meta)?;
        let durable = self.config.durable();
        let meta = encode_topic_meta(meta);
        write_atomic(&dir.join(TOPIC_META), meta.as_bytes(), durable)
            .map_err(|e| io_error("ensure_topic", &dir, e))?;
        if durable {
            for d in [dir.parent(), dir.parent().and_then(Path::parent)]
                .into_iter()
                .flatten()
            {
                sync_dir(d).map_err(|e| io_error("ensure_topic", d, e))?;
            }
        }
        self.streams
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(topic.stream.clone())
            .or_default()
            .insert(topic.topic.clone(), Arc::new(opened));
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions,
        })
    }

    /// Deletes the topic: removes it from memory (later calls get
    /// `NotFound`), stops its partitions (appends and long polls on them end
    /// with `NotFound`, background work skips them), then removes
    /// `topic.meta` (the durable deletion point: a topic without it is not
    /// loaded again) and the topic directory. Blocking.
    pub(crate) fn delete_topic(&self, topic: &TopicRef) -> Result<()> {
        self.check_open("delete_topic")?;
        let _topology = lock(&self.topology);
        let removed = {
            let mut streams = self.streams.write().unwrap_or_else(|p| p.into_inner());
            let topics = streams
                .get_mut(&topic.stream)
                .ok_or_else(|| not_found(topic))?;
            let removed = topics
                .remove(&topic.topic)
                .ok_or_else(|| not_found(topic))?;
            if topics.is_empty() {
                streams.remove(&topic.stream);
            }
            removed
        };
        for partition in &removed.partitions {
            partition.mark_removed();
        }
        let dir = self.topic_dir(topic)?;
        let durable = self.config.durable();
        let meta = dir.join(TOPIC_META);
        match fs::remove_file(&meta) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error("delete_topic", &meta, e).with_context("topic", topic));
            }
            _ => {}
        }
        if durable {
            sync_dir(&dir).map_err(|e| io_error("delete_topic", &dir, e))?;
        }
        remove_dir_if_present(&dir).map_err(|e| io_error("delete_topic", &dir, e))?;
        if durable {
            if let Some(parent) = dir.parent() {
                sync_dir(parent).map_err(|e| io_error("delete_topic", parent, e))?;
            }
        }
        Ok(())
    }

    /// Appends `count` empty partitions: creates their directories and first
    /// segments, rewrites `topic.meta` atomically (durably unless
    /// `fsync = "never"`), then publishes the new partitions. A crash before
    /// the rewrite leaves the old count (the new directories are debris,
    /// replaced on the next attempt). Blocking.
    pub(crate) fn add_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        let _topology = lock(&self.topology);
        let current = self.topic(topic)?;
        let existing = current.partitions.len() as u32;
        let total = match existing.checked_add(count) {
            Some(total) if count > 0 && total <= MAX_PARTITIONS => total,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "can add 1 to {} partitions to a topic with {existing}, not {count}",
                        MAX_PARTITIONS.saturating_sub(existing)
                    ),
                )
                .with_context("backend", NAME)
                .with_context("topic", topic));
            }
        };
        let dir = self.topic_dir(topic)?;
        let mut partitions = current.partitions.clone();
        for p in existing..total {
            let partition_dir = dir.join(p.to_string());
            remove_dir_if_present(&partition_dir)
                .map_err(|e| io_error("add_partitions", &partition_dir, e))?;
            let opened = open_partition(
                &partition_dir,
                format!("{topic}/{p}"),
                self.settings(),
                self.commit.clone(),
            )?;
            partitions.push(Arc::new(opened));
        }
        let meta = encode_topic_meta(TopicMeta {
            partitions: total,
            retention: current.retention,
        });
        // Also fsyncs the topic directory, so the new partition directories
        // are durable before the count that names them.
        write_atomic(
            &dir.join(TOPIC_META),
            meta.as_bytes(),
            self.config.durable(),
        )
        .map_err(|e| io_error("add_partitions", &dir, e))?;
        let mut streams = self.streams.write().unwrap_or_else(|p| p.into_inner());
        let slot = streams
            .get_mut(&topic.stream)
            .and_then(|t| t.get_mut(&topic.topic))
            .ok_or_else(|| not_found(topic))?;
        *slot = Arc::new(Topic {
            partitions,
            retention: current.retention,
        });
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions: total,
        })
    }

    /// Removes the last `count` partitions: rewrites `topic.meta` with the
    /// smaller count (the commit point; a crash after it leaves directories
    /// that the next open removes), stops them (appends and long polls on
    /// them end with NotFound), publishes the smaller topic, then deletes
    /// their directories. Blocking.
    pub(crate) fn delete_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        let _topology = lock(&self.topology);
        let current = self.topic(topic)?;
        let existing = current.partitions.len() as u32;
        let keep = match existing.checked_sub(count) {
            Some(keep) if count > 0 && keep > 0 => keep,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "can delete 1 to {} of the topic's {existing} partitions, not {count}",
                        existing.saturating_sub(1)
                    ),
                )
                .with_context("backend", NAME)
                .with_context("topic", topic));
            }
        };
        let dir = self.topic_dir(topic)?;
        let durable = self.config.durable();
        let smaller = Topic {
            partitions: current.partitions[..keep as usize].to_vec(),
            retention: current.retention,
        };
        write_atomic(
            &dir.join(TOPIC_META),
            encode_topic_meta(smaller.meta()).as_bytes(),
            durable,
        )
        .map_err(|e| io_error("delete_partitions", &dir, e))?;
        for partition in &current.partitions[keep as usize..] {
            partition.mark_removed();
        }
        self.replace_topic(topic, smaller)?;
        for p in keep..existing {
            let partition_dir = dir.join(p.to_string());
            remove_dir_if_present(&partition_dir)
                .map_err(|e| io_error("delete_partitions", &partition_dir, e))?;
        }
        if durable {
            sync_dir(&dir).map_err(|e| io_error("delete_partitions", &dir, e))?;
        }
        Ok(TopicInfo {
            topic: topic.clone(),
            partitions: keep,
        })
    }

    /// Empties every partition of the topic (see [`Partition::purge`]),
    /// one after the other; a crash part-way leaves some emptied and the
    /// rest as they were. Blocking.
    pub(crate) fn purge_topic(&self, topic: &TopicRef) -> Result<()> {
        let _topology = lock(&self.topology);
        for partition in &self.topic(topic)?.partitions {
            partition.purge()?;
        }
        Ok(())
    }

    /// The topic's retention: its own, else the config's (whose byte limit
    /// is per partition).
    pub(crate) fn topic_retention(&self, topic: &TopicRef) -> Result<TopicRetention> {
        let state = self.topic(topic)?;
        Ok(state.retention.unwrap_or(TopicRetention {
            max_age: self.config.retention_max_age_secs.map(Duration::from_secs),
            max_bytes: self
                .config
                .retention_max_bytes
                .map(|b| b.saturating_mul(state.partitions.len() as u64)),
        }))
    }

    /// Sets the topic's own retention: rewrites `topic.meta` (durably unless
    /// `fsync = "never"`), then publishes it and applies it at once. A size
    /// below one segment is refused: the active segment is never deleted,
    /// so such a limit could not hold. Blocking.
    pub(crate) fn set_topic_retention(
        self: &Arc<Self>,
        topic: &TopicRef,
        retention: TopicRetention,
    ) -> Result<TopicRetention> {
        if let Some(bytes) = retention
            .max_bytes
            .filter(|b| *b < self.config.segment_bytes)
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a topic size limit of {bytes} bytes is below one segment ({} bytes, `segment_bytes`)",
                    self.config.segment_bytes
                ),
            )
            .with_context("backend", NAME)
            .with_context("topic", topic));
        }
        {
            let _topology = lock(&self.topology);
            let current = self.topic(topic)?;
            let updated = Topic {
                partitions: current.partitions.clone(),
                retention: Some(retention),
            };
            let dir = self.topic_dir(topic)?;
            write_atomic(
                &dir.join(TOPIC_META),
                encode_topic_meta(updated.meta()).as_bytes(),
                self.config.durable(),
            )
            .map_err(|e| io_error("set_topic_retention", &dir, e))?;
            self.replace_topic(topic, updated)?;
        }
        self.start_background();
        self.enforce_retention()?;
        Ok(retention)
    }

    /// Publishes a new version of a loaded topic.
    fn replace_topic(&self, topic: &TopicRef, state: Topic) -> Result<()> {
        let mut streams = self.streams.write().unwrap_or_else(|p| p.into_inner());
        let slot = streams
            .get_mut(&topic.stream)
            .and_then(|t| t.get_mut(&topic.topic))
            .ok_or_else(|| not_found(topic))?;
        *slot = Arc::new(state);
        Ok(())
    }

    /// The topic; `NotFound`, or `Closed` after shutdown.
    pub(crate) fn topic(&self, topic: &TopicRef) -> Result<Arc<Topic>> {
        self.check_open("topic access")?;
        self.streams
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&topic.stream)
            .and_then(|t| t.get(&topic.topic))
            .cloned()
            .ok_or_else(|| not_found(topic))
    }

    /// One partition, or `NotFound`.
    pub(crate) fn partition(&self, topic: &TopicRef, partition: u32) -> Result<Arc<Partition>> {
        let state = self.topic(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|p| state.partitions.get(p))
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "topic `{topic}` has {} partitions; there is no partition {partition}",
                        state.partitions.len()
                    ),
                )
                .with_context("backend", NAME)
                .with_context("topic", topic)
                .with_context("partition", partition)
            })
    }

    /// Every topic of `stream`.
    pub(crate) fn list_topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        self.check_open("list_topics")?;
        Ok(self
            .streams
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(stream)
            .map(|topics| {
                topics
                    .iter()
                    .map(|(name, t)| TopicInfo {
                        topic: TopicRef::new(stream, name.clone()),
                        partitions: t.partitions.len() as u32,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Every topic with its state.
    fn topics(&self) -> Vec<(TopicRef, Arc<Topic>)> {
        let streams = self.streams.read().unwrap_or_else(|p| p.into_inner());
        streams
            .iter()
            .flat_map(|(stream, topics)| {
                topics
                    .iter()
                    .map(|(name, t)| (TopicRef::new(stream.clone(), name.clone()), t.clone()))
            })
            .collect()
    }

    /// Every partition of every topic.
    pub(crate) fn partitions(&self) -> Vec<(TopicRef, u32, Arc<Partition>)> {
        let streams = self.streams.read().unwrap_or_else(|p| p.into_inner());
        let mut all = Vec::new();
        for (stream, topics) in streams.iter() {
            for (name, topic) in topics {
                for (p, partition) in topic.partitions.iter().enumerate() {
                    all.push((
                        TopicRef::new(stream.clone(), name.clone()),
                        p as u32,
                        partition.clone(),
                    ));
                }
            }
        }
        all
    }

    /// Applies the retention limits to every partition (except the DLQ's):
    /// a topic's own, else the config's; returns how many segments were
    /// deleted.
    pub(crate) fn enforce_retention(&self) -> Result<usize> {
        let now = now_micros();
        let mut deleted = 0;
        for (topic, state) in self.topics() {
            if topic.stream == DLQ_STREAM {
                continue;
            }
            let (max_age, max_bytes) = match state.retention {
                // A share is never below one segment: the oldest sealed
                // one stays (Apache Iggy floors it the same way).
                Some(own) => (
                    own.max_age,
                    own.partition_share(state.partitions.len() as u32)
                        .map(|share| share.max(self.config.segment_bytes)),
                ),
                None => (
                    self.config.retention_max_age_secs.map(Duration::from_secs),
                    self.config.retention_max_bytes,
                ),
            };
            if max_age.is_none() && max_bytes.is_none() {
                continue;
            }
            for partition in &state.partitions {
                deleted += partition.apply_retention(now, max_age, max_bytes)?;
            }
        }
        Ok(deleted)
    }

    /// Fsyncs every partition with data above its durable mark, all at once
    /// (each fsync runs on the blocking pool): on close and on demand.
    pub(crate) async fn sync_pending(&self) -> Result<()> {
        let syncs = self
            .partitions()
            .into_iter()
            .filter_map(|(_, _, partition)| {
                let next = partition.pending_sync()?;
                Some(async move { partition.sync_to(next).await })
            });
        futures::future::join_all(syncs)
            .await
            .into_iter()
            .collect::<Result<Vec<()>>>()
            .map(|_| ())
    }

    /// Flushes (unless `fsync = "never"`), writes the active indexes and
    /// releases the data directory. Later calls fail with `Closed`; a second
    /// close is `Ok`.
    pub(crate) async fn close(&self) -> Result<()> {
        if self.closed.send_replace(true) {
            return Ok(());
        }
        let result = if self.config.durable() {
            self.sync_pending().await
        } else {
            Ok(())
        };
        for (_, _, partition) in self.partitions() {
            partition.close_active().await;
        }
        lock(&self.lock_file).take();
        result
    }

    /// Starts the retention task if retention is configured or a topic has
    /// its own (and it is not running yet). Nothing else runs on a timer:
    /// under `interval` each partition fsyncs as soon as it has unsynced
    /// data, so an idle log never wakes.
    fn start_background(self: &Arc<Self>) {
        let retention = self.config.retention_max_age_secs.is_some()
            || self.config.retention_max_bytes.is_some()
            || self.topics().iter().any(|(_, t)| t.retention.is_some());
        if !retention
            || self
                .retention_task
                .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                "embedded backend opened outside a tokio runtime: no background retention"
            );
            self.retention_task
                .store(false, std::sync::atomic::Ordering::Release);
            return;
        };
        let every = Duration::from_secs(self.config.retention_check_secs);
        runtime.spawn(background_retention(
            Arc::downgrade(self),
            self.closed(),
            every,
        ));
    }
}

async fn background_retention(
    engine: Weak<Engine>,
    mut closed: watch::Receiver<bool>,
    every: Duration,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = closed.wait_for(|c| *c) => return,
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        match tokio::task::spawn_blocking(move || engine.enforce_retention()).await {
            Ok(Err(e)) => tracing::error!(error = %e, "embedded retention failed"),
            Err(e) => tracing::error!(error = %e, "embedded retention task failed"),
            Ok(Ok(_)) => {}
        }
    }
}

fn not_found(topic: &TopicRef) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("topic `{topic}` does not exist"),
    )
    .with_context("backend", NAME)
    .with_context("topic", topic)
}

/// Removes what an interrupted change left in a topic directory: partition
/// directories at or beyond `partitions` (a deletion of partitions cut short
/// after its commit point, or an addition before it) and the old files of a
/// purge. Only names this log makes are touched.
fn remove_partition_debris(dir: &Path, partitions: u32) -> Result<()> {
    for entry in read_dir(dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let number = name.strip_suffix(PURGED_SUFFIX).unwrap_or(&name);
        let is_partition = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        let beyond = number
            .parse::<u64>()
            .is_ok_and(|n| n >= u64::from(partitions));
        if is_partition && (beyond || number.len() != name.len()) {
            let path = entry.path();
            tracing::warn!(dir = %path.display(), "removing the files of an interrupted partition change");
            remove_dir_if_present(&path).map_err(|e| io_error("open", &path, e))?;
        }
    }
    Ok(())
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map_err(|e| io_error("open", dir, e)))
            .filter(|e| e.as_ref().map_or(true, |e| e.path().is_dir()))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error("open", dir, e)),
    }
}

/// What `topic.meta` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TopicMeta {
    partitions: u32,
    /// The topic's own retention, if one was set.
    retention: Option<TopicRetention>,
}

const NO_LIMIT: &str = "none";

/// `topic.meta`: the partition count, the topic's own retention if it has
/// one (both limits, `none` for no limit), then the CRC-32C of the lines
/// before it, so a flipped bit cannot turn into another valid value.
fn encode_topic_meta(meta: TopicMeta) -> String {
    let mut text = format!("partitions = {}\n", meta.partitions);
    if let Some(retention) = meta.retention {
        let limit = |value: Option<u64>| value.map_or(NO_LIMIT.to_owned(), |v| v.to_string());
        let age = retention
            .max_age
            .map(|age| u64::try_from(age.as_micros()).unwrap_or(u64::MAX));
        text.push_str(&format!("max_age_micros = {}\n", limit(age)));
        text.push_str(&format!("max_bytes = {}\n", limit(retention.max_bytes)));
    }
    let crc = crate::checksum::crc32c(text.as_bytes());
    format!("{text}crc32c = {crc:08x}\n")
}

/// A `topic.meta`; `None` if it is damaged. A file of one line without a
/// checksum was written before checksums were added and is read as it is.
fn parse_topic_meta(text: &str) -> Option<TopicMeta> {
    let (body, crc) = match text.find("crc32c = ") {
        Some(at) => (&text[..at], Some(&text[at..])),
        None => (text, None),
    };
    match crc {
        Some(line) => {
            let crc = line.strip_prefix("crc32c = ")?.strip_suffix('\n')?;
            if u32::from_str_radix(crc, 16).ok()? != crate::checksum::crc32c(body.as_bytes()) {
                return None;
            }
        }
        // Legacy: exactly one line.
        None if body.trim_end().contains('\n') => return None,
        None => {}
    }
    let mut values = BTreeMap::new();
    for line in body.lines() {
        let (key, value) = line.split_once('=')?;
        if values.insert(key.trim(), value.trim()).is_some() {
            return None;
        }
    }
    let partitions: u32 = values.remove("partitions")?.parse().ok()?;
    if !(1..=MAX_PARTITIONS).contains(&partitions) {
        return None;
    }
    let limit = |value: &str| match value {
        NO_LIMIT => Some(None),
        n => n.parse::<u64>().ok().filter(|n| *n > 0).map(Some),
    };
    let retention = match (values.remove("max_age_micros"), values.remove("max_bytes")) {
        (None, None) => None,
        (Some(age), Some(bytes)) => Some(TopicRetention {
            max_age: limit(age)?.map(Duration::from_micros),
            max_bytes: limit(bytes)?,
        }),
        _ => return None,
    };
    values.is_empty().then_some(TopicMeta {
        partitions,
        retention,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_file_safe() {
        for name in [
            "orders",
            "a.b/c",
            "снег",
            "..",
            "%41",
            "x y",
            "__rustok_dlq",
        ] {
            let encoded = encode_name(name);
            assert!(
                encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-%".contains(&b)),
                "{encoded}"
            );
            assert_eq!(decode_name(&encoded).as_deref(), Some(name));
        }
        assert_eq!(decode_name("%4"), None);
        assert_eq!(decode_name("%zz"), None);
        assert!(file_name("topic", "").is_err());
        assert!(file_name("topic", &"é".repeat(100)).is_err());
    }

    fn meta(partitions: u32, retention: Option<TopicRetention>) -> TopicMeta {
        TopicMeta {
            partitions,
            retention,
        }
    }

    #[test]
    fn topic_meta_parses_strictly() {
        assert_eq!(
            parse_topic_meta("partitions = 8\n"),
            Some(meta(8, None)),
            "legacy"
        );
        let before_retention = "partitions = 8\ncrc32c = b18bd54f\n";
        assert_eq!(
            encode_topic_meta(meta(8, None)),
            before_retention,
            "files without retention read and write as before"
        );
        assert_eq!(parse_topic_meta(before_retention), Some(meta(8, None)));
        let flipped = encode_topic_meta(meta(3, None)).replacen('3', "7", 1);
        assert_eq!(parse_topic_meta(&flipped), None, "{flipped}");
        let cut = &encode_topic_meta(meta(3, None))[..20];
        assert_eq!(parse_topic_meta(cut), None, "{cut}");
        assert_eq!(parse_topic_meta("partitions = 0\n"), None);
        assert_eq!(parse_topic_meta("garbage"), None);
    }

    #[test]
    fn topic_meta_round_trips_a_retention_and_detects_damage_to_it() {
        for retention in [
            TopicRetention::default(),
            TopicRetention {
                max_age: Some(Duration::from_micros(86_400_000_000)),
                max_bytes: None,
            },
            TopicRetention {
                max_age: None,
                max_bytes: Some(1 << 30),
            },
        ] {
            let text = encode_topic_meta(meta(4, Some(retention)));
            assert_eq!(
                parse_topic_meta(&text),
                Some(meta(4, Some(retention))),
                "{text}"
            );
            let flipped = text.replacen("max_", "max-", 1);
            assert_eq!(parse_topic_meta(&flipped), None, "{flipped}");
        }
        let one_limit = "partitions = 1\nmax_bytes = 5\n";
        let text = format!(
            "{one_limit}crc32c = {:08x}\n",
            crate::checksum::crc32c(one_limit.as_bytes())
        );
        assert_eq!(parse_topic_meta(&text), None, "both limits or neither");
    }
}
