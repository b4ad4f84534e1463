//! [`MemoryDlqStore`]: dead letters in an ordered map.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rustok_iggy::{
    DeadLetter, DlqCapabilities, DlqEntry, DlqFilter, DlqPage, DlqStore, Error, ErrorKind,
    LetterSource, Result,
};

use crate::lock;

#[derive(Debug, Default)]
struct Entries {
    /// The id of the last entry put; ids are never reused, even after a delete.
    last_id: u64,
    entries: BTreeMap<u64, DlqEntry>,
    /// The id each source was stored under (deleted ids linger: `put`
    /// checks the entry still exists).
    sources: HashMap<LetterSource, u64>,
}

/// A [`DlqStore`] that keeps dead letters in memory.
///
/// Ids ascend from 1 in insertion order and are never reused. Registered as
/// `"memory"`; also what [`MemoryBackend::dlq_store`](rustok_iggy::Backend::dlq_store)
/// returns. Not persistent.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use rustok_iggy::{DlqFilter, DlqStore};
/// use rustok_iggy_memory::MemoryDlqStore;
/// use rustok_iggy_testkit::fixtures;
///
/// let store = MemoryDlqStore::new();
/// let id = store.put(fixtures::test_dead_letter(1)).await?;
/// assert_eq!(id, 1);
/// let page = store.list(DlqFilter::default(), None, 10).await?;
/// assert_eq!(page.entries.len(), 1);
/// assert_eq!(page.next_after, None);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryDlqStore {
    inner: Mutex<Entries>,
}

impl MemoryDlqStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored entry (redriven or not), in id order.
    pub fn entries(&self) -> Vec<DlqEntry> {
        lock(&self.inner).entries.values().cloned().collect()
    }

    /// How many entries are stored, redriven or not.
    pub fn len(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl DlqStore for MemoryDlqStore {
    fn name(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> DlqCapabilities {
        DlqCapabilities::new(false)
    }

    async fn put(&self, letter: DeadLetter) -> Result<u64> {
        let mut inner = lock(&self.inner);
        let source = letter.source();
        if let Some(&id) = inner.sources.get(&source) {
            if inner.entries.contains_key(&id) {
                return Ok(id);
            }
        }
        let id = inner.last_id.checked_add(1).ok_or_else(|| {
            Error::new(ErrorKind::Backend, "memory DLQ ran out of ids")
                .with_context("dlq", "memory")
        })?;
        inner.last_id = id;
        inner.sources.insert(source, id);
        inner.entries.insert(
            id,
            DlqEntry {
                id,
                letter,
                redriven_at: None,
            },
        );
        Ok(id)
    }

    async fn list(&self, filter: DlqFilter, after: Option<u64>, limit: usize) -> Result<DlqPage> {
        if limit == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a DLQ page needs a limit of at least 1",
            )
            .with_context("dlq", "memory"));
        }
        let inner = lock(&self.inner);
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut matching = inner
            .entries
            .range(start..)
            .map(|(_, entry)| entry)
            .filter(|entry| filter.matches(entry));
        let entries: Vec<DlqEntry> = matching.by_ref().take(limit).cloned().collect();
        // A cursor only when another matching entry really follows.
        let next_after = match matching.next() {
            Some(_) => entries.last().map(|e| e.id),
            None => None,
        };
        Ok(DlqPage {
            entries,
            next_after,
        })
    }

    async fn get(&self, id: u64) -> Result<Option<DlqEntry>> {
        Ok(lock(&self.inner).entries.get(&id).cloned())
    }

    async fn delete(&self, id: u64) -> Result<bool> {
        Ok(lock(&self.inner).entries.remove(&id).is_some())
    }

    async fn mark_redriven(&self, id: u64, at: DateTime<Utc>) -> Result<()> {
        match lock(&self.inner).entries.get_mut(&id) {
            Some(entry) => {
                entry.redriven_at = Some(at);
                Ok(())
            }
            None => Err(
                Error::new(ErrorKind::NotFound, format!("no DLQ entry with id {id}"))
                    .with_context("dlq", "memory"),
            ),
        }
    }

    async fn count(&self, filter: DlqFilter) -> Result<u64> {
        let inner = lock(&self.inner);
        Ok(inner.entries.values().filter(|e| filter.matches(e)).count() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustok_iggy_testkit::fixtures::test_dead_letter;

    #[tokio::test]
    async fn ids_start_at_one_and_are_never_reused() {
        let store = MemoryDlqStore::new();
        assert!(store.is_empty());
        assert_eq!(store.put(test_dead_letter(1)).await.unwrap(), 1);
        assert_eq!(store.put(test_dead_letter(2)).await.unwrap(), 2);
        assert!(store.delete(2).await.unwrap());
        assert_eq!(store.put(test_dead_letter(3)).await.unwrap(), 3);
        assert_eq!(
            store.entries().iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(store.len(), 2);
    }

    #[tokio::test]
    async fn a_zero_limit_is_invalid_and_unknown_marks_are_not_found() {
        let store = MemoryDlqStore::new();
        store.put(test_dead_letter(1)).await.unwrap();
        let err = store.list(DlqFilter::default(), None, 0).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = store.mark_redriven(9, Utc::now()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        // A cursor past the last id pages nothing, without overflow at the top.
        let page = store
            .list(DlqFilter::default(), Some(u64::MAX), 5)
            .await
            .unwrap();
        assert!(page.entries.is_empty());
        assert_eq!(page.next_after, None);
    }
}
