//! The pull consumer: a group member whose application asks for the next
//! delivery and settles each one itself (ack, nack with a delay, or
//! dead-letter), for workers that persist a result before acknowledging.

mod feed;
mod lane;

use std::{
    fmt,
    marker::PhantomData,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use self::lane::{Lane, Pending};
use super::{
    context::PartitionCtx,
    state::{lock, Shared, SubscriptionStats},
    worker::{self, Failure},
    Delivery, ShutdownReport, StuckHandler, SubscriptionOptions,
};
use crate::{Error, ErrorKind, EventEnvelope, Result, Transport};

/// What the group machinery shares for a receiver: no handler, the inbox.
type Feed = Shared<(), Arc<Inbox>>;

/// The lanes of a receiver, and the wake-up of whoever waits in `recv`.
#[derive(Default)]
pub(crate) struct Inbox {
    lanes: Mutex<Vec<Arc<Lane>>>,
    /// Woken when a lane may have something to deliver.
    ready: Notify,
    /// Woken when a delivery of any lane is settled (for `shutdown`).
    settled: Notify,
    /// The lane `recv` looks at first, so every partition gets its turn.
    next_lane: AtomicUsize,
    /// Set by `shutdown`: `recv` returns `None` from then on.
    draining: AtomicBool,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("lanes", &lock(&self.lanes).len())
            .field("draining", &self.draining.load(Ordering::Relaxed))
            .finish()
    }
}

impl Inbox {
    fn add(&self, lane: Arc<Lane>) {
        lock(&self.lanes).push(lane);
        self.wake();
    }

    fn remove(&self, lane: &Arc<Lane>) {
        lock(&self.lanes).retain(|l| !Arc::ptr_eq(l, lane));
    }

    fn wake(&self) {
        self.ready.notify_waiters();
    }

    /// A delivery of `lane` was settled: its feeder may read on and commit.
    fn settled(&self, lane: &Lane) {
        lane.settled.notify_one();
        // Only a shutdown waits on this; skip the waiter list otherwise.
        if self.draining.load(Ordering::Relaxed) {
            self.settled.notify_waiters();
        }
    }

    fn any_out(&self) -> bool {
        lock(&self.lanes)
            .iter()
            .any(|lane| lane.with(|l| l.out().next().is_some()))
    }

    /// Up to `max` messages to deliver, from the first lane (lanes in turn)
    /// that has any; else when the earliest nacked message becomes due.
    fn take(
        &self,
        now: Instant,
        max: usize,
    ) -> std::result::Result<(Arc<Lane>, Vec<Pending>), Option<Instant>> {
        let lanes = lock(&self.lanes);
        let n = lanes.len();
        let first = self.next_lane.fetch_add(1, Ordering::Relaxed);
        let mut due: Option<Instant> = None;
        for i in 0..n {
            let lane = &lanes[(first + i) % n];
            let (taken, next) = lane.with(|l| {
                let taken: Vec<Pending> = std::iter::from_fn(|| l.take(now)).take(max).collect();
                (taken, l.next_due())
            });
            if !taken.is_empty() {
                return Ok((lane.clone(), taken));
            }
            due = due.into_iter().chain(next).min();
        }
        Err(due)
    }

    /// Deliveries of every lane not settled yet.
    fn outstanding(&self) -> Vec<StuckHandler> {
        let now = Instant::now();
        lock(&self.lanes)
            .iter()
            .flat_map(|lane| {
                lane.with(|l| {
                    l.out()
                        .map(|(offset, since)| StuckHandler {
                            topic: lane.topic.clone(),
                            partition: lane.partition,
                            offset,
                            running_for: now.saturating_duration_since(since),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect()
    }
}

/// A pull consumer: a member of a consumer group that hands out the
/// messages of the partitions it is assigned, one [`Received`] at a time,
/// and commits a partition's offset only over the prefix the application
/// settled.
///
/// Messages of one partition are delivered in offset order, several at a
/// time (up to `consumer.max_unacked` unsettled), and may be settled in any
/// order. A nack redelivers after its delay, counted as an attempt under
/// `consumer.retry`; when the attempts run out the message goes to the DLQ
/// with the reason. Per partition key, what is delivered keeps the log's
/// order: after a nack, later messages of that key wait until the nacked one
/// was delivered again. A delivery dropped without being settled is
/// delivered again at once (and counted as an attempt). Deliveries not
/// settled when the partition moves to another member, or the process
/// stops, are delivered again there: at least once, as with
/// [`Transport::subscribe`].
///
/// `recv` takes `&self`: share the receiver (in an `Arc`) between worker
/// tasks to settle deliveries concurrently.
///
/// ```
/// # async fn run(transport: rustok_iggy::Transport) -> rustok_iggy::Result<()> {
/// use std::time::Duration;
/// use rustok_iggy::SubscriptionOptions;
///
/// let receiver = transport
///     .receiver::<serde_json::Value>(SubscriptionOptions::new("billing", ["orders"]))
///     .await?;
/// while let Some(received) = receiver.recv().await {
///     match store(&received.envelope.event).await {
///         Ok(()) => received.ack(),
///         Err(_) => received.nack(Duration::from_secs(1)),
///     }
/// }
/// receiver.shutdown().await?;
/// # Ok(())
/// # }
/// # async fn store(_: &serde_json::Value) -> Result<(), ()> { Ok(()) }
/// ```
#[must_use = "a dropped receiver stops consuming"]
pub struct Receiver<E> {
    feed: Arc<Feed>,
    _event: PhantomData<fn() -> E>,
}

impl<E> fmt::Debug for Receiver<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("group", &self.feed.group)
            .field("stats", &self.stats())
            .finish()
    }
}

/// One delivery of a [`Receiver`]: the event, where it came from, and the
/// obligation to settle it (see [`Acker`]).
#[must_use = "a delivery dropped unsettled is delivered again"]
pub struct Received<E> {
    /// The event.
    pub envelope: EventEnvelope<E>,
    /// Where it was read and which attempt this is.
    pub delivery: Delivery,
    acker: Acker,
}

impl<E: fmt::Debug> fmt::Debug for Received<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("envelope", &self.envelope)
            .field("delivery", &self.delivery)
            .finish()
    }
}

impl<E> Received<E> {
    /// The span the delivery is handled in, a child of the publisher's trace
    /// (`.instrument(received.span().clone())` your processing).
    pub fn span(&self) -> &tracing::Span {
        &self.acker.span
    }

    /// Done with it: it will not be delivered again (see [`Acker::ack`]).
    pub fn ack(self) {
        self.acker.ack()
    }

    /// Failed for now: deliver it again after `delay` (see [`Acker::nack`]).
    pub fn nack(self, delay: Duration) {
        self.acker.nack(delay)
    }

    /// Give up on it: store it in the DLQ with `reason` (see
    /// [`Acker::dead_letter`]).
    pub async fn dead_letter(self, reason: impl Into<String>) -> Result<u64> {
        self.acker.dead_letter(reason).await
    }

    /// The event and the handle that settles it, apart.
    pub fn into_parts(self) -> (EventEnvelope<E>, Delivery, Acker) {
        (self.envelope, self.delivery, self.acker)
    }
}

/// Settles one delivery. Exactly one of `ack`, `nack` and `dead_letter`
/// ends it; dropping it unsettled releases the message for delivery again
/// at once, counted as an attempt.
///
/// After the partition moved to another member (or the receiver stopped),
/// settling changes nothing: the message is delivered again there, from the
/// last committed offset.
pub struct Acker {
    feed: Arc<Feed>,
    lane: Arc<Lane>,
    /// `None` once settled.
    pending: Option<Pending>,
    span: tracing::Span,
}

impl fmt::Debug for Acker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acker")
            .field("topic", &self.lane.topic)
            .field("partition", &self.lane.partition)
            .field("offset", &self.pending.as_ref().map(|p| p.record.offset))
            .finish()
    }
}

impl Acker {
    /// Done with it. The group's offset moves past it once every earlier
    /// message of the partition is settled too; that commit runs in the
    /// background, so a crash before it delivers the message again.
    pub fn ack(mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let Some(since) = self.lane.with(|l| l.settle(pending.record.offset)) else {
            return;
        };
        let state = &self.feed.state;
        state.handled.fetch_add(1, Ordering::Relaxed);
        state.succeeded();
        state.remember(pending.record.message.id);
        let metrics = &self.lane.metrics;
        metrics.consumed.increment(1);
        metrics
            .handler_duration
            .record(since.elapsed().as_secs_f64());
        self.feed.handler.settled(&self.lane);
    }

    /// Failed for now: deliver it again after `delay`, as the next attempt
    /// under `consumer.retry`. If this was the last attempt it goes to the
    /// DLQ instead (stored by the next `recv`). Later messages of its key
    /// wait for it.
    pub fn nack(mut self, delay: Duration) {
        if let Some(pending) = self.pending.take() {
            release(&self.feed, &self.lane, pending, delay, "nacked");
        }
    }

    /// Gives up on it: stores it in the DLQ with `reason`, retrying with the
    /// retry backoff while the DLQ fails, and returns its DLQ id. Fails only
    /// if the partition moved or the receiver stopped first; the message is
    /// then delivered again by its next owner.
    pub async fn dead_letter(mut self, reason: impl Into<String>) -> Result<u64> {
        let Some(pending) = self.pending.take() else {
            return Err(Error::new(ErrorKind::InvalidInput, "already settled"));
        };
        let failure = Failure {
            reason: reason.into(),
            attempts: pending.attempts,
            first_failure: pending.first_failure.unwrap_or_else(Utc::now),
        };
        store_dead_letter(&self.feed, &self.lane, &pending, failure).await
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            release(
                &self.feed,
                &self.lane,
                pending,
                Duration::ZERO,
                "dropped without being settled",
            );
        }
    }
}

/// Takes a delivery back for another attempt after `delay`.
fn release(feed: &Feed, lane: &Lane, mut pending: Pending, delay: Duration, why: &str) {
    pending.first_failure.get_or_insert_with(Utc::now);
    pending.last_error = Some(why.to_owned());
    let offset = pending.record.offset;
    lane.with(|l| l.release(pending, Instant::now() + delay));
    feed.state.failed();
    feed.state.retries.fetch_add(1, Ordering::Relaxed);
    lane.metrics.retries.increment(1);
    tracing::debug!(group = %feed.group, topic = %lane.topic, partition = lane.partition, offset, ?delay, "{why}; delivering it again");
    feed.handler.wake();
}

/// Stores `pending` in the DLQ and settles it; see [`Acker::dead_letter`].
async fn store_dead_letter(
    feed: &Arc<Feed>,
    lane: &Arc<Lane>,
    pending: &Pending,
    failure: Failure,
) -> Result<u64> {
    let ctx = PartitionCtx::new(
        feed,
        lane.topic.clone(),
        lane.partition,
        lane.cancel.clone(),
        lane.position.clone(),
    );
    match worker::dead_letter(&ctx, &pending.record, failure).await {
        Some(id) => {
            lane.with(|l| l.settle(pending.record.offset));
            feed.handler.settled(lane);
            Ok(id)
        }
        None => Err(Error::new(
            ErrorKind::Closed,
            "the partition moved or the receiver stopped before the dead letter was stored; \
             it will be delivered again",
        )),
    }
}

impl<E> Receiver<E>
where
    E: DeserializeOwned + Send + 'static,
{
    /// The next delivery, waiting for one; `None` once the receiver is
    /// shutting down.
    ///
    /// Messages that cannot be decoded, and nacked ones out of attempts, are
    /// stored in the DLQ (in the background) instead of being returned.
    /// Messages the `consumer.dedup_window` saw handled are skipped.
    pub async fn recv(&self) -> Option<Received<E>> {
        self.recv_batch(1).await.pop()
    }

    /// Up to `max` deliveries of one partition, in offset order: waits for
    /// the first, then takes what else that partition has ready without
    /// waiting. Empty once the receiver is shutting down (or if `max` is 0).
    pub async fn recv_batch(&self, max: usize) -> Vec<Received<E>> {
        let inbox = &self.feed.handler;
        if max == 0 {
            return Vec::new();
        }
        loop {
            let woken = inbox.ready.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if inbox.draining.load(Ordering::Relaxed) || self.feed.state.cancel.is_cancelled() {
                break;
            }
            match inbox.take(Instant::now(), max) {
                Ok((lane, taken)) => {
                    let batch: Vec<Received<E>> = taken
                        .into_iter()
                        .filter_map(|pending| self.prepare(&lane, pending))
                        .collect();
                    if !batch.is_empty() {
                        return batch;
                    }
                }
                Err(due) => {
                    // Until something is read or nacked, or the first nacked
                    // message is due.
                    let due = async {
                        match due {
                            Some(at) => tokio::time::sleep_until(at.into()).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = &mut woken => {}
                        _ = self.feed.state.cancel.cancelled() => {}
                        _ = due => {}
                    }
                }
            }
        }
        Vec::new()
    }

    /// Turns a message taken from a lane into a delivery, or settles it
    /// without one (duplicate, undecodable, out of attempts).
    fn prepare(&self, lane: &Arc<Lane>, pending: Pending) -> Option<Received<E>> {
        let feed = &self.feed;
        let state = &feed.state;
        let offset = pending.record.offset;
        if lane.is_closed() {
            return None;
        }
        if state.seen(pending.record.message.id) {
            lane.with(|l| l.settle(offset));
            feed.handler.settled(lane);
            state.deduplicated.fetch_add(1, Ordering::Relaxed);
            lane.metrics.deduplicated.increment(1);
            return None;
        }
        let first_failure = pending.first_failure.unwrap_or_else(Utc::now);
        if pending.attempts >= feed.config.retry.max_attempts {
            let reason = format!(
                "{} after {} deliveries (consumer.retry.max_attempts)",
                pending.last_error.as_deref().unwrap_or("not acknowledged"),
                pending.attempts
            );
            let attempts = pending.attempts;
            self.dead_letter_in_background(lane.clone(), pending, reason, attempts, first_failure);
            return None;
        }
        let decoded = feed
            .transport
            .envelopes
            .decode::<E>(&pending.record.message, feed.config.legacy_format);
        let mut envelope = match decoded {
            Ok(envelope) => envelope,
            Err(e) => {
                state.failed();
                let attempts = pending.attempts + 1;
                let reason = format!("undecodable message: {e}");
                self.dead_letter_in_background(
                    lane.clone(),
                    pending,
                    reason,
                    attempts,
                    first_failure,
                );
                return None;
            }
        };
        let attempt = pending.attempts + 1;
        envelope.retry_count = envelope.retry_count.saturating_add(pending.attempts);
        let span = worker::handle_span(
            &feed.group,
            &lane.topic,
            lane.partition,
            &pending.record,
            &envelope,
            attempt,
        );
        let delivery = Delivery {
            topic: lane.topic.clone(),
            partition: lane.partition,
            offset,
            attempt,
            group: feed.group.clone(),
        };
        let mut pending = pending;
        pending.attempts = attempt;
        Some(Received {
            envelope,
            delivery,
            acker: Acker {
                feed: feed.clone(),
                lane: lane.clone(),
                pending: Some(pending),
                span,
            },
        })
    }

    /// Stores a message in the DLQ without holding up `recv`; it stays
    /// unsettled (and uncommitted) until stored.
    fn dead_letter_in_background(
        &self,
        lane: Arc<Lane>,
        pending: Pending,
        reason: String,
        attempts: u32,
        first_failure: chrono::DateTime<Utc>,
    ) {
        let feed = self.feed.clone();
        tokio::spawn(async move {
            let failure = Failure {
                reason,
                attempts,
                first_failure,
            };
            // An interrupted store leaves the message to the partition's next
            // owner, as the error says; nothing else to do here.
            let _ = store_dead_letter(&feed, &lane, &pending, failure).await;
        });
    }
}

impl<E> Receiver<E> {
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.feed.group
    }

    /// Counters since the receiver started: `handled` counts acks,
    /// `retries` nacks and releases.
    pub fn stats(&self) -> SubscriptionStats {
        self.feed.state.stats()
    }

    /// Stops handing out deliveries (`recv` returns `None`), waits up to
    /// `consumer.shutdown_timeout_ms` for the deliveries out to be settled,
    /// commits, and leaves the group; see [`Receiver::shutdown_within`].
    pub async fn shutdown(&self) -> Result<ShutdownReport> {
        self.shutdown_within(self.feed.state.shutdown_timeout).await
    }

    /// Like [`Receiver::shutdown`] with an explicit deadline for the
    /// deliveries out to be settled. Those still unsettled then are in the
    /// report: they stay uncommitted and are delivered again after a
    /// restart. The final commits and leaving the group then get up to the
    /// deadline again.
    pub async fn shutdown_within(&self, deadline: Duration) -> Result<ShutdownReport> {
        super::stop(&self.feed.state, deadline).await
    }
}

impl super::state::Drain for Inbox {
    fn drain(&self, deadline: Duration) -> futures::future::BoxFuture<'_, Vec<StuckHandler>> {
        Box::pin(async move {
            self.draining.store(true, Ordering::Relaxed);
            self.wake();
            let settled = async {
                loop {
                    let woken = self.settled.notified();
                    tokio::pin!(woken);
                    woken.as_mut().enable();
                    if !self.any_out() {
                        return;
                    }
                    woken.await;
                }
            };
            if tokio::time::timeout(deadline, settled).await.is_ok() {
                return Vec::new();
            }
            let stuck = self.outstanding();
            for s in &stuck {
                tracing::error!(
                    topic = %s.topic, partition = s.partition, offset = s.offset,
                    running_for = ?s.running_for,
                    "delivery still unsettled at the shutdown deadline; it stays uncommitted"
                );
            }
            stuck
        })
    }
}

impl<E> Drop for Receiver<E> {
    fn drop(&mut self) {
        self.feed.state.stopped.store(true, Ordering::Relaxed);
        self.feed.state.cancel.cancel();
    }
}

impl Transport {
    /// Starts a pull consumer: joins `options.group` on its topics like
    /// [`Transport::subscribe_with`], and hands the assigned partitions'
    /// messages to [`Receiver::recv`] instead of a handler.
    pub async fn receiver<E>(&self, options: SubscriptionOptions) -> Result<Receiver<E>>
    where
        E: DeserializeOwned + Send + 'static,
    {
        let inbox = Arc::new(Inbox::default());
        let feed = self.join_group(options, inbox.clone(), feed::run).await?;
        // `stop` (from here or from `Transport::shutdown`) waits for the
        // deliveries out first; set once, on a state only this receiver has.
        let _ = feed.state.drain.set(inbox);
        Ok(Receiver {
            feed,
            _event: PhantomData,
        })
    }
}
