//! The memory backend under the core's transport and consumer runtime: what
//! users of the testkit do.

mod common;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use common::TestJson;
use rustok_iggy::{
    handler_fn, Backend, ConsumerConfig, DlqFilter, EventEnvelope, HandlerError, OffsetStore,
    RetryConfig, SubscriptionOptions, Transport,
};
use rustok_iggy_testkit::{
    fixtures::{tenant, EnvelopeSequence, Sequenced, SEQUENCED},
    FaultPlan, FaultyBackend, MemoryBackend,
};
use tokio::sync::mpsc;

fn fast_consumer() -> ConsumerConfig {
    ConsumerConfig {
        poll_batch: 7,
        poll_wait_ms: 20,
        heartbeat_ms: 10,
        retry: RetryConfig {
            max_attempts: 3,
            initial_backoff_ms: 1,
            max_backoff_ms: 5,
            ..RetryConfig::default()
        },
        ..ConsumerConfig::default()
    }
}

async fn transport(backend: Arc<dyn Backend>) -> Transport {
    Transport::builder(backend, Arc::new(TestJson))
        .consumer(fast_consumer())
        .build()
        .await
        .expect("a transport on the memory backend builds without naming stores")
}

/// Receives `n` handled events (no timeout: a broken runtime hangs the test
/// rather than making it depend on the machine's speed).
async fn receive(
    rx: &mut mpsc::UnboundedReceiver<Sequenced>,
    n: usize,
) -> BTreeMap<String, Vec<u64>> {
    let mut by_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for _ in 0..n {
        let event = rx.recv().await.expect("the handler went away");
        by_key.entry(event.key).or_default().push(event.seq);
    }
    by_key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_are_consumed_in_key_order_and_committed() {
    let backend = Arc::new(MemoryBackend::new());
    let transport = transport(backend.clone()).await;
    let mut seq = EnvelopeSequence::new(tenant(1));
    let keys = ["alpha", "beta", "gamma"];
    let envelopes = seq.interleaved(&keys, 20);
    let receipts = transport.publish_batch(&envelopes).await.unwrap();
    assert_eq!(receipts.len(), 60);

    let (tx, mut rx) = mpsc::unbounded_channel();
    let subscription = transport
        .subscribe(
            "billing",
            &["events"],
            handler_fn(move |e: EventEnvelope<Sequenced>| {
                let tx = tx.clone();
                async move {
                    assert_eq!(e.event_type, SEQUENCED);
                    tx.send(e.event)
                        .map_err(|_| HandlerError::permanent("receiver gone"))
                }
            }),
        )
        .await
        .unwrap();
    let by_key = receive(&mut rx, 60).await;
    for key in keys {
        assert_eq!(by_key[key], (0..20).collect::<Vec<_>>(), "key {key}");
    }
    assert!(subscription.shutdown().await.unwrap().is_clean());

    // Every partition with data is committed up to its end.
    let topic = transport.topic("events");
    let mut committed = 0;
    for partition in 0..8 {
        let info = backend.partition_info(&topic, partition).await.unwrap();
        let offset = backend
            .offsets()
            .load("billing", &topic, partition)
            .await
            .unwrap();
        if info.next_offset > 0 {
            assert_eq!(offset, Some(info.next_offset), "partition {partition}");
            committed += info.next_offset;
        }
    }
    assert_eq!(committed, 60);
    assert!(
        backend.group_members(&topic, "billing").is_empty(),
        "the subscription left its group"
    );
    transport.shutdown().await.unwrap();
    assert!(backend.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handlers_dead_letter_into_the_backends_store() {
    let backend = Arc::new(MemoryBackend::new());
    let transport = transport(backend.clone()).await;
    let mut seq = EnvelopeSequence::new(tenant(2));
    let envelopes = seq.interleaved(&["a"], 10);
    transport.publish_batch(&envelopes).await.unwrap();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let subscription = transport
        .subscribe(
            "billing",
            &["events"],
            handler_fn(move |e: EventEnvelope<Sequenced>| {
                let tx = tx.clone();
                async move {
                    match e.event.seq {
                        3 => Err(HandlerError::permanent("seq 3 is invalid")),
                        5 => Err(HandlerError::transient("seq 5 keeps timing out")),
                        _ => tx
                            .send(e.event)
                            .map_err(|_| HandlerError::permanent("receiver gone")),
                    }
                }
            }),
        )
        .await
        .unwrap();
    let by_key = receive(&mut rx, 8).await;
    assert_eq!(by_key["a"], vec![0, 1, 2, 4, 6, 7, 8, 9]);
    assert!(subscription.shutdown().await.unwrap().is_clean());

    let dlq = backend.dlq().entries();
    assert_eq!(dlq.len(), 2, "{dlq:?}");
    assert_eq!(
        dlq[0].letter.attempts, 1,
        "a permanent failure is not retried"
    );
    assert_eq!(
        dlq[1].letter.attempts, 3,
        "a transient failure is retried max_attempts times"
    );
    assert!(dlq.iter().all(|e| e.letter.group == "billing"));
    let filter = DlqFilter {
        event_type: Some(SEQUENCED.to_owned()),
        ..DlqFilter::default()
    };
    assert_eq!(transport.dlq_store().count(filter).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_ride_out_failing_polls() {
    let memory = Arc::new(MemoryBackend::new());
    let faulty = Arc::new(
        FaultyBackend::new(memory.clone()).polls(
            FaultPlan::none()
                .fail_every(2)
                .delay(Duration::from_millis(1)),
        ),
    );
    let transport = transport(faulty.clone()).await;
    let mut seq = EnvelopeSequence::new(tenant(3));
    let envelopes = seq.interleaved(&["k1", "k2"], 15);
    transport.publish_batch(&envelopes).await.unwrap();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let subscription = transport
        .subscribe(
            "billing",
            &["events"],
            handler_fn(move |e: EventEnvelope<Sequenced>| {
                let tx = tx.clone();
                async move {
                    tx.send(e.event)
                        .map_err(|_| HandlerError::permanent("receiver gone"))
                }
            }),
        )
        .await
        .unwrap();
    let by_key = receive(&mut rx, 30).await;
    assert_eq!(by_key["k1"], (0..15).collect::<Vec<_>>());
    assert_eq!(by_key["k2"], (0..15).collect::<Vec<_>>());
    assert!(subscription.shutdown().await.unwrap().is_clean());
    assert!(faulty.poll_stats().injected_failures > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_of_a_group_share_the_work() {
    let backend = Arc::new(MemoryBackend::new());
    let transport = transport(backend.clone()).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Sequenced)>();
    let mut subscriptions = Vec::new();
    for member in 0..2 {
        let tx = tx.clone();
        subscriptions.push(
            transport
                .subscribe_with(
                    SubscriptionOptions::new("billing", ["events"]),
                    handler_fn(move |e: EventEnvelope<Sequenced>| {
                        let tx = tx.clone();
                        async move {
                            tx.send((member, e.event))
                                .map_err(|_| HandlerError::permanent("gone"))
                        }
                    }),
                )
                .await
                .unwrap(),
        );
    }
    let mut seq = EnvelopeSequence::new(tenant(4));
    let keys: Vec<String> = (0..16).map(|k| format!("key-{k}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    transport
        .publish_batch(&seq.interleaved(&key_refs, 5))
        .await
        .unwrap();

    // At least once: every event arrives; a rebalance may redeliver some.
    let mut seen: BTreeMap<(String, u64), usize> = BTreeMap::new();
    while seen.len() < 80 {
        let (member, event) = rx.recv().await.expect("handlers went away");
        seen.insert((event.key, event.seq), member);
    }
    for s in subscriptions {
        assert!(s.shutdown().await.unwrap().is_clean());
    }
    assert!(backend
        .group_members(&transport.topic("events"), "billing")
        .is_empty());
}
