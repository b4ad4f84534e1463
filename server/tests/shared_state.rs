//! TCP clients and an in-process `Transport` on the same backend share
//! partitions, offsets and consumer groups.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use iggy::prelude::*;
use rustok_iggy::{
    handler_fn, partition_for, wire, Backend, Codec, CodecExt, EventEnvelope, HandlerError,
    RoutingConfig, TopicRef, Transport,
};
use rustok_iggy_codecs::{JsonCodec, PostcardCodec};
use rustok_iggy_testkit::{eventually, MemoryBackend};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderPlaced {
    order: u64,
}

const PARTITIONS: u32 = 4;

async fn transport(backend: Arc<MemoryBackend>) -> Transport {
    Transport::builder(backend, Arc::new(JsonCodec::new()))
        .decoder(Arc::new(PostcardCodec::new()))
        .stream("app")
        .routing(RoutingConfig {
            default_topic: "events".into(),
            partitions: PARTITIONS,
            rules: Vec::new(),
        })
        .build()
        .await
        .unwrap()
}

fn envelope(order: u64) -> EventEnvelope<OrderPlaced> {
    EventEnvelope::builder("order.placed", Uuid::now_v7(), OrderPlaced { order })
        .build()
        .unwrap()
}

/// The Iggy message the core would write for `envelope` with `codec`.
fn iggy_message(envelope: &EventEnvelope<OrderPlaced>, codec: &dyn Codec) -> IggyMessage {
    let payload = codec.encode_value(&envelope.event).unwrap();
    let headers = wire::envelope_headers(envelope, codec.name())
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                HeaderKey::try_from(k).unwrap(),
                HeaderValue::try_from(std::str::from_utf8(v).unwrap()).unwrap(),
            )
        })
        .collect();
    IggyMessage::builder()
        .id(envelope.id.as_u128())
        .payload(payload.into())
        .user_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_sent_over_tcp_reach_an_in_process_subscriber() {
    let backend = Arc::new(MemoryBackend::new());
    let transport = transport(backend.clone()).await;
    let server = rustok_iggy_server::Server::builder(backend.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .stream("app")
        .start()
        .await
        .unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let subscription = transport
        .subscribe("billing", &["events"], {
            let received = received.clone();
            handler_fn(move |e: EventEnvelope<OrderPlaced>| {
                let received = received.clone();
                async move {
                    received.lock().unwrap().push(e);
                    Ok::<(), HandlerError>(())
                }
            })
        })
        .await
        .unwrap();

    let client = common::client(server.local_addr()).await;
    let sent: Vec<_> = (0..20).map(envelope).collect();
    for (i, e) in sent.iter().enumerate() {
        // Half JSON, half postcard: the consumer decodes by the `codec` header.
        let (json, postcard) = (JsonCodec::new(), PostcardCodec::new());
        let codec: &dyn Codec = if i % 2 == 0 { &json } else { &postcard };
        let key = e.partition_key_bytes();
        client
            .send_messages(
                &Identifier::named("app").unwrap(),
                &Identifier::named("events").unwrap(),
                &Partitioning::messages_key(key).unwrap(),
                &mut [iggy_message(e, codec)],
            )
            .await
            .unwrap();
        // The SDK's key partitioning and the core's agree.
        let partition = partition_for(key, PARTITIONS);
        let records = backend
            .records(&TopicRef::new("app", "events"), partition)
            .unwrap();
        assert!(records.iter().any(|r| r.message.id == e.id.as_u128()));
    }

    eventually(
        "the in-process subscriber to receive every message",
        || async { received.lock().unwrap().len() >= sent.len() },
    )
    .await;
    let mut got = received.lock().unwrap().clone();
    got.sort_by_key(|e| e.event.order);
    for (got, sent) in got.iter().zip(&sent) {
        assert_eq!(got.id, sent.id);
        assert_eq!(got.event, sent.event);
        assert_eq!(got.tenant_id, sent.tenant_id);
        assert_eq!(got.event_type, sent.event_type);
    }
    subscription.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_published_in_process_reach_an_sdk_consumer_and_groups_share_offsets() {
    let backend = Arc::new(MemoryBackend::new());
    let transport = transport(backend.clone()).await;
    let server = common::start(backend.clone()).await;
    let client = common::client(server.local_addr()).await;

    let first: Vec<_> = (0..12).map(envelope).collect();
    transport.publish_batch(&first).await.unwrap();

    // An SDK consumer in group `shared` reads everything published so far.
    let mut consumer = client
        .consumer_group("shared", "app", "events")
        .unwrap()
        .auto_commit(AutoCommit::When(AutoCommitWhen::PollingMessages))
        .create_consumer_group_if_not_exists()
        .auto_join_consumer_group()
        .polling_strategy(PollingStrategy::next())
        .poll_interval(IggyDuration::from(Duration::from_millis(5)))
        .build();
    consumer.init().await.unwrap();
    let mut got = Vec::new();
    while got.len() < first.len() {
        let received = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .expect("the SDK consumer stalled")
            .unwrap()
            .unwrap();
        got.push(received.message);
    }
    consumer.shutdown().await.unwrap();
    for message in &got {
        let sent = first
            .iter()
            .find(|e| e.id.as_u128() == message.header.id)
            .expect("an unknown message id");
        let headers = message.user_headers_map().unwrap().unwrap();
        let header = |k: &str| {
            headers[&HeaderKey::try_from(k).unwrap()]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(header(wire::header::CODEC), "json");
        assert_eq!(header(wire::header::EVENT_TYPE), "order.placed");
        let event: OrderPlaced = JsonCodec::new().decode_value(&message.payload).unwrap();
        assert_eq!(event, sent.event);
    }

    // The in-process subscription of the same group resumes where the TCP
    // member's auto-commits left off: it sees only what comes next.
    let second: Vec<_> = (100..110).map(envelope).collect();
    transport.publish_batch(&second).await.unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let subscription = transport
        .subscribe("shared", &["events"], {
            let received = received.clone();
            handler_fn(move |e: EventEnvelope<OrderPlaced>| {
                let received = received.clone();
                async move {
                    received.lock().unwrap().push(e.event.order);
                    Ok::<(), HandlerError>(())
                }
            })
        })
        .await
        .unwrap();
    eventually("the second batch received", || async {
        received.lock().unwrap().len() >= second.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut orders = received.lock().unwrap().clone();
    orders.sort();
    assert_eq!(orders, (100..110).collect::<Vec<_>>());
    subscription.shutdown().await.unwrap();

    // And the TCP side reads the in-process commits back.
    let offset = client
        .get_consumer_offset(
            &Consumer::group(Identifier::named("shared").unwrap()),
            &Identifier::named("app").unwrap(),
            &Identifier::named("events").unwrap(),
            Some(partition_for(second[0].partition_key_bytes(), PARTITIONS)),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(offset.stored_offset <= offset.current_offset);
    assert_eq!(offset.stored_offset, offset.current_offset);
    let _ = backend
        .topic_info(&TopicRef::new("app", "events"))
        .await
        .unwrap();
    server.shutdown().await.unwrap();
}
