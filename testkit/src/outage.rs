//! Building blocks for "nothing acknowledged is lost" tests across an outage
//! (a server stopped, killed or restarted mid-stream): a subscription that
//! records what it handled, a producer that keeps publishing and publishes a
//! batch again until it is acknowledged, and the final check that the group
//! committed everything.
//!
//! ```no_run
//! # async fn run(transport: std::sync::Arc<rustok_iggy::Transport>) {
//! use rustok_iggy_testkit::outage::{self, Producer};
//!
//! let (subscription, handled) = outage::record_handled(&transport, "billing", "events").await;
//! let producer = Producer::spawn(transport.clone());
//! // ... stop the server, start it again ...
//! let (acknowledged, _retried) = producer.stop().await;
//! outage::wait_until_handled(&handled, &acknowledged).await;
//! subscription.shutdown().await.unwrap();
//! outage::assert_committed_to_end(&transport, "billing", "events", 3).await;
//! # }
//! ```

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use rustok_iggy::{handler_fn, EventEnvelope, HandlerError, Subscription, Transport};
use tokio::{sync::Notify, task::JoinHandle};
use uuid::Uuid;

use crate::fixtures::{order_placed_envelope, tenant, OrderPlaced};

/// Event ids, shared between a handler or producer and the test.
pub type Ids = Arc<Mutex<HashSet<Uuid>>>;

fn ids(ids: &Ids) -> MutexGuard<'_, HashSet<Uuid>> {
    ids.lock().unwrap_or_else(|e| e.into_inner())
}

fn placements(placed: &Mutex<Placements>) -> MutexGuard<'_, Placements> {
    placed.lock().unwrap_or_else(|e| e.into_inner())
}

/// Subscribes `group` to `topic`, recording the id of every handled
/// [`OrderPlaced`] event.
///
/// # Panics
///
/// If the subscription cannot start (a test helper).
pub async fn record_handled(
    transport: &Transport,
    group: &str,
    topic: &str,
) -> (Subscription, Ids) {
    let handled: Ids = Arc::default();
    let recorder = handled.clone();
    let subscription = transport
        .subscribe(
            group,
            &[topic],
            handler_fn(move |event: EventEnvelope<OrderPlaced>| {
                let recorder = recorder.clone();
                async move {
                    ids(&recorder).insert(event.id);
                    Ok::<(), HandlerError>(())
                }
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("subscribing {group} to {topic}: {e}"));
    (subscription, handled)
}

/// Where each acknowledged event was stored: its id, partition and offset,
/// as the acknowledgement named them.
pub type Placements = HashMap<Uuid, (u32, u64)>;

/// Publishes batches of 10 [`OrderPlaced`] events (7 tenants) every 5 ms
/// until stopped. A batch that fails with a retryable error is published
/// again after 50 ms, as an application would; a permanent error panics the
/// task (and [`stop`](Self::stop) with it).
pub struct Producer {
    acknowledged: Arc<Mutex<Placements>>,
    stop: Arc<Notify>,
    task: JoinHandle<u32>,
}

impl Producer {
    /// Starts publishing through `transport`.
    pub fn spawn(transport: Arc<Transport>) -> Self {
        let acknowledged: Arc<Mutex<Placements>> = Arc::default();
        let stop = Arc::new(Notify::new());
        let task = {
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            tokio::spawn(async move {
                let mut retried = 0u32;
                for batch in 0u64.. {
                    let events: Vec<_> = (0..10)
                        .map(|i| order_placed_envelope(tenant(u128::from(i % 7)), batch * 10 + i))
                        .collect();
                    let receipts = loop {
                        match transport.publish_batch(&events).await {
                            Ok(receipts) => break receipts,
                            Err(e) => {
                                assert!(e.is_retryable(), "publish failed for good: {e}");
                                retried += 1;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    };
                    placements(&acknowledged).extend(
                        events
                            .iter()
                            .zip(receipts)
                            .map(|(e, r)| (e.id, (r.partition, r.offset))),
                    );
                    tokio::select! {
                        _ = stop.notified() => return retried,
                        _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    }
                }
                retried
            })
        };
        Self {
            acknowledged,
            stop,
            task,
        }
    }

    /// How many events were acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        placements(&self.acknowledged).len()
    }

    /// Stops after the batch in flight; the ids of every acknowledged event
    /// and how many publishes were retried.
    ///
    /// # Panics
    ///
    /// If the producer task panicked (a publish failed for good).
    pub async fn stop(self) -> (HashSet<Uuid>, u32) {
        let (placed, retried) = self.stop_placed().await;
        (placed.into_keys().collect(), retried)
    }

    /// [`stop`](Self::stop), with where each acknowledged event was stored.
    ///
    /// # Panics
    ///
    /// If the producer task panicked (a publish failed for good).
    pub async fn stop_placed(self) -> (Placements, u32) {
        self.stop.notify_one();
        let retried = self
            .task
            .await
            .unwrap_or_else(|e| panic!("the producer failed: {e}"));
        let placed = placements(&self.acknowledged).clone();
        (placed, retried)
    }
}

/// Waits until every id in `expected` was handled.
///
/// # Panics
///
/// When some are still unhandled after [`eventually`](crate::eventually())'s
/// hang guard (two minutes at least).
pub async fn wait_until_handled(handled: &Ids, expected: &HashSet<Uuid>) {
    crate::eventually("every expected event handled", || async {
        expected.is_subset(&ids(handled))
    })
    .await
}

/// Asserts that `group`'s committed offset on each of `topic`'s `partitions`
/// is that partition's end.
///
/// # Panics
///
/// On a mismatch, or when the backend or offset store fails.
pub async fn assert_committed_to_end(
    transport: &Transport,
    group: &str,
    topic: &str,
    partitions: u32,
) {
    let topic = transport.topic(topic);
    for p in 0..partitions {
        let next = transport
            .backend()
            .partition_info(&topic, p)
            .await
            .unwrap_or_else(|e| panic!("partition_info({topic}, {p}): {e}"))
            .next_offset;
        let committed = transport
            .offset_store()
            .load(group, &topic, p)
            .await
            .unwrap_or_else(|e| panic!("load({group}, {topic}, {p}): {e}"));
        assert_eq!(
            committed.unwrap_or(0),
            next,
            "{group} on {topic} partition {p}"
        );
    }
}
