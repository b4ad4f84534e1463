//! Appends go over `send_connections` connections, partition *p* over
//! connection *p* mod `send_connections`: a batch spanning partitions is
//! sent to them at once, and each partition's appends keep their order.

mod common;

use std::{sync::Arc, time::Duration};

use iggy::prelude::{Client, IggyClient, SystemClient};
use rustok_iggy::{Backend, PollFrom, PollRequest, TopicRef};
use rustok_iggy_remote::RemoteBackend;
use rustok_iggy_testkit::{eventually, outbox::message};

const PARTITIONS: u32 = 8;
const APPENDS: u128 = 40;

/// How many clients the server lists, as `probe` sees them (itself
/// included).
async fn clients(probe: &IggyClient) -> usize {
    probe.get_clients().await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_spread_over_send_connections_in_order_per_partition() {
    let server = common::server().await;
    let probe =
        IggyClient::from_connection_string(&format!("iggy://iggy:iggy@{}", server.local_addr()))
            .unwrap();
    probe.connect().await.unwrap();
    let mut config = common::config(server.local_addr());
    config.send_connections = 3;
    config.waiting_polls = false;
    let backend = Arc::new(RemoteBackend::connect(config).await.unwrap());
    let topic = TopicRef::new("app", "events");
    backend.ensure_topic(&topic, PARTITIONS).await.unwrap();
    // Partition 0's slot is the shared connection.
    backend.append(&topic, 0, vec![message(1)]).await.unwrap();
    assert_eq!(clients(&probe).await, 2, "the backend's and the probe's");

    // Every partition at once, one append after another within each.
    let appends: Vec<_> = (1..PARTITIONS)
        .map(|partition| {
            let (backend, topic) = (backend.clone(), topic.clone());
            tokio::spawn(async move {
                let mut offsets = Vec::new();
                for n in 0..APPENDS {
                    let id = u128::from(partition) << 64 | n;
                    let ack = backend
                        .append(&topic, partition, vec![message(id)])
                        .await
                        .unwrap();
                    offsets.push(ack.first_offset);
                }
                offsets
            })
        })
        .collect();
    for (partition, append) in (1..PARTITIONS).zip(appends) {
        let offsets = append.await.unwrap();
        assert_eq!(
            offsets,
            (0..APPENDS as u64).collect::<Vec<_>>(),
            "partition {partition}"
        );
        let records = backend
            .poll(PollRequest {
                topic: topic.clone(),
                partition,
                from: PollFrom::Offset(0),
                max_records: 1_000,
                max_wait: Duration::ZERO,
            })
            .await
            .unwrap();
        let stored: Vec<(u64, u128)> = records.iter().map(|r| (r.offset, r.message.id)).collect();
        let expected: Vec<(u64, u128)> = (0..APPENDS)
            .map(|n| (n as u64, u128::from(partition) << 64 | n))
            .collect();
        assert_eq!(stored, expected, "partition {partition}");
    }
    // Slots 1 and 2 opened a connection each, once.
    assert_eq!(clients(&probe).await, 4);

    backend.shutdown().await.unwrap();
    // A closed connection leaves the list once the server has read the close.
    eventually("the backend's connections closed", || async {
        clients(&probe).await == 1
    })
    .await;
}
