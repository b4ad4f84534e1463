//! RusToK's path through the adapter: a relay publishes through
//! `Arc<dyn rustok::EventTransport>`, workers receive, persist and
//! acknowledge (or dead-letter by hand) with rustok-iggy's pull receiver.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustok_iggy::{DlqFilter, RouteRule, RoutingConfig, SubscriptionOptions, Transport};
use rustok_iggy_example_rustok_adapter::{
    from_iggy,
    rustok::{self, ContractEventEnvelope, ContractEventPayload, DomainEvent, ReliabilityLevel},
    IggyEventTransport,
};
use rustok_iggy_testkit::{MemoryBackend, TestJson};
use uuid::Uuid;

/// Root events go to `events`, marketplace contracts to `contracts`.
async fn transport() -> Transport {
    Transport::builder(Arc::new(MemoryBackend::new()), Arc::new(TestJson))
        .routing(RoutingConfig {
            default_topic: "events".into(),
            partitions: 2,
            rules: vec![RouteRule {
                prefix: "marketplace.".into(),
                topic: "contracts".into(),
                partitions: None,
            }],
        })
        .build()
        .await
        .expect("the transport builds")
}

/// Whole microseconds: what every codec carries exactly.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000 + seconds, 0).expect("in range")
}

fn order(tenant: Uuid, n: u64) -> rustok::EventEnvelope {
    let mut e = rustok::EventEnvelope::new(
        tenant,
        Some(Uuid::now_v7()),
        DomainEvent::OrderPlaced {
            order_id: Uuid::now_v7(),
            total_cents: 100 * n,
        },
    );
    e.causation_id = Some(Uuid::now_v7());
    e.trace_id = Some(format!("trace-{n}"));
    e.timestamp = at(n as i64);
    e.schema_version = 2;
    e
}

fn listing(tenant: Uuid) -> ContractEventEnvelope {
    let id = Uuid::now_v7();
    ContractEventEnvelope {
        id,
        event_type: "marketplace.listing.approved".into(),
        schema_version: 1,
        correlation_id: id,
        causation_id: None,
        tenant_id: tenant,
        trace_id: None,
        timestamp: at(100),
        actor_id: None,
        event: ContractEventPayload::MarketplaceListing {
            listing_id: Uuid::now_v7(),
            change: "approved".into(),
        },
        retry_count: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_publishes_through_the_adapter_and_workers_receive_and_acknowledge() {
    let transport = transport().await;
    let bus: Arc<dyn rustok::EventTransport> = Arc::new(IggyEventTransport::new(transport.clone()));
    assert_eq!(bus.reliability_level(), ReliabilityLevel::Streaming);
    let adapter = bus
        .as_any()
        .downcast_ref::<IggyEventTransport>()
        .expect("as_any is the adapter");
    assert!(adapter
        .inner()
        .as_any()
        .downcast_ref::<Transport>()
        .is_some());

    // The relay: one publish, a batch, and an event of the second family.
    let tenant = Uuid::now_v7();
    let published: Vec<rustok::EventEnvelope> = (1..=3).map(|n| order(tenant, n)).collect();
    bus.publish(published[0].clone()).await.expect("published");
    bus.publish_batch(published[1..3].to_vec())
        .await
        .expect("batch published");
    let contract = listing(tenant);
    bus.publish_contract(contract.clone())
        .await
        .expect("contract published");
    bus.acknowledge(published[0].id)
        .await
        .expect("acknowledge is accepted");

    // A worker: receive, "persist", acknowledge; one event dead-lettered by hand.
    let orders = transport
        .receiver::<DomainEvent>(SubscriptionOptions::new("order-workers", ["events"]))
        .await
        .expect("the worker joins");
    let mut persisted = Vec::new();
    let mut rejected = None;
    while persisted.len() + usize::from(rejected.is_some()) < 3 {
        let (envelope, _, acker) = orders.recv().await.expect("running").into_parts();
        if envelope.id == published[1].id {
            rejected = Some(acker.dead_letter("rejected by the worker").await.unwrap());
        } else {
            persisted.push(from_iggy(envelope));
            acker.ack();
        }
    }
    persisted.sort_by_key(|e| e.id);
    assert_eq!(
        persisted,
        [published[0].clone(), published[2].clone()],
        "every field survives the trip"
    );

    let letters = transport
        .dlq_store()
        .list(
            DlqFilter {
                group: Some("order-workers".into()),
                ..DlqFilter::default()
            },
            None,
            10,
        )
        .await
        .unwrap()
        .entries;
    assert_eq!(letters.len(), 1);
    assert_eq!(Some(letters[0].id), rejected);
    assert_eq!(letters[0].letter.error, "rejected by the worker");

    // The second family, in its own topic, read as its own type.
    let contracts = transport
        .receiver::<ContractEventPayload>(SubscriptionOptions::new(
            "listing-workers",
            ["contracts"],
        ))
        .await
        .expect("the worker joins");
    let received = contracts.recv().await.expect("running");
    assert_eq!(received.envelope.id, contract.id);
    assert_eq!(received.envelope.event_type, contract.event_type);
    assert_eq!(received.envelope.event, contract.event);
    received.ack();

    orders.shutdown().await.unwrap();
    contracts.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_invalid_envelope_is_refused_as_a_validation_error() {
    let bus: Arc<dyn rustok::EventTransport> = Arc::new(IggyEventTransport::new(transport().await));
    let mut envelope = order(Uuid::now_v7(), 1);
    envelope.event_type = String::new();
    match bus.publish(envelope).await {
        Err(rustok::Error::Validation(reason)) => {
            assert!(reason.contains("event type"), "{reason}")
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}
