//! The official SDK's `IggyProducer` and two consumer-group `IggyConsumer`s
//! against the server: every message is consumed exactly once across the
//! group, and the group rebalances when a consumer leaves.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use iggy::prelude::*;
use rustok_iggy_testkit::{eventually, MemoryBackend};
use tokio::sync::oneshot;

type Seen = Arc<Mutex<HashMap<u128, Vec<&'static str>>>>;

async fn group_consumer(client: &IggyClient) -> IggyConsumer {
    let mut consumer = client
        .consumer_group("workers", "app", "orders")
        .unwrap()
        .auto_commit(AutoCommit::When(AutoCommitWhen::PollingMessages))
        .create_consumer_group_if_not_exists()
        .auto_join_consumer_group()
        .polling_strategy(PollingStrategy::next())
        .poll_interval(IggyDuration::from(Duration::from_millis(5)))
        .batch_length(7)
        .build();
    consumer.init().await.unwrap();
    consumer
}

/// Runs `consumer` until told to stop, recording which message ids it got;
/// then shuts it down (it leaves the group).
fn run(
    name: &'static str,
    mut consumer: IggyConsumer,
    seen: Seen,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                next = consumer.next() => match next {
                    Some(Ok(received)) => {
                        seen.lock().unwrap().entry(received.message.header.id).or_default().push(name);
                    }
                    Some(Err(error)) => tracing::debug!(%error, "poll error (retried)"),
                    None => break,
                },
            }
        }
        consumer.shutdown().await.unwrap();
    });
    (stop, task)
}

async fn send(producer: &IggyProducer, ids: std::ops::RangeInclusive<u128>) {
    let ids: Vec<u128> = ids.collect();
    for chunk in ids.chunks(10) {
        let messages = chunk
            .iter()
            .map(|id| {
                IggyMessage::builder()
                    .id(*id)
                    .payload(format!("message {id}").into())
                    .build()
                    .unwrap()
            })
            .collect();
        producer.send(messages).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_consumes_every_message_once_and_rebalances_when_a_member_leaves() {
    let backend = Arc::new(MemoryBackend::new());
    let server = common::start(backend.clone()).await;
    let addr = server.local_addr();

    let producer_client = common::client(addr).await;
    let producer = producer_client
        .producer("app", "orders")
        .unwrap()
        .partitioning(Partitioning::balanced())
        .create_stream_if_not_exists()
        .create_topic_if_not_exists(4, IggyExpiry::NeverExpire, MaxTopicSize::ServerDefault)
        .build();
    producer.init().await.unwrap();

    let seen: Seen = Arc::default();
    let (client_a, client_b) = (common::client(addr).await, common::client(addr).await);
    let (_stop_a, task_a) = run("a", group_consumer(&client_a).await, seen.clone());
    let (stop_b, task_b) = run("b", group_consumer(&client_b).await, seen.clone());

    // Both members share the four partitions.
    send(&producer, 1..=200).await;
    eventually("the first 200 messages consumed", || async {
        seen.lock().unwrap().len() >= 200
    })
    .await;
    eventually(
        "both members to consume (not one of them everything)",
        || async {
            let seen = seen.lock().unwrap();
            let by = |who| seen.values().filter(|v| v.contains(&who)).count();
            by("a") > 0 && by("b") > 0
        },
    )
    .await;

    // `b` leaves: `a` takes over its partitions.
    stop_b.send(()).unwrap();
    task_b.await.unwrap();
    send(&producer, 201..=400).await;
    eventually("all 400 messages consumed", || async {
        seen.lock().unwrap().len() >= 400
    })
    .await;

    // Give a late duplicate the chance to show up before checking.
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let seen = seen.lock().unwrap();
        for id in 1..=400u128 {
            let consumers = seen
                .get(&id)
                .unwrap_or_else(|| panic!("message {id} never consumed"));
            assert_eq!(consumers.len(), 1, "message {id} consumed {consumers:?}");
            if id > 200 {
                assert_eq!(consumers, &vec!["a"], "message {id} after b left");
            }
        }
    }
    task_a.abort();
    server.shutdown().await.unwrap();
}
