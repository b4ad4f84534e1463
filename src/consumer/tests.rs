//! The runtime's failure policy, checked against mocks: what is committed when,
//! and what goes to the DLQ.

use std::sync::{
    atomic::{AtomicU32, AtomicUsize, Ordering},
    Arc,
};

use bytes::Bytes;
use mockall::Sequence;
use uuid::Uuid;

use crate::{
    mocks::{MockBackend, MockDlqStore, MockOffsetStore},
    wire, Assignment, BackendCapabilities, Codec, CodecCapabilities, ConsumerConfig, DecodeSink,
    Delivery, Error, ErrorKind, EventEnvelope, Handler, HandlerError, MemberId, Message, PollFrom,
    Record, RetryConfig, TopicInfo, Transport,
};

/// JSON, enough to decode test payloads (the real codecs live in their crate).
struct TestJson;

impl Codec for TestJson {
    fn name(&self) -> &str {
        "json"
    }
    fn capabilities(&self) -> CodecCapabilities {
        CodecCapabilities::new(true)
    }
    fn encode(&self, value: &dyn erased_serde::Serialize) -> crate::Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))
    }
    fn decode(&self, bytes: &[u8], sink: &mut dyn DecodeSink) -> crate::Result<()> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        sink.deserialize(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
            .map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))
    }
}

fn record(offset: u64, value: u32) -> Record {
    let envelope = EventEnvelope::builder("test.value", Uuid::now_v7(), value)
        .build()
        .unwrap();
    Record {
        offset,
        timestamp_micros: 0,
        message: wire::envelope_message(&envelope, "json", Bytes::from(value.to_string())).unwrap(),
    }
}

fn poison(offset: u64) -> Record {
    Record {
        offset,
        timestamp_micros: 0,
        message: Message {
            origin_timestamp_micros: None,
            id: 99,
            headers: Default::default(),
            payload: Bytes::from_static(b"\xff\x00garbage"),
        },
    }
}

/// A one-partition backend with no poll expectation yet.
fn one_partition_backend() -> MockBackend {
    let mut b = MockBackend::new();
    b.expect_name().return_const("mock".to_owned());
    b.expect_capabilities()
        .return_const(BackendCapabilities::default());
    b.expect_ensure_topic().returning(|t, p| {
        Ok(TopicInfo {
            topic: t.clone(),
            partitions: p,
        })
    });
    b.expect_topic_info().returning(|t| {
        Ok(TopicInfo {
            topic: t.clone(),
            partitions: 1,
        })
    });
    b.expect_join_group().returning(|_, _| Ok(MemberId(1)));
    b.expect_sync_group().returning(|_, _, _, _| {
        Ok(Assignment {
            generation: 1,
            partitions: vec![0],
        })
    });
    b.expect_leave_group().returning(|_, _, _| Ok(()));
    b
}

/// [`one_partition_backend`] whose fenced commits are always accepted and
/// go to the transport's offset store (a mock answers at once, so waiting
/// for it inside the mock's answer is fine).
fn accepting_backend() -> MockBackend {
    let mut b = one_partition_backend();
    b.expect_commit_offset()
        .returning(|store, topic, group, partition, _, next| {
            futures::executor::block_on(store.commit(group, topic, partition, next))
        });
    b
}

/// A one-partition backend whose first poll returns `records`, later polls none.
fn backend(records: Vec<Record>) -> MockBackend {
    let mut b = accepting_backend();
    let polls = AtomicUsize::new(0);
    b.expect_poll().returning(move |_| {
        Ok(if polls.fetch_add(1, Ordering::SeqCst) == 0 {
            records.clone()
        } else {
            Vec::new()
        })
    });
    b
}

fn config(max_attempts: u32) -> ConsumerConfig {
    ConsumerConfig {
        poll_wait_ms: 5,
        heartbeat_ms: 5,
        retry: RetryConfig {
            max_attempts,
            initial_backoff_ms: 1,
            max_backoff_ms: 2,
            ..RetryConfig::default()
        },
        ..ConsumerConfig::default()
    }
}

/// Fails the first `failures` attempts of every message, permanently if asked.
struct Flaky {
    failures: u32,
    permanent: bool,
    calls: AtomicU32,
}

#[async_trait::async_trait]
impl Handler<u32> for Flaky {
    async fn handle(&self, _: EventEnvelope<u32>, d: &Delivery) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match (d.attempt <= self.failures, self.permanent) {
            (false, _) => Ok(()),
            (true, false) => Err(HandlerError::transient("try again")),
            (true, true) => Err(HandlerError::permanent("never")),
        }
    }
}

fn flaky(failures: u32, permanent: bool) -> Arc<Flaky> {
    Arc::new(Flaky {
        failures,
        permanent,
        calls: AtomicU32::new(0),
    })
}

async fn run(
    backend: MockBackend,
    offsets: MockOffsetStore,
    dlq: MockDlqStore,
    handler: Arc<Flaky>,
    max_attempts: u32,
    until: impl Fn(&crate::SubscriptionStats) -> bool,
) -> crate::SubscriptionStats {
    let transport = Transport::builder(Arc::new(backend), Arc::new(TestJson))
        .offsets(Arc::new(offsets))
        .dlq(Arc::new(dlq))
        .consumer(config(max_attempts))
        .build()
        .await
        .unwrap();
    let subscription = transport
        .subscribe("g", &["events"], handler)
        .await
        .unwrap();
    wait_for(|| until(&subscription.stats())).await;
    let stats = subscription.stats();
    assert!(subscription.shutdown().await.unwrap().is_clean());
    stats
}

/// Waits until `done`, in 10,000 rounds of 2 ms: a hang guard, not a time
/// limit (the assertions after it say what was expected).
async fn wait_for(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// A transport over `backend` and `offsets`, with a DLQ that expects nothing.
async fn transport_on(
    backend: MockBackend,
    offsets: Arc<dyn crate::OffsetStore>,
    consumer: ConsumerConfig,
) -> Transport {
    Transport::builder(Arc::new(backend), Arc::new(TestJson))
        .offsets(offsets)
        .dlq(Arc::new(MockDlqStore::new()))
        .consumer(consumer)
        .build()
        .await
        .unwrap()
}

fn offsets_starting_at(start: Option<u64>) -> MockOffsetStore {
    let mut o = MockOffsetStore::new();
    o.expect_load().returning(move |_, _, _| Ok(start));
    o
}

#[tokio::test]
async fn poison_goes_to_the_dlq_before_its_offset_is_committed() {
    let mut seq = Sequence::new();
    let mut dlq = MockDlqStore::new();
    dlq.expect_put()
        .withf(|l| l.offset == 5 && l.error.contains("undecodable") && l.attempts == 1)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(1));
    let mut offsets = offsets_starting_at(Some(5));
    offsets
        .expect_commit()
        .withf(|_, _, partition, next| *partition == 0 && *next == 7)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, _| Ok(()));
    let handler = flaky(0, false);
    let stats = run(
        backend(vec![poison(5), record(6, 1)]),
        offsets,
        dlq,
        handler.clone(),
        3,
        |s| s.handled == 1 && s.dead_lettered == 1,
    )
    .await;
    assert_eq!((stats.handled, stats.dead_lettered), (1, 1));
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        1,
        "poison never reaches the handler"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_in_place_without_the_dlq() {
    let mut offsets = offsets_starting_at(None);
    offsets
        .expect_commit()
        .withf(|_, _, _, next| *next == 2)
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    // No DLQ expectation: a put would fail the test.
    let handler = flaky(2, false);
    let stats = run(
        backend(vec![record(0, 1), record(1, 2)]),
        offsets,
        MockDlqStore::new(),
        handler.clone(),
        5,
        |s| s.handled == 2,
    )
    .await;
    assert_eq!(
        (stats.handled, stats.retries, stats.dead_lettered),
        (2, 4, 0)
    );
    assert_eq!(handler.calls.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn exhausted_and_permanent_failures_are_dead_lettered_with_their_attempts() {
    for (permanent, expected_attempts) in [(false, 3), (true, 1)] {
        let mut dlq = MockDlqStore::new();
        dlq.expect_put()
            .withf(move |l| l.attempts == expected_attempts && l.first_failure <= l.last_failure)
            .times(1)
            .returning(|_| Ok(1));
        let mut offsets = offsets_starting_at(None);
        offsets
            .expect_commit()
            .withf(|_, _, _, next| *next == 1)
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let stats = run(
            backend(vec![record(0, 1)]),
            offsets,
            dlq,
            flaky(u32::MAX, permanent),
            3,
            |s| s.dead_lettered == 1,
        )
        .await;
        assert_eq!(stats.dead_lettered, 1, "permanent: {permanent}");
        assert_eq!(stats.handled, 0);
    }
}

#[tokio::test]
async fn the_partition_waits_while_the_dlq_is_down_and_commits_after() {
    let mut seq = Sequence::new();
    let mut dlq = MockDlqStore::new();
    dlq.expect_put()
        .times(2)
        .in_sequence(&mut seq)
        .returning(|_| Err(Error::new(ErrorKind::Unavailable, "dlq down")));
    dlq.expect_put()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(7));
    let mut offsets = offsets_starting_at(None);
    offsets
        .expect_commit()
        .withf(|_, _, _, next| *next == 1)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, _| Ok(()));
    let stats = run(
        backend(vec![record(0, 1)]),
        offsets,
        dlq,
        flaky(u32::MAX, true),
        1,
        |s| s.dead_lettered == 1,
    )
    .await;
    assert_eq!(stats.dead_lettered, 1);
}

/// On a backend without long polling, the pause after an empty poll starts at
/// 1 ms and doubles up to `poll_wait_ms`; data resets it. (Virtual time: the
/// runtime's clock is paused and jumps from timer to timer, so the gaps are
/// exact and nothing depends on the machine's speed.)
#[tokio::test(start_paused = true)]
async fn empty_polls_back_off_from_a_millisecond_to_poll_wait_and_data_resets_it() {
    use std::sync::Mutex;
    use tokio::time::Instant;

    let polled_at = Arc::new(Mutex::new(Vec::<Instant>::new()));
    // Records when each poll came; one record on the 11th.
    let mut b = accepting_backend();
    let times = polled_at.clone();
    b.expect_poll().returning(move |_| {
        let mut times = times.lock().unwrap();
        times.push(Instant::now());
        Ok(if times.len() == 11 {
            vec![record(0, 1)]
        } else {
            Vec::new()
        })
    });
    let mut offsets = offsets_starting_at(None);
    offsets.expect_commit().returning(|_, _, _, _| Ok(()));
    let transport = transport_on(
        b,
        Arc::new(offsets),
        ConsumerConfig {
            poll_wait_ms: 100,
            ..config(1)
        },
    )
    .await;
    let subscription = transport
        .subscribe("g", &["events"], flaky(0, false))
        .await
        .unwrap();
    while polled_at.lock().unwrap().len() < 14 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(subscription.shutdown().await.unwrap().is_clean());
    let times = polled_at.lock().unwrap().clone();
    let gaps: Vec<u128> = times
        .windows(2)
        .take(13)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    assert_eq!(
        gaps,
        [1, 2, 4, 8, 16, 32, 64, 100, 100, 100, 0, 1, 2],
        "pauses between polls, in ms"
    );
}

/// A group starting at the end commits that position before its first poll,
/// so a restart before its first batch is committed starts there again.
#[tokio::test]
async fn a_group_starting_at_the_end_commits_its_start_before_polling() {
    use std::sync::Mutex;

    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut b = accepting_backend();
    b.expect_partition_info().returning(|_, _| {
        Ok(crate::PartitionInfo {
            first_offset: 0,
            next_offset: 500,
            storage: None,
        })
    });
    let log = calls.clone();
    b.expect_poll().returning(move |request| {
        log.lock().unwrap().push(format!("poll {:?}", request.from));
        Ok(Vec::new())
    });
    let mut offsets = offsets_starting_at(None);
    let log = calls.clone();
    offsets.expect_commit().returning(move |_, _, _, next| {
        log.lock().unwrap().push(format!("commit {next}"));
        Ok(())
    });
    let transport = transport_on(
        b,
        Arc::new(offsets),
        ConsumerConfig {
            start_from: crate::StartFrom::Latest,
            ..config(1)
        },
    )
    .await;
    let subscription = transport
        .subscribe("g", &["events"], flaky(0, false))
        .await
        .unwrap();
    wait_for(|| calls.lock().unwrap().iter().any(|c| c.starts_with("poll"))).await;
    assert!(subscription.shutdown().await.unwrap().is_clean());
    let calls = calls.lock().unwrap();
    assert_eq!(
        calls[..2],
        ["commit 500".to_owned(), "poll Offset(500)".to_owned()],
        "{calls:?}"
    );
}

/// After a full batch, the next one is polled while the batch is handled
/// (read-ahead), and delivery stays in offset order. The handler of offset 0
/// waits until the poll from offset 2 reached the backend: without the
/// read-ahead that poll comes only after the handler returns. (Virtual time:
/// the waits are rounds of the paused clock, not a time limit.)
#[tokio::test(start_paused = true)]
async fn the_batch_after_a_full_one_is_polled_while_it_is_handled() {
    use std::sync::{atomic::AtomicBool, Mutex};

    struct WaitsForReadAhead {
        polled_ahead: Arc<AtomicBool>,
        seen: Mutex<Vec<(u64, bool)>>,
    }
    #[async_trait::async_trait]
    impl Handler<u32> for WaitsForReadAhead {
        async fn handle(&self, _: EventEnvelope<u32>, d: &Delivery) -> Result<(), HandlerError> {
            if d.offset == 0 {
                for _ in 0..1_000 {
                    if self.polled_ahead.load(Ordering::SeqCst) {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            let ahead = self.polled_ahead.load(Ordering::SeqCst);
            self.seen.lock().unwrap().push((d.offset, ahead));
            Ok(())
        }
    }

    let polled_ahead = Arc::new(AtomicBool::new(false));
    let mut b = accepting_backend();
    let flag = polled_ahead.clone();
    b.expect_poll().returning(move |request| {
        Ok(match request.from {
            PollFrom::Offset(0) => vec![record(0, 1), record(1, 2)],
            PollFrom::Offset(2) => {
                flag.store(true, Ordering::SeqCst);
                vec![record(2, 3)]
            }
            _ => Vec::new(),
        })
    });
    let mut offsets = offsets_starting_at(None);
    offsets.expect_commit().returning(|_, _, _, _| Ok(()));
    let transport = transport_on(
        b,
        Arc::new(offsets),
        ConsumerConfig {
            poll_batch: 2,
            ..config(1)
        },
    )
    .await;
    let handler = Arc::new(WaitsForReadAhead {
        polled_ahead: polled_ahead.clone(),
        seen: Mutex::new(Vec::new()),
    });
    let subscription = transport
        .subscribe("g", &["events"], handler.clone())
        .await
        .unwrap();
    wait_for(|| subscription.stats().handled == 3).await;
    assert!(subscription.shutdown().await.unwrap().is_clean());
    assert_eq!(
        *handler.seen.lock().unwrap(),
        [(0, true), (1, true), (2, true)],
        "(offset, whether the next batch had been polled) per delivery"
    );
}

/// A commit refused as fenced (the partition moved to another member) stops
/// the partition: nothing more is committed, not even on the way out, and
/// the next sync starts it afresh from the store's position.
#[tokio::test]
async fn a_fenced_commit_stops_the_partition_without_committing_more() {
    let mut b = one_partition_backend();
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    b.expect_poll().returning(move |_| {
        Ok(if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            (0..4).map(|o| record(o, o as u32)).collect()
        } else {
            Vec::new()
        })
    });
    let fenced = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = fenced.clone();
    b.expect_commit_offset()
        .returning(move |_, topic, group, partition, fence, next| {
            seen.lock().unwrap().push((fence, next));
            Err(fence.refused(topic, group, partition, "moved"))
        });
    let mut offsets = offsets_starting_at(None);
    offsets.expect_commit().never();
    let handler = flaky(0, false);
    let transport = transport_on(b, Arc::new(offsets), config(1)).await;
    let subscription = transport
        .subscribe("g", &["events"], handler.clone())
        .await
        .unwrap();
    // Fenced once, then the worker is started again by a later sync and
    // polls (an empty partition: nothing to commit).
    wait_for(|| polls.load(Ordering::SeqCst) >= 3).await;
    let stats = subscription.stats();
    assert!(subscription.shutdown().await.unwrap().is_clean());
    assert_eq!(stats.handled, 4);
    assert_eq!(stats.commit_failures, 1);
    assert_eq!(
        *fenced.lock().unwrap(),
        vec![(crate::Fence::new(MemberId(1), 1), 4)],
        "one commit, with the worker's fence; none after the refusal"
    );
}

/// An empty poll the server held (a waiting poll on `rustok-iggy serve`)
/// was the pause itself; one answered at once starts the doubling pauses.
#[test]
fn an_empty_poll_the_server_held_needs_no_pause() {
    use super::worker::IdlePause;
    use std::time::Duration;
    let ms = Duration::from_millis;

    let mut idle = IdlePause::new(false, ms(100));
    assert_eq!(idle.after_empty(Duration::ZERO), ms(1));
    assert_eq!(idle.after_empty(Duration::ZERO), ms(2));
    assert_eq!(idle.after_empty(ms(60)), Duration::ZERO, "held");
    assert_eq!(
        idle.after_empty(Duration::ZERO),
        ms(1),
        "pauses start again"
    );

    // A server holds a poll at most `MAX_POLL_WAIT`: half of that is a hold.
    let mut idle = IdlePause::new(false, Duration::from_secs(5));
    let max = crate::iggy_extension::MAX_POLL_WAIT;
    assert_eq!(idle.after_empty(max / 2), Duration::ZERO);

    // A backend that long-polls never needs a pause.
    let mut idle = IdlePause::new(true, ms(100));
    assert_eq!(idle.after_empty(Duration::ZERO), Duration::ZERO);
}
