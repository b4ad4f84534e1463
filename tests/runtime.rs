//! The consumer runtime on the memory backend: retries, the DLQ and its
//! operations, replay, dedup, shutdown and health.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use common::{numbered_events, Numbered};
use rustok_iggy::{
    wire::header, Backend, ConsumerConfig, Delivery, DlqFilter, EventEnvelope, Handler,
    HandlerError, HealthConfig, HealthStatus, Message, OffsetStore, PollFrom, PollRequest,
    ReplayFrom, RetryConfig, RoutingConfig, Transport,
};
use rustok_iggy_codecs::JsonCodec;
use rustok_iggy_testkit::{eventually, eventually_some, MemoryBackend};

fn consumer(max_attempts: u32) -> ConsumerConfig {
    ConsumerConfig {
        heartbeat_ms: 10,
        poll_wait_ms: 20,
        lag_probe_ms: 10,
        retry: RetryConfig {
            max_attempts,
            initial_backoff_ms: 1,
            max_backoff_ms: 5,
            ..RetryConfig::default()
        },
        ..ConsumerConfig::default()
    }
}

async fn transport_with(backend: Arc<dyn Backend>, consumer: ConsumerConfig) -> Transport {
    Transport::builder(backend, Arc::new(JsonCodec::new()))
        .routing(RoutingConfig {
            partitions: 1,
            ..RoutingConfig::default()
        })
        .consumer(consumer)
        .health(HealthConfig {
            max_lag: 5,
            max_consecutive_failures: 1_000,
            ..HealthConfig::default()
        })
        .build()
        .await
        .unwrap()
}

async fn transport(max_attempts: u32) -> (Transport, Arc<MemoryBackend>) {
    let backend = Arc::new(MemoryBackend::new());
    (
        transport_with(backend.clone(), consumer(max_attempts)).await,
        backend,
    )
}

/// Records deliveries; fails events per a rule.
struct Scripted {
    /// (key_seq, attempt, retry_count) of every call, in call order.
    calls: Mutex<Vec<(u64, u32, u32)>>,
    /// Fails attempts up to this number for events whose key_seq % 5 == 0.
    flaky_attempts: u32,
    /// Fails every attempt of events whose key_seq % 7 == 0, permanently or not.
    reject_sevens: Option<bool>,
    /// Set: rejected events are accepted (the fix is deployed).
    fixed: AtomicBool,
}

impl Scripted {
    fn new(flaky_attempts: u32, reject_sevens: Option<bool>) -> Arc<Self> {
        Arc::new(Self {
            calls: Mutex::new(Vec::new()),
            flaky_attempts,
            reject_sevens,
            fixed: AtomicBool::new(false),
        })
    }

    fn handled(&self) -> Vec<u64> {
        let calls = self.calls.lock().unwrap();
        let mut out: Vec<u64> = Vec::new();
        for (seq, _, _) in calls.iter() {
            if !out.contains(seq) {
                out.push(*seq);
            }
        }
        out
    }
}

#[async_trait::async_trait]
impl Handler<Numbered> for Scripted {
    async fn handle(&self, e: EventEnvelope<Numbered>, d: &Delivery) -> Result<(), HandlerError> {
        let seq = e.event.key_seq;
        if let Some(permanent) = self.reject_sevens {
            if seq.is_multiple_of(7) && !self.fixed.load(Ordering::SeqCst) {
                return Err(if permanent {
                    HandlerError::permanent(format!("event {seq} rejected"))
                } else {
                    HandlerError::transient(format!("event {seq} failed"))
                });
            }
        }
        if seq.is_multiple_of(5) && d.attempt <= self.flaky_attempts {
            return Err(HandlerError::transient("flaky"));
        }
        self.calls
            .lock()
            .unwrap()
            .push((seq, d.attempt, e.retry_count));
        Ok(())
    }
}

#[tokio::test]
async fn failing_handlers_are_retried_in_order_without_the_dlq() {
    let (transport, _) = transport(5).await;
    let handler = Scripted::new(2, None);
    transport
        .publish_batch(&numbered_events(20, 1))
        .await
        .unwrap();
    let sub = transport
        .subscribe("g", &["events"], handler.clone())
        .await
        .unwrap();
    eventually("all handled", || async { handler.handled().len() == 20 }).await;
    let stats = sub.stats();
    assert!(sub.shutdown().await.unwrap().is_clean());
    assert_eq!(
        handler.handled(),
        (1..=20).collect::<Vec<_>>(),
        "order kept"
    );
    assert_eq!(
        stats.retries,
        4 * 2,
        "events 5, 10, 15, 20 failed twice each"
    );
    assert_eq!(stats.dead_lettered, 0);
    let calls = handler.calls.lock().unwrap().clone();
    let fifth = calls.iter().find(|(seq, _, _)| *seq == 5).unwrap();
    assert_eq!(
        (fifth.1, fifth.2),
        (3, 2),
        "third attempt sees two earlier ones"
    );
    assert_eq!(
        transport
            .dead_letters()
            .count(DlqFilter::default())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_handler_that_always_fails_dead_letters_and_the_consumer_goes_on() {
    let (transport, _) = transport(3).await;
    let handler = Scripted::new(0, Some(false));
    let events = numbered_events(15, 1);
    transport.publish_batch(&events).await.unwrap();
    let sub = transport
        .subscribe("billing", &["events"], handler.clone())
        .await
        .unwrap();
    eventually("all but 7 and 14 handled", || async {
        handler.handled().len() == 13
    })
    .await;
    eventually("two dead letters", || async {
        sub.stats().dead_lettered == 2
    })
    .await;
    assert!(sub.shutdown().await.unwrap().is_clean());

    let page = transport
        .dead_letters()
        .list(DlqFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 2);
    let entry = &page.entries[0];
    let letter = &entry.letter;
    assert_eq!(letter.message.id, events[6].id.as_u128(), "event 7");
    assert_eq!(letter.offset, 6);
    assert_eq!(
        (letter.topic.topic.as_str(), letter.partition),
        ("events", 0)
    );
    assert_eq!(letter.group, "billing");
    assert_eq!(letter.attempts, 3);
    assert!(letter.error.contains("event 7 failed"), "{}", letter.error);
    assert!(letter.first_failure <= letter.last_failure);
    assert_eq!(
        letter.message.headers.get_str(header::EVENT_TYPE).unwrap(),
        Some("test.numbered")
    );
    assert!(entry.redriven_at.is_none());
    let end = transport
        .backend()
        .partition_info(&transport.topic("events"), 0)
        .await
        .unwrap()
        .next_offset;
    let committed = transport
        .offset_store()
        .load("billing", &transport.topic("events"), 0)
        .await
        .unwrap();
    assert_eq!(committed, Some(end), "dead letters are committed past");

    let by_group = DlqFilter {
        group: Some("other".into()),
        ..DlqFilter::default()
    };
    assert_eq!(transport.dead_letters().count(by_group).await.unwrap(), 0);
}

#[tokio::test]
async fn poison_bytes_go_to_the_dlq_with_a_decode_reason() {
    let (transport, backend) = transport(3).await;
    let topic = transport.topic("events");
    let mut poison = Message {
        origin_timestamp_micros: None,
        id: 42,
        headers: Default::default(),
        payload: bytes::Bytes::from_static(b"\x00\xffnot an event"),
    };
    poison.headers.insert(header::CODEC, "json").unwrap();
    backend.append(&topic, 0, vec![poison]).await.unwrap();
    let mut unknown_codec = rustok_iggy::wire::envelope_message(
        &numbered_events(1, 1)[0],
        "yaml",
        bytes::Bytes::from_static(b"key_seq: 1"),
    )
    .unwrap();
    unknown_codec.id = 43;
    backend
        .append(&topic, 0, vec![unknown_codec])
        .await
        .unwrap();
    transport.publish(&numbered_events(1, 1)[0]).await.unwrap();

    let handler = Scripted::new(0, None);
    let sub = transport
        .subscribe("g", &["events"], handler.clone())
        .await
        .unwrap();
    eventually("the good event handled", || async {
        handler.handled().len() == 1
    })
    .await;
    assert!(sub.shutdown().await.unwrap().is_clean());
    let entries = transport
        .dead_letters()
        .list(DlqFilter::default(), None, 10)
        .await
        .unwrap()
        .entries;
    assert_eq!(entries.len(), 2);
    assert!(
        entries[0].letter.error.contains("undecodable"),
        "{}",
        entries[0].letter.error
    );
    assert_eq!(entries[0].letter.attempts, 1, "poison is never retried");
    assert!(
        entries[1].letter.error.contains("unknown codec `yaml`"),
        "{}",
        entries[1].letter.error
    );
}

#[tokio::test]
async fn redrive_after_a_fix_handles_the_event_once_more() {
    let (transport, _) = transport(3).await;
    let handler = Scripted::new(0, Some(true));
    transport
        .publish_batch(&numbered_events(8, 1))
        .await
        .unwrap();
    let sub = transport
        .subscribe("g", &["events"], handler.clone())
        .await
        .unwrap();
    eventually("7 dead-lettered", || async {
        sub.stats().dead_lettered == 1
    })
    .await;
    eventually("the rest handled", || async {
        handler.handled().len() == 7
    })
    .await;
    assert_eq!(handler.handled().iter().filter(|s| **s == 7).count(), 0);

    handler.fixed.store(true, Ordering::SeqCst);
    let dlq = transport.dead_letters();
    let entry = dlq
        .list(DlqFilter::default(), None, 10)
        .await
        .unwrap()
        .entries
        .remove(0);
    assert_eq!(entry.letter.attempts, 1, "permanent errors are not retried");
    let receipt = dlq
        .redrive(entry.id, Some(Duration::from_millis(5)))
        .await
        .unwrap();
    assert_eq!(receipt.offset, 8, "appended after the original events");
    eventually("7 handled after the redrive", || async {
        handler.handled().contains(&7)
    })
    .await;
    assert!(sub.shutdown().await.unwrap().is_clean());

    assert_eq!(
        dlq.count(DlqFilter::default()).await.unwrap(),
        0,
        "nothing pending"
    );
    let all = DlqFilter {
        include_redriven: true,
        ..DlqFilter::default()
    };
    assert_eq!(dlq.count(all.clone()).await.unwrap(), 1, "kept as redriven");
    assert!(dlq.get(entry.id).await.unwrap().redriven_at.is_some());
    assert!(
        dlq.redrive(entry.id, None).await.is_err(),
        "redriven once only"
    );
    let calls = handler.calls.lock().unwrap().clone();
    let seventh = calls.iter().find(|(seq, _, _)| *seq == 7).unwrap();
    assert_eq!(
        seventh.2, 1,
        "the earlier attempt travels in the retry-count header"
    );

    assert_eq!(dlq.purge(all.clone()).await.unwrap(), 1);
    assert_eq!(dlq.count(all).await.unwrap(), 0);
}

#[tokio::test]
async fn replay_from_a_timestamp_runs_later_events_without_moving_offsets() {
    let (transport, backend) = transport(3).await;
    let events = numbered_events(20, 1);
    transport.publish_batch(&events[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cut = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    transport.publish_batch(&events[10..]).await.unwrap();

    let handler = Scripted::new(0, None);
    let report = transport
        .replay("events", ReplayFrom::Timestamp(cut), handler.clone())
        .await
        .unwrap();
    assert_eq!(report.handled, 10);
    assert!(report.failed.is_empty());
    assert_eq!(handler.handled(), (11..=20).collect::<Vec<_>>());
    assert_eq!(backend.offsets().len(), 0, "no group offset was written");

    let again = Scripted::new(0, None);
    let report = transport
        .replay("events", ReplayFrom::Offset(15), again.clone())
        .await
        .unwrap();
    assert_eq!((report.handled, again.handled()[0]), (5, 16));
}

#[tokio::test]
async fn reset_group_makes_a_group_consume_again() {
    let (transport, _) = transport(3).await;
    transport
        .publish_batch(&numbered_events(10, 1))
        .await
        .unwrap();
    let first = Scripted::new(0, None);
    let sub = transport
        .subscribe("g", &["events"], first.clone())
        .await
        .unwrap();
    eventually("all handled", || async { first.handled().len() == 10 }).await;
    assert!(sub.shutdown().await.unwrap().is_clean());

    let positions = transport
        .reset_group("g", "events", ReplayFrom::Offset(4))
        .await
        .unwrap();
    assert_eq!(positions, vec![(0, 4)]);
    let second = Scripted::new(0, None);
    let sub = transport
        .subscribe("g", &["events"], second.clone())
        .await
        .unwrap();
    eventually("handled from offset 4", || async {
        second.handled().len() == 6
    })
    .await;
    assert!(sub.shutdown().await.unwrap().is_clean());
    assert_eq!(second.handled(), (5..=10).collect::<Vec<_>>());
}

/// Blocks events whose key_seq is at least `blocked` until the gate opens.
struct Gated {
    blocked: u64,
    open: tokio::sync::Semaphore,
    handled: AtomicU32,
}

impl Gated {
    /// Blocks every event from key sequence `blocked` on until permits are added.
    fn new(blocked: u64) -> Arc<Self> {
        Arc::new(Self {
            blocked,
            open: tokio::sync::Semaphore::new(0),
            handled: AtomicU32::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Handler<Numbered> for Gated {
    async fn handle(&self, e: EventEnvelope<Numbered>, _: &Delivery) -> Result<(), HandlerError> {
        if e.event.key_seq >= self.blocked {
            let permit = self.open.acquire().await?;
            permit.forget();
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn shutdown_reports_a_stuck_handler_and_commits_only_what_was_handled() {
    let (transport, _) = transport(3).await;
    transport
        .publish_batch(&numbered_events(10, 1))
        .await
        .unwrap();
    let gate = Gated::new(4);
    let sub = transport
        .subscribe("g", &["events"], gate.clone())
        .await
        .unwrap();
    eventually("three handled", || async {
        gate.handled.load(Ordering::SeqCst) == 3
    })
    .await;
    // Give the worker time to enter the blocked handler of event 4 (offset 3).
    tokio::time::sleep(Duration::from_millis(20)).await;

    let report = sub
        .shutdown_within(Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(report.stuck.len(), 1, "{report:?}");
    assert_eq!((report.stuck[0].partition, report.stuck[0].offset), (0, 3));
    let topic = transport.topic("events");
    let committed = transport.offset_store().load("g", &topic, 0).await.unwrap();
    assert!(
        committed.unwrap_or(0) <= 3,
        "nothing unhandled committed: {committed:?}"
    );

    // Released, the handler finishes and the worker commits on its way out.
    gate.open.add_permits(100);
    eventually("offset 4 committed", || async {
        transport
            .offset_store()
            .load("g", &topic, 0)
            .await
            .ok()
            .flatten()
            == Some(4)
    })
    .await;
}

#[tokio::test]
async fn health_degrades_under_lag_and_recovers() {
    let (transport, _) = transport(3).await;
    assert!(transport.health().await.status.is_healthy());
    let gate = Gated::new(1);
    let sub = transport
        .subscribe("slow", &["events"], gate.clone())
        .await
        .unwrap();
    transport
        .publish_batch(&numbered_events(50, 1))
        .await
        .unwrap();

    let (reasons, report) = eventually_some("health to degrade", || async {
        let report = transport.health().await;
        match &report.status {
            HealthStatus::Degraded(reasons) => Some((reasons.clone(), report)),
            _ => None,
        }
    })
    .await;
    assert!(reasons.iter().any(|r| r.contains("lags")), "{reasons:?}");
    assert_eq!(report.subscriptions.len(), 1);
    assert_eq!(report.subscriptions[0].partitions[0].end, 50);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"]["status"], "degraded");

    gate.open.add_permits(1_000);
    eventually("health to recover", || async {
        transport.health().await.status.is_healthy()
    })
    .await;
    assert!(sub.shutdown().await.unwrap().is_clean());
    assert!(transport.health().await.subscriptions.is_empty());
}

/// Health reads the partition's end when asked: with one lag probe an hour,
/// events published after it still count as lag.
#[tokio::test]
async fn health_reads_the_partition_end_now_not_at_the_last_probe() {
    let transport = transport_with(
        Arc::new(MemoryBackend::new()),
        ConsumerConfig {
            lag_probe_ms: 3_600_000,
            ..consumer(3)
        },
    )
    .await;
    let gate = Gated::new(1);
    let sub = transport
        .subscribe("slow", &["events"], gate.clone())
        .await
        .unwrap();
    // The partition's worker runs; its one probe of the hour saw an empty log.
    eventually("the partition's worker to run", || async {
        transport
            .health()
            .await
            .subscriptions
            .first()
            .is_some_and(|s| !s.partitions.is_empty())
    })
    .await;
    transport
        .publish_batch(&numbered_events(50, 1))
        .await
        .unwrap();
    let report = transport.health().await;
    let partition = &report.subscriptions[0].partitions[0];
    assert_eq!(partition.end, 50, "{report:?}");
    assert_eq!(partition.position, 0, "the handler holds offset 0");
    assert_eq!(partition.lag, 50);
    assert!(
        matches!(&report.status, HealthStatus::Degraded(r) if r.iter().any(|r| r.contains("lags 50"))),
        "{report:?}"
    );
    gate.open.add_permits(1_000);
    assert!(sub.shutdown().await.unwrap().is_clean());
}

#[tokio::test]
async fn health_reports_dead_letters_since_the_last_check() {
    let (transport, _) = transport(1).await;
    let handler = Scripted::new(0, Some(true));
    transport
        .publish_batch(&numbered_events(7, 1))
        .await
        .unwrap();
    let sub = transport
        .subscribe("g", &["events"], handler.clone())
        .await
        .unwrap();
    eventually("dead-lettered", || async { sub.stats().dead_lettered == 1 }).await;
    let report = transport.health().await;
    assert!(
        matches!(&report.status, HealthStatus::Degraded(r) if r.iter().any(|r| r.contains("dead-lettered 1"))),
        "{report:?}"
    );
    assert_eq!(report.dlq_pending, Some(1));
    // No new dead letters since: healthy again (the pending entry is reported).
    let report = transport.health().await;
    assert!(report.status.is_healthy(), "{report:?}");
    assert!(sub.shutdown().await.unwrap().is_clean());
}

#[tokio::test]
async fn the_dedup_window_skips_an_event_id_seen_before() {
    let backend = Arc::new(MemoryBackend::new());
    let transport = transport_with(
        backend.clone(),
        ConsumerConfig {
            dedup_window: 100,
            ..consumer(3)
        },
    )
    .await;
    let event = &numbered_events(1, 1)[0];
    transport.publish(event).await.unwrap();
    let handler = Scripted::new(0, None);
    let sub = transport
        .subscribe("g", &["events"], handler.clone())
        .await
        .unwrap();
    eventually("handled", || async { handler.handled().len() == 1 }).await;

    // The same message again, as a redelivery or a redrive would bring it.
    let topic = transport.topic("events");
    let stored = backend
        .poll(PollRequest {
            topic: topic.clone(),
            partition: 0,
            from: PollFrom::Offset(0),
            max_records: 1,
            max_wait: Duration::ZERO,
        })
        .await
        .unwrap();
    backend
        .append(&topic, 0, vec![stored[0].message.clone()])
        .await
        .unwrap();
    eventually("skipped", || async { sub.stats().deduplicated == 1 }).await;
    assert!(sub.shutdown().await.unwrap().is_clean());
    assert_eq!(handler.calls.lock().unwrap().len(), 1, "handled once");
}

#[tokio::test]
async fn publish_carries_w3c_trace_context() {
    let (transport, backend) = transport(3).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let event = EventEnvelope::builder(
        "test.numbered",
        uuid::Uuid::now_v7(),
        Numbered { key_seq: 1 },
    )
    .trace_id(trace_id)
    .build()
    .unwrap();
    transport.publish(&event).await.unwrap();
    let record = &backend.records(&transport.topic("events"), 0).unwrap()[0];
    let traceparent = record
        .message
        .headers
        .get_str(header::TRACEPARENT)
        .unwrap()
        .unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    assert_eq!(traceparent.len(), 55);
}

#[tokio::test]
async fn transport_shutdown_drains_and_commits_running_subscriptions() {
    let (transport, backend) = transport(3).await;
    transport
        .publish_batch(&numbered_events(25, 1))
        .await
        .unwrap();
    let handler = Scripted::new(0, None);
    let sub = transport
        .subscribe("g", &["events"], handler.clone())
        .await
        .unwrap();
    eventually("all handled", || async { handler.handled().len() == 25 }).await;

    let report = transport.shutdown().await.unwrap();
    assert!(report.is_clean());
    assert!(backend.is_closed());
    let committed = backend
        .offsets()
        .load("g", &transport.topic("events"), 0)
        .await
        .unwrap();
    assert_eq!(committed, Some(25), "committed before the backend closed");
    assert!(transport.health().await.subscriptions.is_empty());
    assert!(sub.shutdown().await.unwrap().is_clean(), "already stopped");
}

/// A batch's commit lands while the next batch is handled, and commits land
/// in order, one at a time; stopping waits for the last one. The store takes
/// 10 ms (virtual: the clock is paused) per commit and logs both ends.
#[tokio::test(start_paused = true)]
async fn commits_land_in_order_while_the_next_batch_is_handled() {
    type Log = Arc<Mutex<Vec<String>>>;
    #[derive(Debug)]
    struct SlowCommits(Log);
    #[async_trait::async_trait]
    impl OffsetStore for SlowCommits {
        fn name(&self) -> &str {
            "slow"
        }
        fn capabilities(&self) -> rustok_iggy::OffsetCapabilities {
            rustok_iggy::OffsetCapabilities::default()
        }
        async fn load(
            &self,
            _: &str,
            _: &rustok_iggy::TopicRef,
            _: u32,
        ) -> rustok_iggy::Result<Option<u64>> {
            Ok(None)
        }
        async fn commit(
            &self,
            _: &str,
            _: &rustok_iggy::TopicRef,
            _: u32,
            next: u64,
        ) -> rustok_iggy::Result<()> {
            self.0.lock().unwrap().push(format!("commit {next} starts"));
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.0.lock().unwrap().push(format!("commit {next} lands"));
            Ok(())
        }
        async fn delete(
            &self,
            _: &str,
            _: &rustok_iggy::TopicRef,
            _: u32,
        ) -> rustok_iggy::Result<()> {
            Ok(())
        }
    }
    struct Logs(Log);
    #[async_trait::async_trait]
    impl Handler<u32> for Logs {
        async fn handle(&self, _: EventEnvelope<u32>, d: &Delivery) -> Result<(), HandlerError> {
            self.0.lock().unwrap().push(format!("handle {}", d.offset));
            Ok(())
        }
    }

    let log: Log = Arc::default();
    let transport = Transport::builder(Arc::new(MemoryBackend::new()), Arc::new(JsonCodec::new()))
        .routing(RoutingConfig {
            partitions: 1,
            ..RoutingConfig::default()
        })
        .offsets(Arc::new(SlowCommits(log.clone())))
        .consumer(ConsumerConfig {
            poll_batch: 2,
            ..consumer(1)
        })
        .build()
        .await
        .unwrap();
    let tenant = uuid::Uuid::now_v7();
    let events: Vec<EventEnvelope<u32>> = (1..=5)
        .map(|i| {
            EventEnvelope::builder("test.value", tenant, i)
                .build()
                .unwrap()
        })
        .collect();
    transport.publish_batch(&events).await.unwrap();
    let subscription = transport
        .subscribe("g", &["events"], Arc::new(Logs(log.clone())))
        .await
        .unwrap();
    eventually("commit 5 lands", || async {
        log.lock().unwrap().iter().any(|l| l == "commit 5 lands")
    })
    .await;
    assert!(subscription.shutdown().await.unwrap().is_clean());
    let log = log.lock().unwrap().clone();
    let at = |line: &str| log.iter().position(|l| l == line).expect(line);
    let handles: Vec<&String> = log.iter().filter(|l| l.starts_with("handle")).collect();
    assert_eq!(
        handles,
        ["handle 0", "handle 1", "handle 2", "handle 3", "handle 4"],
        "{log:?}"
    );
    let commits: Vec<&String> = log.iter().filter(|l| l.starts_with("commit")).collect();
    assert_eq!(
        commits,
        [
            "commit 2 starts",
            "commit 2 lands",
            "commit 4 starts",
            "commit 4 lands",
            "commit 5 starts",
            "commit 5 lands",
        ],
        "one at a time, in order: {log:?}"
    );
    // The overlap: batch [2, 3] is handled while the commit of 2 is on its way.
    assert!(at("commit 2 starts") < at("handle 2"), "{log:?}");
    assert!(at("handle 3") < at("commit 2 lands"), "{log:?}");
    // Nothing is committed before it is handled.
    assert!(at("handle 1") < at("commit 2 starts"), "{log:?}");
    assert!(at("handle 3") < at("commit 4 starts"), "{log:?}");
    assert!(at("handle 4") < at("commit 5 starts"), "{log:?}");
}
