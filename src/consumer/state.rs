//! What a running subscription knows about itself: counters, each partition's
//! position and in-flight message, recent failures. Workers write it with
//! atomics on the hot path; health reports and `Subscription::stats` read it.

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    marker::PhantomData,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, OnceLock,
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::{sync::Semaphore, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{transport::Inner, ConsumerConfig, TopicRef, Transport};

/// Counters of a subscription since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SubscriptionStats {
    /// Messages a handler accepted.
    pub handled: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Messages moved to the DLQ (handler gave up, or undecodable).
    pub dead_lettered: u64,
    /// Messages skipped because the dedup window had seen their event id.
    pub deduplicated: u64,
    /// Offset commits that failed (the messages will be delivered again).
    pub commit_failures: u64,
}

impl std::ops::Add for SubscriptionStats {
    type Output = Self;

    fn add(self, o: Self) -> Self {
        Self {
            handled: self.handled + o.handled,
            retries: self.retries + o.retries,
            dead_lettered: self.dead_lettered + o.dead_lettered,
            deduplicated: self.deduplicated + o.deduplicated,
            commit_failures: self.commit_failures + o.commit_failures,
        }
    }
}

/// Totals of several subscriptions (the members of one group, say).
impl std::iter::Sum for SubscriptionStats {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}

/// Sentinel for "no message in flight".
const IDLE: u64 = u64::MAX;

/// One partition a subscription currently runs.
#[derive(Debug)]
pub(crate) struct PartitionState {
    /// Next offset to handle.
    pub(crate) next: AtomicU64,
    /// The partition's next offset when last probed, for lag.
    pub(crate) end: AtomicU64,
    /// Offset being handled, or [`IDLE`].
    in_flight: AtomicU64,
    /// When the in-flight message started, for shutdown reports.
    in_flight_since: Mutex<Option<Instant>>,
}

impl PartitionState {
    fn new() -> Self {
        Self {
            next: AtomicU64::new(0),
            end: AtomicU64::new(0),
            in_flight: AtomicU64::new(IDLE),
            in_flight_since: Mutex::new(None),
        }
    }

    /// Marks `offset` as being handled (`None`: nothing is).
    pub(crate) fn set_in_flight(&self, offset: Option<u64>) {
        self.in_flight
            .store(offset.unwrap_or(IDLE), Ordering::Relaxed);
        *lock(&self.in_flight_since) = offset.map(|_| Instant::now());
    }

    /// The offset being handled and since when.
    pub(crate) fn in_flight(&self) -> Option<(u64, Instant)> {
        let offset = self.in_flight.load(Ordering::Relaxed);
        let since = *lock(&self.in_flight_since);
        (offset != IDLE)
            .then_some(())
            .and(since.map(|s| (offset, s)))
    }

    /// Records behind the end at the last probe.
    pub(crate) fn lag(&self) -> u64 {
        self.end
            .load(Ordering::Relaxed)
            .saturating_sub(self.next.load(Ordering::Relaxed))
    }
}

/// What a stop waits for before it cancels a subscription's tasks: a pull
/// receiver's deliveries out, which its application settles.
pub(crate) trait Drain: Send + Sync + std::fmt::Debug {
    /// Stops handing out deliveries and waits up to `deadline` for those
    /// out to be settled; returns the ones still out then.
    fn drain(&self, deadline: Duration)
        -> futures::future::BoxFuture<'_, Vec<super::StuckHandler>>;
}

/// Event ids this subscription handled recently, bounded.
#[derive(Debug, Default)]
struct DedupWindow {
    ids: HashSet<u128>,
    order: VecDeque<u128>,
}

/// Shared state of one subscription.
#[derive(Debug)]
pub(crate) struct SubscriptionState {
    pub(crate) group: String,
    pub(crate) topics: Vec<TopicRef>,
    pub(crate) handled: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) deduplicated: AtomicU64,
    pub(crate) commit_failures: AtomicU64,
    /// Failures (handler, poll, commit, DLQ) since the last success.
    pub(crate) consecutive_failures: AtomicU64,
    /// Dead letters counted at the previous health check, for growth.
    pub(crate) dead_lettered_at_last_check: AtomicU64,
    pub(crate) stopped: AtomicBool,
    /// Stops the subscription's tasks.
    pub(crate) cancel: CancellationToken,
    /// The per-topic supervisor tasks, taken by whoever stops the subscription.
    pub(crate) supervisors: Mutex<Vec<JoinHandle<crate::Result<()>>>>,
    /// How long a shutdown waits for in-flight handlers by default.
    pub(crate) shutdown_timeout: Duration,
    /// A pull receiver's wait for its deliveries out, which every stop runs
    /// first (unset for push subscriptions).
    pub(crate) drain: OnceLock<Arc<dyn Drain>>,
    partitions: Mutex<BTreeMap<(TopicRef, u32), Arc<PartitionState>>>,
    dedup_capacity: usize,
    dedup: Mutex<DedupWindow>,
}

impl SubscriptionState {
    pub(crate) fn new(
        group: String,
        topics: Vec<TopicRef>,
        dedup_capacity: usize,
        shutdown_timeout: Duration,
    ) -> Self {
        Self {
            group,
            topics,
            handled: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            deduplicated: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            dead_lettered_at_last_check: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            cancel: CancellationToken::new(),
            supervisors: Mutex::new(Vec::new()),
            shutdown_timeout,
            drain: OnceLock::new(),
            partitions: Mutex::new(BTreeMap::new()),
            dedup_capacity,
            dedup: Mutex::new(DedupWindow::default()),
        }
    }

    pub(crate) fn stats(&self) -> SubscriptionStats {
        SubscriptionStats {
            handled: self.handled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            deduplicated: self.deduplicated.load(Ordering::Relaxed),
            commit_failures: self.commit_failures.load(Ordering::Relaxed),
        }
    }

    /// Registers a partition a worker starts on.
    pub(crate) fn start_partition(&self, topic: &TopicRef, partition: u32) -> Arc<PartitionState> {
        let state = Arc::new(PartitionState::new());
        lock(&self.partitions).insert((topic.clone(), partition), state.clone());
        state
    }

    /// Forgets a partition whose worker stopped.
    pub(crate) fn stop_partition(&self, topic: &TopicRef, partition: u32) {
        lock(&self.partitions).remove(&(topic.clone(), partition));
    }

    /// The partitions running now.
    pub(crate) fn partitions(&self) -> Vec<((TopicRef, u32), Arc<PartitionState>)> {
        lock(&self.partitions)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(crate) fn succeeded(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the dedup window is on.
    pub(crate) fn dedup_enabled(&self) -> bool {
        self.dedup_capacity > 0
    }

    /// Whether `id` was handled recently (always `false` with the window off).
    pub(crate) fn seen(&self, id: u128) -> bool {
        self.dedup_enabled() && lock(&self.dedup).ids.contains(&id)
    }

    /// Remembers `id` as handled, forgetting the oldest beyond capacity.
    pub(crate) fn remember(&self, id: u128) {
        if !self.dedup_enabled() {
            return;
        }
        let mut window = lock(&self.dedup);
        if window.ids.insert(id) {
            window.order.push_back(id);
            while window.order.len() > self.dedup_capacity {
                if let Some(old) = window.order.pop_front() {
                    window.ids.remove(&old);
                }
            }
        }
    }
}

/// Locks, recovering from poisoning: every update under these locks is a
/// single assignment, so the data stays consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// What every worker of one subscription shares.
pub(crate) struct Shared<E, H> {
    pub(crate) transport: Arc<Inner>,
    pub(crate) group: String,
    pub(crate) config: ConsumerConfig,
    pub(crate) handler: H,
    pub(crate) permits: Semaphore,
    pub(crate) state: Arc<SubscriptionState>,
    _event: PhantomData<fn() -> E>,
}

impl<E, H> Shared<E, H> {
    pub(crate) fn new(
        transport: &Transport,
        group: String,
        topics: Vec<TopicRef>,
        config: ConsumerConfig,
        handler: H,
    ) -> Self {
        let state = Arc::new(SubscriptionState::new(
            group.clone(),
            topics,
            config.dedup_window,
            Duration::from_millis(config.shutdown_timeout_ms),
        ));
        Self {
            transport: transport.inner.clone(),
            group,
            permits: Semaphore::new(config.max_concurrency),
            config,
            handler,
            state,
            _event: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_window_forgets_the_oldest() {
        let s = SubscriptionState::new("g".into(), vec![], 2, Duration::ZERO);
        s.remember(1);
        s.remember(2);
        assert!(s.seen(1) && s.seen(2));
        s.remember(3);
        assert!(!s.seen(1) && s.seen(2) && s.seen(3));
        let off = SubscriptionState::new("g".into(), vec![], 0, Duration::ZERO);
        off.remember(1);
        assert!(!off.seen(1));
    }

    #[test]
    fn partitions_report_lag_and_in_flight() {
        let s = SubscriptionState::new("g".into(), vec![], 0, Duration::ZERO);
        let t = TopicRef::new("s", "t");
        let p = s.start_partition(&t, 3);
        p.next.store(5, Ordering::Relaxed);
        p.end.store(9, Ordering::Relaxed);
        assert_eq!(p.lag(), 4);
        assert!(p.in_flight().is_none());
        p.set_in_flight(Some(5));
        assert_eq!(p.in_flight().map(|(o, _)| o), Some(5));
        assert_eq!(s.partitions().len(), 1);
        s.stop_partition(&t, 3);
        assert!(s.partitions().is_empty());
    }
}
