//! The DLQ layout before 0.1's single layout: letters in the topic
//! `__rustok_dlq/letters` (failure metadata encoded in front of the
//! payload, ids = offset + 1) and marks in `<data_dir>/dlq/marks.json`.
//! Opening a data directory that has them moves them into the
//! [`LogDlqStore`] once.
//!
//! The move can be cut by a crash at any point and simply runs again: puts
//! are idempotent per source, a redrive mark is only added where it is
//! missing, and the old topic is deleted before the old marks file, so a
//! deleted letter is never brought back.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
    sync::Arc,
};

use chrono::{DateTime, Utc};
use rustok_iggy::{
    DeadLetter, DlqStore, Error, ErrorKind, LogDlqStore, Message, PollFrom, Record, Result,
    TopicRef,
};
use serde::Deserialize;

use crate::{
    bin::Cursor,
    error::{corrupt, io_error, join_error, NAME},
    fsutil::sync_dir,
    topology::{Engine, DLQ_STREAM},
};

/// The old letters topic.
const LETTERS: &str = "letters";
const LETTER_VERSION: u8 = 1;
const PAGE: u32 = 512;

/// The old marks file: entry id → redrive time (seconds, nanoseconds), and
/// deleted ids.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(super) struct Marks {
    pub(super) redriven: BTreeMap<u64, (i64, u32)>,
    pub(super) deleted: BTreeSet<u64>,
}

fn read_marks(path: &Path) -> Result<Marks> {
    match fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| corrupt(path, e.column() as u64, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Marks::default()),
        Err(e) => Err(io_error("dlq migration", path, e)),
    }
}

/// Moves the old layout's letters and marks into `store`, then removes them.
pub(super) async fn migrate(engine: &Arc<Engine>, store: &LogDlqStore) -> Result<()> {
    let dir = engine.config.data_dir.join("dlq");
    let marks_path = dir.join("marks.json");
    let letters = TopicRef::new(DLQ_STREAM, LETTERS);
    if let Ok(partition) = engine.partition(&letters, 0) {
        let path = marks_path.clone();
        let marks = tokio::task::spawn_blocking(move || read_marks(&path))
            .await
            .map_err(|e| join_error("dlq migration", e))??;
        let mut moved = 0_u64;
        let mut from = 0;
        loop {
            let page = partition.read(PollFrom::Offset(from), PAGE)?;
            let Some(last) = page.last() else { break };
            from = last.offset + 1;
            for record in page {
                let old_id = record.offset + 1;
                if marks.deleted.contains(&old_id) {
                    continue;
                }
                let id = store.put(decode_letter(record)?).await?;
                let redriven = marks
                    .redriven
                    .get(&old_id)
                    .and_then(|(s, n)| DateTime::<Utc>::from_timestamp(*s, *n));
                if let Some(at) = redriven {
                    if store
                        .get(id)
                        .await?
                        .is_some_and(|e| e.redriven_at.is_none())
                    {
                        store.mark_redriven(id, at).await?;
                    }
                }
                moved += 1;
            }
        }
        let (e, t) = (engine.clone(), letters.clone());
        tokio::task::spawn_blocking(move || e.delete_topic(&t))
            .await
            .map_err(|e| join_error("dlq migration", e))??;
        tracing::info!(
            moved,
            "moved the DLQ's dead letters from {letters} into {}",
            store.entries_topic()
        );
    }
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || remove_marks(&engine, &dir, &marks_path))
        .await
        .map_err(|e| join_error("dlq migration", e))?
}

/// Removes the old marks file and its directory. Only after the old topic
/// is gone: the file holds its deletions.
fn remove_marks(engine: &Engine, dir: &Path, marks_path: &Path) -> Result<()> {
    match fs::remove_file(marks_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("dlq migration", marks_path, e)),
    }
    // Anything else put there is left alone.
    if fs::remove_dir(dir).is_ok() && engine.config.durable() {
        let data_dir = &engine.config.data_dir;
        sync_dir(data_dir).map_err(|e| io_error("dlq migration", data_dir, e))?;
    }
    Ok(())
}

fn decode_letter(record: Record) -> Result<DeadLetter> {
    let damaged = || {
        Error::new(
            ErrorKind::Backend,
            format!(
                "old-layout DLQ record at offset {} of {DLQ_STREAM}/{LETTERS} is not a dead letter",
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
        let topic = TopicRef::new(c.string()?, c.string()?);
        let partition = c.u32()?;
        let offset = c.u64()?;
        let group = c.string()?;
        let error = c.string()?;
        let attempts = c.u32()?;
        let first_failure = time(&mut c)?;
        let last_failure = time(&mut c)?;
        Some((
            topic,
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
    Ok(DeadLetter {
        message: Message {
            origin_timestamp_micros: None,
            id: record.message.id,
            payload: payload.slice(c.position()..),
            headers: record.message.headers,
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

/// The old encoding, for tests that build an old data directory.
#[cfg(test)]
pub(super) fn encode_letter(letter: &DeadLetter) -> Message {
    use crate::bin::put_string;
    let mut buf = vec![LETTER_VERSION];
    for s in [&letter.topic.stream, &letter.topic.topic] {
        put_string(&mut buf, s).unwrap();
    }
    buf.extend_from_slice(&letter.partition.to_le_bytes());
    buf.extend_from_slice(&letter.offset.to_le_bytes());
    put_string(&mut buf, &letter.group).unwrap();
    put_string(&mut buf, &letter.error).unwrap();
    buf.extend_from_slice(&letter.attempts.to_le_bytes());
    for time in [letter.first_failure, letter.last_failure] {
        buf.extend_from_slice(&time.timestamp().to_le_bytes());
        buf.extend_from_slice(&time.timestamp_subsec_nanos().to_le_bytes());
    }
    buf.extend_from_slice(&letter.message.payload);
    Message {
        origin_timestamp_micros: None,
        id: letter.message.id,
        headers: letter.message.headers.clone(),
        payload: buf.into(),
    }
}

#[cfg(test)]
mod tests {
    use rustok_iggy::{Backend, DlqFilter, ErrorKind};
    use rustok_iggy_testkit::fixtures::{test_dead_letter, time};

    use super::*;
    use crate::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};

    fn every() -> DlqFilter {
        DlqFilter {
            include_redriven: true,
            ..DlqFilter::default()
        }
    }

    /// A data directory as the old layout left it: letters 1..=n in the old
    /// topic, 2 redriven, 3 deleted.
    async fn old_layout(config: &EmbeddedConfig, n: u64) {
        let engine = Engine::open(config.clone()).unwrap();
        let letters = TopicRef::new(DLQ_STREAM, LETTERS);
        engine.ensure_topic(&letters, 1).unwrap();
        let messages = (1..=n)
            .map(|i| encode_letter(&test_dead_letter(i)))
            .collect();
        engine
            .partition(&letters, 0)
            .unwrap()
            .append(messages)
            .await
            .unwrap();
        let marks = Marks {
            redriven: BTreeMap::from([(2, (1_700_000_000, 7))]),
            deleted: BTreeSet::from([3]),
        };
        let dir = config.data_dir.join("dlq");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("marks.json"), serde_json::to_vec(&marks).unwrap()).unwrap();
        engine.close().await.unwrap();
    }

    async fn assert_moved(backend: &EmbeddedBackend, n: u64) {
        let entries = backend
            .dlq()
            .list(every(), None, 100)
            .await
            .unwrap()
            .entries;
        let letters: Vec<DeadLetter> = entries.iter().map(|e| e.letter.clone()).collect();
        let expected: Vec<DeadLetter> = (1..=n).filter(|i| *i != 3).map(test_dead_letter).collect();
        assert_eq!(
            letters, expected,
            "every letter but the deleted one, in order"
        );
        let ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, (1..=n - 1).collect::<Vec<_>>());
        let redriven: Vec<_> = entries.iter().map(|e| e.redriven_at).collect();
        let mut expected_marks = vec![None; (n - 1) as usize];
        expected_marks[1] = DateTime::from_timestamp(1_700_000_000, 7);
        assert_eq!(redriven, expected_marks, "letter 2 keeps its redrive mark");
        let old = TopicRef::new(DLQ_STREAM, LETTERS);
        let err = backend.topic_info(&old).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "the old topic is deleted");
        let dir = backend.config().data_dir.join("dlq");
        assert!(
            !dir.exists(),
            "the old marks file and its directory are gone"
        );
    }

    #[tokio::test]
    async fn an_old_dlq_is_moved_into_the_topics_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = EmbeddedConfig::new(dir.path()).fsync(FsyncPolicy::Always);
        old_layout(&config, 4).await;
        let backend = EmbeddedBackend::open(config.clone()).await.unwrap();
        assert_moved(&backend, 4).await;
        backend.shutdown().await.unwrap();
        // Reopened: nothing moves twice.
        let backend = EmbeddedBackend::open(config).await.unwrap();
        assert_moved(&backend, 4).await;
        assert_eq!(backend.dlq().count(DlqFilter::default()).await.unwrap(), 2);
        backend.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_move_cut_short_runs_again_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let config = EmbeddedConfig::new(dir.path()).fsync(FsyncPolicy::Interval);
        old_layout(&config, 5).await;
        // A crash after the first two letters (and the redrive mark) moved.
        let engine = Engine::open(config.clone()).unwrap();
        let store = LogDlqStore::new(
            NAME,
            Arc::new(super::super::EngineLog(engine.clone())),
            DLQ_STREAM,
        );
        store.put(test_dead_letter(1)).await.unwrap();
        let id = store.put(test_dead_letter(2)).await.unwrap();
        store.mark_redriven(id, time(0)).await.unwrap();
        engine.close().await.unwrap();

        let backend = EmbeddedBackend::open(config.clone()).await.unwrap();
        let entries = backend
            .dlq()
            .list(every(), None, 100)
            .await
            .unwrap()
            .entries;
        assert_eq!(
            entries.len(),
            4,
            "letters 1, 2, 4, 5 once each: {entries:?}"
        );
        assert_eq!(
            entries[1].redriven_at,
            Some(time(0)),
            "the first mark stays"
        );
        backend.shutdown().await.unwrap();

        // A crash after the old topic was deleted, before the marks file
        // was: the deleted letter does not come back.
        let dlq_dir = dir.path().join("dlq");
        fs::create_dir_all(&dlq_dir).unwrap();
        fs::write(
            dlq_dir.join("marks.json"),
            br#"{"redriven":{},"deleted":[3]}"#,
        )
        .unwrap();
        let backend = EmbeddedBackend::open(config).await.unwrap();
        assert_eq!(backend.dlq().count(every()).await.unwrap(), 4);
        assert!(!dlq_dir.exists());
        backend.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_damaged_old_marks_file_fails_the_open_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = EmbeddedConfig::new(dir.path());
        old_layout(&config, 2).await;
        fs::write(dir.path().join("dlq/marks.json"), b"{\"redriven\":").unwrap();
        let err = EmbeddedBackend::open(config.clone()).await.unwrap_err();
        assert!(err.to_string().contains("marks.json"), "{err}");
        // The failed open released the directory: fixed, it opens.
        fs::remove_file(dir.path().join("dlq/marks.json")).unwrap();
        let backend = EmbeddedBackend::open(config).await.unwrap();
        assert_eq!(backend.dlq().count(every()).await.unwrap(), 2);
        backend.shutdown().await.unwrap();
    }
}
