//! What a reopened data directory restores: topics, records, group offsets,
//! DLQ entries and marks; and what each fsync policy lets consumers see.

mod common;

use std::time::Duration;

use common::*;
use rustok_iggy::{Backend, DlqFilter, DlqStore, OffsetStore, PollFrom, PollRequest, TopicRef};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use rustok_iggy_testkit::fixtures::{test_dead_letter, time};

#[tokio::test]
async fn topics_records_offsets_groups_and_dlq_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let refunds = TopicRef::new("app", "refunds");
    let (records, letters) = {
        let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
            .await
            .unwrap();
        backend.ensure_topic(&topic(), 3).await.unwrap();
        backend.ensure_topic(&refunds, 1).await.unwrap();
        append_each(&backend, 1..81).await;
        backend
            .append(&refunds, 0, vec![message(500)])
            .await
            .unwrap();
        let offsets = backend.offsets();
        offsets.commit("billing", &topic(), 0, 40).await.unwrap();
        offsets.commit("billing", &topic(), 2, 0).await.unwrap();
        offsets.commit("audit", &refunds, 0, 1).await.unwrap();
        let dlq = backend.dlq();
        let a = dlq.put(test_dead_letter(1)).await.unwrap();
        let b = dlq.put(test_dead_letter(2)).await.unwrap();
        let c = dlq.put(test_dead_letter(3)).await.unwrap();
        dlq.mark_redriven(a, time(9)).await.unwrap();
        assert!(dlq.delete(b).await.unwrap());
        let records = poll_all(&backend, &topic(), 0).await;
        backend.shutdown().await.unwrap();
        (records, (a, b, c))
    };

    let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
        .await
        .unwrap();
    let mut listed: Vec<(String, u32)> = backend
        .list_topics("app")
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.topic.topic, t.partitions))
        .collect();
    listed.sort();
    assert_eq!(listed, vec![("orders".into(), 3), ("refunds".into(), 1)]);
    assert_eq!(poll_all(&backend, &topic(), 0).await, records);
    assert_dense(&records, 80);
    assert_eq!(
        poll_all(&backend, &refunds, 0).await[0].message,
        message(500)
    );

    let offsets = backend.offsets();
    assert_eq!(
        offsets.load("billing", &topic(), 0).await.unwrap(),
        Some(40)
    );
    assert_eq!(offsets.load("billing", &topic(), 2).await.unwrap(), Some(0));
    assert_eq!(offsets.load("billing", &topic(), 1).await.unwrap(), None);
    assert_eq!(offsets.load("audit", &refunds, 0).await.unwrap(), Some(1));
    assert_eq!(offsets.groups(), vec!["audit", "billing"]);

    let dlq = backend.dlq();
    let (a, b, c) = letters;
    let all = dlq
        .list(
            DlqFilter {
                include_redriven: true,
                ..DlqFilter::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    let ids: Vec<u64> = all.entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![a, c]);
    assert_eq!(all.entries[0].redriven_at, Some(time(9)));
    assert_eq!(all.entries[1].letter, test_dead_letter(3));
    assert_eq!(dlq.get(b).await.unwrap(), None);
    let d = dlq.put(test_dead_letter(4)).await.unwrap();
    assert!(d > c, "ids keep ascending after a reopen");

    // Appends continue after the last offset.
    let ack = backend
        .append(&topic(), 0, vec![message(81)])
        .await
        .unwrap();
    assert_eq!(ack.first_offset, 80);
    // Group membership is live state: members of the old process are gone.
    assert!(backend.group_members(&topic(), "billing").is_empty());
    backend.shutdown().await.unwrap();
}

fn request(max_wait: Duration) -> PollRequest {
    PollRequest {
        topic: topic(),
        partition: 0,
        from: PollFrom::Offset(0),
        max_records: 10,
        max_wait,
    }
}

/// Under `interval` the group commit starts when data arrives, not when a
/// period comes due: with an hour's `fsync_interval_ms` a long poll gets the
/// record after its fsync (it waited an hour with the fixed period of
/// before). Polls never return a record before its fsync ended: the unit
/// tests of `partition.rs` hold an fsync to show it.
#[tokio::test]
async fn under_interval_a_record_is_visible_after_its_fsync_not_after_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        fsync_interval_ms: 3_600_000,
        // The old background task ticked at the shorter of both periods.
        retention_check_secs: 3_600,
        ..small(dir.path(), FsyncPolicy::Interval)
    };
    let backend = EmbeddedBackend::open(config).await.unwrap();
    backend.ensure_topic(&topic(), 1).await.unwrap();
    let ack = backend.append(&topic(), 0, vec![message(1)]).await.unwrap();
    assert_eq!(ack.first_offset, 0);
    // A deadlock guard, not a statement about speed.
    let records = tokio::time::timeout(
        Duration::from_secs(120),
        backend.poll(request(Duration::from_secs(3_600))),
    )
    .await
    .expect("the record never became visible")
    .unwrap();
    assert_dense(&records, 1);
    backend.append(&topic(), 0, vec![message(2)]).await.unwrap();
    // Shutdown flushes what may still be pending.
    backend.shutdown().await.unwrap();
    let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Interval))
        .await
        .unwrap();
    assert_dense(&backend.poll(request(Duration::ZERO)).await.unwrap(), 2);
    backend.shutdown().await.unwrap();
}

/// `Backend::flush` with `fsync` returns once the partition is durable, so
/// under `interval` a poll right after it sees the record. (That a flush
/// without `fsync` starts no fsync is a unit test of `partition.rs`.)
#[tokio::test]
async fn a_partition_flush_with_fsync_returns_once_the_record_is_visible() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        fsync_interval_ms: 3_600_000,
        ..small(dir.path(), FsyncPolicy::Interval)
    };
    let backend = EmbeddedBackend::open(config).await.unwrap();
    backend.ensure_topic(&topic(), 1).await.unwrap();
    backend.append(&topic(), 0, vec![message(1)]).await.unwrap();
    backend.flush(&topic(), 0, false).await.unwrap();
    backend.flush(&topic(), 0, true).await.unwrap();
    assert_dense(&backend.poll(request(Duration::ZERO)).await.unwrap(), 1);
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_group_commit_wakes_a_long_poll() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        fsync_interval_ms: 5,
        ..small(dir.path(), FsyncPolicy::Interval)
    };
    let backend = std::sync::Arc::new(EmbeddedBackend::open(config).await.unwrap());
    backend.ensure_topic(&topic(), 1).await.unwrap();
    let waiting = tokio::spawn({
        let backend = backend.clone();
        async move { backend.poll(request(Duration::from_secs(3_600))).await }
    });
    backend.append(&topic(), 0, vec![message(1)]).await.unwrap();
    assert_dense(&waiting.await.unwrap().unwrap(), 1);
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_wakes_a_waiting_poll_with_closed() {
    let dir = tempfile::tempdir().unwrap();
    let backend = std::sync::Arc::new(
        EmbeddedBackend::open(EmbeddedConfig::new(dir.path()))
            .await
            .unwrap(),
    );
    backend.ensure_topic(&topic(), 1).await.unwrap();
    let waiting = tokio::spawn({
        let backend = backend.clone();
        async move { backend.poll(request(Duration::from_secs(3_600))).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    backend.shutdown().await.unwrap();
    let err = waiting.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), rustok_iggy::ErrorKind::Closed);
    assert!(!backend.health().await.is_healthy());
}

#[tokio::test(flavor = "current_thread")]
async fn large_batches_round_trip_on_any_runtime() {
    // 4.7 MiB in one append: written on the blocking pool, also from a
    // current-thread runtime.
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
        .await
        .unwrap();
    backend.ensure_topic(&topic(), 1).await.unwrap();
    let batch: Vec<_> = (1..=300u128)
        .map(|id| {
            let mut m = message(id);
            m.payload = bytes::Bytes::from(vec![id as u8; 16 * 1024]);
            m
        })
        .collect();
    let ack = backend.append(&topic(), 0, batch.clone()).await.unwrap();
    assert_eq!((ack.first_offset, ack.count), (0, 300));
    let records = poll_all(&backend, &topic(), 0).await;
    let got: Vec<_> = records.into_iter().map(|r| r.message).collect();
    assert_eq!(got, batch);
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn added_partitions_survive_a_reopen_with_their_records() {
    let dir = tempfile::tempdir().unwrap();
    for fsync in [FsyncPolicy::Always, FsyncPolicy::Never] {
        let topic = TopicRef::new("grow", format!("{fsync:?}"));
        {
            let backend = EmbeddedBackend::open(small(dir.path(), fsync))
                .await
                .unwrap();
            backend.ensure_topic(&topic, 2).await.unwrap();
            backend.append(&topic, 1, vec![message(1)]).await.unwrap();
            let info = backend.add_partitions(&topic, 3).await.unwrap();
            assert_eq!(info.partitions, 5);
            backend.append(&topic, 4, vec![message(2)]).await.unwrap();
            backend.shutdown().await.unwrap();
        }
        let backend = EmbeddedBackend::open(small(dir.path(), fsync))
            .await
            .unwrap();
        assert_eq!(backend.topic_info(&topic).await.unwrap().partitions, 5);
        assert_eq!(
            backend.ensure_topic(&topic, 5).await.unwrap().partitions,
            5,
            "ensure_topic accepts the grown count after a reopen"
        );
        let p1 = poll_all(&backend, &topic, 1).await;
        assert_eq!(p1.len(), 1);
        assert_eq!(p1[0].message, message(1));
        let p4 = poll_all(&backend, &topic, 4).await;
        assert_eq!((p4.len(), p4[0].offset), (1, 0));
        assert_eq!(p4[0].message, message(2));
        assert!(poll_all(&backend, &topic, 3).await.is_empty());
        backend.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_deleted_topic_stays_deleted_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let kept = TopicRef::new("app", "kept");
    {
        let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
            .await
            .unwrap();
        backend.ensure_topic(&topic(), 2).await.unwrap();
        backend.ensure_topic(&kept, 1).await.unwrap();
        append_each(&backend, 1..21).await;
        backend.append(&kept, 0, vec![message(99)]).await.unwrap();
        backend.delete_topic(&topic()).await.unwrap();
        backend.shutdown().await.unwrap();
    }
    let stream_dir = partition_dir(dir.path(), 0)
        .parent()
        .and_then(|p| p.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap();
    assert!(
        !partition_dir(dir.path(), 0).parent().unwrap().exists(),
        "the topic directory is removed"
    );
    assert!(stream_dir.exists(), "the stream directory stays");

    let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
        .await
        .unwrap();
    assert_eq!(
        backend.topic_info(&topic()).await.unwrap_err().kind(),
        rustok_iggy::ErrorKind::NotFound
    );
    let listed: Vec<TopicRef> = backend
        .list_topics("app")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.topic)
        .collect();
    assert_eq!(listed, vec![kept.clone()]);
    assert_eq!(poll_all(&backend, &kept, 0).await[0].message, message(99));
    // Created again, the topic starts empty.
    backend.ensure_topic(&topic(), 1).await.unwrap();
    assert!(poll_all(&backend, &topic(), 0).await.is_empty());
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_topic_directory_without_meta_is_debris_not_data() {
    // A deletion interrupted after removing `topic.meta`: the records left
    // behind must not reappear in a topic created again under the name.
    let dir = tempfile::tempdir().unwrap();
    {
        let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
            .await
            .unwrap();
        backend.ensure_topic(&topic(), 1).await.unwrap();
        append_each(&backend, 1..11).await;
        backend.shutdown().await.unwrap();
    }
    let topic_dir = partition_dir(dir.path(), 0).parent().unwrap().to_path_buf();
    std::fs::remove_file(topic_dir.join("topic.meta")).unwrap();
    let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
        .await
        .unwrap();
    assert!(backend.list_topics("app").await.unwrap().is_empty());
    backend.ensure_topic(&topic(), 1).await.unwrap();
    assert!(poll_all(&backend, &topic(), 0).await.is_empty());
    backend.shutdown().await.unwrap();
}
