//! [`MemoryOffsetStore`]: committed positions in a map.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;
use rustok_iggy::{OffsetCapabilities, OffsetStore, Result, TopicRef};

use crate::lock;

/// An [`OffsetStore`] that keeps committed offsets in memory.
///
/// Registered as `"memory"`; also what [`MemoryBackend::offset_store`](rustok_iggy::Backend::offset_store)
/// returns. Not persistent.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use rustok_iggy::{OffsetStore, TopicRef};
/// use rustok_iggy_memory::MemoryOffsetStore;
///
/// let store = MemoryOffsetStore::new();
/// let topic = TopicRef::new("app", "orders");
/// assert_eq!(store.load("billing", &topic, 0).await?, None);
/// store.commit("billing", &topic, 0, 42).await?;
/// assert_eq!(store.load("billing", &topic, 0).await?, Some(42));
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryOffsetStore {
    offsets: Mutex<HashMap<(String, TopicRef, u32), u64>>,
}

impl MemoryOffsetStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many (group, topic, partition) positions are stored.
    pub fn len(&self) -> usize {
        lock(&self.offsets).len()
    }

    /// Whether no position is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl OffsetStore for MemoryOffsetStore {
    fn name(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> OffsetCapabilities {
        OffsetCapabilities::new(false)
    }

    async fn load(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<Option<u64>> {
        let key = (group.to_owned(), topic.clone(), partition);
        Ok(lock(&self.offsets).get(&key).copied())
    }

    async fn commit(
        &self,
        group: &str,
        topic: &TopicRef,
        partition: u32,
        next_offset: u64,
    ) -> Result<()> {
        let key = (group.to_owned(), topic.clone(), partition);
        lock(&self.offsets).insert(key, next_offset);
        Ok(())
    }

    async fn delete(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<()> {
        let key = (group.to_owned(), topic.clone(), partition);
        lock(&self.offsets).remove(&key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn describes_itself_and_counts_positions() {
        let store = MemoryOffsetStore::new();
        assert_eq!(store.name(), "memory");
        assert!(!store.capabilities().persistent);
        let t = TopicRef::new("s", "t");
        store.commit("g", &t, 0, 1).await.unwrap();
        store.commit("g", &t, 1, 1).await.unwrap();
        assert_eq!(store.len(), 2);
        store.delete("g", &t, 0).await.unwrap();
        assert_eq!(store.len(), 1);
    }
}
