//! Polls that may wait: against `rustok-iggy serve` the server holds them
//! until a record arrives; against a server that refuses waiting polls (as
//! Apache Iggy does), the backend polls the standard way.

mod common;

use std::{sync::Arc, time::Duration};

use rustok_iggy::{Backend, PollFrom, PollRequest, TopicRef};
use rustok_iggy_remote::RemoteBackend;
use rustok_iggy_server::Server;
use rustok_iggy_testkit::{outbox::message, MemoryBackend};

fn waiting(topic: &TopicRef, from: u64) -> PollRequest {
    PollRequest {
        topic: topic.clone(),
        partition: 0,
        from: PollFrom::Offset(from),
        max_records: 10,
        max_wait: Duration::from_secs(1),
    }
}

fn ids(records: &[rustok_iggy::Record]) -> Vec<(u64, u128)> {
    records.iter().map(|r| (r.offset, r.message.id)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_that_may_wait_returns_the_record_appended_meanwhile() {
    let (backend, _server) = common::backend().await;
    let topic = TopicRef::new("app", "events");
    backend.ensure_topic(&topic, 1).await.unwrap();
    backend.append(&topic, 0, vec![message(1)]).await.unwrap();

    let poll = tokio::spawn({
        let (backend, topic) = (backend.clone(), topic.clone());
        async move { backend.poll(waiting(&topic, 1)).await }
    });
    // Let the poll start waiting (correct either way; a poll that did not
    // wait would come back empty before the append).
    tokio::time::sleep(Duration::from_millis(300)).await;
    backend.append(&topic, 0, vec![message(2)]).await.unwrap();
    let records = poll.await.unwrap().unwrap();
    assert_eq!(ids(&records), vec![(1, 2)]);

    // Nothing more: an empty answer after the wait, not an error.
    let records = backend.poll(waiting(&topic, 2)).await.unwrap();
    assert!(records.is_empty());
    backend.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_waiting_polls_is_polled_the_standard_way() {
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .max_poll_wait(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let backend = RemoteBackend::connect(common::config(server.local_addr()))
        .await
        .unwrap();
    let backend = Arc::new(backend);
    let topic = TopicRef::new("app", "events");
    backend.ensure_topic(&topic, 4).await.unwrap();
    for partition in 0..4 {
        let id = u128::from(partition) + 1;
        backend
            .append(&topic, partition, vec![message(id)])
            .await
            .unwrap();
    }
    // The first polls go out together (as a consumer's partitions do): every
    // one of them is refused, and every one falls back.
    let polls: Vec<_> = (0..4)
        .map(|partition| {
            let (backend, topic) = (backend.clone(), topic.clone());
            tokio::spawn(async move {
                let mut request = waiting(&topic, 0);
                request.partition = partition;
                backend.poll(request).await
            })
        })
        .collect();
    for (partition, poll) in polls.into_iter().enumerate() {
        let records = poll.await.unwrap().unwrap();
        assert_eq!(ids(&records), vec![(0, partition as u128 + 1)]);
    }
    let records = backend.poll(waiting(&topic, 0)).await.unwrap();
    assert_eq!(ids(&records), vec![(0, 1)]);
    assert!(backend.poll(waiting(&topic, 1)).await.unwrap().is_empty());
    backend.shutdown().await.unwrap();
}
