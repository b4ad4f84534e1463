//! Cases of the backend suite about topic administration: deleting
//! partitions, purging, deleting segments and per-topic retention (Apache
//! Iggy's `DeletePartitions`, `PurgeTopic`, `DeleteSegments` and the expiry
//! and size of `UpdateTopic`).

use std::{sync::Arc, time::Duration};

use rustok_iggy::{Backend, ErrorKind, TopicRetention};

use super::{append, assert_kind, checked, fresh_topic, ids, offsets, poll_all, ready, request};
use rustok_iggy::PollFrom;

/// `delete_partitions` removes the last partitions with their records and
/// keeps the others as they were; a partition added afterwards under a
/// removed number starts empty.
pub async fn delete_partitions_removes_the_last_and_keeps_the_rest(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 3).await;
    for partition in 0..3 {
        let first = u128::from(partition) * 10 + 1;
        append(&*backend, &topic, partition, first..first + 2).await;
    }

    let info = backend
        .delete_partitions(&topic, 1)
        .await
        .unwrap_or_else(|e| panic!("delete_partitions({topic}, 1) failed: {e}"));
    assert_eq!(
        info.partitions, 2,
        "delete_partitions returns the new count"
    );
    assert_eq!(backend.topic_info(&topic).await.unwrap().partitions, 2);
    assert_kind(
        backend.partition_info(&topic, 2).await,
        ErrorKind::NotFound,
        "partition_info of a deleted partition",
    );
    assert_kind(
        backend
            .poll(request(&topic, 2, PollFrom::Offset(0), 10))
            .await,
        ErrorKind::NotFound,
        "poll of a deleted partition",
    );
    assert_eq!(ids(&poll_all(&*backend, &topic, 0, 0).await), vec![1, 2]);
    assert_eq!(ids(&poll_all(&*backend, &topic, 1, 0).await), vec![11, 12]);

    assert_eq!(
        backend.add_partitions(&topic, 1).await.unwrap().partitions,
        3
    );
    assert!(
        poll_all(&*backend, &topic, 2, 0).await.is_empty(),
        "a partition created again under a deleted number holds the old records"
    );
    assert_eq!(append(&*backend, &topic, 2, 40..41).await, 0);
}

/// `delete_partitions` of none, or of every partition (a topic keeps one),
/// is InvalidInput and changes nothing; of an unknown topic it is NotFound.
pub async fn delete_partitions_rejects_zero_and_all(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 2).await;
    for (count, what) in [(0, "none"), (2, "every partition"), (u32::MAX, "u32::MAX")] {
        assert_kind(
            backend.delete_partitions(&topic, count).await,
            ErrorKind::InvalidInput,
            &format!("delete_partitions of {what}"),
        );
    }
    assert_eq!(backend.topic_info(&topic).await.unwrap().partitions, 2);
    assert_kind(
        backend.delete_partitions(&fresh_topic("missing"), 1).await,
        ErrorKind::NotFound,
        "delete_partitions of an unknown topic",
    );
}

/// `purge_topic` empties every partition; each starts again at offset 0,
/// and the topic keeps its partitions and retention.
pub async fn purge_topic_empties_every_partition_and_offsets_restart(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 2).await;
    append(&*backend, &topic, 0, 1..4).await;
    append(&*backend, &topic, 1, 4..6).await;
    let retention = backend.topic_retention(&topic).await.unwrap();

    backend
        .purge_topic(&topic)
        .await
        .unwrap_or_else(|e| panic!("purge_topic({topic}) failed: {e}"));
    assert_eq!(backend.topic_info(&topic).await.unwrap().partitions, 2);
    for partition in 0..2 {
        let p = backend.partition_info(&topic, partition).await.unwrap();
        assert_eq!(
            (p.first_offset, p.next_offset),
            (0, 0),
            "partition {partition} after a purge"
        );
        assert!(poll_all(&*backend, &topic, partition, 0).await.is_empty());
    }
    assert_eq!(backend.topic_retention(&topic).await.unwrap(), retention);

    assert_eq!(
        append(&*backend, &topic, 0, 10..12).await,
        0,
        "offsets restart at 0"
    );
    let records = poll_all(&*backend, &topic, 0, 0).await;
    assert_eq!(
        (offsets(&records), ids(&records)),
        (vec![0, 1], vec![10, 11])
    );
    assert_kind(
        backend.purge_topic(&fresh_topic("missing")).await,
        ErrorKind::NotFound,
        "purge_topic of an unknown topic",
    );
}

/// `delete_segments` never deletes the segment being appended to: a fresh
/// partition keeps every record, whatever the count.
pub async fn delete_segments_keeps_the_active_segment(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 1).await;
    append(&*backend, &topic, 0, 1..4).await;
    for count in [0, 1, 1_000] {
        let deleted = backend
            .delete_segments(&topic, 0, count)
            .await
            .unwrap_or_else(|e| panic!("delete_segments({topic}, 0, {count}) failed: {e}"));
        assert_eq!(deleted, 0, "deleted the active segment ({count} asked)");
    }
    assert_eq!(ids(&poll_all(&*backend, &topic, 0, 0).await), vec![1, 2, 3]);
    assert_kind(
        backend.delete_segments(&topic, 1, 1).await,
        ErrorKind::NotFound,
        "delete_segments of an unknown partition",
    );
    assert_kind(
        backend.delete_segments(&fresh_topic("missing"), 0, 1).await,
        ErrorKind::NotFound,
        "delete_segments of an unknown topic",
    );
}

/// A topic's retention reads back as set, limit by limit; zero limits are
/// InvalidInput, an unknown topic NotFound. Limits this generous delete
/// nothing.
pub async fn topic_retention_reads_back_as_set(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 2).await;
    append(&*backend, &topic, 0, 1..3).await;
    backend
        .topic_retention(&topic)
        .await
        .unwrap_or_else(|e| panic!("topic_retention({topic}) failed: {e}"));
    for retention in [
        TopicRetention {
            max_age: Some(Duration::from_secs(86_400)),
            max_bytes: None,
        },
        TopicRetention {
            max_age: None,
            max_bytes: Some(1 << 40),
        },
        TopicRetention {
            max_age: Some(Duration::from_secs(7 * 86_400)),
            max_bytes: Some(2 << 40),
        },
        TopicRetention::default(),
    ] {
        let set = backend
            .set_topic_retention(&topic, retention)
            .await
            .unwrap_or_else(|e| panic!("set_topic_retention({retention:?}) failed: {e}"));
        assert_eq!(set, retention);
        assert_eq!(backend.topic_retention(&topic).await.unwrap(), retention);
    }
    assert_eq!(ids(&poll_all(&*backend, &topic, 0, 0).await), vec![1, 2]);
    for zero in [
        TopicRetention {
            max_age: Some(Duration::ZERO),
            max_bytes: None,
        },
        TopicRetention {
            max_age: None,
            max_bytes: Some(0),
        },
    ] {
        assert_kind(
            backend.set_topic_retention(&topic, zero).await,
            ErrorKind::InvalidInput,
            &format!("set_topic_retention({zero:?})"),
        );
    }
    assert_kind(
        backend.topic_retention(&fresh_topic("missing")).await,
        ErrorKind::NotFound,
        "topic_retention of an unknown topic",
    );
    assert_kind(
        backend
            .set_topic_retention(&fresh_topic("missing"), TopicRetention::default())
            .await,
        ErrorKind::NotFound,
        "set_topic_retention of an unknown topic",
    );
}
