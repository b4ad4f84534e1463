//! Publish and consume end to end on the memory backend: many events, keys and
//! partitions, a three-member group, with and without injected faults.

mod common;

use std::sync::Arc;

use common::{numbered_events, recorder, shutdown_all, Numbered};
use rustok_iggy::{
    Backend, ConsumerConfig, ErrorKind, EventEnvelope, RoutingConfig, Transport, TransportConfig,
};
use rustok_iggy_testkit::{eventually, FaultPlan, FaultyBackend, MemoryBackend};

const EVENTS: usize = 10_000;
const KEYS: usize = 1_000;
const PARTITIONS: u32 = 8;

fn consumer() -> ConsumerConfig {
    ConsumerConfig {
        heartbeat_ms: 20,
        poll_wait_ms: 50,
        ..ConsumerConfig::default()
    }
}

/// Publishes every event, trying each again while the error is retryable.
///
/// Event by event, not in batches: a batch spans several partitions, and when
/// one append fails the others may have stored their part, so retrying the
/// whole batch would store those again on a backend that does not deduplicate.
async fn publish_one_by_one(transport: &Transport, events: &[EventEnvelope<Numbered>]) -> u32 {
    let mut retries = 0;
    for event in events {
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

/// Runs the scenario on `backend` and checks every guarantee.
async fn three_members_consume_everything(backend: Arc<dyn Backend>, batched: bool) {
    rustok_iggy_codecs::link();
    let transport = Transport::builder(
        backend.clone(),
        Arc::new(rustok_iggy_codecs::PostcardCodec::new()),
    )
    .routing(RoutingConfig {
        partitions: PARTITIONS,
        ..RoutingConfig::default()
    })
    .consumer(consumer())
    .build()
    .await
    .unwrap();
    let recorded = recorder();
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(
            transport
                .subscribe("billing", &["events"], recorded.clone())
                .await
                .unwrap(),
        );
    }
    let events = numbered_events(EVENTS, KEYS);
    if batched {
        for chunk in events.chunks(250) {
            let receipts = transport.publish_batch(chunk).await.unwrap();
            assert_eq!(receipts.len(), chunk.len());
        }
    } else {
        publish_one_by_one(&transport, &events).await;
    }

    eventually("every event handled", || async {
        recorded.unique() == EVENTS
    })
    .await;
    shutdown_all(members).await;

    recorded.assert_per_key_order();
    let topic = transport.topic("events");
    for partition in 0..PARTITIONS {
        let end = backend
            .partition_info(&topic, partition)
            .await
            .unwrap()
            .next_offset;
        let committed = transport
            .offset_store()
            .load("billing", &topic, partition)
            .await
            .unwrap();
        assert_eq!(
            committed,
            Some(end),
            "partition {partition} fully committed"
        );
    }
    let total: u64 = {
        let mut total = 0;
        for partition in 0..PARTITIONS {
            total += backend
                .partition_info(&topic, partition)
                .await
                .unwrap()
                .next_offset;
        }
        total
    };
    assert_eq!(total, EVENTS as u64, "each event stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_handle_every_event_in_key_order_and_commit() {
    three_members_consume_everything(Arc::new(MemoryBackend::new()), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_appends_and_polls_fail() {
    let faulty = Arc::new(
        FaultyBackend::new(Arc::new(MemoryBackend::new()))
            .appends(FaultPlan::none().fail_every(3))
            .polls(FaultPlan::none().fail_every(4)),
    );
    three_members_consume_everything(faulty.clone(), false).await;
    assert!(
        faulty.append_stats().injected_failures > 0,
        "appends were failed"
    );
    assert!(
        faulty.poll_stats().injected_failures > 0,
        "polls were failed"
    );
}

#[tokio::test]
async fn each_message_is_decoded_with_the_codec_that_wrote_it() {
    use rustok_iggy_codecs::{JsonCodec, PostcardCodec};
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let json_writer = Transport::builder(backend.clone(), Arc::new(JsonCodec::new()))
        .consumer(consumer())
        .build()
        .await
        .unwrap();
    let postcard_writer = Transport::builder(backend.clone(), Arc::new(PostcardCodec::new()))
        .decoder(Arc::new(JsonCodec::new()))
        .consumer(consumer())
        .build()
        .await
        .unwrap();
    let events = numbered_events(20, 1);
    json_writer.publish_batch(&events[..10]).await.unwrap();
    postcard_writer.publish_batch(&events[10..]).await.unwrap();

    let recorded = recorder();
    let subscription = postcard_writer
        .subscribe("migrating", &["events"], recorded.clone())
        .await
        .unwrap();
    eventually("both halves handled", || async { recorded.unique() == 20 }).await;
    assert!(subscription.shutdown().await.unwrap().is_clean());
    recorded.assert_per_key_order();
    assert_eq!(
        postcard_writer
            .dlq_store()
            .count(Default::default())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn config_selects_plugins_by_name_and_rejects_unknown_ones() {
    rustok_iggy_codecs::link();
    rustok_iggy_testkit::link();
    let config = TransportConfig::from_toml(
        r#"
        backend = "memory"
        codec = "postcard"
        offsets = "memory"
        dlq = "memory"
        stream = "shop"
        "#,
    )
    .unwrap();
    let transport = Transport::from_config(&config).await.unwrap();
    assert_eq!(transport.backend().name(), "memory");
    assert_eq!(transport.codec().name(), "postcard");
    assert_eq!(transport.stream(), "shop");

    let config = TransportConfig::from_toml(r#"backend = "kafka""#).unwrap();
    let err = Transport::from_config(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.context("key"), Some("backend"));
    assert!(err.message().contains("memory"), "{err}");

    let config =
        TransportConfig::from_toml("backend = \"memory\"\n[plugins.memory]\ncapacity = 3").unwrap();
    let err = Transport::from_config(&config).await.unwrap_err();
    assert!(err.to_string().contains("plugins.memory"), "{err}");
}
