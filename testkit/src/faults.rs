//! Fault-injecting wrappers, to test retry, backoff and at-least-once paths:
//! [`FaultyBackend`] makes chosen `append`s and `poll`s of any backend fail or
//! wait, [`FaultyOffsetStore`] does the same to offset `commit`s and `load`s,
//! and [`FaultyDlqStore`] to dead-letter `put`s. All take a [`FaultPlan`] per
//! operation and count what they did in [`FaultStats`].
//!
//! An injected failure is an [`ErrorKind::Unavailable`] error (retryable), and
//! it happens *before* the inner plugin is called: a failed append stored
//! nothing, a failed poll consumed nothing, a failed commit or put stored
//! nothing. Everything else forwards unchanged.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> rustok_iggy::Result<()> {
//! use std::sync::Arc;
//! use rustok_iggy::{Backend, ErrorKind, TopicRef};
//! use rustok_iggy_testkit::{fixtures::test_message, FaultPlan, FaultyBackend, MemoryBackend};
//!
//! let backend = FaultyBackend::new(Arc::new(MemoryBackend::new()))
//!     .appends(FaultPlan::none().fail_every(2));
//! let topic = TopicRef::new("app", "orders");
//! backend.ensure_topic(&topic, 1).await?;
//!
//! assert!(backend.append(&topic, 0, vec![test_message(1)]).await.is_ok());
//! let err = backend.append(&topic, 0, vec![test_message(2)]).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Unavailable);
//! assert!(err.is_retryable());
//! // The failed append stored nothing: the next one gets offset 1.
//! assert_eq!(backend.append(&topic, 0, vec![test_message(2)]).await?.first_offset, 1);
//! assert_eq!(backend.append_stats().injected_failures, 1);
//! # Ok(()) }
//! ```

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rustok_iggy::{
    AppendAck, Backend, DeadLetter, DlqCapabilities, DlqEntry, DlqFilter, DlqPage, DlqStore, Error,
    ErrorKind, Message, OffsetCapabilities, OffsetStore, PollRequest, Record, Result, TopicRef,
};

use crate::lock;

/// Which calls of one operation fail, and how long every call waits first.
///
/// Rules combine: a call fails if any rule picks it. Calls are numbered from 1
/// per operation, counting every call since the plan was set.
///
/// ```
/// use std::time::Duration;
/// use rustok_iggy_testkit::FaultPlan;
///
/// // The first two calls fail, then every fifth, and each call waits 10 ms.
/// let plan = FaultPlan::none()
///     .fail_first(2)
///     .fail_every(5)
///     .delay(Duration::from_millis(10));
/// # let _ = plan;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct FaultPlan {
    fail_first: u64,
    fail_every: u64,
    probability: Option<(f64, u64)>,
    delay: Duration,
}

impl FaultPlan {
    /// No faults, no delay: every call forwards.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every call fails.
    pub fn always() -> Self {
        Self::none().fail_every(1)
    }

    /// Calls 1 to `n` fail (a backend that comes up late).
    pub fn fail_first(mut self, n: u64) -> Self {
        self.fail_first = n;
        self
    }

    /// Calls `n`, `2n`, `3n`, ... fail; `0` turns this rule off, `1` fails
    /// every call.
    pub fn fail_every(mut self, n: u64) -> Self {
        self.fail_every = n;
        self
    }

    /// Each call fails with probability `p` (clamped to 0..=1; NaN is 0),
    /// drawn from an RNG seeded with `seed`: the same seed fails the same calls
    /// on every run.
    pub fn fail_with_probability(mut self, p: f64, seed: u64) -> Self {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self.probability = Some((p, seed));
        self
    }

    /// Every call waits `delay` before it fails or forwards.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Counters of one operation since the wrapper was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed by injection (never reached the inner backend).
    pub injected_failures: u64,
    /// Calls that were delayed.
    pub delayed: u64,
}

struct PlanState {
    plan: FaultPlan,
    /// Calls since the plan was set.
    calls: u64,
    rng: Option<StdRng>,
}

impl PlanState {
    fn new(plan: FaultPlan) -> Self {
        let rng = plan
            .probability
            .map(|(_, seed)| StdRng::seed_from_u64(seed));
        Self {
            plan,
            calls: 0,
            rng,
        }
    }

    /// Numbers this call and decides: (fail?, delay, call number).
    fn next(&mut self) -> (bool, Duration, u64) {
        self.calls += 1;
        let n = self.calls;
        let plan = &self.plan;
        let mut fail =
            n <= plan.fail_first || (plan.fail_every > 0 && n.is_multiple_of(plan.fail_every));
        if let (Some((p, _)), Some(rng)) = (plan.probability, self.rng.as_mut()) {
            // Draw on every call, so which calls fail depends only on the seed.
            fail |= rng.random_bool(p);
        }
        (fail, plan.delay, n)
    }
}

struct Injector {
    operation: &'static str,
    state: Mutex<PlanState>,
    calls: AtomicU64,
    failures: AtomicU64,
    delayed: AtomicU64,
}

impl Injector {
    fn new(operation: &'static str) -> Self {
        Self {
            operation,
            state: Mutex::new(PlanState::new(FaultPlan::none())),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            delayed: AtomicU64::new(0),
        }
    }

    fn set(&self, plan: FaultPlan) {
        *lock(&self.state) = PlanState::new(plan);
    }

    fn stats(&self) -> FaultStats {
        FaultStats {
            calls: self.calls.load(Ordering::Relaxed),
            injected_failures: self.failures.load(Ordering::Relaxed),
            delayed: self.delayed.load(Ordering::Relaxed),
        }
    }

    /// Runs before the inner call: waits, then fails or lets it through.
    /// `plugin` names the wrapped plugin in the error, under `kind`
    /// (`backend`, `offsets`, `dlq`).
    async fn before(&self, kind: &'static str, plugin: &str) -> Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (fail, delay, n) = lock(&self.state).next();
        if !delay.is_zero() {
            self.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
        if fail {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                kind,
                plugin,
                operation = self.operation,
                call = n,
                "injecting a fault"
            );
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("injected fault: {} call {n} failed", self.operation),
            )
            .with_context(kind, plugin)
            .with_context("operation", self.operation)
            .with_context("fault", "injected"));
        }
        Ok(())
    }
}

/// Wraps a backend and injects failures and delays into its `append`s and
/// `poll`s according to a [`FaultPlan`] per operation; see the
/// [module docs](self).
///
/// Its name, capabilities and stores are the inner backend's.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    appends: Injector,
    polls: Injector,
}

impl fmt::Debug for FaultyBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyBackend")
            .field("inner", &self.inner.name())
            .field("appends", &self.appends.stats())
            .field("polls", &self.polls.stats())
            .finish()
    }
}

impl FaultyBackend {
    /// Wraps `inner` with no faults planned.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        Self {
            inner,
            appends: Injector::new("append"),
            polls: Injector::new("poll"),
        }
    }

    /// Uses `plan` for `append`.
    pub fn appends(self, plan: FaultPlan) -> Self {
        self.appends.set(plan);
        self
    }

    /// Uses `plan` for `poll`.
    pub fn polls(self, plan: FaultPlan) -> Self {
        self.polls.set(plan);
        self
    }

    /// Replaces the `append` plan while in use (e.g. `FaultPlan::none()` to
    /// heal); call numbering restarts, counters do not.
    pub fn set_appends(&self, plan: FaultPlan) {
        self.appends.set(plan);
    }

    /// Replaces the `poll` plan while in use; call numbering restarts,
    /// counters do not.
    pub fn set_polls(&self, plan: FaultPlan) {
        self.polls.set(plan);
    }

    /// Counters of `append` calls.
    pub fn append_stats(&self) -> FaultStats {
        self.appends.stats()
    }

    /// Counters of `poll` calls.
    pub fn poll_stats(&self) -> FaultStats {
        self.polls.stats()
    }

    /// Failures injected into appends and polls together.
    pub fn injected_failures(&self) -> u64 {
        self.appends.stats().injected_failures + self.polls.stats().injected_failures
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &Arc<dyn Backend> {
        &self.inner
    }
}

#[async_trait]
impl rustok_iggy::BackendLayer for FaultyBackend {
    type Inner = dyn Backend;

    fn inner(&self) -> &Self::Inner {
        &*self.inner
    }

    async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        messages: Vec<Message>,
    ) -> Result<AppendAck> {
        self.appends
            .before("backend", self.inner.name())
            .await
            .map_err(|e| {
                e.with_context("topic", topic)
                    .with_context("partition", partition)
            })?;
        self.inner.append(topic, partition, messages).await
    }

    async fn poll(&self, request: PollRequest) -> Result<Vec<Record>> {
        self.polls
            .before("backend", self.inner.name())
            .await
            .map_err(|e| {
                e.with_context("topic", &request.topic)
                    .with_context("partition", request.partition)
            })?;
        self.inner.poll(request).await
    }
}

/// Wraps an offset store and injects failures and delays into its `commit`s
/// and `load`s, by a [`FaultPlan`] per operation, to test what a consumer does
/// when it cannot record or read its position.
///
/// An injected failure is a retryable [`ErrorKind::Unavailable`] error raised
/// before the inner store is called: a failed commit stored nothing, so the
/// previous position stays. `delete` and the name and capabilities forward.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use std::sync::Arc;
/// use rustok_iggy::{ErrorKind, OffsetStore, TopicRef};
/// use rustok_iggy_testkit::{FaultPlan, FaultyOffsetStore, MemoryOffsetStore};
///
/// let store = FaultyOffsetStore::new(Arc::new(MemoryOffsetStore::new()))
///     .commits(FaultPlan::none().fail_every(2));
/// let topic = TopicRef::new("app", "orders");
/// store.commit("billing", &topic, 0, 10).await?;
/// let err = store.commit("billing", &topic, 0, 20).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Unavailable);
/// // The failed commit stored nothing.
/// assert_eq!(store.load("billing", &topic, 0).await?, Some(10));
/// assert_eq!(store.commit_stats().injected_failures, 1);
/// # Ok(()) }
/// ```
pub struct FaultyOffsetStore {
    inner: Arc<dyn OffsetStore>,
    commits: Injector,
    loads: Injector,
}

impl fmt::Debug for FaultyOffsetStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyOffsetStore")
            .field("inner", &self.inner.name())
            .field("commits", &self.commits.stats())
            .field("loads", &self.loads.stats())
            .finish()
    }
}

impl FaultyOffsetStore {
    /// Wraps `inner` with no faults planned.
    pub fn new(inner: Arc<dyn OffsetStore>) -> Self {
        Self {
            inner,
            commits: Injector::new("commit"),
            loads: Injector::new("load"),
        }
    }

    /// Uses `plan` for `commit`.
    pub fn commits(self, plan: FaultPlan) -> Self {
        self.commits.set(plan);
        self
    }

    /// Uses `plan` for `load`.
    pub fn loads(self, plan: FaultPlan) -> Self {
        self.loads.set(plan);
        self
    }

    /// Replaces the `commit` plan while in use; call numbering restarts,
    /// counters do not.
    pub fn set_commits(&self, plan: FaultPlan) {
        self.commits.set(plan);
    }

    /// Replaces the `load` plan while in use; call numbering restarts,
    /// counters do not.
    pub fn set_loads(&self, plan: FaultPlan) {
        self.loads.set(plan);
    }

    /// Counters of `commit` calls.
    pub fn commit_stats(&self) -> FaultStats {
        self.commits.stats()
    }

    /// Counters of `load` calls.
    pub fn load_stats(&self) -> FaultStats {
        self.loads.stats()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn OffsetStore> {
        &self.inner
    }
}

#[async_trait]
impl OffsetStore for FaultyOffsetStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> OffsetCapabilities {
        self.inner.capabilities()
    }

    async fn load(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<Option<u64>> {
        self.loads
            .before("offsets", self.inner.name())
            .await
            .map_err(|e| at(e, group, topic, partition))?;
        self.inner.load(group, topic, partition).await
    }

    async fn commit(
        &self,
        group: &str,
        topic: &TopicRef,
        partition: u32,
        next_offset: u64,
    ) -> Result<()> {
        self.commits
            .before("offsets", self.inner.name())
            .await
            .map_err(|e| at(e, group, topic, partition))?;
        self.inner
            .commit(group, topic, partition, next_offset)
            .await
    }

    async fn delete(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<()> {
        self.inner.delete(group, topic, partition).await
    }
}

/// Adds where an injected offset-store fault happened.
fn at(e: Error, group: &str, topic: &TopicRef, partition: u32) -> Error {
    e.with_context("group", group)
        .with_context("topic", topic)
        .with_context("partition", partition)
}

/// Wraps a DLQ store and injects failures and delays into its `put`s (the
/// writes a consumer makes when it gives up on a message), by a [`FaultPlan`].
///
/// An injected failure is a retryable [`ErrorKind::Unavailable`] error raised
/// before the inner store is called: a failed put stored nothing. Reads,
/// deletes and redrive marks forward unchanged.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use std::sync::Arc;
/// use rustok_iggy::{DlqFilter, DlqStore, ErrorKind};
/// use rustok_iggy_testkit::{fixtures::test_dead_letter, FaultPlan, FaultyDlqStore, MemoryDlqStore};
///
/// let dlq = FaultyDlqStore::new(Arc::new(MemoryDlqStore::new()))
///     .puts(FaultPlan::none().fail_first(1));
/// let err = dlq.put(test_dead_letter(1)).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Unavailable);
/// assert_eq!(dlq.count(DlqFilter::default()).await?, 0, "nothing stored");
/// dlq.put(test_dead_letter(1)).await?;
/// assert_eq!(dlq.count(DlqFilter::default()).await?, 1);
/// assert_eq!(dlq.put_stats().injected_failures, 1);
/// # Ok(()) }
/// ```
pub struct FaultyDlqStore {
    inner: Arc<dyn DlqStore>,
    puts: Injector,
}

impl fmt::Debug for FaultyDlqStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyDlqStore")
            .field("inner", &self.inner.name())
            .field("puts", &self.puts.stats())
            .finish()
    }
}

impl FaultyDlqStore {
    /// Wraps `inner` with no faults planned.
    pub fn new(inner: Arc<dyn DlqStore>) -> Self {
        Self {
            inner,
            puts: Injector::new("put"),
        }
    }

    /// Uses `plan` for `put`.
    pub fn puts(self, plan: FaultPlan) -> Self {
        self.puts.set(plan);
        self
    }

    /// Replaces the `put` plan while in use; call numbering restarts,
    /// counters do not.
    pub fn set_puts(&self, plan: FaultPlan) {
        self.puts.set(plan);
    }

    /// Counters of `put` calls.
    pub fn put_stats(&self) -> FaultStats {
        self.puts.stats()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn DlqStore> {
        &self.inner
    }
}

#[async_trait]
impl DlqStore for FaultyDlqStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> DlqCapabilities {
        self.inner.capabilities()
    }

    async fn put(&self, letter: DeadLetter) -> Result<u64> {
        self.puts
            .before("dlq", self.inner.name())
            .await
            .map_err(|e| {
                e.with_context("topic", &letter.topic)
                    .with_context("partition", letter.partition)
                    .with_context("offset", letter.offset)
            })?;
        self.inner.put(letter).await
    }

    async fn list(&self, filter: DlqFilter, after: Option<u64>, limit: usize) -> Result<DlqPage> {
        self.inner.list(filter, after, limit).await
    }

    async fn get(&self, id: u64) -> Result<Option<DlqEntry>> {
        self.inner.get(id).await
    }

    async fn delete(&self, id: u64) -> Result<bool> {
        self.inner.delete(id).await
    }

    async fn mark_redriven(&self, id: u64, at: DateTime<Utc>) -> Result<()> {
        self.inner.mark_redriven(id, at).await
    }

    async fn count(&self, filter: DlqFilter) -> Result<u64> {
        self.inner.count(filter).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fixtures::test_message, MemoryBackend};
    use rustok_iggy::PollFrom;

    async fn setup(plan: FaultPlan) -> (Arc<MemoryBackend>, FaultyBackend, TopicRef) {
        let memory = Arc::new(MemoryBackend::new());
        let faulty = FaultyBackend::new(memory.clone()).appends(plan);
        let topic = TopicRef::new("s", "t");
        faulty.ensure_topic(&topic, 1).await.unwrap();
        (memory, faulty, topic)
    }

    /// Appends `calls` single messages; returns which calls (from 1) failed.
    async fn failing_calls(faulty: &FaultyBackend, topic: &TopicRef, calls: u64) -> Vec<u64> {
        let mut failed = Vec::new();
        for n in 1..=calls {
            match faulty.append(topic, 0, vec![test_message(n.into())]).await {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Unavailable);
                    assert!(e.is_retryable());
                    assert_eq!(e.context("fault"), Some("injected"));
                    failed.push(n);
                }
            }
        }
        failed
    }

    #[tokio::test]
    async fn fail_every_fails_every_nth_and_stores_nothing_then() {
        let (memory, faulty, topic) = setup(FaultPlan::none().fail_every(3)).await;
        assert_eq!(failing_calls(&faulty, &topic, 10).await, vec![3, 6, 9]);
        let stored: Vec<u128> = memory
            .records(&topic, 0)
            .unwrap()
            .iter()
            .map(|r| r.message.id)
            .collect();
        assert_eq!(stored, vec![1, 2, 4, 5, 7, 8, 10]);
        assert_eq!(
            faulty.append_stats(),
            FaultStats {
                calls: 10,
                injected_failures: 3,
                delayed: 0
            }
        );
        assert_eq!(faulty.injected_failures(), 3);
    }

    #[tokio::test]
    async fn fail_first_and_healing() {
        let (_, faulty, topic) = setup(FaultPlan::none().fail_first(2)).await;
        assert_eq!(failing_calls(&faulty, &topic, 4).await, vec![1, 2]);
        faulty.set_appends(FaultPlan::always());
        assert_eq!(failing_calls(&faulty, &topic, 2).await, vec![1, 2]);
        faulty.set_appends(FaultPlan::none());
        assert!(failing_calls(&faulty, &topic, 3).await.is_empty());
        assert_eq!(faulty.append_stats().injected_failures, 4);
        assert_eq!(faulty.append_stats().calls, 9);
    }

    #[tokio::test]
    async fn probability_is_deterministic_per_seed() {
        let run = |seed| async move {
            let plan = FaultPlan::none().fail_with_probability(0.3, seed);
            let (_, faulty, topic) = setup(plan).await;
            failing_calls(&faulty, &topic, 200).await
        };
        let a = run(7).await;
        assert_eq!(a, run(7).await);
        assert_ne!(a, run(8).await);
        // Roughly 30 %: generous bounds, the point is "some, not all".
        assert!((20..=100).contains(&a.len()), "{}", a.len());

        let (_, never, topic) = setup(FaultPlan::none().fail_with_probability(0.0, 1)).await;
        assert!(failing_calls(&never, &topic, 50).await.is_empty());
        let (_, all, topic) = setup(
            FaultPlan::none()
                .fail_with_probability(f64::NAN, 1)
                .fail_with_probability(5.0, 1),
        )
        .await;
        assert_eq!(failing_calls(&all, &topic, 5).await.len(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn delays_then_forwards() {
        let (_, faulty, topic) = setup(FaultPlan::none()).await;
        let faulty = faulty.polls(FaultPlan::none().delay(Duration::from_secs(2)));
        faulty
            .append(&topic, 0, vec![test_message(1)])
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let records = faulty
            .poll(PollRequest {
                topic: topic.clone(),
                partition: 0,
                from: PollFrom::Offset(0),
                max_records: 10,
                max_wait: Duration::ZERO,
            })
            .await
            .unwrap();
        assert_eq!(records.len(), 1);
        assert!(started.elapsed() >= Duration::from_secs(2));
        assert_eq!(
            faulty.poll_stats(),
            FaultStats {
                calls: 1,
                injected_failures: 0,
                delayed: 1
            }
        );
    }

    #[tokio::test]
    async fn failed_polls_and_forwarding() {
        let (memory, faulty, topic) = setup(FaultPlan::none()).await;
        let faulty = faulty.polls(FaultPlan::always());
        let err = faulty
            .poll(PollRequest {
                topic: topic.clone(),
                partition: 0,
                from: PollFrom::Offset(0),
                max_records: 10,
                max_wait: Duration::ZERO,
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.context("operation"), Some("poll"));
        assert_eq!(faulty.poll_stats().injected_failures, 1);

        assert_eq!(faulty.name(), "memory");
        assert_eq!(faulty.capabilities(), memory.capabilities());
        assert_eq!(faulty.topic_info(&topic).await.unwrap().partitions, 1);
        assert_eq!(faulty.list_topics("s").await.unwrap().len(), 1);
        assert_eq!(
            faulty.partition_info(&topic, 0).await.unwrap().next_offset,
            0
        );
        let m = faulty.join_group(&topic, "g").await.unwrap();
        assert_eq!(
            faulty
                .sync_group(&topic, "g", m, vec![])
                .await
                .unwrap()
                .partitions,
            vec![0]
        );
        faulty.leave_group(&topic, "g", m).await.unwrap();
        assert!(faulty.health().await.is_healthy());
        let offsets = faulty.offset_store().unwrap();
        offsets.commit("g", &topic, 0, 3).await.unwrap();
        assert_eq!(
            memory.offsets().load("g", &topic, 0).await.unwrap(),
            Some(3)
        );
        assert_eq!(faulty.dlq_store().unwrap().name(), "memory");
        assert!(format!("{faulty:?}").contains("memory"));
        faulty.shutdown().await.unwrap();
        assert!(memory.is_closed());
    }

    #[tokio::test]
    async fn offset_commits_and_loads_fail_by_plan_and_the_rest_forwards() {
        let memory = Arc::new(crate::MemoryOffsetStore::new());
        let store = FaultyOffsetStore::new(memory.clone())
            .commits(FaultPlan::none().fail_every(2))
            .loads(FaultPlan::none().fail_first(1));
        let topic = TopicRef::new("s", "t");
        assert_eq!(store.name(), memory.name());
        assert_eq!(store.capabilities(), memory.capabilities());

        let err = store.load("g", &topic, 0).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.context("operation"), Some("load"));
        assert_eq!(err.context("group"), Some("g"));
        assert_eq!(store.load("g", &topic, 0).await.unwrap(), None);

        store.commit("g", &topic, 0, 5).await.unwrap();
        let err = store.commit("g", &topic, 0, 9).await.unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(err.context("operation"), Some("commit"));
        assert_eq!(err.context("offsets"), Some("memory"));
        assert_eq!(err.context("fault"), Some("injected"));
        assert_eq!(
            memory.load("g", &topic, 0).await.unwrap(),
            Some(5),
            "a failed commit stores nothing"
        );
        store.commit("g", &topic, 0, 9).await.unwrap();
        assert_eq!(store.load("g", &topic, 0).await.unwrap(), Some(9));
        store.delete("g", &topic, 0).await.unwrap();
        assert_eq!(memory.load("g", &topic, 0).await.unwrap(), None);

        assert_eq!(
            store.commit_stats(),
            FaultStats {
                calls: 3,
                injected_failures: 1,
                delayed: 0
            }
        );
        assert_eq!(store.load_stats().calls, 3);
        store.set_commits(FaultPlan::always());
        assert!(store.commit("g", &topic, 0, 1).await.is_err());
        store.set_loads(FaultPlan::always());
        assert!(store.load("g", &topic, 0).await.is_err());
        assert_eq!(store.inner().name(), "memory");
        assert!(format!("{store:?}").contains("injected_failures: 2"));
    }

    #[tokio::test]
    async fn dlq_puts_fail_by_plan_and_the_rest_forwards() {
        use crate::fixtures::test_dead_letter;
        let memory = Arc::new(crate::MemoryDlqStore::new());
        let dlq = FaultyDlqStore::new(memory.clone())
            .puts(FaultPlan::none().fail_with_probability(0.5, 3));
        assert_eq!(dlq.name(), memory.name());
        assert_eq!(dlq.capabilities(), memory.capabilities());
        let mut stored = Vec::new();
        for n in 0..40 {
            match dlq.put(test_dead_letter(n)).await {
                Ok(id) => stored.push(id),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Unavailable);
                    assert_eq!(e.context("operation"), Some("put"));
                    assert_eq!(e.context("dlq"), Some("memory"));
                }
            }
        }
        let stats = dlq.put_stats();
        assert_eq!(stats.calls, 40);
        assert!(
            stats.injected_failures > 0 && !stored.is_empty(),
            "{stats:?}"
        );
        assert_eq!(stats.injected_failures + stored.len() as u64, 40);
        let all = DlqFilter {
            include_redriven: true,
            ..DlqFilter::default()
        };
        assert_eq!(
            memory.count(all.clone()).await.unwrap(),
            stored.len() as u64,
            "failed puts stored nothing"
        );
        assert_eq!(dlq.count(all.clone()).await.unwrap(), stored.len() as u64);

        // Reads and other writes forward even while puts always fail.
        dlq.set_puts(FaultPlan::always());
        assert!(dlq.put(test_dead_letter(99)).await.is_err());
        let first = stored[0];
        assert!(dlq.get(first).await.unwrap().is_some());
        dlq.mark_redriven(first, chrono::Utc::now()).await.unwrap();
        assert!(memory
            .get(first)
            .await
            .unwrap()
            .unwrap()
            .redriven_at
            .is_some());
        let page = dlq.list(all.clone(), None, 1000).await.unwrap();
        assert_eq!(page.entries.len(), stored.len());
        assert!(dlq.delete(first).await.unwrap());
        assert_eq!(memory.count(all).await.unwrap(), stored.len() as u64 - 1);
        assert_eq!(dlq.inner().name(), "memory");
        assert!(format!("{dlq:?}").contains("FaultyDlqStore"));
    }
}
