//! The transport workloads: publish, consume (a group reading everything,
//! with handlers and with pull receivers) and publish-to-handler latency.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use rustok_iggy::{
    handler_fn, partition_for, wire, CodecExt, Error, ErrorKind, EventEnvelope, HandlerError,
    HeadersBuilder, Message, Result, SubscriptionOptions, Transport,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{measure::Figure, measure::Latency, setup};

/// Partition keys the events are spread over (as tenants would be).
const KEYS: u128 = 64;
/// A consuming group that handles nothing for this long is reported as
/// stalled instead of waited on forever (a hang guard, not a measurement).
const STALL: Duration = Duration::from_secs(120);
/// Highest latency the histogram records exactly (60 s, in µs); slower
/// samples count as this.
const MAX_LATENCY_US: u64 = 60_000_000;

/// What is published: a send time (for latency) and a body of the requested
/// size.
#[derive(Debug, Serialize)]
pub struct BenchEvent<'a> {
    /// Nanoseconds since the run's epoch when it was published.
    pub sent_nanos: u64,
    /// Filler of `--payload-bytes` bytes.
    pub body: &'a str,
}

/// What a handler decodes (the same fields, owned).
#[derive(Debug, Deserialize)]
pub struct Received {
    /// See [`BenchEvent::sent_nanos`].
    pub sent_nanos: u64,
    /// See [`BenchEvent::body`]; its length is checked on consume.
    pub body: String,
}

/// The envelope of event number `seq`, keyed by one of [`KEYS`] tenants.
pub fn envelope<'a>(
    event_type: &str,
    seq: u64,
    sent_nanos: u64,
    body: &'a str,
) -> Result<EventEnvelope<BenchEvent<'a>>> {
    EventEnvelope::builder(
        event_type,
        Uuid::from_u128(u128::from(seq) % KEYS + 1),
        BenchEvent { sent_nanos, body },
    )
    .build()
}

/// Bytes one event takes as a message (payload and headers) with the
/// transport's codec: what MB/s counts and what the baselines write.
pub fn message_bytes(transport: &Transport, body: &str) -> Result<u64> {
    let envelope = envelope(setup::EVENT, 0, 0, body)?;
    let payload = transport.codec().encode_value(&envelope.event)?;
    let message = wire::envelope_message(&envelope, transport.codec().name(), payload.into())?;
    Ok((message.payload.len() + message.headers.encoded_len()) as u64)
}

/// What a baseline sends: the throughput workload's shape.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Messages to send.
    pub events: u64,
    /// Messages per batch (split by partition, as `publish_batch` splits).
    pub batch: u64,
    /// Concurrent senders, sharing one backend or connection (as the
    /// transport's producers share its backend).
    pub producers: u64,
    /// Bytes per message (payload and headers), for MB/s.
    pub message_bytes: u64,
    /// Messages per poll when reading back.
    pub poll_batch: u32,
    /// Partitions of the topic (the transport's `routing.partitions`).
    pub partitions: u32,
}

/// Bytes of the buffers a batch's messages are cut from, as the transport's.
const SHARED_CHUNK: usize = 64 * 1024;

/// One batch as (partition, messages) groups, split as `publish_batch`
/// splits (`partition_for` of the key).
pub type Batch = Vec<(u32, Vec<Message>)>;

/// The throughput workload's events as the transport writes them, built
/// before a baseline's clock starts.
pub struct Batches {
    /// Per producer, its batches.
    pub per_producer: Vec<Vec<Batch>>,
    /// Messages per partition, in all.
    pub per_partition: Vec<u64>,
}

/// [`Batches`] of `plan` over a topic of `partitions` partitions: batch
/// *k* goes to producer *k* mod `producers`. A baseline sending them does
/// what `publish` does minus the transport, so the ratio measures the
/// transport's overhead, not a different batching.
pub fn batches(transport: &Transport, body: &str, plan: &Plan, partitions: u32) -> Result<Batches> {
    let producers = plan.producers.max(1);
    let mut per_producer: Vec<Vec<_>> = (0..producers).map(|_| Vec::new()).collect();
    let mut per_partition = vec![0_u64; partitions as usize];
    let (mut seq, mut k) = (0_u64, 0_u64);
    while seq < plan.events {
        let n = (plan.events - seq).min(plan.batch.max(1));
        let mut groups: BTreeMap<u32, Vec<Message>> = BTreeMap::new();
        // Laid out as `publish_batch` lays a batch out: payloads and headers
        // cut from buffers the batch shares, so dropping them after the
        // append costs what it costs the transport.
        let mut payloads = BytesMut::with_capacity(SHARED_CHUNK);
        let mut headers = HeadersBuilder::with_capacity(SHARED_CHUNK);
        for i in seq..seq + n {
            let envelope = envelope(setup::EVENT, i, 0, body)?;
            transport
                .codec()
                .encode_value_into(&envelope.event, &mut payloads)?;
            let own = wire::envelope_headers(&envelope, transport.codec().name())?;
            for (key, value) in own.iter() {
                headers.push(key, value);
            }
            let partition = partition_for(envelope.partition_key_bytes(), partitions);
            groups.entry(partition).or_default().push(Message {
                origin_timestamp_micros: None,
                id: envelope.id.as_u128(),
                headers: headers.split()?,
                payload: payloads.split().freeze(),
            });
        }
        for (partition, messages) in &groups {
            per_partition[*partition as usize] += messages.len() as u64;
        }
        per_producer[(k % producers) as usize].push(groups.into_iter().collect());
        seq += n;
        k += 1;
    }
    Ok(Batches {
        per_producer,
        per_partition,
    })
}

/// Publishes `events` events with `publish_batch`, `batch` at a time, from
/// `producers` concurrent tasks sharing the transport.
pub async fn publish(
    transport: &Transport,
    body: &Arc<str>,
    events: u64,
    batch: u64,
    producers: u64,
    message_bytes: u64,
    progress: &ProgressBar,
) -> Result<Figure> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..producers {
        // Producer p publishes every event whose number is p modulo producers.
        let mine = events / producers + u64::from(p < events % producers);
        let (transport, body, progress) = (transport.clone(), body.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let mut seq = p;
            let mut left = mine;
            while left > 0 {
                let n = left.min(batch);
                // Sized up front, as an application gathering a batch would
                // (collecting `Result`s grows the vector as it goes).
                let mut envelopes = Vec::with_capacity(n as usize);
                for i in 0..n {
                    envelopes.push(envelope(setup::EVENT, seq + i * producers, 0, &body)?);
                }
                transport.publish_batch(&envelopes).await?;
                seq += n * producers;
                left -= n;
                progress.inc(n);
            }
            Ok::<(), Error>(())
        }));
    }
    for task in tasks {
        task.await.map_err(join_error)??;
    }
    Ok(Figure {
        events,
        bytes: events * message_bytes,
        elapsed: started.elapsed(),
    })
}

/// `consumers` members of a new group read the topic from the start until
/// every one of `events` events was handled (and committed on shutdown).
/// Every decoded body must have `body_len` bytes.
pub async fn consume(
    transport: &Transport,
    topic: &str,
    events: u64,
    consumers: u64,
    (body_len, message_bytes): (usize, u64),
    progress: &ProgressBar,
) -> Result<Figure> {
    let handled = Arc::new(AtomicU64::new(0));
    let mangled = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut members = Vec::new();
    for _ in 0..consumers {
        let (handled, mangled) = (handled.clone(), mangled.clone());
        let handler = handler_fn(move |event: EventEnvelope<Received>| {
            if event.event.body.len() != body_len {
                mangled.fetch_add(1, Ordering::Relaxed);
            }
            handled.fetch_add(1, Ordering::Release);
            async { Ok::<(), HandlerError>(()) }
        });
        members.push(
            transport
                .subscribe("bench-consume", &[topic], handler)
                .await?,
        );
    }
    wait_for(&handled, events, progress).await?;
    let elapsed = started.elapsed();
    for member in members {
        member.shutdown().await?;
    }
    consumed_figure(&mangled, events, message_bytes, elapsed)
}

/// [`consume`] with pull receivers instead of handlers: `consumers` members
/// of another new group each take batches of deliveries (`recv_batch` of
/// `poll_batch`) and ack every one, until all `events` were acked.
pub async fn consume_pull(
    transport: &Transport,
    topic: &str,
    (events, consumers, batch): (u64, u64, usize),
    (body_len, message_bytes): (usize, u64),
    progress: &ProgressBar,
) -> Result<Figure> {
    let handled = Arc::new(AtomicU64::new(0));
    let mangled = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut members = Vec::new();
    for _ in 0..consumers {
        let receiver = Arc::new(
            transport
                .receiver::<Received>(SubscriptionOptions::new("bench-pull", [topic]))
                .await?,
        );
        let (handled, mangled) = (handled.clone(), mangled.clone());
        let task = tokio::spawn({
            let receiver = receiver.clone();
            async move {
                loop {
                    let deliveries = receiver.recv_batch(batch).await;
                    if deliveries.is_empty() {
                        return;
                    }
                    let n = deliveries.len() as u64;
                    for delivery in deliveries {
                        if delivery.envelope.event.body.len() != body_len {
                            mangled.fetch_add(1, Ordering::Relaxed);
                        }
                        delivery.ack();
                    }
                    handled.fetch_add(n, Ordering::Release);
                }
            }
        });
        members.push((receiver, task));
    }
    wait_for(&handled, events, progress).await?;
    let elapsed = started.elapsed();
    for (receiver, task) in members {
        receiver.shutdown().await?;
        task.await.map_err(join_error)?;
    }
    consumed_figure(&mangled, events, message_bytes, elapsed)
}

/// The figure of a consume run, unless some bodies came back changed.
fn consumed_figure(
    mangled: &AtomicU64,
    events: u64,
    message_bytes: u64,
    elapsed: Duration,
) -> Result<Figure> {
    let mangled = mangled.load(Ordering::Relaxed);
    if mangled > 0 {
        return Err(Error::new(
            ErrorKind::Codec,
            format!("{mangled} consumed event(s) came back with another body than was published"),
        ));
    }
    Ok(Figure {
        events,
        bytes: events * message_bytes,
        elapsed,
    })
}

/// Publish-to-handler latency: with `consumers` members subscribed, events
/// are published one at a time (each awaited) at `rate` per second (slower
/// if a publish takes longer), stamped just before their `publish`; each
/// handler records now minus the stamp. A steady rate keeps the figure about
/// the path, not about a backlog a burst would build.
pub async fn latency(
    transport: &Transport,
    topic: &str,
    (events, rate): (u64, u64),
    (partitions, consumers): (u32, u64),
    body: &str,
    progress: &ProgressBar,
) -> Result<Latency> {
    let histogram = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)
        .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("latency histogram: {e}")))?;
    let histogram = Arc::new(Mutex::new(histogram));
    let handled = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let mut members = Vec::new();
    for _ in 0..consumers {
        let (histogram, handled, measuring) =
            (histogram.clone(), handled.clone(), measuring.clone());
        let handler = handler_fn(move |event: EventEnvelope<Received>| {
            let result = if measuring.load(Ordering::Acquire) {
                let now = epoch.elapsed().as_nanos() as u64;
                let micros = now.saturating_sub(event.event.sent_nanos) / 1_000;
                histogram
                    .lock()
                    .map(|mut h| h.saturating_record(micros.max(1)))
                    .map_err(|_| HandlerError::permanent("latency histogram lock poisoned"))
            } else {
                Ok(())
            };
            handled.fetch_add(1, Ordering::Release);
            async move { result }
        });
        members.push(
            transport
                .subscribe("bench-latency", &[topic], handler)
                .await?,
        );
    }
    // Warm-up: one event through every partition before measuring, so
    // joining, the first assignment and each partition's first poll (over
    // a server that holds polls, the opening of the partition's connection)
    // are not counted as latency.
    let warm_up = warm_up(partitions, body)?;
    for event in &warm_up {
        transport.publish(event).await?;
    }
    let warm_up = warm_up.len() as u64;
    wait_for(&handled, warm_up, &ProgressBar::hidden()).await?;
    measuring.store(true, Ordering::Release);
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let started = tokio::time::Instant::now();
    for seq in 1..=events {
        let due = started + interval.saturating_mul(u32::try_from(seq).unwrap_or(u32::MAX));
        tokio::time::sleep_until(due).await;
        let sent = epoch.elapsed().as_nanos() as u64;
        transport
            .publish(&envelope(setup::LATENCY_EVENT, seq, sent, body)?)
            .await?;
        progress.inc(1);
    }
    wait_for(&handled, warm_up + events, &ProgressBar::hidden()).await?;
    for member in members {
        member.shutdown().await?;
    }
    let histogram = histogram
        .lock()
        .map_err(|_| Error::new(ErrorKind::Backend, "latency histogram lock poisoned"))?;
    Ok(Latency::from_histogram(&histogram))
}

/// Latency events (not measured) whose keys reach each of `partitions`
/// that the bench's keys reach.
fn warm_up(partitions: u32, body: &str) -> Result<Vec<EventEnvelope<BenchEvent<'_>>>> {
    let mut reached = vec![false; partitions as usize];
    let mut events = Vec::new();
    for seq in 0..KEYS as u64 {
        let event = envelope(setup::LATENCY_EVENT, seq, 0, body)?;
        let partition = partition_for(event.partition_key_bytes(), partitions) as usize;
        if let Some(seen @ false) = reached.get_mut(partition) {
            *seen = true;
            events.push(event);
        }
    }
    Ok(events)
}

/// Waits until `count` reaches `target`, showing it on `progress`; an error
/// if it does not move for [`STALL`].
async fn wait_for(count: &AtomicU64, target: u64, progress: &ProgressBar) -> Result<()> {
    let mut last = 0;
    let mut last_change = Instant::now();
    loop {
        let now = count.load(Ordering::Acquire);
        progress.set_position(now.min(target));
        if now >= target {
            return Ok(());
        }
        if now != last {
            (last, last_change) = (now, Instant::now());
        } else if last_change.elapsed() > STALL {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "consumers stalled: {now} of {target} events handled, none for {} s",
                    STALL.as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A producer task that panicked or was cancelled.
pub fn join_error(e: tokio::task::JoinError) -> Error {
    Error::new(ErrorKind::Backend, format!("benchmark task failed: {e}"))
}
