//! One partition's consumer: poll, decode, handle with retries, dead-letter,
//! commit.

use std::{
    panic::AssertUnwindSafe,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    backoff,
    commits::Commits,
    context::{pause, PartitionCtx},
    state::Shared,
    Delivery, Handler, HandlerError,
};
use crate::{
    DeadLetter, Error, ErrorKind, Fence, PollFrom, PollRequest, Record, StartFrom, TopicRef,
};

/// The first pause after an empty poll on a backend without long polling.
const FIRST_IDLE_PAUSE: Duration = Duration::from_millis(1);

/// Whether a message is finished with.
enum Outcome {
    /// Handled, skipped as a duplicate, or stored in the DLQ: its offset may be
    /// committed.
    Done,
    /// Stopped before either: it must be delivered again.
    Interrupted,
}

/// Runs until `cancel`: the partition's messages in offset order, committing
/// after each polled batch and once more on the way out. A commit refused as
/// [fenced](ErrorKind::Fenced) ends it at once: the partition is another
/// member's now, and what this one handled since its last commit is that
/// member's to deliver again.
pub(crate) async fn run<E, H>(
    shared: Arc<Shared<E, H>>,
    topic: TopicRef,
    partition: u32,
    fence: Fence,
    cancel: CancellationToken,
) where
    E: DeserializeOwned + Send + 'static,
    H: Handler<E>,
{
    let state = shared.state.start_partition(&topic, partition);
    let ctx = PartitionCtx::new(&shared, topic, partition, cancel, state);
    consume(&ctx, fence).await;
    ctx.shared.state.stop_partition(&ctx.topic, partition);
}

async fn consume<E, H>(ctx: &PartitionCtx<'_, E, H>, fence: Fence)
where
    E: DeserializeOwned + Send + 'static,
    H: Handler<E>,
{
    let Some((mut next, committed)) = start_position(ctx).await else {
        return;
    };
    // A group starting at the end (`start_from = "latest"`) pins that
    // position at once: restarted before its first batch is committed, it
    // would otherwise start at a later end and skip what came in between.
    // (Earliest starts at 0, which needs no commit; a failed commit here is
    // retried after the next poll like any other.)
    let mut commits = Commits::new(fence, committed);
    commits.commit(ctx, next).await;
    ctx.state.next.store(next, Ordering::Relaxed);
    let shared = ctx.shared;
    let backend = &shared.transport.backend;
    let poll_wait = Duration::from_millis(shared.config.poll_wait_ms);
    let mut failures = 0u32;
    let mut idle = IdlePause::new(backend.capabilities().long_poll, poll_wait);
    let (mut commit_failures, mut retry_commit_at) = (0u32, Instant::now());
    // The poll of the batch after a full one, already on its way while that
    // one is handled (see `Prefetch`).
    let mut prefetched: Option<Prefetch> = None;
    while !ctx.cancel.is_cancelled() {
        let (polled, sent) = match prefetched.take().filter(|p| p.from == next) {
            Some(prefetch) => {
                let sent = prefetch.sent;
                tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => break,
                    polled = prefetch.result() => (polled, sent),
                }
            }
            None => {
                let sent = Instant::now();
                match ctx.poll(poll_request(ctx, next, poll_wait)).await {
                    Some(polled) => (polled, sent),
                    None => break,
                }
            }
        };
        let took = sent.elapsed();
        let Some(records) = ctx.records(polled, &mut failures).await else {
            continue;
        };
        if records.is_empty() {
            // Retries a commit that failed after the last batch (with backoff,
            // so an offset-store outage is not hit every poll): on a quiet
            // partition it would otherwise wait for the next message, and a
            // crash meanwhile would deliver the whole batch again.
            if Instant::now() >= retry_commit_at {
                if commits.commit(ctx, next).await {
                    commit_failures = 0;
                } else {
                    commit_failures += 1;
                    retry_commit_at = Instant::now()
                        + backoff::random_delay(&shared.config.retry, commit_failures);
                }
            }
            if !pause(&ctx.cancel, idle.after_empty(took)).await {
                break;
            }
            continue;
        }
        idle.reset();
        if records.len() >= shared.config.poll_batch as usize {
            // A full batch suggests a backlog: ask for the next one now, so
            // the backend (a server, for remote) works while this one is
            // handled. Only read ahead; nothing is committed before handling,
            // and a read-ahead that no longer fits (a stop, a failure) is
            // dropped.
            if let Some(last) = records.last() {
                prefetched = Some(Prefetch::start(ctx, last.offset + 1, poll_wait));
                // Let the read-ahead send its request before this batch is
                // handled: a task spawned from a worker waits in that
                // worker's next-task slot, which no other worker takes, and
                // handlers that never wait would hold it back to the end.
                tokio::task::yield_now().await;
            }
        }
        let permit = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => break,
            permit = shared.permits.acquire() => permit,
        };
        for record in records {
            if ctx.cancel.is_cancelled() {
                break;
            }
            if record.offset < next {
                continue;
            }
            match deliver(ctx, &record).await {
                Outcome::Done => {
                    next = record.offset + 1;
                    ctx.state.next.store(next, Ordering::Relaxed);
                }
                Outcome::Interrupted => break,
            }
        }
        drop(permit);
        // Stored while the next batch is handled; see `Commits`.
        commits.start(ctx, next).await;
    }
    commits.commit(ctx, next).await;
}

/// The pauses between empty polls of one partition.
///
/// A backend that long-polls, and a server that held the poll (a waiting
/// poll on `rustok-iggy serve`, see the remote backend), already waited for
/// data: the next poll goes at once. Apache Iggy answers an empty partition
/// at once; then the pause starts short and doubles up to `poll_wait`, so a
/// partition that just went quiet is read again within a millisecond or
/// two, an idle one every `poll_wait`.
pub(crate) struct IdlePause {
    long_poll: bool,
    poll_wait: Duration,
    current: Duration,
}

impl IdlePause {
    pub(crate) fn new(long_poll: bool, poll_wait: Duration) -> Self {
        Self {
            long_poll,
            poll_wait,
            current: Duration::ZERO,
        }
    }

    /// The pause after an empty poll that took `took` from request to
    /// answer. A poll that took half of the wait it asked for or more was
    /// held: the hold was the pause. (A server holds a waiting poll at most
    /// [`MAX_POLL_WAIT`](crate::iggy_extension::MAX_POLL_WAIT).)
    pub(crate) fn after_empty(&mut self, took: Duration) -> Duration {
        let asked = self.poll_wait.min(crate::iggy_extension::MAX_POLL_WAIT);
        if self.long_poll || (!asked.is_zero() && took >= asked / 2) {
            self.current = Duration::ZERO;
            return Duration::ZERO;
        }
        self.current =
            (self.current * 2).clamp(FIRST_IDLE_PAUSE, self.poll_wait.max(FIRST_IDLE_PAUSE));
        self.current
    }

    /// Data came: the next empty poll starts the pauses again.
    pub(crate) fn reset(&mut self) {
        self.current = Duration::ZERO;
    }
}

pub(crate) fn poll_request<E, H>(
    ctx: &PartitionCtx<'_, E, H>,
    from: u64,
    wait: Duration,
) -> PollRequest {
    PollRequest {
        topic: ctx.topic.clone(),
        partition: ctx.partition,
        from: PollFrom::Offset(from),
        max_records: ctx.shared.config.poll_batch,
        max_wait: wait,
    }
}

/// A poll running in a task of its own while the previous batch is handled:
/// on a remote backend the server reads and sends the next batch while this
/// side decodes and handles, instead of one waiting for the other. Polls by
/// offset are reads only, so a read-ahead that is not used changes nothing;
/// dropping one aborts it.
struct Prefetch {
    from: u64,
    /// When the poll was sent.
    sent: Instant,
    task: tokio::task::JoinHandle<crate::Result<Vec<Record>>>,
}

impl Prefetch {
    fn start<E, H>(ctx: &PartitionCtx<'_, E, H>, from: u64, wait: Duration) -> Self {
        let backend = ctx.shared.transport.backend.clone();
        let request = poll_request(ctx, from, wait);
        let duration = ctx.metrics.poll_duration.clone();
        let sent = Instant::now();
        let task = tokio::spawn(async move {
            let polled = backend.poll(request).await;
            duration.record(sent.elapsed().as_secs_f64());
            polled
        });
        Self { from, sent, task }
    }

    async fn result(mut self) -> crate::Result<Vec<Record>> {
        (&mut self.task).await.unwrap_or_else(|e| {
            Err(Error::new(
                ErrorKind::Backend,
                format!("read-ahead poll task failed: {e}"),
            ))
        })
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The group's committed position, or where its start policy says to begin.
/// `None` if cancelled first. Returns (next offset, committed offset).
pub(crate) async fn start_position<E, H>(
    ctx: &PartitionCtx<'_, E, H>,
) -> Option<(u64, Option<u64>)> {
    let shared = ctx.shared;
    let inner = &shared.transport;
    ctx.until_ok("loading the group offset", || async {
        match inner
            .offsets
            .load(&shared.group, &ctx.topic, ctx.partition)
            .await?
        {
            Some(next) => Ok((next, Some(next))),
            None => match shared.config.start_from {
                StartFrom::Earliest => Ok((0, None)),
                StartFrom::Latest => inner
                    .backend
                    .partition_info(&ctx.topic, ctx.partition)
                    .await
                    .map(|info| (info.next_offset, None)),
            },
        }
    })
    .await
}

/// Delivers one record: handle with retries, dead-letter when the handler gives
/// up or the message cannot be decoded.
async fn deliver<E, H>(ctx: &PartitionCtx<'_, E, H>, record: &Record) -> Outcome
where
    E: DeserializeOwned + Send + 'static,
    H: Handler<E>,
{
    ctx.state.set_in_flight(Some(record.offset));
    let outcome = match attempt(ctx, record).await {
        Attempted::Handled | Attempted::Duplicate => Outcome::Done,
        Attempted::Interrupted => Outcome::Interrupted,
        Attempted::Failed(failure) => match dead_letter(ctx, record, failure).await {
            Some(_) => Outcome::Done,
            None => Outcome::Interrupted,
        },
    };
    ctx.state.set_in_flight(None);
    outcome
}

/// How handling one record ended.
pub(crate) enum Attempted {
    /// The handler accepted it.
    Handled,
    /// The dedup window had seen its event id: not handled again.
    Duplicate,
    /// The handler gave up on it, or it could not be decoded.
    Failed(Failure),
    /// Cancelled between attempts.
    Interrupted,
}

/// Why and how often handling a record failed.
pub(crate) struct Failure {
    pub(crate) reason: String,
    pub(crate) attempts: u32,
    pub(crate) first_failure: DateTime<Utc>,
}

/// Decodes and handles one record, retrying transient failures with backoff
/// up to `max_attempts`.
pub(crate) async fn attempt<E, H>(ctx: &PartitionCtx<'_, E, H>, record: &Record) -> Attempted
where
    E: DeserializeOwned + Send + 'static,
    H: Handler<E>,
{
    let shared = ctx.shared;
    let state = &shared.state;
    if state.seen(record.message.id) {
        state.deduplicated.fetch_add(1, Ordering::Relaxed);
        ctx.metrics.deduplicated.increment(1);
        return Attempted::Duplicate;
    }
    let retry = &shared.config.retry;
    // Read from the clock only once something fails: this loop runs per event.
    let mut first_failure = None;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let decoded = shared
            .transport
            .envelopes
            .decode::<E>(&record.message, shared.config.legacy_format);
        let mut envelope = match decoded {
            Ok(envelope) => envelope,
            Err(e) => {
                state.failed();
                return Attempted::Failed(Failure {
                    reason: format!("undecodable message: {e}"),
                    attempts: attempt,
                    first_failure: *first_failure.get_or_insert_with(Utc::now),
                });
            }
        };
        envelope.retry_count = envelope.retry_count.saturating_add(attempt - 1);
        let delivery = Delivery {
            topic: ctx.topic.clone(),
            partition: ctx.partition,
            offset: record.offset,
            attempt,
            group: shared.group.clone(),
        };
        let span = handle_span(
            &shared.group,
            &ctx.topic,
            ctx.partition,
            record,
            &envelope,
            attempt,
        );
        let started = Instant::now();
        let outcome = AssertUnwindSafe(shared.handler.handle(envelope, &delivery))
            .catch_unwind()
            .instrument(span)
            .await
            .unwrap_or_else(|panic| {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                Err(HandlerError::transient(format!("handler panicked: {text}")))
            });
        ctx.metrics
            .handler_duration
            .record(started.elapsed().as_secs_f64());
        let error = match outcome {
            Ok(()) => {
                state.handled.fetch_add(1, Ordering::Relaxed);
                state.succeeded();
                state.remember(record.message.id);
                ctx.metrics.consumed.increment(1);
                return Attempted::Handled;
            }
            Err(error) => error,
        };
        state.failed();
        let first_failure = *first_failure.get_or_insert_with(Utc::now);
        if !error.is_transient() || attempt >= retry.max_attempts {
            return Attempted::Failed(Failure {
                reason: error.to_string(),
                attempts: attempt,
                first_failure,
            });
        }
        state.retries.fetch_add(1, Ordering::Relaxed);
        ctx.metrics.retries.increment(1);
        tracing::debug!(group = %shared.group, topic = %ctx.topic, partition = ctx.partition, offset = record.offset, attempt, error = %error, "handler failed; retrying");
        if !pause(&ctx.cancel, backoff::random_delay(retry, attempt)).await {
            return Attempted::Interrupted;
        }
    }
}

/// The span a handler runs in (a pull receiver hands it out with the
/// delivery), a child of the publisher's trace when the message carries one.
pub(crate) fn handle_span<T>(
    group: &str,
    topic: &TopicRef,
    partition: u32,
    record: &Record,
    envelope: &crate::EventEnvelope<T>,
    attempt: u32,
) -> tracing::Span {
    let span = tracing::debug_span!(
        "rustok_iggy.handle",
        group = %group,
        topic = %topic,
        partition,
        offset = record.offset,
        event_id = %envelope.id,
        event_type = %envelope.event_type,
        attempt,
        trace_id = tracing::field::Empty,
        parent_span_id = tracing::field::Empty,
    );
    crate::envelope::trace::record_parent(&span, &record.message.headers);
    span
}

/// Stores the record in the DLQ, retrying until it is stored or cancelled;
/// returns its DLQ id, or `None` if cancelled first.
pub(crate) async fn dead_letter<E, H>(
    ctx: &PartitionCtx<'_, E, H>,
    record: &Record,
    failure: Failure,
) -> Option<u64> {
    let shared = ctx.shared;
    let letter = DeadLetter {
        message: record.message.clone(),
        topic: ctx.topic.clone(),
        partition: ctx.partition,
        offset: record.offset,
        group: shared.group.clone(),
        error: failure.reason,
        attempts: failure.attempts,
        first_failure: failure.first_failure,
        last_failure: Utc::now(),
    };
    let stored = ctx
        .until_ok("storing a dead letter (the partition waits)", || {
            shared.transport.dlq.put(letter.clone())
        })
        .await;
    let id = stored?;
    shared.state.dead_lettered.fetch_add(1, Ordering::Relaxed);
    ctx.metrics.dead_lettered.increment(1);
    tracing::warn!(
        group = %shared.group, topic = %ctx.topic, partition = ctx.partition,
        offset = record.offset, dlq_id = id, attempts = letter.attempts,
        error = %letter.error, "message moved to the dead-letter queue"
    );
    Some(id)
}
