//! The [`OffsetStore`] conformance suite; run it with
//! [`offsets_conformance!`](crate::offsets_conformance).
//!
//! Every case uses group and topic names of its own, so the suite also runs
//! against a shared store.
//!
//! The cases commit to topics nobody created. A store that keeps positions
//! only for existing partitions (Iggy's server-side offsets) runs the suite
//! through [`EnsuringTopics`], which creates each topic on the store's backend
//! before the first commit to it. A store whose committed `0` reads back as
//! `None` says so with
//! [`OffsetCapabilities::zero_forgets`](rustok_iggy::OffsetCapabilities::zero_forgets),
//! and the suite checks that instead.

use std::{collections::HashSet, sync::Arc};

use async_trait::async_trait;
use rustok_iggy::{Backend, OffsetCapabilities, OffsetStore, Result, TopicRef};
use tokio::sync::Mutex;

use super::unique;

/// Partitions [`EnsuringTopics`] gives each topic it creates: more than any
/// case uses.
pub const ENSURED_PARTITIONS: u32 = 8;

/// An [`OffsetStore`] that ensures each topic exists on `backend` (with
/// [`ENSURED_PARTITIONS`] partitions) and that the partition holds records
/// up to the committed offset before it forwards a commit: Iggy keeps
/// offsets only for existing partitions and refuses one beyond the
/// partition's last record. Everything else forwards unchanged.
///
/// ```ignore
/// // In a harness for a store that needs existing topics:
/// let store = EnsuringTopics::new(Arc::new(my_store), my_backend);
/// rustok_iggy_testkit::conformance::offsets::commit_then_load(Arc::new(store)).await;
/// ```
pub struct EnsuringTopics {
    inner: Arc<dyn OffsetStore>,
    backend: Arc<dyn Backend>,
    ensured: Mutex<HashSet<TopicRef>>,
}

impl EnsuringTopics {
    /// Wraps `inner`, creating topics on `backend`.
    pub fn new(inner: Arc<dyn OffsetStore>, backend: Arc<dyn Backend>) -> Self {
        Self {
            inner,
            backend,
            ensured: Mutex::new(HashSet::new()),
        }
    }
}

#[async_trait]
impl OffsetStore for EnsuringTopics {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> OffsetCapabilities {
        self.inner.capabilities()
    }

    async fn load(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<Option<u64>> {
        self.inner.load(group, topic, partition).await
    }

    async fn commit(&self, group: &str, topic: &TopicRef, partition: u32, next: u64) -> Result<()> {
        let mut ensured = self.ensured.lock().await;
        if !ensured.contains(topic) {
            self.backend.ensure_topic(topic, ENSURED_PARTITIONS).await?;
            ensured.insert(topic.clone());
        }
        drop(ensured);
        let end = self
            .backend
            .partition_info(topic, partition)
            .await?
            .next_offset;
        if end < next {
            let missing = (end..next)
                .map(|n| crate::fixtures::test_message(u128::from(n) + 1))
                .collect();
            self.backend.append(topic, partition, missing).await?;
        }
        self.inner.commit(group, topic, partition, next).await
    }

    async fn delete(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<()> {
        self.inner.delete(group, topic, partition).await
    }
}

fn names() -> (String, TopicRef) {
    (
        unique("group"),
        TopicRef::new(unique("conformance"), "orders"),
    )
}

async fn load(
    store: &dyn OffsetStore,
    group: &str,
    topic: &TopicRef,
    partition: u32,
) -> Option<u64> {
    store
        .load(group, topic, partition)
        .await
        .unwrap_or_else(|e| panic!("load({group}, {topic}, {partition}) failed: {e}"))
}

async fn commit(store: &dyn OffsetStore, group: &str, topic: &TopicRef, partition: u32, next: u64) {
    store
        .commit(group, topic, partition, next)
        .await
        .unwrap_or_else(|e| panic!("commit({group}, {topic}, {partition}, {next}) failed: {e}"));
}

/// The store has a name (it appears in logs and config).
pub async fn describes_itself(store: Arc<dyn OffsetStore>) {
    assert!(!store.name().is_empty(), "an offset store needs a name");
    let _ = store.capabilities();
}

/// A group that never committed has no position.
pub async fn load_of_unknown_position_is_none(store: Arc<dyn OffsetStore>) {
    let (group, topic) = names();
    assert_eq!(load(&*store, &group, &topic, 0).await, None);
}

/// A committed offset is what load returns; a later commit replaces it.
pub async fn commit_then_load(store: Arc<dyn OffsetStore>) {
    let (group, topic) = names();
    commit(&*store, &group, &topic, 0, 42).await;
    assert_eq!(load(&*store, &group, &topic, 0).await, Some(42));
    commit(&*store, &group, &topic, 0, 100).await;
    assert_eq!(load(&*store, &group, &topic, 0).await, Some(100));
    if !store.capabilities().within_log {
        commit(&*store, &group, &topic, 0, u64::MAX).await;
        assert_eq!(load(&*store, &group, &topic, 0).await, Some(u64::MAX));
    }
}

/// A commit may move backwards (a reset for replay), down to 0.
pub async fn commit_can_move_backwards(store: Arc<dyn OffsetStore>) {
    let (group, topic) = names();
    commit(&*store, &group, &topic, 1, 500).await;
    commit(&*store, &group, &topic, 1, 10).await;
    assert_eq!(load(&*store, &group, &topic, 1).await, Some(10));
    commit(&*store, &group, &topic, 1, 0).await;
    if store.capabilities().zero_forgets {
        assert_eq!(
            load(&*store, &group, &topic, 1).await,
            None,
            "the store declares that a commit of 0 forgets the position"
        );
    } else {
        assert_eq!(
            load(&*store, &group, &topic, 1).await,
            Some(0),
            "a commit of 0 is a position, not none"
        );
    }
}

/// Committing the same offset again is harmless.
pub async fn commit_is_idempotent(store: Arc<dyn OffsetStore>) {
    let (group, topic) = names();
    for _ in 0..3 {
        commit(&*store, &group, &topic, 2, 7).await;
    }
    assert_eq!(load(&*store, &group, &topic, 2).await, Some(7));
}

/// After delete the group has no position, and can commit again.
pub async fn delete_forgets(store: Arc<dyn OffsetStore>) {
    let (group, topic) = names();
    commit(&*store, &group, &topic, 0, 9).await;
    commit(&*store, &group, &topic, 1, 19).await;
    store.delete(&group, &topic, 0).await.unwrap();
    assert_eq!(load(&*store, &group, &topic, 0).await, None);
    assert_eq!(
        load(&*store, &group, &topic, 1).await,
        Some(19),
        "delete removed another partition"
    );
    commit(&*store, &group, &topic, 0, 3).await;
    assert_eq!(load(&*store, &group, &topic, 0).await, Some(3));
}

/// Deleting a position that was never committed succeeds.
pub async fn delete_of_unknown_position_is_ok(store: Arc<dyn OffsetStore>) {
    let (group, topic) = names();
    store.delete(&group, &topic, 5).await.unwrap();
    assert_eq!(load(&*store, &group, &topic, 5).await, None);
}

/// Groups, streams, topics and partitions each have their own positions.
pub async fn positions_are_independent(store: Arc<dyn OffsetStore>) {
    let (group, topic) = names();
    let other_group = format!("{group}-other");
    let other_topic = TopicRef::new(topic.stream.clone(), "refunds");
    let other_stream = TopicRef::new(format!("{}-other", topic.stream), topic.topic.clone());
    commit(&*store, &group, &topic, 0, 1).await;
    commit(&*store, &other_group, &topic, 0, 2).await;
    commit(&*store, &group, &other_topic, 0, 3).await;
    commit(&*store, &group, &other_stream, 0, 4).await;
    commit(&*store, &group, &topic, 1, 5).await;
    assert_eq!(load(&*store, &group, &topic, 0).await, Some(1));
    assert_eq!(load(&*store, &other_group, &topic, 0).await, Some(2));
    assert_eq!(load(&*store, &group, &other_topic, 0).await, Some(3));
    assert_eq!(load(&*store, &group, &other_stream, 0).await, Some(4));
    assert_eq!(load(&*store, &group, &topic, 1).await, Some(5));
    assert_eq!(load(&*store, &other_group, &topic, 1).await, None);
}
