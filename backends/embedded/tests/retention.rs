//! Retention by size and by age: whole sealed segments go, the first offset
//! moves, polls below it are clamped, and health says when a group lost data.

mod common;

use std::time::Duration;

use common::*;
use rustok_iggy::{Backend, DlqFilter, DlqStore, HealthStatus, OffsetStore, PollFrom, PollRequest};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use rustok_iggy_testkit::fixtures::test_dead_letter;

async fn open(config: EmbeddedConfig) -> EmbeddedBackend {
    let backend = EmbeddedBackend::open(config).await.unwrap();
    backend.ensure_topic(&topic(), 1).await.unwrap();
    backend
}

fn request(from: u64) -> PollRequest {
    PollRequest {
        topic: topic(),
        partition: 0,
        from: PollFrom::Offset(from),
        max_records: 10_000,
        max_wait: Duration::ZERO,
    }
}

#[tokio::test]
async fn size_retention_deletes_the_oldest_sealed_segments_and_clamps_polls() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        retention_max_bytes: Some(8192),
        ..small(dir.path(), FsyncPolicy::Always)
    };
    let backend = open(config).await;
    let offsets = append_each(&backend, 1..301).await;
    assert_eq!(offsets, (0..300).collect::<Vec<_>>());
    // Retention ran after the rolls; run it once more to be sure.
    backend.enforce_retention().await.unwrap();

    let info = backend.partition_info(&topic(), 0).await.unwrap();
    assert!(info.first_offset > 0, "nothing was deleted");
    assert_eq!(info.next_offset, 300);
    let dir0 = partition_dir(dir.path(), 0);
    let logs = segments(&dir0);
    let first_name = logs[0].file_stem().unwrap().to_string_lossy().into_owned();
    assert_eq!(first_name.parse::<u64>().unwrap(), info.first_offset);
    let sealed_bytes: u64 = logs[..logs.len() - 1]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        sealed_bytes <= 8192,
        "{sealed_bytes} bytes of sealed segments kept"
    );

    // A poll from below the start begins at the start, and is reported.
    let records = backend.poll(request(0)).await.unwrap();
    assert_eq!(records[0].offset, info.first_offset);
    assert_eq!(records.last().unwrap().offset, 299);
    for r in &records {
        assert_eq!(r.message, message(u128::from(r.offset) + 1));
    }
    let clamps = backend.retention_clamps();
    assert_eq!(clamps.len(), 1);
    assert_eq!(
        (clamps[0].requested, clamps[0].first_offset),
        (0, info.first_offset)
    );

    // A group whose committed offset retention overtook makes health degraded.
    backend
        .offsets()
        .commit("billing", &topic(), 0, 3)
        .await
        .unwrap();
    match backend.health().await {
        HealthStatus::Degraded(reasons) => {
            assert!(reasons[0].contains("billing"), "{reasons:?}");
            assert!(reasons[0].contains("retained start"), "{reasons:?}");
        }
        other => panic!("expected degraded health, got {other:?}"),
    }
    backend
        .offsets()
        .commit("billing", &topic(), 0, info.first_offset)
        .await
        .unwrap();
    assert_eq!(backend.health().await, HealthStatus::Healthy);
    backend.shutdown().await.unwrap();

    // The new start survives a reopen.
    let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
        .await
        .unwrap();
    let reopened = backend.partition_info(&topic(), 0).await.unwrap();
    assert_eq!(reopened, info);
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn age_retention_deletes_sealed_segments_older_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        retention_max_age_secs: Some(1),
        ..small(dir.path(), FsyncPolicy::Never)
    };
    let backend = open(config).await;
    append_each(&backend, 1..121).await;
    let before = backend.partition_info(&topic(), 0).await.unwrap();
    assert_eq!(before.first_offset, 0, "too young to be deleted yet");
    // Let every record age past the limit (a lower bound, not a timeout).
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let deleted = backend.enforce_retention().await.unwrap();
    assert!(deleted >= 2, "deleted {deleted} segments");
    let after = backend.partition_info(&topic(), 0).await.unwrap();
    // Only the active segment is left; offsets are never reused.
    assert_eq!(segments(&partition_dir(dir.path(), 0)).len(), 1);
    assert!(after.first_offset > 0);
    assert_eq!(after.next_offset, 120);
    let ack = backend
        .append(&topic(), 0, vec![message(121)])
        .await
        .unwrap();
    assert_eq!(ack.first_offset, 120);
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_dlq_is_exempt_from_retention() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        retention_max_bytes: Some(4096),
        ..small(dir.path(), FsyncPolicy::Never)
    };
    let backend = open(config).await;
    for n in 0..100 {
        backend.dlq().put(test_dead_letter(n)).await.unwrap();
    }
    backend.enforce_retention().await.unwrap();
    assert_eq!(
        backend.dlq().count(DlqFilter::default()).await.unwrap(),
        100
    );
    backend.shutdown().await.unwrap();
}
