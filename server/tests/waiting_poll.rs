//! The waiting poll (`rustok_iggy::iggy_extension`), sent raw through the
//! official SDK as the remote backend sends it: held until a record
//! arrives, empty after its wait, refused where the server is told to
//! behave as Apache Iggy does, and checked against the poller's permissions.

mod common;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use iggy::prelude::*;
use iggy_binary_protocol::{
    primitives::{consumer::WireConsumer, polling_strategy::WirePollingStrategy},
    requests::messages::PollMessagesRequest,
    WireEncode, WireIdentifier,
};
use rustok_iggy::iggy_extension::{encode_waiting_poll, POLL_MESSAGES_WAITING_CODE};
use rustok_iggy_server::Server;
use rustok_iggy_testkit::MemoryBackend;

/// A waiting poll of partition 0 of `stream/orders` from `offset`.
fn waiting_poll(stream: &str, offset: u64, wait: Duration) -> Bytes {
    let poll = PollMessagesRequest {
        consumer: WireConsumer::consumer(WireIdentifier::numeric(1)),
        stream_id: WireIdentifier::named(stream).unwrap(),
        topic_id: WireIdentifier::named("orders").unwrap(),
        partition_id: Some(0),
        strategy: WirePollingStrategy::offset(offset),
        count: 10,
        auto_commit: false,
    };
    encode_waiting_poll(wait, &poll.to_bytes())
}

/// Through `client`: a 20 ms waiting poll of partition 0 of `app/orders`
/// from offset 0.
async fn quiet_poll(client: &IggyClient) -> Result<Bytes, IggyError> {
    client
        .send_binary_request(
            POLL_MESSAGES_WAITING_CODE,
            waiting_poll("app", 0, Duration::from_millis(20)),
        )
        .await
}

async fn send(client: &IggyClient, stream: &Identifier, topic: &Identifier, id: u128) {
    let mut messages = vec![IggyMessage::builder()
        .id(id)
        .payload(Bytes::from_static(b"m"))
        .build()
        .unwrap()];
    client
        .send_messages(stream, topic, &Partitioning::partition_id(0), &mut messages)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_waiting_poll_returns_the_record_sent_while_it_waits() {
    let server = common::start(Arc::new(MemoryBackend::new())).await;
    let client = Arc::new(common::client(server.local_addr()).await);
    let (stream, topic) = common::create_orders(&client, "app").await;
    send(&client, &stream, &topic, 1).await;

    let poller = common::client(server.local_addr()).await;
    let waiting = tokio::spawn(async move {
        poller
            .send_binary_request(
                POLL_MESSAGES_WAITING_CODE,
                waiting_poll("app", 1, Duration::from_secs(1)),
            )
            .await
    });
    // Let the poll start waiting (correct either way; without a hold the
    // reply would come back empty before the send).
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&client, &stream, &topic, 2).await;

    let reply = waiting.await.unwrap().unwrap();
    let polled = PolledMessages::from_bytes(reply).unwrap();
    assert_eq!(polled.partition_id, 0);
    let got: Vec<_> = polled
        .messages
        .iter()
        .map(|m| (m.header.offset, m.header.id))
        .collect();
    assert_eq!(
        got,
        vec![(1, 2)],
        "the waiting poll did not return the new record"
    );
}

#[tokio::test]
async fn a_waiting_poll_of_a_quiet_partition_answers_empty() {
    let server = common::start(Arc::new(MemoryBackend::new())).await;
    let client = common::client(server.local_addr()).await;
    common::create_orders(&client, "app").await;
    let reply = quiet_poll(&client).await.unwrap();
    let polled = PolledMessages::from_bytes(reply).unwrap();
    assert!(polled.messages.is_empty());
    assert_eq!(polled.partition_id, 0);
}

#[tokio::test]
async fn max_poll_wait_zero_refuses_waiting_polls_as_apache_iggy_refuses_unknown_codes() {
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .max_poll_wait(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let client = common::client(server.local_addr()).await;
    common::create_orders(&client, "app").await;
    let refused = quiet_poll(&client).await.unwrap_err();
    assert_eq!(refused.as_code(), IggyError::InvalidCommand.as_code());
}

/// A body too short for a wait is an invalid command; a wait around a poll
/// that does not decode is invalid format, as that poll alone would be.
#[tokio::test]
async fn malformed_waiting_polls_are_refused_as_malformed_polls_are() {
    let server = common::start(Arc::new(MemoryBackend::new())).await;
    let client = common::client(server.local_addr()).await;
    common::create_orders(&client, "app").await;
    for (body, refusal) in [
        (Bytes::from_static(&[1, 0]), IggyError::InvalidCommand),
        (
            Bytes::from_static(&[1, 0, 0, 0, 9]),
            IggyError::InvalidFormat,
        ),
    ] {
        let refused = client
            .send_binary_request(POLL_MESSAGES_WAITING_CODE, body)
            .await
            .unwrap_err();
        assert_eq!(refused.as_code(), refusal.as_code());
    }
}

#[tokio::test]
async fn a_waiting_poll_needs_the_poll_permission() {
    let server = common::start(Arc::new(MemoryBackend::new())).await;
    let root = common::client(server.local_addr()).await;
    common::create_orders(&root, "app").await;
    root.create_user("reader", "secret-1", UserStatus::Active, None)
        .await
        .unwrap();
    let reader = IggyClient::from_connection_string(&format!(
        "iggy://reader:secret-1@{}",
        server.local_addr()
    ))
    .unwrap();
    reader.connect().await.unwrap();
    let refused = quiet_poll(&reader).await.unwrap_err();
    assert_eq!(refused.as_code(), IggyError::Unauthorized.as_code());
}
