//! One partition's consumer: poll, decode, handle with retries, dead-letter,
//! commit.

use std::{panic::AssertUnwindSafe, sync::atomic::Ordering, time::Duration};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{backoff, subscription::Shared, Delivery, Handler, HandlerError};
use crate::{
    transport::Inner, wire, CodecExt, DeadLetter, Error, ErrorKind, EventEnvelope, Message,
    PollFrom, PollRequest, Record, StartFrom, TopicRef,
};

/// Whether a message is finished with.
enum Outcome {
    /// Handled, or stored in the DLQ: its offset may be committed.
    Done,
    /// Stopped before either: it must be delivered again.
    Interrupted,
}

/// Runs until `cancel`: the partition's messages in offset order, committing
/// after each polled batch and once more on the way out.
pub(crate) async fn run<E, H>(
    shared: std::sync::Arc<Shared<E, H>>,
    topic: TopicRef,
    partition: u32,
    cancel: CancellationToken,
) where
    E: DeserializeOwned + Send + 'static,
    H: Handler<E>,
{
    let Some((mut next, mut committed)) = start_position(&shared, &topic, partition, &cancel).await
    else {
        return;
    };
    let backend = &shared.transport.backend;
    let long_poll = backend.capabilities().long_poll;
    let poll_wait = Duration::from_millis(shared.config.poll_wait_ms);
    let mut failures = 0u32;
    while !cancel.is_cancelled() {
        let request = PollRequest {
            topic: topic.clone(),
            partition,
            from: PollFrom::Offset(next),
            max_records: shared.config.poll_batch,
            max_wait: poll_wait,
        };
        let polled = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            polled = backend.poll(request) => polled,
        };
        let records = match polled {
            Ok(records) => {
                failures = 0;
                records
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(group = %shared.group, %topic, partition, error = %e, "poll failed");
                if !pause(
                    &cancel,
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
            if !long_poll && !pause(&cancel, poll_wait).await {
                break;
            }
            continue;
        }
        let permit = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            permit = shared.permits.acquire() => permit,
        };
        for record in records {
            if cancel.is_cancelled() {
                break;
            }
            if record.offset < next {
                continue;
            }
            match deliver(&shared, &topic, partition, &record, &cancel).await {
                Outcome::Done => next = record.offset + 1,
                Outcome::Interrupted => break,
            }
        }
        drop(permit);
        commit(&shared, &topic, partition, next, &mut committed).await;
    }
    commit(&shared, &topic, partition, next, &mut committed).await;
}

/// The group's committed position, or where its start policy says to begin.
/// `None` if cancelled first. Returns (next offset, committed offset).
async fn start_position<E, H>(
    shared: &Shared<E, H>,
    topic: &TopicRef,
    partition: u32,
    cancel: &CancellationToken,
) -> Option<(u64, Option<u64>)> {
    let inner = &shared.transport;
    let mut failures = 0;
    loop {
        let found = match inner.offsets.load(&shared.group, topic, partition).await {
            Ok(Some(next)) => Ok((next, Some(next))),
            Ok(None) => match shared.config.start_from {
                StartFrom::Earliest => Ok((0, None)),
                StartFrom::Latest => inner
                    .backend
                    .partition_info(topic, partition)
                    .await
                    .map(|info| (info.next_offset, None)),
            },
            Err(e) => Err(e),
        };
        match found {
            Ok(position) => return Some(position),
            Err(e) => {
                failures += 1;
                tracing::warn!(group = %shared.group, %topic, partition, error = %e, "loading the group offset failed");
                if !pause(
                    cancel,
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
/// and logged; the messages since the last commit will be delivered again.
async fn commit<E, H>(
    shared: &Shared<E, H>,
    topic: &TopicRef,
    partition: u32,
    next: u64,
    committed: &mut Option<u64>,
) {
    if *committed == Some(next) || (committed.is_none() && next == 0) {
        return;
    }
    match shared
        .transport
        .offsets
        .commit(&shared.group, topic, partition, next)
        .await
    {
        Ok(()) => *committed = Some(next),
        Err(e) => {
            shared
                .counters
                .commit_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(group = %shared.group, %topic, partition, next, error = %e, "offset commit failed");
        }
    }
}

/// Delivers one record: handle with retries, dead-letter when the handler gives
/// up or the message cannot be decoded.
async fn deliver<E, H>(
    shared: &Shared<E, H>,
    topic: &TopicRef,
    partition: u32,
    record: &Record,
    cancel: &CancellationToken,
) -> Outcome
where
    E: DeserializeOwned + Send + 'static,
    H: Handler<E>,
{
    match attempt(shared, topic, partition, record, cancel).await {
        Attempted::Handled => Outcome::Done,
        Attempted::Interrupted => Outcome::Interrupted,
        Attempted::Failed(failure) => {
            dead_letter(shared, topic, partition, record, failure, cancel).await
        }
    }
}

/// How handling one record ended.
pub(crate) enum Attempted {
    /// The handler accepted it.
    Handled,
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
pub(crate) async fn attempt<E, H>(
    shared: &Shared<E, H>,
    topic: &TopicRef,
    partition: u32,
    record: &Record,
    cancel: &CancellationToken,
) -> Attempted
where
    E: DeserializeOwned + Send + 'static,
    H: Handler<E>,
{
    let retry = &shared.config.retry;
    let first_failure = Utc::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let mut envelope = match decode::<E>(&shared.transport, &record.message) {
            Ok(envelope) => envelope,
            Err(e) => {
                return Attempted::Failed(Failure {
                    reason: format!("undecodable message: {e}"),
                    attempts: attempt,
                    first_failure,
                })
            }
        };
        envelope.retry_count = envelope.retry_count.saturating_add(attempt - 1);
        let delivery = Delivery {
            topic: topic.clone(),
            partition,
            offset: record.offset,
            attempt,
            group: shared.group.clone(),
        };
        let span = tracing::debug_span!(
            "rustok_iggy.handle",
            group = %shared.group,
            %topic,
            partition,
            offset = record.offset,
            event_id = %envelope.id,
            event_type = %envelope.event_type,
            attempt,
        );
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
        let error = match outcome {
            Ok(()) => {
                shared.counters.handled.fetch_add(1, Ordering::Relaxed);
                return Attempted::Handled;
            }
            Err(error) => error,
        };
        if !error.is_transient() || attempt >= retry.max_attempts {
            return Attempted::Failed(Failure {
                reason: error.to_string(),
                attempts: attempt,
                first_failure,
            });
        }
        shared.counters.retries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(group = %shared.group, %topic, partition, offset = record.offset, attempt, error = %error, "handler failed; retrying");
        if !pause(cancel, backoff::random_delay(retry, attempt)).await {
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
    shared: &Shared<E, H>,
    topic: &TopicRef,
    partition: u32,
    record: &Record,
    failure: Failure,
    cancel: &CancellationToken,
) -> Outcome {
    let letter = DeadLetter {
        message: record.message.clone(),
        topic: topic.clone(),
        partition,
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
                shared
                    .counters
                    .dead_lettered
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    group = %shared.group, %topic, partition, offset = record.offset,
                    dlq_id = id, attempts = letter.attempts, error = %letter.error,
                    "message moved to the dead-letter queue"
                );
                return Outcome::Done;
            }
            Err(e) => {
                failures += 1;
                tracing::error!(group = %shared.group, %topic, partition, offset = record.offset, error = %e, "storing a dead letter failed; the partition waits");
                if !pause(
                    cancel,
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
