//! Idempotent publish, checked the same way on every backend that
//! deduplicates appends by message id (the embedded log with
//! `dedup_window`, an Iggy server with message deduplication through the
//! remote backend): an outbox relay publishing the same events again, after
//! a lost acknowledgement, a restart or a SIGKILL mid-batch, stores each
//! once and gets the stored copy's receipts. Each scenario is one function
//! that panics when the backend fails it.
//!
//! The relay killed mid-batch is the test binary itself, run again as a
//! child process with [`RELAY_CONFIG`] set: the test crate declares a
//! `#[test]` that links its plugins and calls [`relay_child`] (which does
//! nothing without the variable), and [`kill_relay_mid_batch`] runs that
//! test by name.
//!
//! ```no_run
//! # fn config_toml() -> String { String::new() }
//! #[test]
//! fn relay_child() {
//!     // rustok_iggy_embedded::link(); rustok_iggy_codecs::link();
//!     rustok_iggy_testkit::outbox::relay_child();
//! }
//!
//! #[tokio::test]
//! async fn a_killed_relay_run_again_stores_each_event_once() {
//!     let toml = config_toml();
//!     rustok_iggy_testkit::outbox::kill_relay_mid_batch("relay_child", &toml);
//!     let config = rustok_iggy::TransportConfig::from_toml(&toml).unwrap();
//!     let transport = rustok_iggy::Transport::from_config(&config).await.unwrap();
//!     rustok_iggy_testkit::outbox::republishing_everything_stores_each_event_once(&transport).await;
//! }
//! ```

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use bytes::Bytes;
use rustok_iggy::{
    Backend, ErrorKind, EventEnvelope, Headers, Message, PollFrom, PollRequest, PublishReceipt,
    TopicRef, Transport, TransportConfig,
};
use serde::{Deserialize, Serialize};

/// The variable holding the relay child's transport config (TOML).
pub const RELAY_CONFIG: &str = "RUSTOK_TESTKIT_RELAY_CONFIG";
/// Batches the relay publishes.
pub const BATCHES: u64 = 400;
/// Events per batch.
pub const BATCH: u64 = 50;
/// Batches the relay has acknowledged when it is killed.
pub const ACKED_BEFORE_KILL: u64 = 20;

/// The outbox's event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Its number in the outbox.
    pub n: u64,
}

/// Event `n` of the outbox: the same id every time it is published, keyed
/// by one of 13 tenants so a batch spreads over the partitions.
pub fn event(n: u64) -> EventEnvelope<Order> {
    let mut envelope = EventEnvelope::builder(
        "order.placed",
        uuid::Uuid::from_u128(u128::from(n % 13) + 1),
        Order { n },
    )
    .build()
    .unwrap();
    envelope.id = uuid::Uuid::from_u128(u128::from(n) + 1_000);
    envelope
}

/// Batch `b` of the outbox: events `b * BATCH` up to the next batch's.
pub fn batch(b: u64) -> Vec<EventEnvelope<Order>> {
    (b * BATCH..(b + 1) * BATCH).map(event).collect()
}

/// Where each message id is stored in `topic`: its (partition, offset)
/// places, as many as copies. Each partition is flushed with fsync first,
/// so records a log serves only once durable are seen; a backend that
/// cannot flush on demand (`Unsupported`) serves what it acknowledged.
pub async fn stored(backend: &dyn Backend, topic: &TopicRef) -> BTreeMap<u128, Vec<(u32, u64)>> {
    let partitions = backend.topic_info(topic).await.unwrap().partitions;
    let mut copies = BTreeMap::new();
    for partition in 0..partitions {
        match backend.flush(topic, partition, true).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Unsupported => {}
            Err(e) => panic!("flush of {topic}/{partition}: {e}"),
        }
        let mut from = 0;
        loop {
            let page = backend
                .poll(PollRequest {
                    topic: topic.clone(),
                    partition,
                    from: PollFrom::Offset(from),
                    max_records: 1_000,
                    max_wait: Duration::ZERO,
                })
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            from = last.offset + 1;
            for record in page {
                copies
                    .entry(record.message.id)
                    .or_insert_with(Vec::new)
                    .push((partition, record.offset));
            }
        }
    }
    copies
}

/// Message ids stored more than once, with their places.
fn repeated(stored: &BTreeMap<u128, Vec<(u32, u64)>>) -> Vec<(u128, Vec<(u32, u64)>)> {
    stored
        .iter()
        .filter(|(_, places)| places.len() > 1)
        .map(|(id, places)| (*id, places.clone()))
        .collect()
}

/// Each receipt is the place of its event's one stored copy.
fn assert_receipts_are_the_copies(
    stored: &BTreeMap<u128, Vec<(u32, u64)>>,
    events: &[EventEnvelope<Order>],
    receipts: &[PublishReceipt],
) {
    assert_eq!(events.len(), receipts.len());
    for (event, receipt) in events.iter().zip(receipts) {
        assert_eq!(
            stored.get(&event.id.as_u128()).map(Vec::as_slice),
            Some(&[(receipt.partition, receipt.offset)][..]),
            "the receipt of event {}",
            event.event.n
        );
    }
}

/// On a transport whose backend deduplicates: publishing batch 0 again,
/// a batch mixing new events with a stored one, and a stored event alone
/// return the stored copies' receipts and append nothing twice. Returns
/// the first receipts of batch 0 (its topic is the transport's default).
pub async fn publishing_again_returns_the_first_receipts(
    transport: &Transport,
) -> Vec<PublishReceipt> {
    let first = transport.publish_batch(&batch(0)).await.unwrap();
    let again = transport.publish_batch(&batch(0)).await.unwrap();
    assert_eq!(again, first, "the stored copies' receipts");
    // Half new, half stored: only the new ones are appended.
    let mut mixed = batch(1);
    mixed.truncate(BATCH as usize / 2);
    for n in 0..BATCH / 2 {
        mixed.insert(2 * n as usize + 1, event(n));
    }
    let receipts = transport.publish_batch(&mixed).await.unwrap();
    for n in 0..BATCH as usize / 2 {
        assert_eq!(receipts[2 * n + 1], first[n], "event {n} again");
    }
    let new: Vec<u64> = receipts.iter().step_by(2).map(|r| r.offset).collect();
    let one = transport.publish(&event(9)).await.unwrap();
    assert_eq!(one, first[9]);
    let copies = stored(transport.backend().as_ref(), &first[0].topic).await;
    assert_eq!(copies.len() as u64, BATCH + BATCH / 2, "{copies:?}");
    assert_eq!(repeated(&copies), [], "stored more than once");
    assert_receipts_are_the_copies(&copies, &batch(0), &first);
    assert_receipts_are_the_copies(&copies, &mixed, &receipts);
    // The new events' receipts are where they are.
    let again = transport
        .publish_batch(&batch(1)[..BATCH as usize / 2])
        .await;
    let again: Vec<u64> = again.unwrap().iter().map(|r| r.offset).collect();
    assert_eq!(again, new);
    first
}

/// A message with id `id`, its payload derived from it.
pub fn message(id: u128) -> Message {
    let mut headers = Headers::new();
    headers.insert("n", id.to_string()).unwrap();
    Message {
        origin_timestamp_micros: None,
        id,
        headers,
        payload: Bytes::from(format!("message {id}")),
    }
}

/// On a backend that deduplicates, in a new one-partition `topic`: an
/// append of stored messages appends nothing and reports each as a
/// duplicate with its copy's offset; an append of new and stored messages
/// interleaved appends the new ones, densely, and reports the others.
pub async fn appending_again_reports_each_stored_copy(backend: &dyn Backend, topic: &TopicRef) {
    backend.ensure_topic(topic, 1).await.unwrap();
    let ids: Vec<u128> = (1..=10).map(|i| 0xd0d0_0000 + i).collect();
    let first = backend
        .append(topic, 0, ids.iter().map(|id| message(*id)).collect())
        .await
        .unwrap();
    assert_eq!(first.count, 10);
    assert_eq!(first.duplicates, []);
    let end = first.first_offset + 10;
    let again = backend
        .append(topic, 0, ids.iter().map(|id| message(*id)).collect())
        .await
        .unwrap();
    assert_eq!((again.first_offset, again.count), (end, 0), "{again:?}");
    let expected: Vec<(u32, u64)> = (0..10)
        .map(|i| (i, first.first_offset + u64::from(i)))
        .collect();
    assert_eq!(again.duplicates, expected);
    // New, stored, new, stored...
    let mixed: Vec<u128> = (0..10)
        .map(|i| {
            if i % 2 == 0 {
                0xe0e0_0000 + i
            } else {
                ids[i as usize]
            }
        })
        .collect();
    let ack = backend
        .append(topic, 0, mixed.iter().map(|id| message(*id)).collect())
        .await
        .unwrap();
    assert_eq!((ack.first_offset, ack.count), (end, 5), "{ack:?}");
    let offsets: Vec<u64> = ack.offsets().collect();
    let expected: Vec<u64> = (0..10u64)
        .map(|i| {
            if i % 2 == 0 {
                end + i / 2
            } else {
                first.first_offset + i
            }
        })
        .collect();
    assert_eq!(offsets, expected);
    let copies = stored(backend, topic).await;
    assert_eq!(copies.len(), 15);
    assert_eq!(repeated(&copies), []);
}

/// The relay: with [`RELAY_CONFIG`] set, builds a transport from it and
/// publishes the outbox batch after batch, printing `ACK <batch>` after
/// each acknowledged one, until killed. Without it, returns at once (a
/// normal test run).
pub fn relay_child() {
    let Ok(toml) = std::env::var(RELAY_CONFIG) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = TransportConfig::from_toml(&toml).unwrap();
        let transport = Transport::from_config(&config).await.unwrap();
        for b in 0..BATCHES {
            transport.publish_batch(&batch(b)).await.unwrap();
            println!("ACK {b}");
        }
        // Not killed in time: wait to be.
        std::future::pending::<()>().await;
    });
}

/// Runs this test binary's `test` (a `#[test]` calling [`relay_child`]) as
/// a relay on the transport config `toml`, and kills it with SIGKILL once
/// it acknowledged [`ACKED_BEFORE_KILL`] batches: it is publishing its next
/// batches then.
pub fn kill_relay_mid_batch(test: &str, toml: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(RELAY_CONFIG, toml)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = 0;
    for line in lines.map_while(std::result::Result::ok) {
        if line.contains("ACK ") {
            acked += 1;
            if acked == ACKED_BEFORE_KILL {
                break;
            }
        }
    }
    // SIGKILL on Unix.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        acked, ACKED_BEFORE_KILL,
        "the relay acknowledged {ACKED_BEFORE_KILL} batches"
    );
}

/// After [`kill_relay_mid_batch`], on the relay's topic: the relay's
/// acknowledged batches are stored, and publishing the whole outbox again
/// from its first batch (the relay never saw which batches were stored)
/// stores each event once.
pub async fn republishing_everything_stores_each_event_once(transport: &Transport) {
    let topic = transport
        .publish_batch(&batch(0))
        .await
        .unwrap()
        .remove(0)
        .topic;
    let backend = transport.backend().as_ref();
    let before = stored(backend, &topic).await;
    assert!(
        before.len() as u64 >= ACKED_BEFORE_KILL * BATCH,
        "{} events stored before",
        before.len()
    );
    let mut receipts = Vec::new();
    for b in 0..BATCHES {
        receipts.extend(transport.publish_batch(&batch(b)).await.unwrap());
    }
    let copies = stored(backend, &topic).await;
    assert_eq!(copies.len() as u64, BATCHES * BATCH);
    let repeated = repeated(&copies);
    assert!(
        repeated.is_empty(),
        "{} events stored more than once, first {:?}",
        repeated.len(),
        repeated.first()
    );
    let events: Vec<_> = (0..BATCHES).flat_map(batch).collect();
    assert_receipts_are_the_copies(&copies, &events, &receipts);
}
