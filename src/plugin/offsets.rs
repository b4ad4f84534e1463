//! Where consumer groups keep their position.

use async_trait::async_trait;

use crate::{Result, TopicRef};

/// What an offset store can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OffsetCapabilities {
    /// Committed offsets survive the process.
    pub persistent: bool,
    /// A commit of `0` forgets the position instead of storing it, so `load`
    /// returns `None` afterwards. Stores that keep the *last consumed* offset
    /// (Iggy's server-side offsets) have no value for "nothing consumed yet".
    /// Under `start_from = "earliest"` (the default) both mean the same; under
    /// `"latest"` a group reset to offset 0 starts at the end instead (see
    /// docs/delivery.md).
    pub zero_forgets: bool,
    /// A position must lie within the partition's records: at most the
    /// partition's next offset, and none on a partition that never held a
    /// record. Iggy's server-side offsets refuse anything else
    /// ([`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)); the
    /// consumer runtime and resets never commit beyond the end.
    pub within_log: bool,
}

impl OffsetCapabilities {
    /// Capabilities with `persistent` as given; a committed `0` is stored.
    ///
    /// ```
    /// use rustok_iggy::OffsetCapabilities;
    ///
    /// let caps = OffsetCapabilities::new(true).with_zero_forgets();
    /// assert!(caps.persistent && caps.zero_forgets);
    /// ```
    pub fn new(persistent: bool) -> Self {
        Self {
            persistent,
            zero_forgets: false,
            within_log: false,
        }
    }

    /// The same, for a store where a commit of `0` forgets the position.
    pub fn with_zero_forgets(mut self) -> Self {
        self.zero_forgets = true;
        self
    }

    /// The same, for a store that takes positions only within the
    /// partition's records.
    pub fn with_within_log(mut self) -> Self {
        self.within_log = true;
        self
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
