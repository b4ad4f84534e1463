//! [`LogDlqStore`]: the dead-letter queue as two topics of a log, the one
//! layout every backend of this project uses, so a DLQ written through one
//! way of reaching a log (the embedded backend in process, `rustok-iggy
//! serve` over the Iggy protocol, a real Iggy server) is the DLQ every other
//! way reads.

mod layout;

use std::{
    collections::{HashMap, HashSet},
    hash::{BuildHasher, RandomState},
    sync::Arc,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, MutexGuard};

use self::layout::Mark;
use crate::{
    DeadLetter, DlqCapabilities, DlqEntry, DlqFilter, DlqPage, DlqStore, Error, ErrorKind,
    LetterSource, Message, Record, Result, TopicRef,
};

/// The stream a log-backed DLQ lives in unless configured otherwise.
pub const DEFAULT_DLQ_STREAM: &str = "__rustok_dlq";
/// Records read per request while scanning.
const PAGE: u32 = 512;

/// The few log operations a [`LogDlqStore`] needs, on one-partition topics.
///
/// A backend crate implements it over its own log (not over its `Backend`,
/// which owns the DLQ store: that would be a reference cycle).
#[async_trait]
pub trait DlqLog: Send + Sync {
    /// Whether `topic` exists. Reads never create the DLQ's topics.
    async fn topic_exists(&self, topic: &TopicRef) -> Result<bool>;

    /// Creates `topic` with one partition unless it exists.
    async fn create_topic(&self, topic: &TopicRef) -> Result<()>;

    /// Appends to partition 0 and returns the first message's offset.
    async fn append(&self, topic: &TopicRef, messages: Vec<Message>) -> Result<u64>;

    /// Up to `max` records of partition 0 from offset `from`; only records
    /// that [`sync`](DlqLog::sync) made durable, or that the log's policy
    /// lets readers see.
    async fn read(&self, topic: &TopicRef, from: u64, max: u32) -> Result<Vec<Record>>;

    /// Makes what was appended to `topic` durable as far as the log's
    /// durability policy promises, before a put or a mark returns.
    async fn sync(&self, topic: &TopicRef) -> Result<()>;
}

/// What the store knows about the topics, built from what it read so far.
/// Only an index: letters are read from the log when asked for, so a large
/// DLQ costs a few words per entry in memory.
#[derive(Default)]
struct Index {
    /// Both topics exist (a put creates them; until then the DLQ is empty).
    ready: bool,
    /// Offsets read so far in each topic.
    entries_next: u64,
    marks_next: u64,
    /// Entry offsets by a hash of their source (collisions are resolved by
    /// reading the entry).
    sources: HashMap<u64, Vec<u64>>,
    redriven: HashMap<u64, DateTime<Utc>>,
    deleted: HashSet<u64>,
}

impl Index {
    fn live(&self, offset: u64) -> bool {
        offset < self.entries_next && !self.deleted.contains(&offset)
    }

    fn entry(&self, record: &Record) -> Result<DlqEntry> {
        Ok(DlqEntry {
            id: record.offset + 1,
            letter: layout::decode_letter(record)?,
            redriven_at: self.redriven.get(&record.offset).copied(),
        })
    }
}

/// A [`DlqStore`] on a log: dead letters are messages of the topic
/// `<stream>/entries`, and changes to them messages of `<stream>/marks`.
/// Both have one partition and are created by the first put; reading a DLQ
/// that was never written creates nothing.
///
/// An entry's id is its offset in `entries` plus one (ids start at 1 and are
/// never reused). Its message keeps the original message's headers (a key
/// that itself starts with `rustok-dlq.` is stored as `rustok-dlq.h.<key>`)
/// and adds `rustok-dlq.id` (the original message id), `.stream`, `.topic`,
/// `.partition`, `.offset`, `.group`, `.attempts`, `.first-failure`,
/// `.last-failure` (RFC 3339, nanoseconds), `.error` (the error text cut
/// to 255 bytes, for Iggy tools) and, when the original message has one,
/// `.origin-timestamp` (its origin timestamp, decimal microseconds); its payload is the full error text's
/// length (u32 little-endian), the error text, then the original payload. A
/// mark has `rustok-dlq.mark` (`redriven` or `deleted`), `rustok-dlq.entry`
/// (the entry's offset, its id minus one) and `rustok-dlq.at`. Any Iggy
/// client can read both topics.
///
/// Every call first reads what was appended since its last call, so entries
/// and marks that other processes wrote (through `rustok-iggy serve`, or
/// another client of the same Iggy server) show up. Puts are idempotent per
/// [`DeadLetter::source`] within what this store has read: two processes
/// putting the same letter at the same moment can both store it. A put or
/// mark returns after [`DlqLog::sync`].
///
/// The store keeps an index (a hash per entry, the marks) in memory and
/// reads letters from the log: `list`, and `count` with a filter other than
/// the default, scan the `entries` topic.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use std::sync::Arc;
/// use rustok_iggy::{DlqFilter, DlqLog, DlqStore, LogDlqStore, DEFAULT_DLQ_STREAM};
/// # use rustok_iggy::{Message, Record, Result, TopicRef};
/// # #[derive(Default)]
/// # struct MyLog(std::sync::Mutex<std::collections::HashMap<TopicRef, Vec<Message>>>);
/// # #[async_trait::async_trait]
/// # impl DlqLog for MyLog {
/// #     async fn topic_exists(&self, t: &TopicRef) -> Result<bool> { Ok(self.0.lock().unwrap().contains_key(t)) }
/// #     async fn create_topic(&self, t: &TopicRef) -> Result<()> { self.0.lock().unwrap().entry(t.clone()).or_default(); Ok(()) }
/// #     async fn append(&self, t: &TopicRef, m: Vec<Message>) -> Result<u64> {
/// #         let mut all = self.0.lock().unwrap(); let log = all.get_mut(t).unwrap();
/// #         let first = log.len() as u64; log.extend(m); Ok(first)
/// #     }
/// #     async fn read(&self, t: &TopicRef, from: u64, max: u32) -> Result<Vec<Record>> {
/// #         let all = self.0.lock().unwrap();
/// #         Ok(all[t].iter().enumerate().skip(from as usize).take(max as usize)
/// #             .map(|(o, m)| Record { offset: o as u64, timestamp_micros: 0, message: m.clone() }).collect())
/// #     }
/// #     async fn sync(&self, _: &TopicRef) -> Result<()> { Ok(()) }
/// # }
/// # let letter = rustok_iggy::DeadLetter {
/// #     message: Message { id: 7, origin_timestamp_micros: None, headers: Default::default(), payload: bytes::Bytes::from_static(b"{}") },
/// #     topic: TopicRef::new("app", "orders"), partition: 0, offset: 3, group: "billing".into(),
/// #     error: "boom".into(), attempts: 5, first_failure: chrono::Utc::now(), last_failure: chrono::Utc::now(),
/// # };
///
/// let log: Arc<dyn DlqLog> = Arc::new(MyLog::default());
/// let dlq = LogDlqStore::new("my-log", log, DEFAULT_DLQ_STREAM);
/// let id = dlq.put(letter.clone()).await?;
/// assert_eq!(id, 1);
/// assert_eq!(dlq.put(letter).await?, id, "the same failure is kept once");
/// assert_eq!(dlq.count(DlqFilter::default()).await?, 1);
/// # Ok(()) }
/// ```
pub struct LogDlqStore {
    name: String,
    log: Arc<dyn DlqLog>,
    entries: TopicRef,
    marks: TopicRef,
    hasher: RandomState,
    index: Mutex<Index>,
}

impl std::fmt::Debug for LogDlqStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogDlqStore")
            .field("name", &self.name)
            .field("entries", &self.entries)
            .field("marks", &self.marks)
            .finish_non_exhaustive()
    }
}

impl LogDlqStore {
    /// A store in `stream` of `log`, reporting itself as `name` (the plugin
    /// name of the backend family it belongs to).
    pub fn new(name: impl Into<String>, log: Arc<dyn DlqLog>, stream: impl Into<String>) -> Self {
        let stream = stream.into();
        Self {
            name: name.into(),
            log,
            entries: TopicRef::new(stream.clone(), "entries"),
            marks: TopicRef::new(stream, "marks"),
            hasher: RandomState::new(),
            index: Mutex::new(Index::default()),
        }
    }

    /// The topic holding the letters.
    pub fn entries_topic(&self) -> &TopicRef {
        &self.entries
    }

    /// The topic holding redrive marks and deletions.
    pub fn marks_topic(&self) -> &TopicRef {
        &self.marks
    }

    fn hash(&self, source: &LetterSource) -> u64 {
        self.hasher.hash_one(source)
    }

    fn not_found(&self, id: u64) -> Error {
        Error::new(ErrorKind::NotFound, format!("no DLQ entry with id {id}"))
            .with_context("dlq", &self.name)
    }

    /// Reads what was appended since the last refresh.
    async fn refresh(&self, index: &mut Index) -> Result<()> {
        if !index.ready {
            for topic in [&self.entries, &self.marks] {
                if !self.log.topic_exists(topic).await? {
                    return Ok(());
                }
            }
            index.ready = true;
        }
        loop {
            let page = self
                .log
                .read(&self.entries, index.entries_next, PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            index.entries_next = last.offset + 1;
            for record in &page {
                let source = layout::decode_letter(record)?.source();
                index
                    .sources
                    .entry(self.hash(&source))
                    .or_default()
                    .push(record.offset);
            }
        }
        loop {
            let page = self.log.read(&self.marks, index.marks_next, PAGE).await?;
            let Some(last) = page.last() else { break };
            index.marks_next = last.offset + 1;
            for record in &page {
                match layout::decode_mark(record)? {
                    // Deleted and redriven stay disjoint: a deletion is final.
                    Some((entry, Mark::Redriven(at))) if !index.deleted.contains(&entry) => {
                        index.redriven.insert(entry, at);
                    }
                    Some((entry, Mark::Deleted)) => {
                        index.deleted.insert(entry);
                        index.redriven.remove(&entry);
                    }
                    Some((_, Mark::Redriven(_))) | None => {}
                }
            }
        }
        Ok(())
    }

    async fn fresh(&self) -> Result<MutexGuard<'_, Index>> {
        let mut index = self.index.lock().await;
        self.refresh(&mut index).await?;
        Ok(index)
    }

    /// The record at `offset` of `entries`, if it was read into the index.
    async fn record(&self, index: &Index, offset: u64) -> Result<Option<Record>> {
        if !index.live(offset) {
            return Ok(None);
        }
        let page = self.log.read(&self.entries, offset, 1).await?;
        Ok(page.into_iter().find(|r| r.offset == offset))
    }

    /// Visits live entries with offsets from `from`, in order, until
    /// `visit` returns `false`.
    async fn scan(
        &self,
        index: &Index,
        from: u64,
        mut visit: impl FnMut(DlqEntry) -> bool,
    ) -> Result<()> {
        let mut next = from;
        while next < index.entries_next {
            let page = self.log.read(&self.entries, next, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            next = last.offset + 1;
            for record in page.iter().filter(|r| index.live(r.offset)) {
                if !visit(index.entry(record)?) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn mark(&self, index: &mut Index, offset: u64, mark: Mark) -> Result<()> {
        self.log
            .append(&self.marks, vec![layout::encode_mark(offset, mark)?])
            .await?;
        self.log.sync(&self.marks).await?;
        self.refresh(index).await
    }
}

#[async_trait]
impl DlqStore for LogDlqStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> DlqCapabilities {
        DlqCapabilities::new(true)
    }

    async fn put(&self, letter: DeadLetter) -> Result<u64> {
        let mut index = self.fresh().await?;
        if !index.ready {
            // Both before either is written: readers take one without the
            // other for a DLQ that was never written.
            self.log.create_topic(&self.entries).await?;
            self.log.create_topic(&self.marks).await?;
            index.ready = true;
        }
        let source = letter.source();
        let hash = self.hash(&source);
        let candidates = index.sources.get(&hash).cloned().unwrap_or_default();
        for offset in candidates {
            if let Some(record) = self.record(&index, offset).await? {
                if layout::decode_letter(&record)?.source() == source {
                    return Ok(offset + 1);
                }
            }
        }
        let offset = self
            .log
            .append(&self.entries, vec![layout::encode_letter(&letter)?])
            .await?;
        self.log.sync(&self.entries).await?;
        self.refresh(&mut index).await?;
        Ok(offset + 1)
    }

    async fn list(&self, filter: DlqFilter, after: Option<u64>, limit: usize) -> Result<DlqPage> {
        if limit == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a DLQ page needs a limit of at least 1",
            )
            .with_context("dlq", &self.name));
        }
        let index = self.fresh().await?;
        let mut entries = Vec::new();
        let mut more = false;
        // Ids are offsets plus one: the entry after id `a` is at offset `a`.
        self.scan(&index, after.unwrap_or(0), |entry| {
            if !filter.matches(&entry) {
                return true;
            }
            if entries.len() == limit {
                more = true;
                return false;
            }
            entries.push(entry);
            true
        })
        .await?;
        let next_after = if more {
            entries.last().map(|e| e.id)
        } else {
            None
        };
        Ok(DlqPage {
            entries,
            next_after,
        })
    }

    async fn get(&self, id: u64) -> Result<Option<DlqEntry>> {
        let index = self.fresh().await?;
        let Some(offset) = id.checked_sub(1) else {
            return Ok(None);
        };
        match self.record(&index, offset).await? {
            Some(record) => Ok(Some(index.entry(&record)?)),
            None => Ok(None),
        }
    }

    async fn delete(&self, id: u64) -> Result<bool> {
        let mut index = self.fresh().await?;
        match id.checked_sub(1).filter(|o| index.live(*o)) {
            Some(offset) => {
                self.mark(&mut index, offset, Mark::Deleted).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn mark_redriven(&self, id: u64, at: DateTime<Utc>) -> Result<()> {
        let mut index = self.fresh().await?;
        match id.checked_sub(1).filter(|o| index.live(*o)) {
            Some(offset) => self.mark(&mut index, offset, Mark::Redriven(at)).await,
            None => Err(self.not_found(id)),
        }
    }

    async fn count(&self, filter: DlqFilter) -> Result<u64> {
        let index = self.fresh().await?;
        if filter == DlqFilter::default() {
            // Pending entries, from the index alone: what health checks ask.
            let done = index
                .deleted
                .iter()
                .chain(index.redriven.keys())
                .filter(|o| **o < index.entries_next)
                .count();
            return Ok(index.entries_next - done as u64);
        }
        let mut count = 0;
        self.scan(&index, 0, |entry| {
            count += u64::from(filter.matches(&entry));
            true
        })
        .await?;
        Ok(count)
    }
}
