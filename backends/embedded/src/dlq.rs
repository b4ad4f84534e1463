//! [`EmbeddedDlqStore`]: dead letters as records of a DLQ topic in the same log.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs,
    path::PathBuf,
    sync::Arc,
};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use rustok_iggy::{
    DeadLetter, DlqCapabilities, DlqEntry, DlqFilter, DlqPage, DlqStore, Error, ErrorKind,
    LetterSource, Message, PollFrom, Record, Result, TopicRef,
};
use serde::{Deserialize, Serialize};

use crate::{
    bin::{put_string, Cursor},
    config::FsyncPolicy,
    error::{corrupt, io_error, join_error, NAME},
    fsutil::write_atomic,
    partition::Partition,
    topology::{Engine, DLQ_STREAM},
};

/// The topic dead letters are appended to.
pub const DLQ_TOPIC: &str = "letters";
/// Records read per step while listing.
const PAGE: u32 = 512;
const LETTER_VERSION: u8 = 1;

/// Redrive marks and deletions: the small mutable part of the DLQ, beside the
/// append-only letters.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Marks {
    /// Entry id → redrive time (seconds, nanoseconds).
    redriven: BTreeMap<u64, (i64, u32)>,
    deleted: BTreeSet<u64>,
}

/// A [`DlqStore`] on the embedded log: each dead letter is one record of the
/// topic `__rustok_dlq/letters`, and entry ids are its offset plus one.
///
/// The record keeps the original message id and headers, so any Iggy tool can
/// read them; its payload is the failure metadata (source topic, partition
/// and offset, group, error, attempts, failure times) followed by the
/// original payload. Redrive marks and deletions are kept in
/// `<data_dir>/dlq/marks.json`, rewritten atomically (temporary file, fsync,
/// rename) on each change. Puts are fsynced before they return under every
/// policy but `never`. The DLQ stream is exempt from retention.
///
/// Listing and counting scan the letters: a DLQ is small, rarely read, and
/// its reads are operator actions. The first put scans them once to learn
/// which sources are stored (puts are idempotent per source).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use rustok_iggy::{Backend, DlqFilter, DlqStore};
/// use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig};
/// # use rustok_iggy::{DeadLetter, Message, Headers, TopicRef};
/// # let letter = DeadLetter {
/// #     message: Message { id: 7, headers: Headers::new(), payload: bytes::Bytes::from_static(b"{}") },
/// #     topic: TopicRef::new("app", "orders"), partition: 0, offset: 3, group: "billing".into(),
/// #     error: "boom".into(), attempts: 5, first_failure: chrono::Utc::now(), last_failure: chrono::Utc::now(),
/// # };
///
/// let dir = tempfile::tempdir().unwrap();
/// let backend = EmbeddedBackend::open(EmbeddedConfig::new(dir.path())).await?;
/// let dlq = backend.dlq();
/// let id = dlq.put(letter.clone()).await?;
/// assert_eq!(dlq.get(id).await?.map(|e| e.letter), Some(letter));
/// assert_eq!(dlq.count(DlqFilter::default()).await?, 1);
/// backend.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EmbeddedDlqStore {
    engine: Arc<Engine>,
    partition: Arc<Partition>,
    marks_path: PathBuf,
    marks: tokio::sync::Mutex<Marks>,
    /// The id each stored source has, learned on the first put; serializes
    /// puts. Deleted ids linger: `put` checks the marks.
    sources: tokio::sync::Mutex<Option<HashMap<LetterSource, u64>>>,
}

impl EmbeddedDlqStore {
    /// Opens the DLQ topic (creating it) and the marks file.
    pub(crate) fn open(engine: Arc<Engine>) -> Result<Self> {
        let topic = TopicRef::new(DLQ_STREAM, DLQ_TOPIC);
        engine.ensure_topic(&topic, 1)?;
        let partition = engine.partition(&topic, 0)?;
        let dir = engine.config.data_dir.join("dlq");
        fs::create_dir_all(&dir).map_err(|e| io_error("open dlq", &dir, e))?;
        let marks_path = dir.join("marks.json");
        let marks = match fs::read(&marks_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| corrupt(&marks_path, e.column() as u64, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Marks::default(),
            Err(e) => return Err(io_error("open dlq", &marks_path, e)),
        };
        Ok(Self {
            engine,
            partition,
            marks_path,
            marks: tokio::sync::Mutex::new(marks),
            sources: tokio::sync::Mutex::new(None),
        })
    }

    async fn save(&self, marks: &Marks) -> Result<()> {
        let bytes = serde_json::to_vec(marks).map_err(|e| {
            Error::new(ErrorKind::Backend, "cannot encode DLQ marks").with_source(e)
        })?;
        let path = self.marks_path.clone();
        let durable = self.engine.config.durable();
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes, durable))
            .await
            .map_err(|e| join_error("dlq marks", e))?
            .map_err(|e| io_error("dlq marks", &self.marks_path, e))
    }

    /// The stored letter with `id`, ignoring marks (`None` if never put).
    fn letter(&self, id: u64) -> Result<Option<Record>> {
        let Some(offset) = id.checked_sub(1) else {
            return Ok(None);
        };
        let records = self.partition.read(PollFrom::Offset(offset), 1)?;
        Ok(records.into_iter().find(|r| r.offset == offset))
    }

    /// Visits live entries with ids above `after` in id order until `visit`
    /// returns `false`.
    async fn scan(
        &self,
        after: Option<u64>,
        mut visit: impl FnMut(DlqEntry) -> bool,
    ) -> Result<()> {
        self.engine.check_open("dlq scan")?;
        let marks = self.marks.lock().await.clone();
        let mut offset = after.unwrap_or(0);
        loop {
            let records = self.partition.read(PollFrom::Offset(offset), PAGE)?;
            let Some(last) = records.last() else {
                return Ok(());
            };
            offset = last.offset + 1;
            for record in records {
                let id = record.offset + 1;
                if marks.deleted.contains(&id) {
                    continue;
                }
                let entry = DlqEntry {
                    id,
                    letter: decode_letter(record)?,
                    redriven_at: marks
                        .redriven
                        .get(&id)
                        .and_then(|(s, n)| DateTime::from_timestamp(*s, *n)),
                };
                if !visit(entry) {
                    return Ok(());
                }
            }
        }
    }
}

fn encode_letter(letter: &DeadLetter) -> Result<Message> {
    let too_long = || {
        Error::new(
            ErrorKind::InvalidInput,
            "a dead letter field is longer than 4 GiB",
        )
    };
    let mut buf = Vec::with_capacity(64 + letter.error.len() + letter.message.payload.len());
    buf.push(LETTER_VERSION);
    put_string(&mut buf, &letter.topic.stream).ok_or_else(too_long)?;
    put_string(&mut buf, &letter.topic.topic).ok_or_else(too_long)?;
    buf.extend_from_slice(&letter.partition.to_le_bytes());
    buf.extend_from_slice(&letter.offset.to_le_bytes());
    put_string(&mut buf, &letter.group).ok_or_else(too_long)?;
    put_string(&mut buf, &letter.error).ok_or_else(too_long)?;
    buf.extend_from_slice(&letter.attempts.to_le_bytes());
    for time in [letter.first_failure, letter.last_failure] {
        buf.extend_from_slice(&time.timestamp().to_le_bytes());
        buf.extend_from_slice(&time.timestamp_subsec_nanos().to_le_bytes());
    }
    buf.extend_from_slice(&letter.message.payload);
    Ok(Message {
        id: letter.message.id,
        headers: letter.message.headers.clone(),
        payload: Bytes::from(buf),
    })
}

fn decode_letter(record: Record) -> Result<DeadLetter> {
    let damaged = || {
        Error::new(
            ErrorKind::Backend,
            format!(
                "DLQ record at offset {} is not a dead letter",
                record.offset
            ),
        )
        .with_context("backend", NAME)
    };
    let payload = &record.message.payload;
    let mut c = Cursor::new(payload);
    if c.u8() != Some(LETTER_VERSION) {
        return Err(damaged());
    }
    let time = |c: &mut Cursor<'_>| -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(c.i64()?, c.u32()?)
    };
    let fields = (|| {
        let stream = c.string()?;
        let topic = c.string()?;
        let partition = c.u32()?;
        let offset = c.u64()?;
        let group = c.string()?;
        let error = c.string()?;
        let attempts = c.u32()?;
        let first_failure = time(&mut c)?;
        let last_failure = time(&mut c)?;
        Some((
            TopicRef::new(stream, topic),
            partition,
            offset,
            group,
            error,
            attempts,
            first_failure,
            last_failure,
        ))
    })();
    let Some((topic, partition, offset, group, error, attempts, first_failure, last_failure)) =
        fields
    else {
        return Err(damaged());
    };
    let original = payload.slice(c.position()..);
    Ok(DeadLetter {
        message: Message {
            id: record.message.id,
            headers: record.message.headers,
            payload: original,
        },
        topic,
        partition,
        offset,
        group,
        error,
        attempts,
        first_failure,
        last_failure,
    })
}

#[async_trait]
impl DlqStore for EmbeddedDlqStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> DlqCapabilities {
        DlqCapabilities::new(true)
    }

    async fn put(&self, letter: DeadLetter) -> Result<u64> {
        self.engine.check_open("dlq put")?;
        let message = encode_letter(&letter)?;
        let mut sources = self.sources.lock().await;
        if sources.is_none() {
            let mut known = HashMap::new();
            self.scan(None, |entry| {
                known.insert(entry.letter.source(), entry.id);
                true
            })
            .await?;
            *sources = Some(known);
        }
        let known = sources.get_or_insert_with(HashMap::new);
        let source = letter.source();
        if let Some(&id) = known.get(&source) {
            if !self.marks.lock().await.deleted.contains(&id) {
                return Ok(id);
            }
        }
        let (offset, _) = self.partition.append(vec![message]).await?;
        if self.engine.config.fsync == FsyncPolicy::Interval {
            // A put is durable before it returns, whatever the group-commit period.
            self.partition.sync_to(offset + 1).await?;
        }
        known.insert(source, offset + 1);
        Ok(offset + 1)
    }

    async fn list(&self, filter: DlqFilter, after: Option<u64>, limit: usize) -> Result<DlqPage> {
        if limit == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a DLQ page needs a limit of at least 1",
            )
            .with_context("dlq", NAME));
        }
        let mut entries = Vec::new();
        let mut more = false;
        self.scan(after, |entry| {
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
        self.engine.check_open("dlq get")?;
        let marks = self.marks.lock().await;
        if marks.deleted.contains(&id) {
            return Ok(None);
        }
        let Some(record) = self.letter(id)? else {
            return Ok(None);
        };
        Ok(Some(DlqEntry {
            id,
            letter: decode_letter(record)?,
            redriven_at: marks
                .redriven
                .get(&id)
                .and_then(|(s, n)| DateTime::from_timestamp(*s, *n)),
        }))
    }

    async fn delete(&self, id: u64) -> Result<bool> {
        self.engine.check_open("dlq delete")?;
        let mut marks = self.marks.lock().await;
        if marks.deleted.contains(&id) || self.letter(id)?.is_none() {
            return Ok(false);
        }
        let mut next = marks.clone();
        next.deleted.insert(id);
        next.redriven.remove(&id);
        self.save(&next).await?;
        *marks = next;
        Ok(true)
    }

    async fn mark_redriven(&self, id: u64, at: DateTime<Utc>) -> Result<()> {
        self.engine.check_open("dlq mark_redriven")?;
        let mut marks = self.marks.lock().await;
        if marks.deleted.contains(&id) || self.letter(id)?.is_none() {
            return Err(
                Error::new(ErrorKind::NotFound, format!("no DLQ entry with id {id}"))
                    .with_context("dlq", NAME),
            );
        }
        let mut next = marks.clone();
        next.redriven
            .insert(id, (at.timestamp(), at.timestamp_subsec_nanos()));
        self.save(&next).await?;
        *marks = next;
        Ok(())
    }

    async fn count(&self, filter: DlqFilter) -> Result<u64> {
        let mut count = 0;
        self.scan(None, |entry| {
            if filter.matches(&entry) {
                count += 1;
            }
            true
        })
        .await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustok_iggy::Headers;

    #[test]
    fn letters_round_trip_and_damage_is_an_error() {
        let mut headers = Headers::new();
        headers.insert_str("event-type", "order.placed");
        let letter = DeadLetter {
            message: Message {
                id: 9,
                headers,
                payload: Bytes::from_static(b"{\"x\":1}"),
            },
            topic: TopicRef::new("app", "orders"),
            partition: 2,
            offset: 77,
            group: "billing".into(),
            error: "boom\nснег".into(),
            attempts: 3,
            first_failure: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
            last_failure: DateTime::from_timestamp(1_700_000_100, 1).unwrap(),
        };
        let message = encode_letter(&letter).unwrap();
        let record = |message: Message| Record {
            offset: 0,
            timestamp_micros: 0,
            message,
        };
        assert_eq!(decode_letter(record(message.clone())).unwrap(), letter);
        for cut in 0..message.payload.len() - letter.message.payload.len() {
            let mut torn = message.clone();
            torn.payload = message.payload.slice(..cut);
            assert!(decode_letter(record(torn)).is_err(), "cut at {cut}");
        }
    }
}
