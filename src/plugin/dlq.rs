//! The dead-letter queue: messages a consumer gave up on, kept whole so an
//! operator can inspect and redrive them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Message, Result, TopicRef};

/// A message a consumer group could not handle, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The original message: id, headers and payload bytes as they were stored.
    pub message: Message,
    /// Topic it was consumed from.
    pub topic: TopicRef,
    /// Partition it was consumed from.
    pub partition: u32,
    /// Its offset there.
    pub offset: u64,
    /// The consumer group that gave up.
    pub group: String,
    /// The handler's (or decoder's) error text.
    pub error: String,
    /// How many times handling was attempted.
    pub attempts: u32,
    /// When the first attempt failed.
    pub first_failure: DateTime<Utc>,
    /// When the last attempt failed.
    pub last_failure: DateTime<Utc>,
}

impl DeadLetter {
    /// Where it came from: which group gave up on which message, where.
    pub fn source(&self) -> LetterSource {
        LetterSource {
            group: self.group.clone(),
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            message_id: self.message.id,
        }
    }
}

/// One group giving up on one stored message. Two letters with the same
/// source are one failure seen twice (the message was redelivered after a
/// crash, before its offset was committed), which [`DlqStore::put`] keeps
/// once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LetterSource {
    /// The consumer group.
    pub group: String,
    /// The topic it was consumed from.
    pub topic: TopicRef,
    /// Its partition.
    pub partition: u32,
    /// Its offset there.
    pub offset: u64,
    /// The message's id.
    pub message_id: u128,
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqEntry {
    /// Assigned by the store; ascending in insertion order.
    pub id: u64,
    /// What failed.
    pub letter: DeadLetter,
    /// When it was republished to its source topic, if it was.
    pub redriven_at: Option<DateTime<Utc>>,
}

/// Which entries a list or count covers. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqFilter {
    /// Only entries from this topic name (any stream).
    pub topic: Option<String>,
    /// Only entries of this group.
    pub group: Option<String>,
    /// Only entries whose `event-type` header is this.
    pub event_type: Option<String>,
    /// Only entries whose last failure is at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Only entries whose last failure is before this.
    pub until: Option<DateTime<Utc>>,
    /// Include entries already redriven.
    pub include_redriven: bool,
}

impl DlqFilter {
    /// Whether `entry` passes this filter.
    pub fn matches(&self, entry: &DlqEntry) -> bool {
        let l = &entry.letter;
        (self.include_redriven || entry.redriven_at.is_none())
            && self.topic.as_ref().is_none_or(|t| *t == l.topic.topic)
            && self.group.as_ref().is_none_or(|g| *g == l.group)
            && self.event_type.as_ref().is_none_or(|t| {
                l.message
                    .headers
                    .get_str(crate::wire::header::EVENT_TYPE)
                    .ok()
                    .flatten()
                    == Some(t.as_str())
            })
            && self.since.is_none_or(|s| l.last_failure >= s)
            && self.until.is_none_or(|u| l.last_failure < u)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqPage {
    /// Entries in ascending id order.
    pub entries: Vec<DlqEntry>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next_after: Option<u64>,
}

/// What a DLQ store can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DlqCapabilities {
    /// Entries survive the process.
    pub persistent: bool,
}

impl DlqCapabilities {
    /// Capabilities with `persistent` as given.
    pub fn new(persistent: bool) -> Self {
        Self { persistent }
    }
}

/// Storage for dead letters.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DlqStore: Send + Sync {
    /// The name it is registered under.
    fn name(&self) -> &str;

    /// What it can do.
    fn capabilities(&self) -> DlqCapabilities;

    /// Stores a dead letter durably and returns its id. Idempotent per
    /// [`DeadLetter::source`]: while an entry with the same source is stored
    /// (redriven or not; a deleted one does not count), it returns that
    /// entry's id and stores nothing, so a redelivery after a crash does not
    /// dead-letter the same message twice.
    async fn put(&self, letter: DeadLetter) -> Result<u64>;

    /// Entries matching `filter` with ids above `after`, at most `limit`.
    async fn list(&self, filter: DlqFilter, after: Option<u64>, limit: usize) -> Result<DlqPage>;

    /// One entry.
    async fn get(&self, id: u64) -> Result<Option<DlqEntry>>;

    /// Removes an entry; `false` if there was none.
    async fn delete(&self, id: u64) -> Result<bool>;

    /// Records that the entry was republished at `at`.
    async fn mark_redriven(&self, id: u64, at: DateTime<Utc>) -> Result<()>;

    /// How many entries match `filter`.
    async fn count(&self, filter: DlqFilter) -> Result<u64>;
}

impl std::fmt::Debug for dyn DlqStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DlqStore({})", self.name())
    }
}
