//! Where consumer groups keep their position.

use async_trait::async_trait;

use crate::{Result, TopicRef};

/// What an offset store can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OffsetCapabilities {
    /// Committed offsets survive the process.
    pub persistent: bool,
}

impl OffsetCapabilities {
    /// Capabilities with `persistent` as given.
    pub fn new(persistent: bool) -> Self {
        Self { persistent }
    }
}

/// A group's committed position per (topic, partition).
///
/// The stored value is the **next offset to consume**: everything below it was
/// handled (or dead-lettered). Committing is idempotent and may move backwards
/// (a reset for replay).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OffsetStore: Send + Sync {
    /// The name it is registered under.
    fn name(&self) -> &str;

    /// What it can do.
    fn capabilities(&self) -> OffsetCapabilities;

    /// The committed next offset, or `None` if the group never committed here.
    async fn load(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<Option<u64>>;

    /// Stores `next_offset` durably before returning.
    async fn commit(
        &self,
        group: &str,
        topic: &TopicRef,
        partition: u32,
        next_offset: u64,
    ) -> Result<()>;

    /// Forgets the group's position, so it starts from its start policy again.
    async fn delete(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<()>;
}

impl std::fmt::Debug for dyn OffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OffsetStore({})", self.name())
    }
}
