//! Idempotent publish through the transport on the embedded log with
//! `dedup_window`: an outbox relay publishing the same events again (after a
//! lost acknowledgement, a restart, or a SIGKILL mid-batch) stores each once
//! and gets the stored copy's receipts.
//!
//! The killed relay is this test binary, re-run with [`RELAY_DIR`] set so
//! that only [`relay_child`] does anything.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use rustok_iggy::{
    Backend, EventEnvelope, PollFrom, PollRequest, PublishReceipt, TopicRef, Transport,
    TransportConfig,
};
use serde::{Deserialize, Serialize};

const RELAY_DIR: &str = "RUSTOK_EMBEDDED_DEDUP_RELAY_DIR";
const BATCHES: u64 = 400;
const BATCH: u64 = 50;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    n: u64,
}

fn config(dir: &Path, dedup_window: u64) -> TransportConfig {
    rustok_iggy_embedded::link();
    rustok_iggy_codecs::link();
    TransportConfig::from_toml(&format!(
        "backend = \"embedded\"\nstream = \"app\"\n[routing]\npartitions = 4\n\
         [plugins.embedded]\ndata_dir = {:?}\ndedup_window = {dedup_window}\n",
        dir.display().to_string()
    ))
    .unwrap()
}

/// Event `n` of the outbox: the same id every time it is published.
fn event(n: u64) -> EventEnvelope<Order> {
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

fn batch(b: u64) -> Vec<EventEnvelope<Order>> {
    (b * BATCH..(b + 1) * BATCH).map(event).collect()
}

/// How many times each event id is stored in `app/events`.
async fn stored(transport: &Transport) -> BTreeMap<u128, usize> {
    let backend = transport.backend();
    let topic = TopicRef::new("app", "events");
    let mut counts = BTreeMap::new();
    for partition in 0..4 {
        // Under the default `interval`, polls see what was fsynced.
        backend.flush(&topic, partition, true).await.unwrap();
        let mut from = 0;
        loop {
            let page = backend
                .poll(PollRequest {
                    topic: topic.clone(),
                    partition,
                    from: PollFrom::Offset(from),
                    max_records: 1_000,
                    max_wait: std::time::Duration::ZERO,
                })
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            from = last.offset + 1;
            for record in page {
                *counts.entry(record.message.id).or_default() += 1;
            }
        }
    }
    counts
}

#[tokio::test]
async fn publishing_again_stores_nothing_and_returns_the_first_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let transport = Transport::from_config(&config(dir.path(), 1_000))
        .await
        .unwrap();
    let first = transport.publish_batch(&batch(0)).await.unwrap();
    let again = transport.publish_batch(&batch(0)).await.unwrap();
    assert_eq!(again, first, "the stored copies' receipts");
    // A batch mixing stored and new events: only the new ones are appended.
    let mut mixed = batch(1);
    mixed.insert(3, event(7));
    let receipts = transport.publish_batch(&mixed).await.unwrap();
    assert_eq!(receipts[3], first[7]);
    let one = transport.publish(&event(9)).await.unwrap();
    assert_eq!(one, first[9]);
    let counts = stored(&transport).await;
    assert_eq!(counts.len() as u64, 2 * BATCH);
    assert!(counts.values().all(|c| *c == 1), "{counts:?}");
    transport.shutdown().await.unwrap();

    // Reopened: the window is read back from the log.
    let transport = Transport::from_config(&config(dir.path(), 1_000))
        .await
        .unwrap();
    assert_eq!(transport.publish_batch(&batch(0)).await.unwrap(), first);
    assert_eq!(stored(&transport).await.len() as u64, 2 * BATCH);
    transport.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_window_every_publish_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let transport = Transport::from_config(&config(dir.path(), 0))
        .await
        .unwrap();
    let first: Vec<PublishReceipt> = transport.publish_batch(&batch(0)).await.unwrap();
    let again = transport.publish_batch(&batch(0)).await.unwrap();
    assert_ne!(again, first);
    assert!(stored(&transport).await.values().all(|c| *c == 2));
    transport.shutdown().await.unwrap();
}

/// The relay: publishes batch after batch, printing `ACK <batch>` after
/// each acknowledged one, until killed. Does nothing in a normal test run.
#[test]
fn relay_child() {
    let Ok(dir) = std::env::var(RELAY_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let transport = Transport::from_config(&config(Path::new(&dir), 100_000))
            .await
            .unwrap();
        for b in 0..BATCHES {
            transport.publish_batch(&batch(b)).await.unwrap();
            println!("ACK {b}");
        }
        // Not killed in time: wait to be.
        std::future::pending::<()>().await;
    });
}

/// A relay killed mid-batch, then started again and publishing everything
/// from the start (it never saw which batches were stored): each event is
/// stored once.
#[tokio::test]
async fn a_relay_killed_mid_batch_and_run_again_stores_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["relay_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(RELAY_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = 0;
    for line in lines.map_while(Result::ok) {
        if line.contains("ACK ") {
            acked += 1;
            if acked == 20 {
                break;
            }
        }
    }
    assert_eq!(acked, 20, "the relay acknowledged 20 batches");
    // The child is publishing its next batches now.
    child.kill().unwrap();
    child.wait().unwrap();

    let transport = Transport::from_config(&config(dir.path(), 100_000))
        .await
        .unwrap();
    let before = stored(&transport).await;
    assert!(before.len() as u64 >= 20 * BATCH, "{}", before.len());
    for b in 0..BATCHES {
        transport.publish_batch(&batch(b)).await.unwrap();
    }
    let counts = stored(&transport).await;
    assert_eq!(counts.len() as u64, BATCHES * BATCH);
    let repeated: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        repeated.is_empty(),
        "{} events stored more than once, first {:?}",
        repeated.len(),
        repeated.first()
    );
    transport.shutdown().await.unwrap();
}
