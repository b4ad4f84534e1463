//! A codec registered by a downstream crate is selected by name from config,
//! writes the messages, and names itself in their `codec` header.

use std::sync::{Arc, Mutex};

use rustok_iggy::{
    handler_fn, wire::header, EventEnvelope, HandlerError, PollFrom, PollRequest, Transport,
    TransportConfig,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shipped {
    order: u64,
    carrier: String,
}

#[tokio::test]
async fn msgpack_is_chosen_from_config_and_travels_in_the_header() {
    rustok_iggy_example_msgpack::link();
    rustok_iggy_testkit::link();
    let config = TransportConfig::from_toml(
        r#"
        backend = "memory"
        codec = "msgpack"
        [routing]
        partitions = 1
        [consumer]
        heartbeat_ms = 10
        poll_wait_ms = 20
        "#,
    )
    .unwrap();
    let transport = Transport::from_config(&config).await.unwrap();
    assert_eq!(transport.codec().name(), "msgpack");

    let sent: Vec<_> = (0..5)
        .map(|order| {
            EventEnvelope::builder(
                "order.shipped",
                uuid::Uuid::now_v7(),
                Shipped {
                    order,
                    carrier: "post".into(),
                },
            )
            .build()
            .unwrap()
        })
        .collect();
    transport.publish_batch(&sent).await.unwrap();

    // On the log: the header names the codec, the payload is MessagePack.
    let records = transport
        .backend()
        .poll(PollRequest {
            topic: transport.topic("events"),
            partition: 0,
            from: PollFrom::Offset(0),
            max_records: 10,
            max_wait: std::time::Duration::ZERO,
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 5);
    for record in &records {
        assert_eq!(
            record.message.headers.get_str(header::CODEC).unwrap(),
            Some("msgpack")
        );
        let decoded: Shipped = rmp_serde::from_slice(&record.message.payload).unwrap();
        assert_eq!(decoded.carrier, "post");
    }

    // Through a subscription: decoded with the codec the header names.
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let subscription = transport
        .subscribe(
            "shipping",
            &["events"],
            handler_fn(move |e: EventEnvelope<Shipped>| {
                let sink = sink.clone();
                async move {
                    sink.lock()
                        .map_err(|_| HandlerError::transient("poisoned"))?
                        .push(e.event);
                    Ok::<(), HandlerError>(())
                }
            }),
        )
        .await
        .unwrap();
    rustok_iggy_testkit::eventually("the five events handled", || async {
        received.lock().unwrap().len() == 5
    })
    .await;
    assert!(subscription.shutdown().await.unwrap().is_clean());
    let received = received.lock().unwrap().clone();
    let expected: Vec<Shipped> = sent.into_iter().map(|e| e.event).collect();
    assert_eq!(received, expected);
}
