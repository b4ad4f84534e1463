//! The pull consumer ([`Transport::receiver`]) over a backend: what a worker
//! that receives, persists and acknowledges relies on. Each case takes the
//! backend under test and builds a transport on it (JSON, a fresh stream).
//!
//! Cases wait with [`eventually`](crate::eventually()) or on deliveries, never
//! on a wall-clock limit; a broken receiver hangs its case rather than
//! failing on a slow machine.

use std::{sync::Arc, time::Duration};

use rustok_iggy::{
    Backend, ConsumerConfig, DlqFilter, ErrorKind, EventEnvelope, Message, Received, Receiver,
    RetryConfig, RoutingConfig, SubscriptionOptions, Transport,
};

use super::unique;
use crate::{
    eventually,
    fixtures::{tenant, EnvelopeSequence, Sequenced},
    TestJson,
};

const TOPIC: &str = "events";

/// Quick heartbeats and backoffs, three attempts.
fn consumer() -> ConsumerConfig {
    ConsumerConfig {
        poll_batch: 16,
        poll_wait_ms: 20,
        heartbeat_ms: 20,
        retry: RetryConfig {
            max_attempts: 3,
            initial_backoff_ms: 1,
            max_backoff_ms: 5,
            ..RetryConfig::default()
        },
        ..ConsumerConfig::default()
    }
}

/// A transport on `backend` whose one topic has `partitions` partitions.
async fn transport(backend: Arc<dyn Backend>, partitions: u32) -> Transport {
    Transport::builder(backend, Arc::new(TestJson))
        .stream(unique("recv"))
        .routing(RoutingConfig {
            default_topic: TOPIC.into(),
            partitions,
            rules: Vec::new(),
        })
        .consumer(consumer())
        .build()
        .await
        .expect("a transport builds on the backend under test")
}

async fn receiver(transport: &Transport, group: &str) -> Receiver<Sequenced> {
    transport
        .receiver(SubscriptionOptions::new(group, [TOPIC]).consumer(consumer()))
        .await
        .expect("the receiver joins its group")
}

/// Publishes `per_key` events for each key, interleaved.
async fn publish(
    transport: &Transport,
    keys: &[&str],
    per_key: u64,
) -> Vec<EventEnvelope<Sequenced>> {
    let envelopes = EnvelopeSequence::new(tenant(7)).interleaved(keys, per_key);
    transport
        .publish_batch(&envelopes)
        .await
        .expect("the batch is stored");
    envelopes
}

async fn recv(receiver: &Receiver<Sequenced>) -> Received<Sequenced> {
    receiver
        .recv()
        .await
        .expect("the receiver runs until shut down")
}

async fn recv_n(receiver: &Receiver<Sequenced>, n: usize) -> Vec<Received<Sequenced>> {
    let mut all = Vec::with_capacity(n);
    while all.len() < n {
        let batch = receiver.recv_batch(n - all.len()).await;
        assert!(!batch.is_empty(), "the receiver stopped early");
        all.extend(batch);
    }
    all
}

/// Waits until the group's committed position on partition 0 is `next`.
async fn committed(transport: &Transport, group: &str, next: u64) {
    let topic = transport.topic(TOPIC);
    eventually(&format!("{group} commits {next}"), || async {
        transport.offset_store().load(group, &topic, 0).await.ok() == Some(Some(next))
    })
    .await;
}

/// Acks may come in any order; the group's offset moves over the settled
/// prefix only, so an unsettled delivery is never skipped by a commit.
pub async fn acks_out_of_order_commit_the_settled_prefix_only(backend: Arc<dyn Backend>) {
    let transport = transport(backend, 1).await;
    publish(&transport, &["k"], 10).await;
    let group = unique("g");
    let receiver = receiver(&transport, &group).await;
    let mut deliveries = recv_n(&receiver, 10).await;
    let offsets: Vec<u64> = deliveries.iter().map(|d| d.delivery.offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>(), "offset order");
    let later = deliveries.remove(6);
    let held = deliveries.remove(3);
    for d in deliveries.into_iter().rev() {
        d.ack();
    }
    committed(&transport, &group, 3).await;
    later.ack();
    // Still 3: the commit after the ack of 6 must not pass 3.
    committed(&transport, &group, 3).await;
    held.ack();
    committed(&transport, &group, 10).await;
    assert_eq!(receiver.stats().handled, 10);
    assert!(receiver.shutdown().await.expect("clean stop").is_clean());
}

/// A nack delivers the message again after its delay as the next attempt,
/// and later messages of its key wait for it while other keys flow.
pub async fn a_nack_redelivers_as_the_next_attempt_and_holds_back_its_key(
    backend: Arc<dyn Backend>,
) {
    let transport = transport(backend, 1).await;
    publish(&transport, &["a", "b"], 2).await; // a0 b0 a1 b1
    let receiver = receiver(&transport, &unique("g")).await;
    let a0 = recv(&receiver).await;
    assert_eq!(
        (a0.envelope.event.key.as_str(), a0.delivery.attempt),
        ("a", 1)
    );
    a0.nack(Duration::from_millis(50));
    let mut order = Vec::new();
    for _ in 0..4 {
        let d = recv(&receiver).await;
        let e = &d.envelope;
        order.push((
            e.event.key.clone(),
            e.event.seq,
            d.delivery.attempt,
            e.retry_count,
        ));
        d.ack();
    }
    let a_order: Vec<_> = order.iter().filter(|o| o.0 == "a").cloned().collect();
    assert_eq!(
        a_order,
        [("a".into(), 0, 2, 1), ("a".into(), 1, 1, 0)],
        "a0 comes back (attempt 2, retry_count 1) before a1: {order:?}"
    );
    let b_seqs: Vec<u64> = order.iter().filter(|o| o.0 == "b").map(|o| o.1).collect();
    assert_eq!(b_seqs, [0, 1], "b flows in order: {order:?}");
    assert_eq!(
        order[0].0, "b",
        "b0 is not held back by a's nack: {order:?}"
    );
    let stats = receiver.stats();
    assert_eq!((stats.handled, stats.retries), (4, 1));
    receiver.shutdown().await.expect("clean stop");
}

/// Nacked past `retry.max_attempts`, or dead-lettered by the application,
/// a message goes to the DLQ with its reason, and the group moves past it.
pub async fn exhausted_and_rejected_messages_go_to_the_dlq_with_the_reason(
    backend: Arc<dyn Backend>,
) {
    let transport = transport(backend, 1).await;
    publish(&transport, &["x", "y", "z"], 1).await;
    let group = unique("g");
    let receiver = receiver(&transport, &group).await;
    let (mut attempts, mut rejected) = (0, None);
    loop {
        let d = recv(&receiver).await;
        match d.envelope.event.key.as_str() {
            "x" => {
                attempts += 1;
                d.nack(Duration::ZERO);
            }
            "y" => rejected = Some(d.dead_letter("rule 7 refuses it").await.expect("stored")),
            _ => {
                d.ack();
                if rejected.is_some() {
                    break;
                }
            }
        }
    }
    committed(&transport, &group, 3).await;
    assert_eq!(attempts, 3, "x is delivered max_attempts times");
    let filter = DlqFilter {
        group: Some(group.clone()),
        ..DlqFilter::default()
    };
    let letters = transport
        .dlq_store()
        .list(filter, None, 10)
        .await
        .expect("the DLQ lists")
        .entries;
    let mut reasons: Vec<(u64, String, u32)> = letters
        .iter()
        .map(|e| (e.letter.offset, e.letter.error.clone(), e.letter.attempts))
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].1.contains("nacked") && reasons[0].1.contains("max_attempts"),
        "{reasons:?}"
    );
    assert_eq!(reasons[0].2, 3);
    assert_eq!(reasons[1].1, "rule 7 refuses it");
    assert_eq!(
        Some(letters.iter().find(|e| e.letter.offset == 1).map(|e| e.id)),
        Some(rejected)
    );
    assert_eq!(receiver.stats().dead_lettered, 2);
    receiver.shutdown().await.expect("clean stop");
}

/// A message that cannot be decoded goes to the DLQ with the reason and is
/// never handed to the application; the next one is.
pub async fn undecodable_messages_go_to_the_dlq_not_to_the_application(backend: Arc<dyn Backend>) {
    let transport = transport(backend.clone(), 1).await;
    let topic = transport.topic(TOPIC);
    let garbage = Message {
        origin_timestamp_micros: None,
        id: 0x5eed,
        headers: Default::default(),
        payload: bytes::Bytes::from_static(b"\xffnot an event"),
    };
    backend
        .append(&topic, 0, vec![garbage])
        .await
        .expect("a raw message is stored");
    publish(&transport, &["k"], 1).await;
    let group = unique("g");
    let receiver = receiver(&transport, &group).await;
    let d = recv(&receiver).await;
    assert_eq!((d.delivery.offset, d.envelope.event.seq), (1, 0));
    d.ack();
    committed(&transport, &group, 2).await;
    let filter = DlqFilter {
        group: Some(group),
        ..DlqFilter::default()
    };
    let letters = transport
        .dlq_store()
        .list(filter, None, 10)
        .await
        .unwrap()
        .entries;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].letter.offset, 0);
    assert!(
        letters[0].letter.error.starts_with("undecodable message"),
        "{}",
        letters[0].letter.error
    );
    receiver.shutdown().await.expect("clean stop");
}

/// What was delivered and not settled when a member stops is delivered
/// again to the group's next member; what was acked is not. A delivery
/// dropped unsettled comes back at once.
pub async fn unsettled_deliveries_are_delivered_again_after_a_restart(backend: Arc<dyn Backend>) {
    let transport = transport(backend, 1).await;
    publish(&transport, &["k"], 6).await;
    let group = unique("g");
    let first = receiver(&transport, &group).await;
    let mut got = recv_n(&first, 5).await;
    let dropped = got.pop().expect("five deliveries");
    assert_eq!(dropped.delivery.offset, 4);
    drop(dropped);
    let again = recv(&first).await;
    assert_eq!((again.delivery.offset, again.delivery.attempt), (4, 2));
    let unsettled = got.split_off(2);
    for d in got {
        d.ack();
    }
    // Offsets 2, 3 and 4 are out at the deadline.
    let report = first
        .shutdown_within(Duration::from_millis(50))
        .await
        .expect("the stop itself succeeds");
    let mut stuck: Vec<u64> = report.stuck.iter().map(|s| s.offset).collect();
    stuck.sort();
    assert_eq!(stuck, [2, 3, 4]);
    assert!(
        first.recv().await.is_none(),
        "a stopped receiver delivers nothing"
    );
    // Settling after the stop changes nothing.
    again.ack();
    for d in unsettled {
        d.ack();
    }
    let second = receiver(&transport, &group).await;
    let redelivered: Vec<u64> = recv_n(&second, 4)
        .await
        .into_iter()
        .map(|d| {
            let offset = d.delivery.offset;
            d.ack();
            offset
        })
        .collect();
    assert_eq!(redelivered, [2, 3, 4, 5]);
    committed(&transport, &group, 6).await;
    second.shutdown().await.expect("clean stop");
}

/// A partition that moves to another member takes its unsettled deliveries
/// with it: the new owner delivers them again.
pub async fn a_rebalance_hands_unsettled_deliveries_to_the_new_owner(backend: Arc<dyn Backend>) {
    let transport = transport(backend, 2).await;
    // Keys that land on both partitions.
    let keys = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
    publish(&transport, &keys, 1).await;
    let group = unique("g");
    let a = receiver(&transport, &group).await;
    let held = recv_n(&a, keys.len()).await;
    let b = receiver(&transport, &group).await;
    // b gets a partition, and with it that partition's deliveries again.
    let moved = recv(&b).await;
    let partition = moved.delivery.partition;
    let mut expected: Vec<u64> = held
        .iter()
        .filter(|d| d.delivery.partition == partition)
        .map(|d| d.delivery.offset)
        .collect();
    expected.sort();
    let mut again = vec![moved];
    again.extend(recv_n(&b, expected.len() - 1).await);
    let mut offsets: Vec<u64> = again.iter().map(|d| d.delivery.offset).collect();
    offsets.sort();
    assert_eq!(offsets, expected);
    for d in again {
        d.ack();
    }
    for d in held {
        d.ack();
    }
    b.shutdown().await.expect("clean stop");
    a.shutdown().await.expect("clean stop");
}

/// `shutdown` stops handing out deliveries, waits for those out to be
/// settled, and commits them.
pub async fn shutdown_waits_for_deliveries_out_and_commits_them(backend: Arc<dyn Backend>) {
    let transport = transport(backend, 1).await;
    publish(&transport, &["k"], 3).await;
    let group = unique("g");
    let receiver = Arc::new(receiver(&transport, &group).await);
    let deliveries = recv_n(&receiver, 3).await;
    let settle = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        for d in deliveries {
            d.ack();
        }
    });
    let report = receiver.shutdown().await.expect("clean stop");
    assert!(report.is_clean(), "{report:?}");
    settle.await.expect("the settling task ends");
    let topic = transport.topic(TOPIC);
    let stored = transport
        .offset_store()
        .load(&group, &topic, 0)
        .await
        .unwrap();
    assert_eq!(stored, Some(3), "committed before shutdown returned");
    let late = transport
        .receiver::<Sequenced>(SubscriptionOptions::new(&group, ["missing-topic"]))
        .await
        .expect_err("a receiver on a topic that is not there fails");
    assert_eq!(late.kind(), ErrorKind::NotFound);
}

/// `Transport::shutdown` waits for a receiver's deliveries out as
/// `Receiver::shutdown` does, before it closes the backend.
pub async fn transport_shutdown_waits_for_receivers_deliveries_out(backend: Arc<dyn Backend>) {
    let transport = transport(backend, 1).await;
    publish(&transport, &["k"], 3).await;
    let receiver = receiver(&transport, &unique("g")).await;
    let deliveries = recv_n(&receiver, 3).await;
    let settle = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        for d in deliveries {
            d.ack();
        }
    });
    let report = transport.shutdown().await.expect("clean stop");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        receiver.stats().handled,
        3,
        "shutdown returned after the deliveries out were settled"
    );
    settle.await.expect("the settling task ends");
    assert!(receiver.recv().await.is_none());
}
