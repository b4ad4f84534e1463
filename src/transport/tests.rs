//! Unit tests of publishing and composition, against mocks.

use super::*;
use crate::{
    mocks::{MockBackend, MockCodec, MockDlqStore, MockOffsetStore},
    wire, AppendAck, Error, ErrorKind, EventEnvelope, TopicInfo,
};
use mockall::predicate::eq;
use uuid::Uuid;

/// A backend mock that accepts topic creation and has its own stores.
fn backend() -> MockBackend {
    let mut backend = MockBackend::new();
    backend.expect_name().return_const("mock".to_owned());
    backend
        .expect_ensure_topic()
        .returning(|topic, partitions| {
            Ok(TopicInfo {
                topic: topic.clone(),
                partitions,
            })
        });
    backend
        .expect_offset_store()
        .returning(|| Some(Arc::new(MockOffsetStore::new())));
    backend
        .expect_dlq_store()
        .returning(|| Some(Arc::new(MockDlqStore::new())));
    backend
}

fn codec(payload: &'static [u8]) -> MockCodec {
    let mut codec = MockCodec::new();
    codec.expect_name().return_const("mockcodec".to_owned());
    // The transport encodes into its batch buffer.
    codec.expect_encode_into().returning(move |_, out| {
        out.extend_from_slice(payload);
        Ok(())
    });
    codec
}

fn envelope(tenant: Uuid) -> EventEnvelope<u32> {
    EventEnvelope::builder("order.created", tenant, 7)
        .build()
        .unwrap()
}

#[tokio::test]
async fn publish_encodes_with_the_codec_and_appends_to_the_keys_partition() {
    let tenant = Uuid::from_u128(42);
    let expected = partition_for(tenant.as_bytes(), 8);
    let event = envelope(tenant);
    let event_id = event.id.as_u128();
    let mut backend = backend();
    backend
        .expect_append()
        .withf(move |topic, partition, messages| {
            topic == &TopicRef::new("rustok", "events")
                && *partition == expected
                && messages.len() == 1
                && messages[0].id == event_id
                && &messages[0].payload[..] == b"encoded"
                && messages[0].headers.get_str(wire::header::CODEC).unwrap() == Some("mockcodec")
        })
        .times(1)
        .returning(|_, _, _| Ok(AppendAck::new(41, 1)));
    let transport = Transport::builder(Arc::new(backend), Arc::new(codec(b"encoded")))
        .build()
        .await
        .unwrap();
    let receipt = transport.publish(&event).await.unwrap();
    assert_eq!(receipt.partition, expected);
    assert_eq!(receipt.offset, 41);
}

#[tokio::test]
async fn a_failing_append_surfaces_as_a_retryable_error() {
    let mut backend = backend();
    backend
        .expect_append()
        .times(1)
        .returning(|_, _, _| Err(Error::new(ErrorKind::Unavailable, "connection reset")));
    let transport = Transport::builder(Arc::new(backend), Arc::new(codec(b"x")))
        .build()
        .await
        .unwrap();
    let err = transport
        .publish(&envelope(Uuid::now_v7()))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.context("operation"), Some("publish"));
}

#[tokio::test]
async fn invalid_envelopes_and_codec_failures_append_nothing() {
    let mut codec = MockCodec::new();
    codec.expect_name().return_const("mockcodec".to_owned());
    codec
        .expect_encode_into()
        .returning(|_, _| Err(Error::new(ErrorKind::Codec, "cannot encode")));
    // No append expectation: any append fails the test.
    let transport = Transport::builder(Arc::new(backend()), Arc::new(codec))
        .build()
        .await
        .unwrap();
    let mut bad = envelope(Uuid::now_v7());
    bad.event_type.clear();
    let err = transport.publish(&bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = transport
        .publish(&envelope(Uuid::now_v7()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
}

#[tokio::test]
async fn batches_append_once_per_partition_and_keep_input_order() {
    let tenants = [Uuid::from_u128(1), Uuid::from_u128(3)];
    assert_ne!(
        partition_for(tenants[0].as_bytes(), 8),
        partition_for(tenants[1].as_bytes(), 8),
        "fixture needs two partitions"
    );
    let mut backend = backend();
    backend
        .expect_append()
        .times(2)
        .returning(|_, partition, messages| {
            Ok(AppendAck::new(
                u64::from(partition) * 100,
                messages.len() as u32,
            ))
        });
    let transport = Transport::builder(Arc::new(backend), Arc::new(codec(b"x")))
        .build()
        .await
        .unwrap();
    let batch: Vec<_> = [0, 1, 0, 1, 0].map(|i| envelope(tenants[i])).into();
    let receipts = transport.publish_batch(&batch).await.unwrap();
    let p = |i: usize| partition_for(tenants[i].as_bytes(), 8);
    let offsets: Vec<(u32, u64)> = receipts.iter().map(|r| (r.partition, r.offset)).collect();
    let base = |i: usize| u64::from(p(i)) * 100;
    assert_eq!(
        offsets,
        vec![
            (p(0), base(0)),
            (p(1), base(1)),
            (p(0), base(0) + 1),
            (p(1), base(1) + 1),
            (p(0), base(0) + 2)
        ]
    );
}

#[tokio::test]
async fn routing_rules_pick_topics_and_every_topic_is_ensured() {
    let mut backend = MockBackend::new();
    backend.expect_name().return_const("mock".to_owned());
    backend
        .expect_ensure_topic()
        .with(eq(TopicRef::new("app", "events")), eq(8))
        .times(1)
        .returning(|t, p| {
            Ok(TopicInfo {
                topic: t.clone(),
                partitions: p,
            })
        });
    backend
        .expect_ensure_topic()
        .with(eq(TopicRef::new("app", "orders")), eq(2))
        .times(1)
        .returning(|t, p| {
            Ok(TopicInfo {
                topic: t.clone(),
                partitions: p,
            })
        });
    backend
        .expect_append()
        .withf(|topic, partition, _| topic.topic == "orders" && *partition < 2)
        .times(1)
        .returning(|_, _, _| Ok(AppendAck::new(0, 1)));
    let transport = Transport::builder(Arc::new(backend), Arc::new(codec(b"x")))
        .stream("app")
        .routing(RoutingConfig {
            rules: vec![crate::RouteRule {
                prefix: "order.".into(),
                topic: "orders".into(),
                partitions: Some(2),
            }],
            ..RoutingConfig::default()
        })
        .offsets(Arc::new(MockOffsetStore::new()))
        .dlq(Arc::new(MockDlqStore::new()))
        .build()
        .await
        .unwrap();
    let receipt = transport.publish(&envelope(Uuid::now_v7())).await.unwrap();
    assert_eq!(*receipt.topic, TopicRef::new("app", "orders"));
}

#[tokio::test]
async fn a_backend_without_stores_needs_them_named() {
    let mut backend = MockBackend::new();
    backend.expect_name().return_const("bare".to_owned());
    backend.expect_offset_store().returning(|| None);
    backend.expect_dlq_store().returning(|| None);
    let err = Transport::builder(Arc::new(backend), Arc::new(codec(b"x")))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.context("key"), Some("offsets"));
}
