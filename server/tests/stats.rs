//! `GetStats` as Apache Iggy's tools read it: decoded by the SDK, the
//! figures match what the test created and what is on disk; only a logged-in
//! client gets them; the reply is exactly the 0.11 layout.

mod common;

use std::{
    path::Path,
    sync::Arc,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use iggy::prelude::*;
use iggy_binary_protocol::{
    codes::GET_STATS_CODE, responses::system::StatsResponse, WireDecode, HEADER_SIZE,
};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy, MIN_SEGMENT_BYTES};
use rustok_iggy_server::{fuzzing, Server};
use rustok_iggy_testkit::{eventually, MemoryBackend};

fn now_micros() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

/// `*.log` files (segments) under `dir` and the bytes of their records: a
/// segment being written runs on in zeros past its records, which end at its
/// last byte that is not zero (an `x` of a payload).
fn segment_files(dir: &Path) -> (u32, u64) {
    let (mut count, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            let (c, b) = segment_files(&path);
            count += c;
            bytes += b;
        } else if path.extension().is_some_and(|e| e == "log") {
            count += 1;
            let content = std::fs::read(&path).unwrap();
            bytes += content
                .iter()
                .rposition(|&b| b != 0)
                .map_or(0, |last| last + 1) as u64;
        }
    }
    (count, bytes)
}

fn messages(count: usize, size: usize) -> Vec<IggyMessage> {
    (0..count)
        .map(|_| {
            IggyMessage::builder()
                .payload(vec![b'x'; size].into())
                .build()
                .unwrap()
        })
        .collect()
}

async fn send(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    partition: u32,
    mut batch: Vec<IggyMessage>,
) {
    client
        .send_messages(
            &Identifier::named(stream).unwrap(),
            &Identifier::named(topic).unwrap(),
            &Partitioning::partition_id(partition),
            &mut batch,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_report_the_log_the_clients_and_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut config = EmbeddedConfig::new(&data).fsync(FsyncPolicy::Never);
    // Small segments, so the partitions written below roll several.
    config.segment_bytes = MIN_SEGMENT_BYTES;
    let backend = EmbeddedBackend::open(config).await.unwrap();
    let (started_wall, started) = (now_micros(), Instant::now());
    let server = Server::builder(Arc::new(backend))
        .bind("127.0.0.1:0".parse().unwrap())
        .data_dir(&data)
        .shutdown_backend(true)
        .start()
        .await
        .unwrap();
    let started_by = now_micros();
    let addr = server.local_addr();

    // Before login: refused, as Apache Iggy refuses it.
    let stranger = common::anonymous(addr).await;
    assert_eq!(
        stranger.get_stats().await.unwrap_err().as_code(),
        IggyError::Unauthenticated.as_code()
    );

    let client = common::client(addr).await;
    common::create_orders(&client, "app").await;
    client
        .create_topic(
            &Identifier::named("app").unwrap(),
            "audit",
            &TopicCreateOptions {
                partitions_count: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    client.create_stream("empty").await.unwrap();
    client
        .create_consumer_group(
            &Identifier::named("app").unwrap(),
            &Identifier::named("orders").unwrap(),
            "billing",
        )
        .await
        .unwrap();
    for _ in 0..4 {
        send(&client, "app", "orders", 0, messages(10, 500)).await;
    }
    send(&client, "app", "orders", 1, messages(3, 10)).await;
    send(&client, "app", "audit", 0, messages(2, 10)).await;
    let other = common::client(addr).await;

    let stats = client.get_stats().await.unwrap();
    assert_eq!(stats.streams_count, 2, "app and empty");
    assert_eq!(stats.topics_count, 2);
    assert_eq!(stats.partitions_count, 3);
    assert_eq!(stats.messages_count, 45);
    assert_eq!(stats.consumer_groups_count, 1);
    assert_eq!(stats.clients_count, 3, "the stranger, client and other");
    // Segments and bytes are the files of the log, and what topic details
    // add up to.
    let (files, file_bytes) = segment_files(&data.join("streams").join("app"));
    assert!(files > 3, "batches of 5 KB roll 4 KiB segments: {files}");
    assert_eq!(stats.segments_count, files);
    assert_eq!(stats.messages_size_bytes.as_bytes_u64(), file_bytes);
    let mut detailed = (0, 0);
    for topic in ["orders", "audit"] {
        let details = client
            .get_topic(
                &Identifier::named("app").unwrap(),
                &Identifier::named(topic).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        detailed.0 += details
            .partitions
            .iter()
            .map(|p| p.segments_count)
            .sum::<u32>();
        detailed.1 += details.size.as_bytes_u64();
    }
    assert_eq!(detailed, (files, file_bytes));

    // The process is this test's; its figures are real.
    assert_eq!(stats.process_id, std::process::id());
    assert!(stats.memory_usage.as_bytes_u64() > 0);
    assert!(stats.total_memory.as_bytes_u64() >= stats.available_memory.as_bytes_u64());
    assert!(stats.available_memory.as_bytes_u64() > 0);
    assert!(stats.cpu_usage.is_finite() && stats.cpu_usage >= 0.0);
    assert!(stats.total_cpu_usage.is_finite() && stats.total_cpu_usage >= 0.0);
    assert!(stats.threads_count >= 2, "the runtime's workers at least");
    assert!(stats.total_disk_space.as_bytes_u64() > 0);
    assert!(stats.free_disk_space.as_bytes_u64() <= stats.total_disk_space.as_bytes_u64());
    assert!(!stats.hostname.is_empty() && !stats.os_name.is_empty());
    assert!(!stats.kernel_version.is_empty() && !stats.os_version.is_empty());
    // The server's own run: it started while `start` ran and has run at
    // most as long as the test has since.
    let start = stats.start_time.as_micros();
    assert!(
        (started_wall..=started_by).contains(&start),
        "{start} not in {started_wall}..={started_by}"
    );
    let run = stats.run_time.as_micros();
    assert!(run > 0 && u128::from(run) <= started.elapsed().as_micros());
    assert!(stats.iggy_server_version.starts_with("rustok-iggy-server "));
    assert!(stats.iggy_server_semver.is_some());
    assert!(stats.cache_metrics.is_empty());

    // Connections that end leave the count.
    other.disconnect().await.unwrap();
    stranger.disconnect().await.unwrap();
    eventually("two clients gone", || async {
        client.get_stats().await.unwrap().clients_count == 1
    })
    .await;
    let later = client.get_stats().await.unwrap();
    assert!(later.run_time.as_micros() > run);
    assert_eq!(later.start_time.as_micros(), start);
    server.shutdown().await.unwrap();
}

/// A backend that keeps no storage (the memory backend): a partition reports
/// one empty segment, as Apache Iggy reports a partition without storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_storage_figures_a_partition_is_one_empty_segment() {
    let server = common::start(Arc::new(MemoryBackend::new())).await;
    let client = common::client(server.local_addr()).await;
    common::create_orders(&client, "app").await;
    send(&client, "app", "orders", 0, messages(5, 100)).await;
    let stats = client.get_stats().await.unwrap();
    assert_eq!(
        (
            stats.partitions_count,
            stats.segments_count,
            stats.messages_count
        ),
        (2, 2, 5)
    );
    assert_eq!(stats.messages_size_bytes.as_bytes_u64(), 0);
    assert_eq!(
        (
            stats.free_disk_space.as_bytes_u64(),
            stats.total_disk_space.as_bytes_u64()
        ),
        (0, 0)
    );
}

/// The reply is exactly the SDK 0.11 layout: its decoder consumes every
/// byte, whatever the request body (Apache Iggy reads none).
#[tokio::test]
async fn the_reply_is_the_whole_0_11_layout() {
    let mut harness = fuzzing::Harness::new(Arc::new(MemoryBackend::new())).unwrap();
    for body in [&b""[..], b"ignored"] {
        let reply = harness
            .request(&fuzzing::request(GET_STATS_CODE, body))
            .await
            .unwrap();
        assert_eq!(fuzzing::reply_status(&reply), Some(0));
        let body = &reply[HEADER_SIZE..];
        let (stats, consumed) = StatsResponse::decode(body).unwrap();
        assert_eq!(consumed, body.len());
        assert_eq!(stats.process_id, std::process::id());
        assert_eq!((stats.streams_count, stats.clients_count), (0, 0));
    }
}
