//! One partition's messages between the log and the application: read and
//! waiting, delivered and not settled, nacked and waiting to come back. Which
//! one the application gets next, and up to where the group may commit.

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Instant,
};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::super::state::{lock, PartitionState};
use crate::{metrics::ConsumerMetrics, wire::header, Record, TopicRef};

/// A message on its way to the application, with what earlier deliveries of
/// it left behind.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) record: Record,
    /// Deliveries made so far (0 for a message never delivered).
    pub(crate) attempts: u32,
    /// When the first delivery was nacked or released.
    pub(crate) first_failure: Option<DateTime<Utc>>,
    /// Why the last delivery was nacked or released.
    pub(crate) last_error: Option<String>,
}

impl Pending {
    fn fresh(record: Record) -> Self {
        Self {
            record,
            attempts: 0,
            first_failure: None,
            last_error: None,
        }
    }

    /// The partition key, which orders the deliveries it names; a message
    /// without one is ordered with nothing.
    fn key(&self) -> Option<&[u8]> {
        self.record.message.headers.get(header::PARTITION_KEY)
    }
}

/// A nacked message and when it may be delivered again.
#[derive(Debug)]
struct Delayed {
    pending: Pending,
    due: Instant,
}

/// The messages of a lane, by state. Every offset read and not yet settled
/// is in exactly one of `ready`, `delayed` and `out`.
#[derive(Debug, Default)]
pub(crate) struct LaneState {
    /// Read, never delivered, in offset order.
    ready: VecDeque<Pending>,
    /// Nacked or released, by offset.
    delayed: BTreeMap<u64, Delayed>,
    /// Delivered and not settled, by offset, with the time of delivery.
    out: BTreeMap<u64, Instant>,
    /// One past the last offset read.
    read_to: u64,
}

impl LaneState {
    pub(crate) fn new(read_to: u64) -> Self {
        Self {
            read_to,
            ..Self::default()
        }
    }

    /// Adds records read from the partition, in offset order.
    pub(crate) fn push(&mut self, records: Vec<Record>) {
        for record in records {
            if record.offset < self.read_to {
                continue;
            }
            self.read_to = record.offset + 1;
            self.ready.push_back(Pending::fresh(record));
        }
    }

    /// The next message to deliver at `now`, marked as delivered.
    ///
    /// Per key, what is delivered keeps the partition's order: a nacked
    /// message comes back before any later message of its key is delivered
    /// (those wait, other keys flow), and of two nacked messages of one key
    /// the earlier one comes back first.
    pub(crate) fn take(&mut self, now: Instant) -> Option<Pending> {
        let pending = if self.delayed.is_empty() {
            self.ready.pop_front()?
        } else {
            self.take_due(now).or_else(|| self.take_unblocked())?
        };
        self.out.insert(pending.record.offset, now);
        Some(pending)
    }

    /// The earliest nacked message that is due and has no earlier nacked
    /// message of its key.
    fn take_due(&mut self, now: Instant) -> Option<Pending> {
        let mut waiting_keys: HashSet<&[u8]> = HashSet::new();
        let mut found = None;
        for (offset, delayed) in &self.delayed {
            let key = delayed.pending.key();
            let blocked = key.is_some_and(|k| waiting_keys.contains(k));
            if delayed.due <= now && !blocked {
                found = Some(*offset);
                break;
            }
            waiting_keys.extend(key);
        }
        found
            .and_then(|offset| self.delayed.remove(&offset))
            .map(|d| d.pending)
    }

    /// The first message never delivered whose key has no nacked message
    /// waiting.
    fn take_unblocked(&mut self) -> Option<Pending> {
        let blocked: HashSet<&[u8]> = self
            .delayed
            .values()
            .filter_map(|d| d.pending.key())
            .collect();
        let index = self
            .ready
            .iter()
            .position(|p| p.key().is_none_or(|k| !blocked.contains(k)))?;
        self.ready.remove(index)
    }

    /// When the earliest nacked message becomes due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.delayed.values().map(|d| d.due).min()
    }

    /// Ends the delivery of `offset`; returns when it was delivered, or
    /// `None` if it was not out (settled already, or the lane was reset).
    pub(crate) fn settle(&mut self, offset: u64) -> Option<Instant> {
        self.out.remove(&offset)
    }

    /// Takes a delivered message back, to be delivered again at `due`.
    pub(crate) fn release(&mut self, pending: Pending, due: Instant) {
        if self.out.remove(&pending.record.offset).is_some() {
            self.delayed
                .insert(pending.record.offset, Delayed { pending, due });
        }
    }

    /// Messages read and not settled: what the lane holds.
    pub(crate) fn held(&self) -> usize {
        self.ready.len() + self.delayed.len() + self.out.len()
    }

    /// Where the next read starts.
    pub(crate) fn read_to(&self) -> u64 {
        self.read_to
    }

    /// The offset the group may commit: the first one not settled, or one
    /// past the last read when everything read is settled.
    pub(crate) fn commit_point(&self) -> u64 {
        [
            self.ready.front().map(|p| p.record.offset),
            self.delayed.keys().next().copied(),
            self.out.keys().next().copied(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.read_to)
    }

    /// Delivered messages not settled yet: (offset, delivered at).
    pub(crate) fn out(&self) -> impl Iterator<Item = (u64, Instant)> + '_ {
        self.out.iter().map(|(o, t)| (*o, *t))
    }
}

/// One partition this receiver holds, shared by its feeder (which reads
/// into it and commits from it), `recv` (which delivers from it) and the
/// deliveries' acks.
pub(crate) struct Lane {
    pub(crate) topic: TopicRef,
    pub(crate) partition: u32,
    state: Mutex<LaneState>,
    /// Woken when a delivery is settled: the feeder may read on and commit.
    pub(crate) settled: Notify,
    /// Set when the feeder stopped (partition revoked, receiver stopped):
    /// nothing is delivered from it any more, and acks change nothing.
    closed: AtomicBool,
    /// The partition's position, for lag and health.
    pub(crate) position: Arc<PartitionState>,
    /// The feeder's cancellation: dead letters of this lane stop retrying
    /// when it fires.
    pub(crate) cancel: CancellationToken,
    pub(crate) metrics: ConsumerMetrics,
}

impl Lane {
    pub(crate) fn new(
        topic: TopicRef,
        partition: u32,
        read_to: u64,
        position: Arc<PartitionState>,
        cancel: CancellationToken,
        metrics: ConsumerMetrics,
    ) -> Self {
        Self {
            topic,
            partition,
            state: Mutex::new(LaneState::new(read_to)),
            settled: Notify::new(),
            closed: AtomicBool::new(false),
            position,
            cancel,
            metrics,
        }
    }

    /// Runs `f` on the lane's messages.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut LaneState) -> T) -> T {
        f(&mut lock(&self.state))
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use bytes::Bytes;

    use crate::{Headers, Message};

    fn record(offset: u64, key: Option<&str>) -> Record {
        let mut headers = Headers::new();
        if let Some(key) = key {
            headers.insert(header::PARTITION_KEY, key).unwrap();
        }
        Record {
            offset,
            timestamp_micros: 0,
            message: Message {
                origin_timestamp_micros: None,
                id: u128::from(offset),
                headers,
                payload: Bytes::new(),
            },
        }
    }

    fn lane(records: &[(u64, Option<&str>)]) -> LaneState {
        let mut lane = LaneState::new(records.first().map_or(0, |r| r.0));
        lane.push(records.iter().map(|(o, k)| record(*o, *k)).collect());
        lane
    }

    fn offsets(lane: &mut LaneState, now: Instant) -> Vec<u64> {
        std::iter::from_fn(|| lane.take(now).map(|p| p.record.offset)).collect()
    }

    #[test]
    fn delivers_in_offset_order_and_commits_the_settled_prefix_only() {
        let now = Instant::now();
        let mut lane = lane(&[(10, Some("a")), (11, Some("b")), (12, Some("a"))]);
        assert_eq!(offsets(&mut lane, now), [10, 11, 12]);
        assert_eq!(lane.commit_point(), 10);
        // Acks out of order: the commit point moves over the settled prefix.
        assert!(lane.settle(12).is_some());
        assert!(lane.settle(11).is_some());
        assert_eq!(lane.commit_point(), 10);
        assert!(lane.settle(10).is_some());
        assert_eq!(lane.commit_point(), 13);
        assert_eq!(lane.held(), 0);
        // A second settle of the same offset changes nothing.
        assert!(lane.settle(10).is_none());
        assert_eq!(lane.commit_point(), 13);
    }

    #[test]
    fn a_nacked_message_holds_back_its_key_until_it_is_delivered_again() {
        let start = Instant::now();
        let mut lane = lane(&[(0, Some("a")), (1, Some("a")), (2, Some("b")), (3, None)]);
        let first = lane.take(start).unwrap();
        assert_eq!(first.record.offset, 0);
        lane.release(first, start + Duration::from_secs(1));
        // Key "a" waits for offset 0; "b" and the unkeyed message flow.
        assert_eq!(offsets(&mut lane, start), [2, 3]);
        assert_eq!(lane.next_due(), Some(start + Duration::from_secs(1)));
        // Once due, 0 comes back before 1.
        let later = start + Duration::from_secs(1);
        assert_eq!(offsets(&mut lane, later), [0, 1]);
        assert_eq!(lane.commit_point(), 0);
    }

    #[test]
    fn of_two_nacked_messages_of_one_key_the_earlier_comes_back_first() {
        let start = Instant::now();
        let mut lane = lane(&[(0, Some("a")), (1, Some("a"))]);
        let (a0, a1) = (lane.take(start).unwrap(), lane.take(start).unwrap());
        lane.release(a0, start + Duration::from_secs(5));
        lane.release(a1, start);
        // 1 is due but waits for 0.
        assert!(lane.take(start).is_none());
        let later = start + Duration::from_secs(5);
        assert_eq!(offsets(&mut lane, later), [0, 1]);
    }

    #[test]
    fn a_release_after_a_settle_is_ignored() {
        let now = Instant::now();
        let mut lane = lane(&[(0, None)]);
        let p = lane.take(now).unwrap();
        lane.settle(0);
        lane.release(p, now);
        assert_eq!(lane.held(), 0);
        assert!(lane.take(now).is_none());
    }

    #[test]
    fn records_read_twice_are_kept_once() {
        let mut lane = lane(&[(0, None), (1, None)]);
        lane.push(vec![record(1, None), record(2, None)]);
        assert_eq!(lane.read_to(), 3);
        assert_eq!(offsets(&mut lane, Instant::now()), [0, 1, 2]);
    }
}
