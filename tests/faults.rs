//! At-least-once under random faults everywhere: appends, polls, offset loads
//! and commits, and dead-letter writes fail at random (seeded), the handler
//! fails some events for good and some once, and the consumer is restarted
//! twice while events are still being published.
//!
//! What must hold: every acknowledged event is handled or in the DLQ, each
//! key's events are first delivered in order, an event is delivered again only
//! from the range a restart found uncommitted (bounded by it), and the
//! consumer never stops making progress.

mod common;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
};

use common::{numbered_events, Numbered};
use rustok_iggy::{
    Backend, ConsumerConfig, Delivery, DlqFilter, DlqStore, EventEnvelope, Handler, HandlerError,
    OffsetStore, RetryConfig, RoutingConfig, Transport,
};
use rustok_iggy_codecs::PostcardCodec;
use rustok_iggy_testkit::{
    eventually, eventually_some, FaultPlan, FaultyBackend, FaultyDlqStore, FaultyOffsetStore,
    MemoryBackend,
};
use uuid::Uuid;

const EVENTS: usize = 5_000;
const KEYS: usize = 50;
const PARTITIONS: u32 = 4;
const GROUP: &str = "faulty";
/// Sessions end once this many distinct events were delivered; the last one
/// runs to the end.
const RESTART_AFTER: [usize; 2] = [1_500, 3_500];

/// Events the handler rejects for good: they must end in the DLQ.
fn rejected(seq: u64) -> bool {
    seq.is_multiple_of(37)
}

/// Events whose first attempt fails transiently: retried, then handled.
fn flaky(seq: u64) -> bool {
    seq % 10 == 3
}

/// One handler call.
#[derive(Debug, Clone)]
struct Call {
    session: usize,
    id: Uuid,
    key: Uuid,
    seq: u64,
    partition: u32,
    offset: u64,
    attempt: u32,
}

#[derive(Default)]
struct Script {
    session: Mutex<usize>,
    calls: Mutex<Vec<Call>>,
}

impl Script {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Distinct events the handler was called with.
    fn delivered(&self) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().map(|c| c.id).collect::<HashSet<_>>().len()
    }
}

#[async_trait::async_trait]
impl Handler<Numbered> for Script {
    async fn handle(&self, e: EventEnvelope<Numbered>, d: &Delivery) -> Result<(), HandlerError> {
        let seq = e.event.key_seq;
        let session = *self.session.lock().unwrap();
        self.calls.lock().unwrap().push(Call {
            session,
            id: e.id,
            key: e.tenant_id,
            seq,
            partition: d.partition,
            offset: d.offset,
            attempt: d.attempt,
        });
        if rejected(seq) {
            return Err(HandlerError::permanent(format!("event {seq} rejected")));
        }
        if flaky(seq) && d.attempt == 1 {
            return Err(HandlerError::transient("first attempt fails"));
        }
        Ok(())
    }
}

fn consumer() -> ConsumerConfig {
    ConsumerConfig {
        heartbeat_ms: 10,
        poll_wait_ms: 20,
        // Small batches: many commits, so many can fail.
        poll_batch: 32,
        lag_probe_ms: 50,
        retry: RetryConfig {
            max_attempts: 3,
            initial_backoff_ms: 1,
            max_backoff_ms: 5,
            ..RetryConfig::default()
        },
        ..ConsumerConfig::default()
    }
}

/// Publishes every event one by one, retrying while the error is retryable
/// (a failed append stored nothing, so a retry cannot duplicate).
async fn publish_all(transport: Transport, events: Vec<EventEnvelope<Numbered>>) -> u64 {
    let mut retries = 0;
    for event in &events {
        loop {
            match transport.publish(event).await {
                Ok(_) => break,
                Err(e) if e.is_retryable() => retries += 1,
                Err(e) => panic!("publish failed: {e}"),
            }
        }
    }
    retries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_holds_when_appends_polls_commits_and_dlq_writes_fail() {
    let memory = Arc::new(MemoryBackend::new());
    let backend = Arc::new(
        FaultyBackend::new(memory.clone())
            .appends(FaultPlan::none().fail_with_probability(0.1, 11))
            .polls(FaultPlan::none().fail_with_probability(0.1, 12)),
    );
    let offsets = Arc::new(
        FaultyOffsetStore::new(memory.offsets().clone())
            .commits(FaultPlan::none().fail_with_probability(0.3, 13))
            .loads(FaultPlan::none().fail_with_probability(0.2, 14)),
    );
    let dlq = Arc::new(
        FaultyDlqStore::new(memory.dlq().clone())
            .puts(FaultPlan::none().fail_with_probability(0.3, 15)),
    );
    let transport = Transport::builder(backend.clone(), Arc::new(PostcardCodec::new()))
        .routing(RoutingConfig {
            partitions: PARTITIONS,
            ..RoutingConfig::default()
        })
        .consumer(consumer())
        .offsets(offsets.clone())
        .dlq(dlq.clone())
        .build()
        .await
        .unwrap();
    let topic = transport.topic("events");
    let events = numbered_events(EVENTS, KEYS);
    let publisher = tokio::spawn(publish_all(transport.clone(), events.clone()));

    let script = Arc::new(Script::default());
    // (committed, delivered end) per partition, read at each restart.
    let mut windows: Vec<BTreeMap<u32, (u64, u64)>> = Vec::new();
    let mut progress = Vec::new();
    for (session, stop_after) in RESTART_AFTER.iter().enumerate() {
        *script.session.lock().unwrap() = session;
        let before = script.delivered();
        let sub = transport
            .subscribe(GROUP, &["events"], script.clone())
            .await
            .unwrap();
        eventually("the session makes progress", || async {
            script.delivered() >= *stop_after
        })
        .await;
        progress.push(sub.stats());
        assert!(sub.shutdown().await.unwrap().is_clean());
        assert!(script.delivered() > before, "session {session} progressed");
        let mut window = BTreeMap::new();
        let calls = script.calls();
        for partition in 0..PARTITIONS {
            let committed = memory
                .offsets()
                .load(GROUP, &topic, partition)
                .await
                .unwrap()
                .unwrap_or(0);
            let end = calls
                .iter()
                .filter(|c| c.partition == partition)
                .map(|c| c.offset + 1)
                .max()
                .unwrap_or(0);
            assert!(committed <= end, "never committed past a delivery");
            window.insert(partition, (committed, end));
        }
        windows.push(window);
    }

    // The last session runs until every event is handled or dead-lettered.
    let last = RESTART_AFTER.len();
    *script.session.lock().unwrap() = last;
    let sub = transport
        .subscribe(GROUP, &["events"], script.clone())
        .await
        .unwrap();
    let publish_retries = publisher.await.unwrap();
    eventually("every event delivered", || async {
        script.delivered() == EVENTS
    })
    .await;
    let must_dead_letter: HashSet<u128> = events
        .iter()
        .filter(|e| rejected(e.event.key_seq))
        .map(|e| e.id.as_u128())
        .collect();
    let all = DlqFilter {
        include_redriven: true,
        ..DlqFilter::default()
    };
    let dead: Vec<u128> = eventually_some("every rejected event dead-lettered", || async {
        let page = memory.dlq().list(all.clone(), None, 10_000).await.unwrap();
        let dead: Vec<u128> = page.entries.iter().map(|e| e.letter.message.id).collect();
        must_dead_letter
            .iter()
            .all(|id| dead.contains(id))
            .then_some(dead)
    })
    .await;
    // Heal commits so the final one cannot fail at random, then stop.
    offsets.set_commits(FaultPlan::none());
    progress.push(sub.stats());
    assert!(sub.shutdown().await.unwrap().is_clean());

    // Every acknowledged event was stored once (a failed append stores nothing).
    let mut stored = 0;
    for partition in 0..PARTITIONS {
        let end = memory
            .partition_info(&topic, partition)
            .await
            .unwrap()
            .next_offset;
        stored += end;
        assert_eq!(
            memory
                .offsets()
                .load(GROUP, &topic, partition)
                .await
                .unwrap(),
            Some(end),
            "partition {partition} is committed to its end once commits heal"
        );
    }
    assert_eq!(stored, EVENTS as u64);

    let calls = script.calls();
    // Handled or in the DLQ: every rejected event is dead-lettered, every
    // other one was handled (called with an attempt that succeeds).
    let dead_set: HashSet<u128> = dead.iter().copied().collect();
    for event in &events {
        let seq = event.event.key_seq;
        if rejected(seq) {
            assert!(
                dead_set.contains(&event.id.as_u128()),
                "rejected event {seq} of {} is in the DLQ",
                event.tenant_id
            );
        } else {
            let needed = if flaky(seq) { 2 } else { 1 };
            assert!(
                calls
                    .iter()
                    .any(|c| c.id == event.id && c.attempt >= needed),
                "event {seq} of {} was handled",
                event.tenant_id
            );
        }
    }
    assert!(
        dead_set.is_subset(&must_dead_letter),
        "only rejected events are dead-lettered"
    );

    // Per-key order of first deliveries.
    let mut seen = HashSet::new();
    let mut last_seq: HashMap<Uuid, u64> = HashMap::new();
    for c in &calls {
        if seen.insert(c.id) {
            let previous = last_seq.insert(c.key, c.seq).unwrap_or(0);
            assert_eq!(
                c.seq,
                previous + 1,
                "key {}: event {} first delivered after event {previous}",
                c.key,
                c.seq
            );
        }
    }

    // Duplicates: a fresh delivery (attempt 1) of an event already delivered.
    // Each lies in the range the restart before it found uncommitted, and
    // there are at most as many as that range holds.
    let mut first_session: HashMap<Uuid, usize> = HashMap::new();
    let mut duplicates = 0u64;
    for c in calls.iter().filter(|c| c.attempt == 1) {
        match first_session.get(&c.id) {
            None => {
                first_session.insert(c.id, c.session);
            }
            Some(&first) => {
                duplicates += 1;
                assert!(
                    c.session > first,
                    "event {} of {} delivered twice within session {first}",
                    c.seq,
                    c.key
                );
                let (committed, end) = windows[c.session - 1][&c.partition];
                assert!(
                    (committed..end).contains(&c.offset),
                    "duplicate at {}:{} outside the uncommitted range {committed}..{end}",
                    c.partition,
                    c.offset
                );
            }
        }
    }
    let uncommitted: u64 = windows
        .iter()
        .flat_map(|w| w.values())
        .map(|(committed, end)| end - committed)
        .sum();
    assert!(duplicates <= uncommitted, "{duplicates} > {uncommitted}");
    // Dead letters are duplicated only by the same redeliveries.
    let extra_letters = dead.len() as u64 - must_dead_letter.len() as u64;
    assert!(
        extra_letters <= duplicates,
        "{extra_letters} > {duplicates}"
    );

    // Every kind of fault happened, and the runtime saw the failed commits.
    let commit_stats = offsets.commit_stats();
    let put_stats = dlq.put_stats();
    for (what, injected) in [
        ("append", backend.append_stats().injected_failures),
        ("poll", backend.poll_stats().injected_failures),
        ("commit", commit_stats.injected_failures),
        ("load", offsets.load_stats().injected_failures),
        ("dlq put", put_stats.injected_failures),
    ] {
        assert!(injected > 0, "no {what} failed: the test proves nothing");
    }
    // Stats are read before each shutdown, so its final commit is not in them.
    let commit_failures: u64 = progress.iter().map(|s| s.commit_failures).sum();
    assert!(
        commit_failures > 0 && commit_failures <= commit_stats.injected_failures,
        "{commit_failures} of {}",
        commit_stats.injected_failures
    );
    assert!(progress.iter().all(|s| s.handled > 0), "{progress:?}");
    eprintln!(
        "faults: {} append, {} poll, {} commit, {} load, {} dlq put failures; \
         {publish_retries} publish retries; {duplicates} duplicate deliveries \
         (uncommitted at restarts: {uncommitted}); {} dead letters for {} rejected events",
        backend.append_stats().injected_failures,
        backend.poll_stats().injected_failures,
        commit_stats.injected_failures,
        offsets.load_stats().injected_failures,
        put_stats.injected_failures,
        dead.len(),
        must_dead_letter.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_on_a_quiet_partition_is_retried_without_new_messages() {
    let memory = Arc::new(MemoryBackend::new());
    let offsets = Arc::new(
        FaultyOffsetStore::new(memory.offsets().clone()).commits(FaultPlan::none().fail_first(3)),
    );
    let transport = Transport::builder(memory.clone(), Arc::new(PostcardCodec::new()))
        .routing(RoutingConfig {
            partitions: 1,
            ..RoutingConfig::default()
        })
        .consumer(consumer())
        .offsets(offsets.clone())
        .build()
        .await
        .unwrap();
    let topic = transport.topic("events");
    transport
        .publish_batch(&numbered_events(5, 1))
        .await
        .unwrap();
    let script = Arc::new(Script::default());
    let sub = transport
        .subscribe(GROUP, &["events"], script.clone())
        .await
        .unwrap();
    eventually("all five delivered", || async { script.delivered() == 5 }).await;
    // Nothing more is published: the retry must come from the idle polls.
    eventually("the commit retried until it lands", || async {
        memory.offsets().load(GROUP, &topic, 0).await.unwrap() == Some(5)
    })
    .await;
    let stats = sub.stats();
    assert_eq!(offsets.commit_stats().injected_failures, 3);
    assert_eq!(stats.commit_failures, 3);
    assert!(sub.shutdown().await.unwrap().is_clean());
}

/// A message the group dead-lettered, redelivered because its offset was
/// never committed (as after a crash), fails again and is put again: the DLQ
/// keeps one entry for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_redelivered_after_a_restart_is_dead_lettered_once() {
    let memory = Arc::new(MemoryBackend::new());
    // No commit lands: the restart redelivers everything.
    let offsets =
        Arc::new(FaultyOffsetStore::new(memory.offsets().clone()).commits(FaultPlan::always()));
    let dlq = Arc::new(FaultyDlqStore::new(memory.dlq().clone()));
    let transport = Transport::builder(memory.clone(), Arc::new(PostcardCodec::new()))
        .routing(RoutingConfig {
            partitions: 1,
            ..RoutingConfig::default()
        })
        .consumer(consumer())
        .offsets(offsets)
        .dlq(dlq.clone())
        .build()
        .await
        .unwrap();
    // One key: the 37th event is rejected for good.
    transport
        .publish_batch(&numbered_events(37, 1))
        .await
        .unwrap();
    let script = Arc::new(Script::default());
    for session in 0..2u64 {
        *script.session.lock().unwrap() = session as usize;
        let sub = transport
            .subscribe(GROUP, &["events"], script.clone())
            .await
            .unwrap();
        eventually("the rejected event dead-lettered", || async {
            dlq.put_stats().calls > session
        })
        .await;
        sub.shutdown().await.unwrap();
    }
    let sessions: HashSet<usize> = script
        .calls()
        .iter()
        .filter(|c| rejected(c.seq))
        .map(|c| c.session)
        .collect();
    assert_eq!(sessions.len(), 2, "the rejected event was not redelivered");
    assert_eq!(dlq.put_stats().calls, 2);
    assert_eq!(memory.dlq().len(), 1, "{:?}", memory.dlq().entries());
}
