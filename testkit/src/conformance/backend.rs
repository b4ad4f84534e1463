//! The [`Backend`] conformance suite; run it with
//! [`backend_conformance!`](crate::backend_conformance).
//!
//! Every case takes a fresh backend, works in a stream of its own, and panics
//! (fails) on the first broken expectation. Cases about optional behaviour
//! check [`BackendCapabilities`](rustok_iggy::BackendCapabilities) first.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use rustok_iggy::{
    Backend, ErrorKind, Fence, Headers, MemberId, Message, PollFrom, PollRequest, Record, Result,
    TopicRef,
};

use super::{skip, unique};
use crate::fixtures::test_message;

mod admin;
pub use admin::*;

/// How long a long poll is allowed to wait in [`long_poll_wakes_on_append`]:
/// far longer than the case should take, so a backend that does not wake on
/// append fails it (by returning nothing) rather than passing slowly.
pub const LONG_POLL_WAIT: Duration = Duration::from_secs(10);

/// The backend as the transport and the server run it: behind
/// [`Checked`](rustok_iggy::Checked), which makes the checks every backend
/// shares, so the suite holds a backend to the contract users get.
fn checked(backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
    Arc::new(rustok_iggy::Checked::new(backend))
}

/// A topic named `name` in a fresh stream.
fn fresh_topic(name: &str) -> TopicRef {
    TopicRef::new(unique("conformance"), name)
}

async fn ready(backend: &dyn Backend, partitions: u32) -> TopicRef {
    let topic = fresh_topic("orders");
    let info = backend
        .ensure_topic(&topic, partitions)
        .await
        .unwrap_or_else(|e| panic!("ensure_topic({topic}, {partitions}) failed: {e}"));
    assert_eq!(info.partitions, partitions);
    topic
}

fn request(topic: &TopicRef, partition: u32, from: PollFrom, max_records: u32) -> PollRequest {
    PollRequest {
        topic: topic.clone(),
        partition,
        from,
        max_records,
        max_wait: Duration::ZERO,
    }
}

/// Messages with ids `ids` (ids start at 1: Iggy treats id 0 as "assign one").
fn messages(ids: impl IntoIterator<Item = u128>) -> Vec<Message> {
    ids.into_iter().map(test_message).collect()
}

async fn append(
    backend: &dyn Backend,
    topic: &TopicRef,
    partition: u32,
    ids: std::ops::Range<u128>,
) -> u64 {
    let count = (ids.end - ids.start) as usize;
    let ack = backend
        .append(topic, partition, messages(ids))
        .await
        .unwrap_or_else(|e| panic!("append to {topic}/{partition} failed: {e}"));
    assert_eq!(
        ack.count as usize, count,
        "append acknowledged another count"
    );
    ack.first_offset
}

async fn poll(backend: &dyn Backend, request: PollRequest) -> Vec<Record> {
    let what = format!("{request:?}");
    let records = backend
        .poll(request)
        .await
        .unwrap_or_else(|e| panic!("poll {what} failed: {e}"));
    for pair in records.windows(2) {
        assert_eq!(
            pair[1].offset,
            pair[0].offset + 1,
            "poll returned offsets out of order or with gaps"
        );
    }
    records
}

/// Everything in a partition from `from` on, polling page by page.
async fn poll_all(
    backend: &dyn Backend,
    topic: &TopicRef,
    partition: u32,
    from: u64,
) -> Vec<Record> {
    let mut all: Vec<Record> = Vec::new();
    let mut next = from;
    loop {
        let page = poll(
            backend,
            request(topic, partition, PollFrom::Offset(next), 100),
        )
        .await;
        let Some(last) = page.last() else {
            return all;
        };
        assert!(
            page[0].offset >= next,
            "poll returned records below the requested offset"
        );
        next = last.offset + 1;
        all.extend(page);
    }
}

fn offsets(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.offset).collect()
}

fn ids(records: &[Record]) -> Vec<u128> {
    records.iter().map(|r| r.message.id).collect()
}

fn assert_kind<T: std::fmt::Debug>(result: Result<T>, kind: ErrorKind, what: &str) {
    match result {
        Err(e) => assert_eq!(e.kind(), kind, "{what}: expected a {kind} error, got {e}"),
        Ok(v) => panic!("{what}: expected a {kind} error, got Ok({v:?})"),
    }
}

/// `ensure_topic` twice with the same partition count succeeds both times and
/// creates the topic once.
pub async fn ensure_topic_is_idempotent(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 3).await;
    let again = backend.ensure_topic(&topic, 3).await.unwrap();
    assert_eq!(again.topic, topic);
    assert_eq!(again.partitions, 3);
    assert_eq!(backend.topic_info(&topic).await.unwrap().partitions, 3);
    let listed = backend.list_topics(&topic.stream).await.unwrap();
    assert_eq!(listed.len(), 1, "the topic is listed once: {listed:?}");
}

/// `ensure_topic` of an existing topic with another partition count is a
/// `Config` error and changes nothing.
pub async fn ensure_topic_rejects_another_partition_count(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 3).await;
    assert_kind(
        backend.ensure_topic(&topic, 5).await,
        ErrorKind::Config,
        "ensure_topic with 5 partitions over 3",
    );
    assert_kind(
        backend.ensure_topic(&topic, 1).await,
        ErrorKind::Config,
        "ensure_topic with 1 partition over 3",
    );
    assert_eq!(backend.topic_info(&topic).await.unwrap().partitions, 3);
}

/// `topic_info` and `list_topics` report what was created; an unknown stream
/// lists nothing (or is `NotFound`).
pub async fn topic_info_and_list_topics(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let stream = unique("conformance");
    let a = TopicRef::new(stream.clone(), "alpha");
    let b = TopicRef::new(stream.clone(), "beta");
    backend.ensure_topic(&a, 2).await.unwrap();
    backend.ensure_topic(&b, 5).await.unwrap();
    let info = backend.topic_info(&b).await.unwrap();
    assert_eq!((info.topic, info.partitions), (b.clone(), 5));
    let mut listed: Vec<(String, u32)> = backend
        .list_topics(&stream)
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            assert_eq!(t.topic.stream, stream);
            (t.topic.topic, t.partitions)
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![("alpha".to_owned(), 2), ("beta".to_owned(), 5)]
    );
    match backend.list_topics(&unique("conformance-missing")).await {
        Ok(topics) => assert!(
            topics.is_empty(),
            "an unknown stream lists topics: {topics:?}"
        ),
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
    }
}

/// Unknown topics and out-of-range partitions are `NotFound` for every
/// operation that names them.
pub async fn unknown_topics_and_partitions_are_not_found(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let missing = fresh_topic("missing");
    assert_kind(
        backend.topic_info(&missing).await,
        ErrorKind::NotFound,
        "topic_info of an unknown topic",
    );
    assert_kind(
        backend
            .poll(request(&missing, 0, PollFrom::Offset(0), 10))
            .await,
        ErrorKind::NotFound,
        "poll of an unknown topic",
    );
    assert_kind(
        backend.append(&missing, 0, messages(1..2)).await,
        ErrorKind::NotFound,
        "append to an unknown topic",
    );
    assert_kind(
        backend.partition_info(&missing, 0).await,
        ErrorKind::NotFound,
        "partition_info of an unknown topic",
    );

    let topic = ready(&*backend, 2).await;
    assert_kind(
        backend
            .poll(request(&topic, 2, PollFrom::Offset(0), 10))
            .await,
        ErrorKind::NotFound,
        "poll of partition 2 of 2",
    );
    assert_kind(
        backend.append(&topic, 2, messages(1..2)).await,
        ErrorKind::NotFound,
        "append to partition 2 of 2",
    );
    assert_kind(
        backend.partition_info(&topic, 7).await,
        ErrorKind::NotFound,
        "partition_info of partition 7 of 2",
    );
}

/// `delete_topic` removes the topic: it is no longer listed, every call naming
/// it is NotFound, a long poll waiting on it ends, and the name can be used
/// again for a fresh, empty topic.
pub async fn delete_topic_removes_it_and_polls_fail_not_found(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 2).await;
    let kept = TopicRef::new(topic.stream.clone(), "kept");
    backend.ensure_topic(&kept, 1).await.unwrap();
    append(&*backend, &topic, 0, 1..4).await;
    append(&*backend, &topic, 1, 4..5).await;
    append(&*backend, &kept, 0, 9..10).await;

    let waiting = backend.capabilities().long_poll.then(|| {
        let (backend, topic) = (backend.clone(), topic.clone());
        tokio::spawn(async move {
            backend
                .poll(PollRequest {
                    topic,
                    partition: 1,
                    from: PollFrom::Offset(1),
                    max_records: 10,
                    max_wait: LONG_POLL_WAIT,
                })
                .await
        })
    });
    // Give the poll time to start waiting (correct either way).
    tokio::time::sleep(Duration::from_millis(100)).await;

    backend
        .delete_topic(&topic)
        .await
        .unwrap_or_else(|e| panic!("delete_topic({topic}) failed: {e}"));

    if let Some(waiting) = waiting {
        let ended = tokio::time::timeout(LONG_POLL_WAIT / 2, waiting)
            .await
            .expect("a long poll on a deleted topic kept waiting")
            .expect("the polling task panicked");
        match ended {
            Ok(records) => assert!(
                records.is_empty(),
                "a long poll on a deleted topic returned records: {records:?}"
            ),
            Err(e) => assert_eq!(
                e.kind(),
                ErrorKind::NotFound,
                "a long poll on a deleted topic failed with {e}"
            ),
        }
    }

    assert_kind(
        backend.topic_info(&topic).await,
        ErrorKind::NotFound,
        "topic_info of a deleted topic",
    );
    for partition in 0..2 {
        assert_kind(
            backend
                .poll(request(&topic, partition, PollFrom::Offset(0), 10))
                .await,
            ErrorKind::NotFound,
            "poll of a deleted topic",
        );
    }
    assert_kind(
        backend.append(&topic, 0, messages(5..6)).await,
        ErrorKind::NotFound,
        "append to a deleted topic",
    );
    assert_kind(
        backend.partition_info(&topic, 0).await,
        ErrorKind::NotFound,
        "partition_info of a deleted topic",
    );
    let listed = backend.list_topics(&topic.stream).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.topic.clone()).collect::<Vec<_>>(),
        vec![kept.clone()],
        "only the other topic of the stream is listed after the delete"
    );
    assert_eq!(
        ids(&poll_all(&*backend, &kept, 0, 0).await),
        vec![9],
        "deleting a topic left the other topic of its stream alone"
    );

    // The name can be used again: a new, empty topic.
    let info = backend.ensure_topic(&topic, 1).await.unwrap();
    assert_eq!(info.partitions, 1);
    let fresh = backend.partition_info(&topic, 0).await.unwrap();
    assert_eq!(
        fresh.next_offset - fresh.first_offset,
        0,
        "a topic created again after a delete holds no records"
    );
    assert!(poll_all(&*backend, &topic, 0, 0).await.is_empty());
}

/// `delete_topic` of a topic that does not exist (in a known or an unknown
/// stream) is NotFound.
pub async fn delete_unknown_topic_is_not_found(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    assert_kind(
        backend.delete_topic(&fresh_topic("missing")).await,
        ErrorKind::NotFound,
        "delete_topic in an unknown stream",
    );
    let topic = ready(&*backend, 1).await;
    assert_kind(
        backend
            .delete_topic(&TopicRef::new(topic.stream.clone(), "missing"))
            .await,
        ErrorKind::NotFound,
        "delete_topic of an unknown topic in a known stream",
    );
    backend.delete_topic(&topic).await.unwrap();
    assert_kind(
        backend.delete_topic(&topic).await,
        ErrorKind::NotFound,
        "delete_topic of a topic deleted already",
    );
}

/// `add_partitions` appends empty partitions numbered after the existing ones;
/// the existing partitions keep their numbers and records.
pub async fn add_partitions_appends_empty_partitions_and_keeps_existing_data(
    backend: Arc<dyn Backend>,
) {
    let backend = checked(backend);
    let topic = ready(&*backend, 2).await;
    append(&*backend, &topic, 0, 1..4).await;
    append(&*backend, &topic, 1, 4..6).await;

    let info = backend
        .add_partitions(&topic, 2)
        .await
        .unwrap_or_else(|e| panic!("add_partitions({topic}, 2) failed: {e}"));
    assert_eq!(info.topic, topic);
    assert_eq!(info.partitions, 4, "add_partitions returns the new count");
    assert_eq!(backend.topic_info(&topic).await.unwrap().partitions, 4);
    let listed = backend.list_topics(&topic.stream).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.partitions).collect::<Vec<_>>(),
        vec![4],
        "list_topics shows the new count: {listed:?}"
    );

    for partition in 2..4 {
        let p = backend.partition_info(&topic, partition).await.unwrap();
        assert_eq!(
            p.next_offset - p.first_offset,
            0,
            "new partition {partition} is empty"
        );
        assert!(poll_all(&*backend, &topic, partition, 0).await.is_empty());
    }
    assert_eq!(ids(&poll_all(&*backend, &topic, 0, 0).await), vec![1, 2, 3]);
    assert_eq!(ids(&poll_all(&*backend, &topic, 1, 0).await), vec![4, 5]);

    assert_eq!(append(&*backend, &topic, 3, 10..12).await, 0);
    assert_eq!(append(&*backend, &topic, 0, 12..13).await, 3);
    let records = poll_all(&*backend, &topic, 3, 0).await;
    assert_eq!(offsets(&records), vec![0, 1]);
    assert_eq!(ids(&records), vec![10, 11]);
    assert_kind(
        backend.append(&topic, 4, messages(13..14)).await,
        ErrorKind::NotFound,
        "append to partition 4 of 4",
    );

    // Once more: numbering continues after the current count.
    assert_eq!(
        backend.add_partitions(&topic, 1).await.unwrap().partitions,
        5
    );
    assert_eq!(append(&*backend, &topic, 4, 20..21).await, 0);
    assert_eq!(ids(&poll_all(&*backend, &topic, 3, 0).await), vec![10, 11]);
}

/// `add_partitions` of zero partitions, or of more than
/// [`MAX_PARTITIONS`](rustok_iggy::MAX_PARTITIONS) in total, is InvalidInput
/// and changes nothing; of an unknown topic it is NotFound.
pub async fn add_partitions_rejects_zero_and_too_many(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 2).await;
    assert_kind(
        backend.add_partitions(&topic, 0).await,
        ErrorKind::InvalidInput,
        "add_partitions of 0",
    );
    assert_kind(
        backend
            .add_partitions(&topic, rustok_iggy::MAX_PARTITIONS - 1)
            .await,
        ErrorKind::InvalidInput,
        "add_partitions past MAX_PARTITIONS",
    );
    assert_kind(
        backend.add_partitions(&topic, u32::MAX).await,
        ErrorKind::InvalidInput,
        "add_partitions of u32::MAX",
    );
    assert_eq!(
        backend.topic_info(&topic).await.unwrap().partitions,
        2,
        "a rejected add_partitions changed the partition count"
    );
    assert_kind(
        backend.add_partitions(&fresh_topic("missing"), 1).await,
        ErrorKind::NotFound,
        "add_partitions of an unknown topic",
    );
}

/// Offsets are dense from 0 and continue across batches.
pub async fn append_returns_dense_offsets(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 1).await;
    assert_eq!(append(&*backend, &topic, 0, 1..4).await, 0);
    assert_eq!(append(&*backend, &topic, 0, 4..6).await, 3);
    assert_eq!(append(&*backend, &topic, 0, 6..7).await, 5);
    let records = poll_all(&*backend, &topic, 0, 0).await;
    assert_eq!(offsets(&records), (0..6).collect::<Vec<_>>());
    assert_eq!(
        ids(&records),
        (1..7).collect::<Vec<_>>(),
        "records are stored in append order"
    );
}

/// A poll from an offset returns records from exactly there, in order.
pub async fn poll_from_offset(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 1).await;
    append(&*backend, &topic, 0, 1..11).await;
    let records = poll(&*backend, request(&topic, 0, PollFrom::Offset(4), 100)).await;
    assert_eq!(offsets(&records), (4..10).collect::<Vec<_>>());
    assert_eq!(ids(&records), (5..11).collect::<Vec<_>>());
    let last = poll(&*backend, request(&topic, 0, PollFrom::Offset(9), 100)).await;
    assert_eq!(offsets(&last), vec![9]);
}

/// A poll at or beyond the next offset returns nothing (at once, with no wait
/// allowed).
pub async fn poll_beyond_end_is_empty(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 1).await;
    assert!(
        poll(&*backend, request(&topic, 0, PollFrom::Offset(0), 10))
            .await
            .is_empty(),
        "an empty partition returned records"
    );
    append(&*backend, &topic, 0, 1..4).await;
    for from in [3, 4, 1_000, u64::MAX] {
        let records = poll(&*backend, request(&topic, 0, PollFrom::Offset(from), 10)).await;
        assert!(
            records.is_empty(),
            "poll from {from} of 3 records returned {:?}",
            offsets(&records)
        );
    }
}

/// A poll below the partition's first offset starts at the first offset.
pub async fn poll_below_first_offset_starts_at_first(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 1).await;
    append(&*backend, &topic, 0, 1..6).await;
    let info = backend.partition_info(&topic, 0).await.unwrap();
    let records = poll(&*backend, request(&topic, 0, PollFrom::Offset(0), 100)).await;
    assert_eq!(records.first().map(|r| r.offset), Some(info.first_offset));
    if info.first_offset > 0 {
        let below = poll(
            &*backend,
            request(&topic, 0, PollFrom::Offset(info.first_offset - 1), 100),
        )
        .await;
        assert_eq!(below.first().map(|r| r.offset), Some(info.first_offset));
    }
}

/// `max_records` caps what a poll returns.
pub async fn poll_respects_max_records(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 1).await;
    append(&*backend, &topic, 0, 1..11).await;
    let first = poll(&*backend, request(&topic, 0, PollFrom::Offset(0), 4)).await;
    assert_eq!(offsets(&first), vec![0, 1, 2, 3]);
    let one = poll(&*backend, request(&topic, 0, PollFrom::Offset(5), 1)).await;
    assert_eq!(offsets(&one), vec![5]);
    let rest = poll(&*backend, request(&topic, 0, PollFrom::Offset(4), 100)).await;
    assert_eq!(offsets(&rest), (4..10).collect::<Vec<_>>());
}

/// Id, headers (including binary values) and payload bytes come back exactly
/// as appended.
pub async fn records_keep_id_headers_and_payload(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 1).await;
    let big: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut headers = Headers::new();
    headers.insert("event-type", "conformance.check").unwrap();
    headers.insert("unicode", "снег ☃").unwrap();
    headers.insert("bytes", [0xff, 0x00, 0xfe, 0x80]).unwrap();
    let sent = vec![
        Message {
            origin_timestamp_micros: None,
            id: u128::MAX,
            headers: headers.clone(),
            payload: Bytes::from(big),
        },
        Message {
            origin_timestamp_micros: None,
            id: 1,
            headers: Headers::new(),
            payload: Bytes::from_static(b"x"),
        },
        Message {
            origin_timestamp_micros: None,
            id: 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            headers,
            payload: Bytes::from_static(&[0, 1, 2, 0xff]),
        },
        Message {
            // Within an Iggy batch's span of the others' (a remote server
            // stamps the ones without).
            origin_timestamp_micros: Some(now_micros() - 1_000_000),
            ..test_message(42)
        },
    ];
    backend.append(&topic, 0, sent.clone()).await.unwrap();
    let records = poll_all(&*backend, &topic, 0, 0).await;
    let got: Vec<Message> = records
        .into_iter()
        .zip(&sent)
        .map(|(r, sent)| Message {
            // A message sent without an origin timestamp may come back with
            // the one its backend gave it (an Iggy server stamps each).
            origin_timestamp_micros: sent
                .origin_timestamp_micros
                .and(r.message.origin_timestamp_micros),
            ..r.message
        })
        .collect();
    assert_eq!(got, sent);
}

/// Each partition has its own offsets from 0 and its own records.
pub async fn partitions_are_independent(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 3).await;
    assert_eq!(append(&*backend, &topic, 0, 1..3).await, 0);
    assert_eq!(append(&*backend, &topic, 2, 10..15).await, 0);
    assert_eq!(append(&*backend, &topic, 0, 3..4).await, 2);
    assert_eq!(ids(&poll_all(&*backend, &topic, 0, 0).await), vec![1, 2, 3]);
    assert!(poll_all(&*backend, &topic, 1, 0).await.is_empty());
    assert_eq!(
        ids(&poll_all(&*backend, &topic, 2, 0).await),
        (10..15).collect::<Vec<_>>()
    );
    assert_eq!(
        backend.partition_info(&topic, 1).await.unwrap().next_offset,
        0
    );
    assert_eq!(
        backend.partition_info(&topic, 2).await.unwrap().next_offset,
        5
    );
}

/// `partition_info` reports first and next offsets as records are appended.
pub async fn partition_info_tracks_first_and_next(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 2).await;
    let empty = backend.partition_info(&topic, 1).await.unwrap();
    assert_eq!((empty.first_offset, empty.next_offset), (0, 0));
    append(&*backend, &topic, 1, 1..4).await;
    let info = backend.partition_info(&topic, 1).await.unwrap();
    assert_eq!((info.first_offset, info.next_offset), (0, 3));
    append(&*backend, &topic, 1, 4..6).await;
    assert_eq!(
        backend.partition_info(&topic, 1).await.unwrap().next_offset,
        5
    );
    assert_eq!(
        backend.partition_info(&topic, 0).await.unwrap().next_offset,
        0
    );
}

/// `flush` (with and without `fsync`) keeps every record readable where it
/// was, and an unknown topic or partition is NotFound. A backend whose server
/// has no on-demand flush (Apache Iggy 0.9 answers `FeatureUnavailable`)
/// says so with `Unsupported`.
pub async fn flush_keeps_records_and_checks_the_partition(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 2).await;
    append(&*backend, &topic, 1, 1..4).await;
    match backend.flush(&topic, 1, false).await {
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            assert_eq!(ids(&poll_all(&*backend, &topic, 1, 0).await), vec![1, 2, 3]);
            return;
        }
        other => other.unwrap(),
    }
    backend.flush(&topic, 1, true).await.unwrap();
    backend.flush(&topic, 0, true).await.unwrap();
    assert_eq!(ids(&poll_all(&*backend, &topic, 1, 0).await), vec![1, 2, 3]);
    let unknown = TopicRef::new(topic.stream.clone(), "no-such-topic");
    assert_kind(
        backend.flush(&topic, 2, true).await,
        ErrorKind::NotFound,
        "flush of partition 2",
    );
    assert_kind(
        backend.flush(&unknown, 0, true).await,
        ErrorKind::NotFound,
        "flush of an unknown topic",
    );
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Record timestamps are microseconds since the Unix epoch (near now: within
/// an hour, which catches milli- and nanosecond mix-ups) and never decrease
/// along a partition.
pub async fn timestamps_are_microseconds_and_non_decreasing(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    const HOUR: u64 = 3_600_000_000;
    let topic = ready(&*backend, 1).await;
    let before = now_micros();
    append(&*backend, &topic, 0, 1..4).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    append(&*backend, &topic, 0, 4..6).await;
    let after = now_micros();
    let records = poll_all(&*backend, &topic, 0, 0).await;
    assert_eq!(records.len(), 5);
    for r in &records {
        assert!(
            r.timestamp_micros + HOUR >= before && r.timestamp_micros <= after + HOUR,
            "timestamp {} of offset {} is not microseconds near now ({before}..{after})",
            r.timestamp_micros,
            r.offset
        );
    }
    for pair in records.windows(2) {
        assert!(
            pair[0].timestamp_micros <= pair[1].timestamp_micros,
            "timestamps decrease at offset {}",
            pair[1].offset
        );
    }
}

/// (If `poll_by_timestamp`.) A poll from a timestamp starts at the first
/// record stored at or after it.
pub async fn poll_by_timestamp(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    if !backend.capabilities().poll_by_timestamp {
        return skip(
            "poll_by_timestamp",
            "the backend does not claim poll_by_timestamp",
        );
    }
    let topic = ready(&*backend, 1).await;
    append(&*backend, &topic, 0, 1..4).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    append(&*backend, &topic, 0, 4..7).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    append(&*backend, &topic, 0, 7..9).await;
    let all = poll_all(&*backend, &topic, 0, 0).await;
    assert_eq!(all.len(), 8);
    for probe in &all {
        let ts = probe.timestamp_micros;
        let expected: Vec<u64> = all
            .iter()
            .filter(|r| r.timestamp_micros >= ts)
            .map(|r| r.offset)
            .collect();
        let got = poll(&*backend, request(&topic, 0, PollFrom::Timestamp(ts), 100)).await;
        assert_eq!(offsets(&got), expected, "poll from timestamp {ts}");
    }
    let from_zero = poll(&*backend, request(&topic, 0, PollFrom::Timestamp(0), 100)).await;
    assert_eq!(offsets(&from_zero), offsets(&all));
    let limited = poll(&*backend, request(&topic, 0, PollFrom::Timestamp(0), 2)).await;
    assert_eq!(offsets(&limited), vec![0, 1]);
    let last = all.last().map(|r| r.timestamp_micros).unwrap_or(0);
    let after = poll(
        &*backend,
        request(&topic, 0, PollFrom::Timestamp(last + 1), 100),
    )
    .await;
    assert!(
        after.is_empty(),
        "poll after the last timestamp returned {:?}",
        offsets(&after)
    );
}

/// (If `long_poll`.) A poll waiting for data returns the record appended while
/// it waits, instead of waiting out its `max_wait` ([`LONG_POLL_WAIT`]).
pub async fn long_poll_wakes_on_append(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    if !backend.capabilities().long_poll {
        return skip(
            "long_poll_wakes_on_append",
            "the backend does not claim long_poll",
        );
    }
    let topic = ready(&*backend, 1).await;
    append(&*backend, &topic, 0, 1..2).await;
    let waiting = tokio::spawn({
        let (backend, topic) = (backend.clone(), topic.clone());
        async move {
            backend
                .poll(PollRequest {
                    topic,
                    partition: 0,
                    from: PollFrom::Offset(1),
                    max_records: 10,
                    max_wait: LONG_POLL_WAIT,
                })
                .await
        }
    });
    // Give the poll time to start waiting (correct either way).
    tokio::time::sleep(Duration::from_millis(100)).await;
    append(&*backend, &topic, 0, 7..8).await;
    let records = waiting
        .await
        .expect("the polling task panicked")
        .expect("the long poll failed");
    assert_eq!(
        records
            .iter()
            .map(|r| (r.offset, r.message.id))
            .collect::<Vec<_>>(),
        vec![(1, 7)],
        "the long poll did not return the record appended while it waited"
    );
}

/// Appends from several tasks at once to one partition get disjoint, dense
/// offset ranges, and every task's records keep their order.
pub async fn concurrent_appends_get_dense_unique_offsets(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    const TASKS: u128 = 8;
    const APPENDS: u128 = 20;
    const BATCH: u128 = 3;
    let topic = ready(&*backend, 1).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (backend, topic) = (backend.clone(), topic.clone());
            tokio::spawn(async move {
                let mut acks = Vec::new();
                for a in 0..APPENDS {
                    let first = 1 + t * 1_000_000 + a * BATCH;
                    let ack = backend
                        .append(&topic, 0, messages(first..first + BATCH))
                        .await
                        .unwrap();
                    assert_eq!(u128::from(ack.count), BATCH);
                    acks.push(ack.first_offset);
                }
                acks
            })
        })
        .collect();
    let mut covered = BTreeSet::new();
    for task in tasks {
        for first in task.await.expect("an appending task panicked") {
            for offset in first..first + BATCH as u64 {
                assert!(covered.insert(offset), "offset {offset} was given twice");
            }
        }
    }
    let total = (TASKS * APPENDS * BATCH) as u64;
    assert_eq!(
        covered,
        (0..total).collect::<BTreeSet<_>>(),
        "offsets are not dense"
    );
    let records = poll_all(&*backend, &topic, 0, 0).await;
    assert_eq!(offsets(&records), (0..total).collect::<Vec<_>>());
    let unique_ids: BTreeSet<u128> = ids(&records).into_iter().collect();
    assert_eq!(
        unique_ids.len() as u64,
        total,
        "records were lost or duplicated"
    );
    let mut per_task: BTreeMap<u128, Vec<u128>> = BTreeMap::new();
    for id in ids(&records) {
        per_task.entry((id - 1) / 1_000_000).or_default().push(id);
    }
    for (task, ids) in per_task {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "task {task}'s records are out of order"
        );
    }
}

/// What each member of a group holds: partition → the generation of the
/// sync that first granted it (what its [`Fence`] carries).
type Held = BTreeMap<MemberId, BTreeMap<u32, u64>>;

/// The partitions of one member, ascending.
fn partitions_of(held: &Held, member: MemberId) -> Vec<u32> {
    held.get(&member)
        .map(|p| p.keys().copied().collect())
        .unwrap_or_default()
}

/// Syncs every member in turn until every partition is held by one of them
/// (at most 10 rounds), each reporting what it was granted last (the way a
/// subscription does). With `cooperative_rebalance`, checks after every sync
/// that no partition is held by two members.
async fn settle(
    backend: &dyn Backend,
    topic: &TopicRef,
    group: &str,
    held: &mut Held,
    partitions: u32,
) {
    let cooperative = backend.capabilities().cooperative_rebalance;
    for _round in 0..10 {
        let members: Vec<MemberId> = held.keys().copied().collect();
        for member in members {
            let holding = partitions_of(held, member);
            let assignment = backend
                .sync_group(topic, group, member, holding)
                .await
                .unwrap_or_else(|e| panic!("sync_group of member {} failed: {e}", member.0));
            let before = held.remove(&member).unwrap_or_default();
            let now = assignment
                .partitions
                .iter()
                .map(|p| (*p, before.get(p).copied().unwrap_or(assignment.generation)))
                .collect();
            held.insert(member, now);
            if cooperative {
                let mut seen = BTreeSet::new();
                for (m, partitions) in held.iter() {
                    for p in partitions.keys() {
                        assert!(
                            seen.insert(*p),
                            "partition {p} is granted to member {} while another holds it",
                            m.0
                        );
                    }
                }
            }
        }
        let mut all: Vec<u32> = held.values().flat_map(|p| p.keys().copied()).collect();
        all.sort_unstable();
        if all == (0..partitions).collect::<Vec<_>>() {
            return;
        }
    }
    panic!("the group did not settle in 10 sync rounds: {held:?}");
}

/// With two members, after a few sync rounds every partition is held by
/// exactly one of them, and both get some.
pub async fn group_members_share_partitions(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 4).await;
    let group = unique("group");
    let a = backend.join_group(&topic, &group).await.unwrap();
    let b = backend.join_group(&topic, &group).await.unwrap();
    assert_ne!(a, b, "two joins returned one member id");
    let mut held = Held::from([(a, BTreeMap::new()), (b, BTreeMap::new())]);
    settle(&*backend, &topic, &group, &mut held, 4).await;
    assert!(
        held.values().all(|p| !p.is_empty()),
        "one member got nothing: {held:?}"
    );
    // Settled: another round changes nothing.
    let before = held.clone();
    settle(&*backend, &topic, &group, &mut held, 4).await;
    assert_eq!(held, before, "a settled group kept rebalancing");
    backend.leave_group(&topic, &group, a).await.unwrap();
    backend.leave_group(&topic, &group, b).await.unwrap();
}

/// When a member leaves, the remaining one gets its partitions, and the one
/// that left is no longer a member.
pub async fn group_leave_hands_partitions_over(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 4).await;
    let group = unique("group");
    let a = backend.join_group(&topic, &group).await.unwrap();
    let b = backend.join_group(&topic, &group).await.unwrap();
    let mut held = Held::from([(a, BTreeMap::new()), (b, BTreeMap::new())]);
    settle(&*backend, &topic, &group, &mut held, 4).await;
    backend.leave_group(&topic, &group, a).await.unwrap();
    held.remove(&a);
    settle(&*backend, &topic, &group, &mut held, 4).await;
    assert_eq!(partitions_of(&held, b), vec![0, 1, 2, 3]);
    assert_kind(
        backend.sync_group(&topic, &group, a, Vec::new()).await,
        ErrorKind::NotFound,
        "sync_group of a member that left",
    );
    backend.leave_group(&topic, &group, b).await.unwrap();
}

/// Offset commits are fenced: a member commits a partition it owns; once a
/// rebalance gave the partition to another member, or the member left, its
/// commit (a zombie's) is refused with `Fenced` and changes nothing, while
/// the new owner's commit is stored. Runs on the backend's own offset store,
/// or an in-memory one for a backend without one.
pub async fn commits_are_fenced_to_the_partition_owner(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let store = backend
        .offset_store()
        .unwrap_or_else(|| Arc::new(crate::MemoryOffsetStore::default()));
    let topic = ready(&*backend, 2).await;
    // Iggy takes an offset only within the partition's records.
    for partition in 0..2 {
        append(&*backend, &topic, partition, 1..11).await;
    }
    let group = unique("group");
    let commit = |member: MemberId, held: &Held, partition: u32, next: u64| {
        let generation = held
            .get(&member)
            .and_then(|p| p.get(&partition))
            .copied()
            .unwrap_or_else(|| panic!("member {} does not hold {partition}: {held:?}", member.0));
        let (backend, store, topic, group) = (&backend, &store, &topic, &group);
        async move {
            backend
                .commit_offset(
                    store,
                    topic,
                    group,
                    partition,
                    Fence::new(member, generation),
                    next,
                )
                .await
        }
    };
    let a = backend.join_group(&topic, &group).await.unwrap();
    let mut held = Held::from([(a, BTreeMap::new())]);
    settle(&*backend, &topic, &group, &mut held, 2).await;
    let alone = held.clone();
    for partition in 0..2 {
        commit(a, &alone, partition, 5)
            .await
            .unwrap_or_else(|e| panic!("the owner's commit of {partition} failed: {e}"));
    }
    assert_eq!(store.load(&group, &topic, 0).await.unwrap(), Some(5));

    // A second member joins: one partition moves to it.
    let b = backend.join_group(&topic, &group).await.unwrap();
    held.insert(b, BTreeMap::new());
    settle(&*backend, &topic, &group, &mut held, 2).await;
    let moved = *partitions_of(&held, b)
        .first()
        .unwrap_or_else(|| panic!("the second member got no partition: {held:?}"));
    let kept = 1 - moved;
    assert_eq!(partitions_of(&held, a), vec![kept]);
    assert_kind(
        commit(a, &alone, moved, 7).await,
        ErrorKind::Fenced,
        "a commit of a partition that moved to another member",
    );
    assert_eq!(
        store.load(&group, &topic, moved).await.unwrap(),
        Some(5),
        "a refused commit changed the offset"
    );
    commit(b, &held, moved, 6)
        .await
        .unwrap_or_else(|e| panic!("the new owner's commit failed: {e}"));
    assert_eq!(store.load(&group, &topic, moved).await.unwrap(), Some(6));
    commit(a, &held, kept, 8)
        .await
        .unwrap_or_else(|e| panic!("a commit of a partition the member kept failed: {e}"));

    // A member that left is fenced from every partition; so is a stranger.
    backend.leave_group(&topic, &group, a).await.unwrap();
    assert_kind(
        commit(a, &held, kept, 9).await,
        ErrorKind::Fenced,
        "a commit of a member that left",
    );
    assert_eq!(store.load(&group, &topic, kept).await.unwrap(), Some(8));
    let stranger = MemberId(b.0.wrapping_add(1_000_003));
    assert_kind(
        backend
            .commit_offset(&store, &topic, &group, moved, Fence::new(stranger, 0), 9)
            .await,
        ErrorKind::Fenced,
        "a commit of an unknown member",
    );
    backend.leave_group(&topic, &group, b).await.unwrap();
}

/// `sync_group` of a member the backend does not know is `NotFound` (a
/// subscription rejoins on it).
pub async fn sync_of_unknown_member_is_not_found(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 2).await;
    let group = unique("group");
    let member = backend.join_group(&topic, &group).await.unwrap();
    let stranger = MemberId(member.0.wrapping_add(1_000_003));
    assert_kind(
        backend
            .sync_group(&topic, &group, stranger, Vec::new())
            .await,
        ErrorKind::NotFound,
        "sync_group of an unknown member",
    );
    backend.leave_group(&topic, &group, member).await.unwrap();
}

/// A long poll waiting at `shutdown` ends with `Closed`, and after it every
/// operation fails with `Closed` and health is no
/// longer healthy.
pub async fn shutdown_closes(backend: Arc<dyn Backend>) {
    let backend = checked(backend);
    let topic = ready(&*backend, 1).await;
    append(&*backend, &topic, 0, 1..2).await;
    let health = backend.health().await;
    assert!(
        !matches!(health, rustok_iggy::HealthStatus::Unhealthy(_)),
        "unhealthy before shutdown: {health:?}"
    );
    // A long poll waiting when the backend shuts down ends with `Closed`
    // (one that timed out would return nothing instead).
    let waiting = backend.capabilities().long_poll.then(|| {
        let (backend, topic) = (backend.clone(), topic.clone());
        tokio::spawn(async move {
            let mut waiting = request(&topic, 0, PollFrom::Offset(1), 10);
            waiting.max_wait = LONG_POLL_WAIT;
            backend.poll(waiting).await
        })
    });
    // Let the poll start waiting before the shutdown.
    tokio::time::sleep(Duration::from_millis(50)).await;
    backend.shutdown().await.unwrap();
    if let Some(waiting) = waiting {
        assert_kind(
            waiting.await.expect("the waiting poll panicked"),
            ErrorKind::Closed,
            "a long poll waiting at shutdown",
        );
    }
    assert_kind(
        backend.ensure_topic(&topic, 1).await,
        ErrorKind::Closed,
        "ensure_topic after shutdown",
    );
    assert_kind(
        backend.topic_info(&topic).await,
        ErrorKind::Closed,
        "topic_info after shutdown",
    );
    assert_kind(
        backend.list_topics(&topic.stream).await,
        ErrorKind::Closed,
        "list_topics after shutdown",
    );
    assert_kind(
        backend.append(&topic, 0, messages(2..3)).await,
        ErrorKind::Closed,
        "append after shutdown",
    );
    assert_kind(
        backend
            .poll(request(&topic, 0, PollFrom::Offset(0), 10))
            .await,
        ErrorKind::Closed,
        "poll after shutdown",
    );
    assert_kind(
        backend.partition_info(&topic, 0).await,
        ErrorKind::Closed,
        "partition_info after shutdown",
    );
    assert_kind(
        backend.join_group(&topic, "g").await,
        ErrorKind::Closed,
        "join_group after shutdown",
    );
    let health = backend.health().await;
    assert!(!health.is_healthy(), "healthy after shutdown");
}
