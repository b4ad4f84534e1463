//! A running subscription: one supervisor per topic keeps the group assignment,
//! one worker per assigned partition handles its messages.

use std::{
    collections::BTreeMap,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use futures::FutureExt;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{
    state::{lock, Shared, SubscriptionStats},
    worker, Handler, SubscriptionState,
};
use crate::{ConsumerConfig, Error, ErrorKind, Fence, MemberId, Result, TopicRef, Transport};

/// Which group and topics to subscribe to, and how.
///
/// ```
/// use rustok_iggy::{ConsumerConfig, SubscriptionOptions};
///
/// let options = SubscriptionOptions::new("billing", ["orders", "refunds"])
///     .consumer(ConsumerConfig { poll_batch: 64, ..ConsumerConfig::default() });
/// assert_eq!(options.topics.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionOptions {
    /// Consumer group name; members of one group share the partitions.
    pub group: String,
    /// Topic names in the transport's stream.
    pub topics: Vec<String>,
    /// Overrides the transport's `[consumer]` defaults.
    pub consumer: Option<ConsumerConfig>,
}

impl SubscriptionOptions {
    /// Subscribe `group` to `topics` with the transport's consumer defaults.
    pub fn new<T: Into<String>>(
        group: impl Into<String>,
        topics: impl IntoIterator<Item = T>,
    ) -> Self {
        Self {
            group: group.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            consumer: None,
        }
    }

    /// Uses `config` instead of the transport's consumer defaults.
    pub fn consumer(mut self, config: ConsumerConfig) -> Self {
        self.consumer = Some(config);
        self
    }
}

/// A running subscription. Dropping it stops it in the background; call
/// [`Subscription::shutdown`] to wait until in-flight handlers finished and
/// offsets were committed.
#[must_use = "a dropped subscription stops consuming"]
pub struct Subscription {
    state: Arc<SubscriptionState>,
}

/// A handler still running when a shutdown's deadline passed. Its message is
/// not committed: it is delivered again after a restart, unless the handler
/// finishes first (it keeps running in the background and commits then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckHandler {
    /// Topic of the message.
    pub topic: TopicRef,
    /// Partition of the message.
    pub partition: u32,
    /// Offset of the message.
    pub offset: u64,
    /// How long the handler had been running at the deadline.
    pub running_for: Duration,
}

/// How a shutdown went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Handlers that had not finished by the deadline (empty after a clean
    /// shutdown).
    pub stuck: Vec<StuckHandler>,
}

impl ShutdownReport {
    /// Whether everything stopped within the deadline.
    pub fn is_clean(&self) -> bool {
        self.stuck.is_empty()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("group", &self.state.group)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Subscription {
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.state.group
    }

    /// Counters since the subscription started.
    pub fn stats(&self) -> SubscriptionStats {
        self.state.stats()
    }

    /// Stops polling, lets in-flight handlers finish, commits what was handled
    /// and leaves the group, waiting at most `consumer.shutdown_timeout_ms`;
    /// see [`Subscription::shutdown_within`].
    pub async fn shutdown(self) -> Result<ShutdownReport> {
        let deadline = self.state.shutdown_timeout;
        self.shutdown_within(deadline).await
    }

    /// Like [`Subscription::shutdown`] with an explicit deadline. Handlers
    /// still running at the deadline are listed in the report (and logged);
    /// they keep running in the background and their messages stay
    /// uncommitted until they finish.
    ///
    /// Returns an error if a partition worker panicked (a bug in a plugin; a
    /// panicking handler is caught and retried instead); the other partitions
    /// were still stopped and committed.
    pub async fn shutdown_within(self, deadline: Duration) -> Result<ShutdownReport> {
        stop(&self.state, deadline).await
    }
}

/// Stops a subscription: a receiver's deliveries out are waited for first
/// (up to `deadline`), then its tasks are cancelled and waited for up to
/// `deadline` (they never wait on the application once cancelled: what is
/// left is the final commits and leaving the group). Handlers or deliveries
/// still running then are reported. A second call finds nothing to wait for.
pub(crate) async fn stop(state: &SubscriptionState, deadline: Duration) -> Result<ShutdownReport> {
    let unsettled = match state.drain.get() {
        Some(drain) => drain.drain(deadline).await,
        None => Vec::new(),
    };
    let mut report = stop_tasks(state, deadline).await?;
    report.stuck.extend(unsettled);
    Ok(report)
}

/// Cancels a subscription's tasks and waits for its supervisors up to
/// `deadline`; reports handlers still running then.
async fn stop_tasks(state: &SubscriptionState, deadline: Duration) -> Result<ShutdownReport> {
    state.stopped.store(true, Ordering::Relaxed);
    state.cancel.cancel();
    let supervisors = std::mem::take(&mut *lock(&state.supervisors));
    let joined = tokio::time::timeout(deadline, futures::future::join_all(supervisors)).await;
    let Ok(results) = joined else {
        let now = Instant::now();
        let stuck: Vec<StuckHandler> = state
            .partitions()
            .into_iter()
            .filter_map(|((topic, partition), p)| {
                p.in_flight().map(|(offset, since)| StuckHandler {
                    topic,
                    partition,
                    offset,
                    running_for: now.saturating_duration_since(since),
                })
            })
            .collect();
        for s in &stuck {
            tracing::error!(
                group = %state.group, topic = %s.topic, partition = s.partition,
                offset = s.offset, running_for = ?s.running_for,
                "handler still running at the shutdown deadline; its message stays uncommitted"
            );
        }
        return Ok(ShutdownReport { stuck });
    };
    let mut first_error = None;
    for result in results {
        let result = result.unwrap_or_else(|e| {
            Err(Error::new(ErrorKind::Backend, "a subscription task panicked").with_source(e))
        });
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(ShutdownReport::default()), Err)
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::Relaxed);
        self.state.cancel.cancel();
    }
}

impl Transport {
    /// Subscribes `group` to `topics` (names in this transport's stream) with
    /// the configured consumer defaults; see [`Transport::subscribe_with`].
    pub async fn subscribe<E, H>(
        &self,
        group: &str,
        topics: &[&str],
        handler: H,
    ) -> Result<Subscription>
    where
        E: DeserializeOwned + Send + 'static,
        H: Handler<E>,
    {
        self.subscribe_with(
            SubscriptionOptions::new(group, topics.iter().copied()),
            handler,
        )
        .await
    }

    /// Starts consuming: joins the group on every topic, and from then on
    /// handles each assigned partition's messages in offset order, partitions
    /// concurrently (at most `consumer.max_concurrency` at once).
    ///
    /// A message's offset is committed only after its handler succeeded or it
    /// was stored in the DLQ: delivery is at least once.
    pub async fn subscribe_with<E, H>(
        &self,
        options: SubscriptionOptions,
        handler: H,
    ) -> Result<Subscription>
    where
        E: DeserializeOwned + Send + 'static,
        H: Handler<E>,
    {
        let shared = self.join_group(options, handler, worker::run).await?;
        Ok(Subscription {
            state: shared.state.clone(),
        })
    }

    /// Joins `options.group` on every topic, then keeps one supervisor per
    /// topic that runs `run` on each partition the group grants this member.
    /// Shared by push subscriptions (`run` calls the handler) and pull
    /// receivers (`run` feeds the receiver).
    pub(crate) async fn join_group<E, H, R, Fut>(
        &self,
        options: SubscriptionOptions,
        handler: H,
        run: R,
    ) -> Result<Arc<Shared<E, H>>>
    where
        E: Send + 'static,
        H: Send + Sync + 'static,
        R: Fn(Arc<Shared<E, H>>, TopicRef, u32, Fence, CancellationToken) -> Fut
            + Copy
            + Send
            + Sync
            + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let config = options
            .consumer
            .unwrap_or_else(|| self.inner.consumer.clone());
        config.validate()?;
        if options.topics.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a subscription needs at least one topic",
            ));
        }
        let backend = &self.inner.backend;
        let mut joined = Vec::with_capacity(options.topics.len());
        for name in &options.topics {
            let topic = self.topic(name);
            // Fails with NotFound before joining a group on a topic that is not there.
            backend
                .topic_info(&topic)
                .await
                .map_err(|e| e.with_context("operation", "subscribe"))?;
            let member = backend
                .join_group(&topic, &options.group)
                .await
                .map_err(|e| e.with_context("operation", "subscribe"))?;
            joined.push((topic, member));
        }
        let topics = joined.iter().map(|(topic, _)| topic.clone()).collect();
        let shared = Arc::new(Shared::new(
            self,
            options.group.clone(),
            topics,
            config,
            handler,
        ));
        let state = shared.state.clone();
        self.inner.track(&state);
        let supervisors = joined
            .into_iter()
            .map(|(topic, member)| {
                tokio::spawn(supervise(
                    shared.clone(),
                    topic,
                    member,
                    state.cancel.child_token(),
                    run,
                ))
            })
            .collect();
        *lock(&state.supervisors) = supervisors;
        tracing::info!(group = %options.group, topics = ?options.topics, "subscribed");
        Ok(shared)
    }
}

struct Worker {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// Keeps one topic's assignment: heartbeats the group, starts workers for
/// granted partitions, stops workers for revoked ones, and reports a partition
/// as held until its worker finished (so the next owner starts after our
/// commit).
async fn supervise<E, H, R, Fut>(
    shared: Arc<Shared<E, H>>,
    topic: TopicRef,
    mut member: MemberId,
    cancel: CancellationToken,
    run: R,
) -> Result<()>
where
    E: Send + 'static,
    H: Send + Sync + 'static,
    R: Fn(Arc<Shared<E, H>>, TopicRef, u32, Fence, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let backend = shared.transport.backend.clone();
    let heartbeat = Duration::from_millis(shared.config.heartbeat_ms);
    let lag_probe = Duration::from_millis(shared.config.lag_probe_ms);
    let mut last_probe: Option<Instant> = None;
    let mut workers: BTreeMap<u32, Worker> = BTreeMap::new();
    while !cancel.is_cancelled() {
        if last_probe.is_none_or(|at| at.elapsed() >= lag_probe) {
            probe_lag(&shared, &topic).await;
            last_probe = Some(Instant::now());
        }
        reap_finished(&mut workers);
        let held: Vec<u32> = workers.keys().copied().collect();
        match backend
            .sync_group(&topic, &shared.group, member, held)
            .await
        {
            Ok(assignment) => {
                for (partition, worker) in &workers {
                    if !assignment.partitions.contains(partition) {
                        tracing::debug!(group = %shared.group, %topic, partition, "partition revoked");
                        worker.cancel.cancel();
                    }
                }
                for partition in assignment.partitions {
                    workers.entry(partition).or_insert_with(|| {
                        tracing::debug!(group = %shared.group, %topic, partition, generation = assignment.generation, "partition assigned");
                        let token = cancel.child_token();
                        Worker {
                            cancel: token.clone(),
                            task: tokio::spawn(run(
                                shared.clone(),
                                topic.clone(),
                                partition,
                                Fence::new(member, assignment.generation),
                                token,
                            )),
                        }
                    });
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // The backend no longer knows this member (it restarted, or
                // evicted us): stop everything and join again.
                tracing::warn!(group = %shared.group, %topic, error = %e, "lost group membership; rejoining");
                if let Err(e) = stop_all(&mut workers).await {
                    tracing::error!(group = %shared.group, %topic, error = %e, "while rejoining");
                }
                match backend.join_group(&topic, &shared.group).await {
                    Ok(id) => member = id,
                    Err(e) => {
                        tracing::warn!(group = %shared.group, %topic, error = %e, "rejoin failed")
                    }
                }
            }
            Err(e) => {
                tracing::warn!(group = %shared.group, %topic, error = %e, "group heartbeat failed")
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(heartbeat) => {}
        }
    }
    let stopped = stop_all(&mut workers).await;
    if let Err(e) = backend.leave_group(&topic, &shared.group, member).await {
        tracing::warn!(group = %shared.group, %topic, error = %e, "leaving the group failed");
    }
    stopped
}

/// Reads the end of every partition this subscription runs on `topic`, for
/// lag in health reports and the lag gauge.
async fn probe_lag<E, H>(shared: &Shared<E, H>, topic: &TopicRef) {
    for ((t, partition), state) in shared.state.partitions() {
        if t != *topic {
            continue;
        }
        match shared
            .transport
            .backend
            .partition_info(topic, partition)
            .await
        {
            Ok(info) => {
                state.end.store(info.next_offset, Ordering::Relaxed);
                crate::metrics::lag(topic, &shared.group, partition, state.lag());
            }
            Err(e) => {
                tracing::debug!(group = %shared.group, %topic, partition, error = %e, "lag probe failed")
            }
        }
    }
}

/// Forgets workers that ended on their own (a panic, or a commit refused
/// because the partition is no longer this member's), so their partitions
/// are reported free and started again if granted again.
fn reap_finished(workers: &mut BTreeMap<u32, Worker>) {
    workers.retain(|partition, worker| {
        if !worker.task.is_finished() {
            return true;
        }
        if let Some(Err(e)) = (&mut worker.task).now_or_never() {
            tracing::error!(partition, error = %e, "partition worker panicked; restarting it");
        }
        false
    });
}

/// Stops every worker and waits for them; the first panic is returned.
async fn stop_all(workers: &mut BTreeMap<u32, Worker>) -> Result<()> {
    for worker in workers.values() {
        worker.cancel.cancel();
    }
    let mut first_panic = Ok(());
    for (partition, worker) in std::mem::take(workers) {
        if let Err(e) = worker.task.await {
            tracing::error!(partition, error = %e, "partition worker panicked");
            if first_panic.is_ok() {
                first_panic = Err(Error::new(
                    ErrorKind::Backend,
                    format!("the worker of partition {partition} panicked"),
                )
                .with_source(e));
            }
        }
    }
    first_panic
}
