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
    backoff, state::PartitionState, subscription::Shared, trace, Delivery, Handler, HandlerError,
};
use crate::{
    metrics::ConsumerMetrics, transport::Inner, wire, CodecExt, DeadLetter, Error, ErrorKind,
    EventEnvelope, Message, PollFrom, PollRequest, Record, StartFrom, TopicRef,
};

/// The first pause after an empty poll on a backend without long polling.
const FIRST_IDLE_PAUSE: Duration = Duration::from_millis(1);

/// Everything one partition's processing needs.
pub(crate) struct PartitionCtx<'a, E, H> {
    pub(crate) shared: &'a Shared<E, H>,
    pub(crate) topic: TopicRef,
    pub(crate) partition: u32,
    pub(crate) cancel: CancellationToken,
    pub(crate) metrics: ConsumerMetrics,
    pub(crate) state: Arc<PartitionState>,
}

impl<'a, E, H> PartitionCtx<'a, E, H> {
    pub(crate) fn new(
        shared: &'a Shared<E, H>,
        topic: TopicRef,
        partition: u32,
        cancel: CancellationToken,
        state: Arc<PartitionState>,
    ) -> Self {
        let metrics = ConsumerMetrics::new(&topic, &shared.group);
        Self {
            shared,
            topic,
            partition,
            cancel,
            metrics,
            state,
        }
    }
}

/// Whether a message is finished with.
enum Outcome {
    /// Handled, skipped as a duplicate, or stored in the DLQ: its offset may be
    /// committed.
    Done,
    /// Stopped before either: it must be delivered again.
    Interrupted,
}

/// Runs until `cancel`: the partition's messages in offset order, committing
/// after each polled batch and once more on the way out.
pub(crate) async fn run<E, H>(
    shared: Arc<Shared<E, H>>,
    topic: TopicRef,
    partition: u32,
    cancel: CancellationToken,
) where
    E: DeserializeOwned + Send + 'static,
    H: Handler<E>,
{
    let state = shared.state.start_partition(&topic, partition);
    let ctx = PartitionCtx::new(&shared, topic, partition, cancel, state);
    consume(&ctx).await;
    ctx.shared.state.stop_partition(&ctx.topic, partition);
}

async fn consume<E, H>(ctx: &PartitionCtx<'_, E, H>)
where
    E: DeserializeOwned + Send + 'static,
    H: Handler<E>,
{
    let Some((mut next, mut committed)) = start_position(ctx).await else {
        return;
    };
    // A group starting at the end (`start_from = "latest"`) pins that
    // position at once: restarted before its first batch is committed, it
    // would otherwise start at a later end and skip what came in between.
    // (Earliest starts at 0, which needs no commit; a failed commit here is
    // retried after the next poll like any other.)
    commit(ctx, next, &mut committed).await;
    ctx.state.next.store(next, Ordering::Relaxed);
    let shared = ctx.shared;
    let backend = &shared.transport.backend;
    let long_poll = backend.capabilities().long_poll;
    let poll_wait = Duration::from_millis(shared.config.poll_wait_ms);
    let mut failures = 0u32;
    let mut idle = Duration::ZERO;
    let (mut commit_failures, mut retry_commit_at) = (0u32, Instant::now());
    while !ctx.cancel.is_cancelled() {
        let request = PollRequest {
            topic: ctx.topic.clone(),
            partition: ctx.partition,
            from: PollFrom::Offset(next),
            max_records: shared.config.poll_batch,
            max_wait: poll_wait,
        };
        let started = Instant::now();
        let polled = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => break,
            polled = backend.poll(request) => polled,
        };
        ctx.metrics
            .poll_duration
            .record(started.elapsed().as_secs_f64());
        let records = match polled {
            Ok(records) => {
                failures = 0;
                records
            }
            Err(e) => {
                failures += 1;
                shared.state.failed();
                tracing::warn!(group = %shared.group, topic = %ctx.topic, partition = ctx.partition, error = %e, "poll failed");
                if !pause(
                    &ctx.cancel,
                    backoff::random_delay(&shared.config.retry, failures),
                )
                .await
                {
                    break;
                }
                continue;
            }
        };
        if records.is_empty() {
            // Retries a commit that failed after the last batch (with backoff,
            // so an offset-store outage is not hit every poll): on a quiet
            // partition it would otherwise wait for the next message, and a
            // crash meanwhile would deliver the whole batch again.
            if Instant::now() >= retry_commit_at {
                if commit(ctx, next, &mut committed).await {
                    commit_failures = 0;
                } else {
                    commit_failures += 1;
                    retry_commit_at = Instant::now()
                        + backoff::random_delay(&shared.config.retry, commit_failures);
                }
            }
            if !long_poll {
                // Backends that cannot wait for data (remote Iggy) are polled
                // again after a pause that starts short and doubles up to
                // `poll_wait`: a partition that just went quiet is read again
                // within a millisecond or two, an idle one every `poll_wait`.
                idle = (idle * 2).clamp(FIRST_IDLE_PAUSE, poll_wait.max(FIRST_IDLE_PAUSE));
                if !pause(&ctx.cancel, idle).await {
                    break;
                }
            }
            continue;
        }
        idle = Duration::ZERO;
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
        commit(ctx, next, &mut committed).await;
    }
    commit(ctx, next, &mut committed).await;
}

/// The group's committed position, or where its start policy says to begin.
/// `None` if cancelled first. Returns (next offset, committed offset).
async fn start_position<E, H>(ctx: &PartitionCtx<'_, E, H>) -> Option<(u64, Option<u64>)> {
    let shared = ctx.shared;
    let inner = &shared.transport;
    let mut failures = 0;
    loop {
        let found = match inner
            .offsets
            .load(&shared.group, &ctx.topic, ctx.partition)
            .await
        {
            Ok(Some(next)) => Ok((next, Some(next))),
            Ok(None) => match shared.config.start_from {
                StartFrom::Earliest => Ok((0, None)),
                StartFrom::Latest => inner
                    .backend
                    .partition_info(&ctx.topic, ctx.partition)
                    .await
                    .map(|info| (info.next_offset, None)),
            },
            Err(e) => Err(e),
        };
        match found {
            Ok(position) => return Some(position),
            Err(e) => {
                failures += 1;
                shared.state.failed();
                tracing::warn!(group = %shared.group, topic = %ctx.topic, partition = ctx.partition, error = %e, "loading the group offset failed");
                if !pause(
                    &ctx.cancel,
                    backoff::random_delay(&shared.config.retry, failures),
                )
                .await
                {
                    return None;
                }
            }
        }
    }
}

/// Commits `next` unless it is already committed. A failed commit is counted
/// and logged, and tried again after the next poll; until one succeeds, the
/// messages since the last commit would be delivered again after a restart.
/// Returns whether `next` is committed now.
async fn commit<E, H>(
    ctx: &PartitionCtx<'_, E, H>,
    next: u64,
    committed: &mut Option<u64>,
) -> bool {
    if *committed == Some(next) || (committed.is_none() && next == 0) {
        return true;
    }
    let shared = ctx.shared;
    match shared
        .transport
        .offsets
        .commit(&shared.group, &ctx.topic, ctx.partition, next)
        .await
    {
        Ok(()) => {
            *committed = Some(next);
            true
        }
        Err(e) => {
            shared.state.commit_failures.fetch_add(1, Ordering::Relaxed);
            shared.state.failed();
            ctx.metrics.commit_failures.increment(1);
            tracing::warn!(group = %shared.group, topic = %ctx.topic, partition = ctx.partition, next, error = %e, "offset commit failed");
            false
        }
    }
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
        Attempted::Failed(failure) => dead_letter(ctx, record, failure).await,
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
    let first_failure = Utc::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let mut envelope = match decode::<E>(&shared.transport, &record.message) {
            Ok(envelope) => envelope,
            Err(e) => {
                state.failed();
                return Attempted::Failed(Failure {
                    reason: format!("undecodable message: {e}"),
                    attempts: attempt,
                    first_failure,
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
        let span = tracing::debug_span!(
            "rustok_iggy.handle",
            group = %shared.group,
            topic = %ctx.topic,
            partition = ctx.partition,
            offset = record.offset,
            event_id = %envelope.id,
            event_type = %envelope.event_type,
            attempt,
            trace_id = tracing::field::Empty,
            parent_span_id = tracing::field::Empty,
        );
        trace::record_parent(&span, &record.message.headers);
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

/// The envelope in `message`, decoded with the codec its header names.
fn decode<E: DeserializeOwned>(
    inner: &Inner,
    message: &Message,
) -> crate::Result<EventEnvelope<E>> {
    let metadata = wire::envelope_metadata(message)?;
    let name = wire::codec_name(&message.headers)?;
    let codec = inner.decoders.get(name).ok_or_else(|| {
        let mut known: Vec<&str> = inner.decoders.keys().map(String::as_str).collect();
        known.sort_unstable();
        Error::new(
            ErrorKind::Codec,
            format!(
                "unknown codec `{name}`; this transport reads {}",
                known.join(", ")
            ),
        )
    })?;
    let event: E = codec.decode_value(&message.payload)?;
    Ok(metadata.map(|()| event))
}

/// Stores the record in the DLQ, retrying until it is stored or cancelled.
async fn dead_letter<E, H>(
    ctx: &PartitionCtx<'_, E, H>,
    record: &Record,
    failure: Failure,
) -> Outcome {
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
    let mut failures = 0;
    loop {
        match shared.transport.dlq.put(letter.clone()).await {
            Ok(id) => {
                shared.state.dead_lettered.fetch_add(1, Ordering::Relaxed);
                ctx.metrics.dead_lettered.increment(1);
                tracing::warn!(
                    group = %shared.group, topic = %ctx.topic, partition = ctx.partition,
                    offset = record.offset, dlq_id = id, attempts = letter.attempts,
                    error = %letter.error, "message moved to the dead-letter queue"
                );
                return Outcome::Done;
            }
            Err(e) => {
                failures += 1;
                shared.state.failed();
                tracing::error!(group = %shared.group, topic = %ctx.topic, partition = ctx.partition, offset = record.offset, error = %e, "storing a dead letter failed; the partition waits");
                if !pause(
                    &ctx.cancel,
                    backoff::random_delay(&shared.config.retry, failures),
                )
                .await
                {
                    return Outcome::Interrupted;
                }
            }
        }
    }
}

/// Sleeps for `duration`; `false` if cancelled first.
pub(crate) async fn pause(cancel: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(duration) => true,
    }
}
