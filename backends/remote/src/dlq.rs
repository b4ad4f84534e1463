//! [`RemoteDlqStore`]: dead letters as messages of a topic on the Iggy server.
//!
//! ## Layout
//!
//! Two one-partition topics in the stream `dlq_stream` (default
//! `__rustok_dlq`), created on first use:
//!
//! - `entries`: one message per dead letter; its **offset is the entry id**
//!   (ascending in insertion order, never reused). Headers: the original
//!   message's headers unchanged (a key that itself starts with
//!   `rustok-dlq.` is stored as `rustok-dlq.h.<key>`), plus the metadata
//!   `rustok-dlq.id` (original message id), `.stream`, `.topic`,
//!   `.partition`, `.offset`, `.group`, `.attempts`, `.first-failure`,
//!   `.last-failure` (RFC 3339, nanoseconds) and `.error` (the error text,
//!   cut to 255 bytes for Iggy tools). Payload: the full error text's length
//!   (u32 LE), the error text, then the original payload bytes.
//! - `marks`: one message per change of an entry — `rustok-dlq.mark` is
//!   `redriven` or `deleted`, `rustok-dlq.entry` the entry id,
//!   `rustok-dlq.at` the time. Iggy cannot delete single messages, so a
//!   deletion is a tombstone here.
//!
//! The store reads both topics on first use and, before every read, reads
//! what was appended since (so entries and marks written by other processes
//! show up). The whole DLQ is held in memory: it is meant for the dead
//! letters an operator handles, not for millions. Original headers with an
//! empty value or one above 255 bytes cannot be stored (`InvalidInput`).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, SecondsFormat, Utc};
use rustok_iggy::{
    DeadLetter, DlqCapabilities, DlqEntry, DlqFilter, DlqPage, DlqStore, Error, ErrorKind, Headers,
    LetterSource, Message, PollFrom, PollRequest, Record, Result, TopicRef,
};
use tokio::sync::Mutex;

use crate::{client::Link, log::Log, mapping::MAX_HEADER_FIELD, RemoteConfig, NAME};

const PREFIX: &str = "rustok-dlq.";
const ESCAPED: &str = "rustok-dlq.h.";
const ENTRIES: &str = "entries";
const MARKS: &str = "marks";

mod key {
    pub const ID: &str = "rustok-dlq.id";
    pub const STREAM: &str = "rustok-dlq.stream";
    pub const TOPIC: &str = "rustok-dlq.topic";
    pub const PARTITION: &str = "rustok-dlq.partition";
    pub const OFFSET: &str = "rustok-dlq.offset";
    pub const GROUP: &str = "rustok-dlq.group";
    pub const ATTEMPTS: &str = "rustok-dlq.attempts";
    pub const FIRST: &str = "rustok-dlq.first-failure";
    pub const LAST: &str = "rustok-dlq.last-failure";
    pub const ERROR: &str = "rustok-dlq.error";
    pub const MARK: &str = "rustok-dlq.mark";
    pub const ENTRY: &str = "rustok-dlq.entry";
    pub const AT: &str = "rustok-dlq.at";
}

#[derive(Default)]
struct State {
    ready: bool,
    entries: BTreeMap<u64, DlqEntry>,
    /// The id each source was stored under (deleted ids linger: `put`
    /// checks the entry still exists).
    sources: HashMap<LetterSource, u64>,
    entries_next: u64,
    marks_next: u64,
}

/// Dead letters in topics of the Iggy server (see the module docs for the
/// layout).
///
/// ```no_run
/// # async fn run() -> rustok_iggy::Result<()> {
/// use rustok_iggy::{DlqFilter, DlqStore};
/// use rustok_iggy_remote::{RemoteConfig, RemoteDlqStore};
///
/// let dlq = RemoteDlqStore::new(RemoteConfig::new("iggy+tcp://127.0.0.1:8090"))?;
/// println!("{} dead letters pending", dlq.count(DlqFilter::default()).await?);
/// # Ok(()) }
/// ```
pub struct RemoteDlqStore {
    log: Arc<Log>,
    entries: TopicRef,
    marks: TopicRef,
    state: Mutex<State>,
}

impl std::fmt::Debug for RemoteDlqStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteDlqStore")
            .field("entries", &self.entries)
            .field("marks", &self.marks)
            .finish_non_exhaustive()
    }
}

fn corrupt(offset: u64, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!("DLQ entry at offset {offset} is malformed: {what}"),
    )
    .with_context("backend", NAME)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn header<'a>(h: &'a Headers, k: &str, offset: u64) -> Result<&'a str> {
    Ok(h.get_str(k)
        .map_err(|e| corrupt(offset, e))?
        .unwrap_or_default())
}

fn parse<T: std::str::FromStr>(h: &Headers, k: &str, offset: u64) -> Result<T> {
    header(h, k, offset)?
        .parse()
        .map_err(|_| corrupt(offset, format!("header `{k}`")))
}

fn parse_time(h: &Headers, k: &str, offset: u64) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(header(h, k, offset)?)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| corrupt(offset, format!("header `{k}`")))
}

fn insert_nonempty(h: &mut Headers, k: &str, v: &str) {
    if !v.is_empty() {
        h.insert_str(k, v);
    }
}

fn encode(letter: &DeadLetter) -> Message {
    let mut headers = Headers::new();
    for (k, v) in letter.message.headers.iter() {
        let k = if k.starts_with(PREFIX) {
            format!("{ESCAPED}{k}")
        } else {
            k.to_owned()
        };
        headers.insert(k, v.clone());
    }
    headers.insert_str(key::ID, letter.message.id.to_string());
    insert_nonempty(&mut headers, key::STREAM, &letter.topic.stream);
    insert_nonempty(&mut headers, key::TOPIC, &letter.topic.topic);
    headers.insert_str(key::PARTITION, letter.partition.to_string());
    headers.insert_str(key::OFFSET, letter.offset.to_string());
    insert_nonempty(&mut headers, key::GROUP, &letter.group);
    headers.insert_str(key::ATTEMPTS, letter.attempts.to_string());
    headers.insert_str(key::FIRST, time(letter.first_failure));
    headers.insert_str(key::LAST, time(letter.last_failure));
    let mut cut = letter.error.len().min(MAX_HEADER_FIELD);
    while !letter.error.is_char_boundary(cut) {
        cut -= 1;
    }
    insert_nonempty(&mut headers, key::ERROR, &letter.error[..cut]);
    let error = letter.error.as_bytes();
    let mut payload = BytesMut::with_capacity(4 + error.len() + letter.message.payload.len());
    payload.put_u32_le(u32::try_from(error.len()).unwrap_or(u32::MAX));
    payload.put_slice(&error[..error.len().min(u32::MAX as usize)]);
    payload.put_slice(&letter.message.payload);
    Message {
        id: fresh_id(),
        headers,
        payload: payload.freeze(),
    }
}

fn decode(record: Record) -> Result<DlqEntry> {
    let offset = record.offset;
    let h = &record.message.headers;
    let payload = &record.message.payload;
    let len_bytes: [u8; 4] = payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(offset, "payload shorter than its error length"))?;
    let error_len = u32::from_le_bytes(len_bytes) as usize;
    let error = payload
        .get(4..4 + error_len)
        .ok_or_else(|| corrupt(offset, "error text cut short"))?;
    let error = String::from_utf8(error.to_vec()).map_err(|e| corrupt(offset, e))?;
    let original = payload.slice(4 + error_len..);
    let mut headers = Headers::new();
    for (k, v) in h.iter() {
        if let Some(original_key) = k.strip_prefix(ESCAPED) {
            headers.insert(original_key.to_owned(), v.clone());
        } else if !k.starts_with(PREFIX) {
            headers.insert(k.to_owned(), v.clone());
        }
    }
    let letter = DeadLetter {
        message: Message {
            id: parse(h, key::ID, offset)?,
            headers,
            payload: original,
        },
        topic: TopicRef::new(
            header(h, key::STREAM, offset)?,
            header(h, key::TOPIC, offset)?,
        ),
        partition: parse(h, key::PARTITION, offset)?,
        offset: parse(h, key::OFFSET, offset)?,
        group: header(h, key::GROUP, offset)?.to_owned(),
        error,
        attempts: parse(h, key::ATTEMPTS, offset)?,
        first_failure: parse_time(h, key::FIRST, offset)?,
        last_failure: parse_time(h, key::LAST, offset)?,
    };
    Ok(DlqEntry {
        id: offset,
        letter,
        redriven_at: None,
    })
}

/// A nonzero random message id (a dead letter of the same message may be
/// stored again after a redrive, so the original id would be deduplicated).
fn fresh_id() -> u128 {
    rand::random::<u128>() | 1
}

fn mark(kind: &str, id: u64, at: DateTime<Utc>) -> Message {
    let mut headers = Headers::new();
    headers.insert_str(key::MARK, kind);
    headers.insert_str(key::ENTRY, id.to_string());
    headers.insert_str(key::AT, time(at));
    Message {
        id: fresh_id(),
        headers,
        payload: Bytes::from_static(b"mark"),
    }
}

impl RemoteDlqStore {
    /// A store with a connection of its own, opened on first use.
    pub fn new(config: RemoteConfig) -> Result<Self> {
        let link = Arc::new(Link::new(config.settings()?));
        Ok(Self::on(Arc::new(Log::new(link)?)))
    }

    pub(crate) fn on(log: Arc<Log>) -> Self {
        let stream = log.link.settings().config.dlq_stream.clone();
        Self {
            entries: TopicRef::new(stream.clone(), ENTRIES),
            marks: TopicRef::new(stream, MARKS),
            log,
            state: Mutex::new(State::default()),
        }
    }

    async fn read_from(&self, topic: &TopicRef, from: u64) -> Result<Vec<Record>> {
        let mut all = Vec::new();
        let mut next = from;
        loop {
            let page = self
                .log
                .poll(PollRequest {
                    topic: topic.clone(),
                    partition: 0,
                    from: PollFrom::Offset(next),
                    max_records: 1_000,
                    max_wait: Duration::ZERO,
                })
                .await?;
            let Some(last) = page.last().map(|r| r.offset) else {
                return Ok(all);
            };
            next = last + 1;
            all.extend(page);
        }
    }

    /// Reads what is new. Creates nothing: until the first put created the
    /// topics, the DLQ is empty, so listing a server's DLQ leaves no trace.
    async fn refresh(&self, state: &mut State) -> Result<()> {
        if !state.ready {
            // A put creates both before it appends to either.
            for topic in [&self.entries, &self.marks] {
                if self.log.topic_details(topic).await?.is_none() {
                    return Ok(());
                }
            }
            state.ready = true;
        }
        for record in self.read_from(&self.entries, state.entries_next).await? {
            state.entries_next = record.offset + 1;
            let entry = decode(record)?;
            state.sources.insert(entry.letter.source(), entry.id);
            state.entries.insert(entry.id, entry);
        }
        for record in self.read_from(&self.marks, state.marks_next).await? {
            state.marks_next = record.offset + 1;
            let offset = record.offset;
            let h = &record.message.headers;
            let id: u64 = parse(h, key::ENTRY, offset)?;
            match header(h, key::MARK, offset)? {
                "deleted" => {
                    state.entries.remove(&id);
                }
                "redriven" => {
                    let at = parse_time(h, key::AT, offset)?;
                    if let Some(entry) = state.entries.get_mut(&id) {
                        entry.redriven_at = Some(at);
                    }
                }
                other => tracing::warn!(mark = other, offset, "unknown DLQ mark skipped"),
            }
        }
        Ok(())
    }

    async fn fresh(&self) -> Result<tokio::sync::MutexGuard<'_, State>> {
        let mut state = self.state.lock().await;
        self.refresh(&mut state).await?;
        Ok(state)
    }
}

#[async_trait]
impl DlqStore for RemoteDlqStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> DlqCapabilities {
        DlqCapabilities::new(true)
    }

    async fn put(&self, letter: DeadLetter) -> Result<u64> {
        let mut state = self.fresh().await?;
        if !state.ready {
            self.log.ensure_topic(&self.entries, 1).await?;
            self.log.ensure_topic(&self.marks, 1).await?;
            state.ready = true;
        }
        if let Some(&id) = state.sources.get(&letter.source()) {
            if state.entries.contains_key(&id) {
                return Ok(id);
            }
        }
        let message = encode(&letter);
        let ack = self.log.append(&self.entries, 0, vec![message]).await?;
        self.refresh(&mut state).await?;
        Ok(ack.first_offset)
    }

    async fn list(&self, filter: DlqFilter, after: Option<u64>, limit: usize) -> Result<DlqPage> {
        let state = self.fresh().await?;
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut matching = state
            .entries
            .range(start..)
            .map(|(_, e)| e)
            .filter(|e| filter.matches(e));
        let entries: Vec<DlqEntry> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
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
        Ok(self.fresh().await?.entries.get(&id).cloned())
    }

    async fn delete(&self, id: u64) -> Result<bool> {
        let mut state = self.fresh().await?;
        if !state.entries.contains_key(&id) {
            return Ok(false);
        }
        self.log
            .append(&self.marks, 0, vec![mark("deleted", id, Utc::now())])
            .await?;
        self.refresh(&mut state).await?;
        Ok(true)
    }

    async fn mark_redriven(&self, id: u64, at: DateTime<Utc>) -> Result<()> {
        let mut state = self.fresh().await?;
        if !state.entries.contains_key(&id) {
            return Err(
                Error::new(ErrorKind::NotFound, format!("no DLQ entry {id}"))
                    .with_context("backend", NAME),
            );
        }
        self.log
            .append(&self.marks, 0, vec![mark("redriven", id, at)])
            .await?;
        self.refresh(&mut state).await?;
        Ok(())
    }

    async fn count(&self, filter: DlqFilter) -> Result<u64> {
        let state = self.fresh().await?;
        Ok(state.entries.values().filter(|e| filter.matches(e)).count() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip_through_the_message_layout() {
        let mut headers = Headers::new();
        headers.insert_str("event-type", "order.placed");
        headers.insert_str("rustok-dlq.id", "collides");
        let letter = DeadLetter {
            message: Message {
                id: 99,
                headers,
                payload: Bytes::from_static(b"{}"),
            },
            topic: TopicRef::new("app", "orders"),
            partition: 3,
            offset: 17,
            group: "billing".into(),
            error: "é".repeat(300),
            attempts: 5,
            first_failure: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
            last_failure: DateTime::from_timestamp(1_700_000_100, 1).unwrap(),
        };
        let message = encode(&letter);
        assert!(message.headers.get(key::ERROR).unwrap().len() <= MAX_HEADER_FIELD);
        let entry = decode(Record {
            offset: 4,
            timestamp_micros: 0,
            message,
        })
        .unwrap();
        assert_eq!(entry.id, 4);
        assert_eq!(entry.letter, letter);
    }

    #[test]
    fn a_malformed_entry_is_an_error_not_a_panic() {
        let record = Record {
            offset: 1,
            timestamp_micros: 0,
            message: Message {
                id: 1,
                headers: Headers::new(),
                payload: Bytes::from_static(&[9, 0, 0, 0, 1]),
            },
        };
        assert_eq!(decode(record).unwrap_err().kind(), ErrorKind::Backend);
    }
}
