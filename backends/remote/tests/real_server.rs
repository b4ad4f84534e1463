//! Against a real Apache Iggy server at `RUSTOK_IGGY_TEST_URL` (for example
//! `iggy+tcp://iggy:secret@127.0.0.1:8090`): the backend, offsets and DLQ
//! conformance suites, and transports publishing and consuming through a
//! consumer group across a rebalance.
//!
//! Every test here is `#[ignore]`d: `cargo test` has no real server to run
//! them on. `scripts/real-iggy.sh` starts one and runs them with
//! `--ignored`; without the variable they fail rather than pass. Cases work
//! in streams and DLQ streams of their own, so a shared server is fine.
//!
//! The `deduplicating_server` cases need a second server, started with
//! message deduplication on, at `RUSTOK_IGGY_TEST_DEDUP_URL`: the testkit's
//! outbox scenarios (publishing again, a relay killed mid-batch), as
//! `tests/dedup.rs` runs them against `rustok-iggy serve`. The relay is this
//! binary run again by [`relay_child`].

mod common;

use std::{collections::HashSet, sync::Arc};

use rustok_iggy::{Backend, DlqStore, OffsetStore, TopicRef, Transport, TransportConfig};
use rustok_iggy_remote::{dlq_store, RemoteBackend, RemoteConfig};
use rustok_iggy_testkit::{
    eventually,
    outage::{self, Producer},
    outbox,
};
use uuid::Uuid;

async fn backend(url: &str) -> Arc<dyn Backend> {
    Arc::new(
        RemoteBackend::connect(RemoteConfig::new(url))
            .await
            .unwrap(),
    )
}

/// A backend whose DLQ is a stream of its own: the receiver cases dead-letter
/// messages, which must not land in the default DLQ the script's `health`
/// step then finds pending.
async fn backend_with_own_dlq(url: &str) -> Arc<dyn Backend> {
    let mut config = RemoteConfig::new(url);
    config.dlq_stream = format!("rustok-dlq-test-{}", Uuid::now_v7().simple());
    Arc::new(RemoteBackend::connect(config).await.unwrap())
}

async fn dlq(url: &str) -> Arc<dyn DlqStore> {
    let mut config = RemoteConfig::new(url);
    // A DLQ stream per case: the suite expects an empty store.
    config.dlq_stream = format!("rustok-dlq-test-{}", Uuid::now_v7().simple());
    Arc::new(dlq_store(config).unwrap())
}

async fn offsets(url: &str) -> Arc<dyn OffsetStore> {
    common::ensuring_topics(RemoteConfig::new(url)).await
}

macro_rules! real_server_cases {
    ($suite:ident, $factory:ident; $($case:ident),* $(,)?) => {
        mod $suite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs a real Apache Iggy server: scripts/real-iggy.sh"]
                async fn $case() {
                    let url = common::real_server_url();
                    rustok_iggy_testkit::conformance::$suite::$case($factory(&url).await).await;
                }
            )*
        }
    };
}

rustok_iggy_testkit::backend_cases!([real_server_cases](backend, backend));
rustok_iggy_testkit::offsets_cases!([real_server_cases](offsets, offsets));
rustok_iggy_testkit::dlq_cases!([real_server_cases](dlq, dlq));
rustok_iggy_testkit::receiver_cases!([real_server_cases](receiver, backend_with_own_dlq));

/// A transport on the real server, in a stream of its own.
async fn transport(url: &str, stream: &str) -> Arc<Transport> {
    Arc::new(from_toml(&transport_toml(url, stream)).await)
}

async fn from_toml(toml: &str) -> Transport {
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    let config = TransportConfig::from_toml(toml).unwrap();
    Transport::from_config(&config).await.unwrap()
}

/// The config of [`transport`].
fn transport_toml(url: &str, stream: &str) -> String {
    format!(
        r#"
        backend = "remote"
        stream = "{stream}"
        [routing]
        partitions = 4
        [consumer]
        heartbeat_ms = 50
        poll_wait_ms = 20
        [plugins.remote]
        url = "{url}"
        dlq_stream = "{stream}-dlq"
        "#
    )
}

/// Two members of a group consume while events are published; the first
/// joins alone, the second joins (a rebalance: partitions move, and the
/// first member's commits of a moved partition are fenced), then the first
/// leaves (another rebalance). Every acknowledged event is handled, and the
/// group ends committed to the end of every partition: no commit was lost to
/// the fence and none came from a member that did not own the partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Apache Iggy server: scripts/real-iggy.sh"]
async fn a_group_consumes_everything_across_rebalances() {
    let url = common::real_server_url();
    let stream = format!("rustok-e2e-{}", Uuid::now_v7().simple());
    let first = transport(&url, &stream).await;
    let second = transport(&url, &stream).await;

    let (a, handled_a) = outage::record_handled(&first, "billing", "events").await;
    let producer = Producer::spawn(first.clone());
    let settle = || async {
        let start = producer.acknowledged();
        eventually("200 more events acknowledged", || async {
            producer.acknowledged() >= start + 200
        })
        .await;
    };
    settle().await;
    let (b, handled_b) = outage::record_handled(&second, "billing", "events").await;
    settle().await;
    let stats_a = a.stats();
    assert!(a.shutdown().await.unwrap().is_clean());
    settle().await;
    let (acknowledged, _) = producer.stop().await;

    let all = || -> HashSet<Uuid> {
        let mut all = handled_a.lock().unwrap().clone();
        all.extend(handled_b.lock().unwrap().iter());
        all
    };
    eventually("every acknowledged event handled", || async {
        acknowledged.is_subset(&all())
    })
    .await;
    let stats_b = b.stats();
    assert!(b.shutdown().await.unwrap().is_clean());
    outage::assert_committed_to_end(&second, "billing", "events", 4).await;
    eprintln!(
        "{} events acknowledged; first member {stats_a:?}, second member {stats_b:?}",
        acknowledged.len()
    );
    first.shutdown().await.unwrap();
    second.shutdown().await.unwrap();
}

/// A reset of a group's offsets (replay's `--to-group`) joins the group as
/// its only member for the write; with a live member it is refused as
/// fenced rather than stealing partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Apache Iggy server: scripts/real-iggy.sh"]
async fn a_group_reset_needs_the_group_stopped() {
    let url = common::real_server_url();
    let stream = format!("rustok-reset-{}", Uuid::now_v7().simple());
    let transport = transport(&url, &stream).await;
    let (subscription, handled) = outage::record_handled(&transport, "billing", "events").await;
    let events: Vec<_> = (0..40)
        .map(|i| {
            rustok_iggy_testkit::fixtures::order_placed_envelope(
                rustok_iggy_testkit::fixtures::tenant(i % 7),
                i as u64,
            )
        })
        .collect();
    transport.publish_batch(&events).await.unwrap();
    let expected: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    outage::wait_until_handled(&handled, &expected).await;

    let refused = transport
        .reset_group("billing", "events", rustok_iggy::ReplayFrom::Beginning)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), rustok_iggy::ErrorKind::Fenced, "{refused}");
    assert!(subscription.shutdown().await.unwrap().is_clean());
    outage::assert_committed_to_end(&transport, "billing", "events", 4).await;

    let positions = transport
        .reset_group("billing", "events", rustok_iggy::ReplayFrom::Beginning)
        .await
        .unwrap();
    let topic = transport.topic("events");
    for (partition, next) in positions {
        assert_eq!(next, 0);
        let stored = transport
            .offset_store()
            .load("billing", &topic, partition)
            .await
            .unwrap();
        assert_eq!(stored, None, "partition {partition} was reset to its start");
    }
    transport.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Apache Iggy server with message deduplication: scripts/real-iggy.sh"]
async fn deduplicating_server_returns_the_first_receipts() {
    let url = common::real_dedup_server_url();
    let stream = format!("rustok-dedup-{}", Uuid::now_v7().simple());
    let transport = transport(&url, &stream).await;
    outbox::publishing_again_returns_the_first_receipts(&transport).await;
    transport.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Apache Iggy server with message deduplication: scripts/real-iggy.sh"]
async fn deduplicating_server_reports_each_stored_copy() {
    let url = common::real_dedup_server_url();
    let stream = format!("rustok-dedup-{}", Uuid::now_v7().simple());
    let backend = backend(&url).await;
    outbox::appending_again_reports_each_stored_copy(&*backend, &TopicRef::new(&stream, "acks"))
        .await;
    backend.shutdown().await.unwrap();
}

/// The relay of [`deduplicating_server_stores_each_event_of_a_killed_relay_once`]:
/// does nothing in a normal test run.
#[test]
fn relay_child() {
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    outbox::relay_child();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Apache Iggy server with message deduplication: scripts/real-iggy.sh"]
async fn deduplicating_server_stores_each_event_of_a_killed_relay_once() {
    let url = common::real_dedup_server_url();
    let stream = format!("rustok-dedup-{}", Uuid::now_v7().simple());
    let toml = transport_toml(&url, &stream);
    outbox::kill_relay_mid_batch("relay_child", &toml);
    let transport = from_toml(&toml).await;
    outbox::republishing_everything_stores_each_event_once(&transport).await;
    transport.shutdown().await.unwrap();
}
