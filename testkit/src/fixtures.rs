//! Sample events, envelopes, messages and dead letters for tests.
//!
//! Everything here is deterministic unless its name says otherwise (envelope
//! ids are fresh UUID v7s, as the core requires), and every value is valid:
//! envelopes pass [`EventEnvelope::validate`], messages carry the headers a
//! DLQ filter looks at.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use rustok_iggy::{wire, DeadLetter, EventEnvelope, Headers, Message, TopicRef};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Event type of [`OrderPlaced`] envelopes built here.
pub const ORDER_PLACED: &str = "order.placed";
/// Event type of [`OrderEvent`] envelopes built here.
pub const ORDER_EVENT: &str = "order.event";
/// Event type of [`Sequenced`] envelopes built by [`EnvelopeSequence`].
pub const SEQUENCED: &str = "test.sequenced";
/// Event type written in the headers of [`test_message`].
pub const TEST_EVENT: &str = "test.event";

/// A sample domain event: a plain struct with an optional field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// Order number.
    pub order_id: u64,
    /// Stock keeping unit.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Free text, if any.
    pub note: Option<String>,
}

/// A sample event enum, externally tagged (the serde default, which every
/// codec, self-describing or not, can carry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEvent {
    /// An order was placed.
    Placed(OrderPlaced),
    /// An order was cancelled.
    Cancelled {
        /// Order number.
        order_id: u64,
        /// Why.
        reason: String,
    },
    /// An order left the warehouse.
    Shipped {
        /// Order number.
        order_id: u64,
        /// Parcel ids, possibly none.
        parcels: Vec<u32>,
    },
    /// A unit variant.
    Archived,
}

/// An event carrying its key and its position in that key's sequence, so a
/// test can check per-key order on the consuming side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sequenced {
    /// The partition key the envelope was published with.
    pub key: String,
    /// 0, 1, 2, ... per key.
    pub seq: u64,
}

/// An [`OrderPlaced`] derived from `order_id`.
pub fn order_placed(order_id: u64) -> OrderPlaced {
    OrderPlaced {
        order_id,
        sku: format!("SKU-{order_id:05}"),
        quantity: u32::try_from(order_id % 10).unwrap_or(0) + 1,
        note: order_id
            .is_multiple_of(2)
            .then(|| format!("note for order {order_id}")),
    }
}

/// One of each [`OrderEvent`] shape, with edge values: zero and maximal
/// integers, empty and non-ASCII strings, `None` and `Some`, empty and
/// non-empty sequences. Codec round-trip tests use them all.
pub fn sample_events() -> Vec<OrderEvent> {
    vec![
        OrderEvent::Placed(order_placed(1)),
        OrderEvent::Placed(order_placed(2)),
        OrderEvent::Placed(OrderPlaced {
            order_id: u64::MAX,
            sku: "снег ☃ \"quoted\" \\ \n\t \u{0}".to_owned(),
            quantity: u32::MAX,
            note: Some(String::new()),
        }),
        OrderEvent::Placed(OrderPlaced {
            order_id: 0,
            sku: String::new(),
            quantity: 0,
            note: None,
        }),
        OrderEvent::Cancelled {
            order_id: 7,
            reason: "customer changed their mind".to_owned(),
        },
        OrderEvent::Shipped {
            order_id: 8,
            parcels: vec![],
        },
        OrderEvent::Shipped {
            order_id: 9,
            parcels: vec![1, 300, 70_000, u32::MAX],
        },
        OrderEvent::Archived,
    ]
}

/// A fixed tenant id, distinct per `n`.
pub fn tenant(n: u128) -> Uuid {
    Uuid::from_u128(0x7e4a_0000_0000_7000_8000_0000_0000_0000 | n)
}

/// A fixed point in time (2023-11-14T22:13:20.123456Z) plus `seconds`, at
/// microsecond precision so every store can keep it exactly.
pub fn time(seconds: u32) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
        + TimeDelta::microseconds(1_700_000_000_123_456)
        + TimeDelta::seconds(i64::from(seconds))
}

/// A valid envelope of `event` for `tenant`, with a fresh v7 id, `event_type`
/// as given (pass a non-empty one, e.g. one of this module's constants), the
/// current time, and every optional field set so round trips exercise them.
pub fn envelope<E>(event_type: &str, tenant_id: Uuid, event: E) -> EventEnvelope<E> {
    let id = Uuid::now_v7();
    EventEnvelope {
        id,
        event_type: event_type.to_owned(),
        schema_version: 1,
        tenant_id,
        correlation_id: id,
        causation_id: Some(Uuid::from_u128(0xca05e)),
        actor_id: Some(Uuid::from_u128(0xac70)),
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()),
        timestamp: Utc::now(),
        retry_count: 0,
        partition_key: None,
        event,
    }
}

/// An `order.placed` envelope of [`order_placed(order_id)`](order_placed) for `tenant_id`.
pub fn order_placed_envelope(tenant_id: Uuid, order_id: u64) -> EventEnvelope<OrderPlaced> {
    envelope(ORDER_PLACED, tenant_id, order_placed(order_id))
}

/// Builds [`Sequenced`] envelopes for one tenant, numbering each partition key
/// separately from 0.
///
/// ```
/// use rustok_iggy_testkit::fixtures::{tenant, EnvelopeSequence};
///
/// let mut seq = EnvelopeSequence::new(tenant(1));
/// let a0 = seq.next("a");
/// let b0 = seq.next("b");
/// let a1 = seq.next("a");
/// assert_eq!((a0.event.seq, b0.event.seq, a1.event.seq), (0, 0, 1));
/// assert_eq!(a1.partition_key.as_deref(), Some("a"));
/// assert!(a1.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct EnvelopeSequence {
    tenant_id: Uuid,
    next: BTreeMap<String, u64>,
}

impl EnvelopeSequence {
    /// Numbering starts at 0 for every key.
    pub fn new(tenant_id: Uuid) -> Self {
        Self {
            tenant_id,
            next: BTreeMap::new(),
        }
    }

    /// The next envelope for `key` (also its partition key).
    pub fn next(&mut self, key: &str) -> EventEnvelope<Sequenced> {
        let counter = self.next.entry(key.to_owned()).or_insert(0);
        let seq = *counter;
        *counter += 1;
        let mut envelope = envelope(
            SEQUENCED,
            self.tenant_id,
            Sequenced {
                key: key.to_owned(),
                seq,
            },
        );
        envelope.partition_key = Some(key.to_owned());
        envelope
    }

    /// `per_key` envelopes for each of `keys`, interleaved (a0, b0, a1, b1, ...).
    pub fn interleaved(&mut self, keys: &[&str], per_key: u64) -> Vec<EventEnvelope<Sequenced>> {
        let mut out = Vec::new();
        for _ in 0..per_key {
            for key in keys {
                out.push(self.next(key));
            }
        }
        out
    }

    /// How many envelopes were built for `key`.
    pub fn count(&self, key: &str) -> u64 {
        self.next.get(key).copied().unwrap_or(0)
    }
}

/// A message as a backend stores it: id `id`, headers with event type
/// [`TEST_EVENT`], the codec name `"raw"` and a binary (non-UTF-8) header,
/// and a payload derived from `id`.
pub fn test_message(id: u128) -> Message {
    test_message_of_type(id, TEST_EVENT)
}

/// [`test_message`] with another `event-type` header.
pub fn test_message_of_type(id: u128, event_type: &str) -> Message {
    let mut headers = Headers::new();
    headers
        .insert(wire::header::EVENT_TYPE, event_type)
        .unwrap();
    headers.insert(wire::header::CODEC, "raw").unwrap();
    headers.insert("binary", [0, 0xff, 0x80, 0x7f]).unwrap();
    Message {
        origin_timestamp_micros: None,
        id,
        headers,
        payload: Bytes::from(format!("payload of message {id}").into_bytes()),
    }
}

/// A dead letter of [`test_message(n)`](test_message) from topic
/// `conformance/orders` partition `n % 4`, offset `n`, group `billing`,
/// failed 3 times between [`time(n)`](time) and `time(n + 60)` (for `n` below
/// 10^9; larger `n` wrap around).
pub fn test_dead_letter(n: u64) -> DeadLetter {
    dead_letter_in(TopicRef::new("conformance", "orders"), "billing", n)
}

/// [`test_dead_letter`] from another topic and group.
pub fn dead_letter_in(topic: TopicRef, group: &str, n: u64) -> DeadLetter {
    // Below 10^9 seconds (about 31 years), so the times stay representable.
    let seconds = u32::try_from(n % 1_000_000_000).unwrap_or(0);
    DeadLetter {
        message: test_message(u128::from(n)),
        topic,
        partition: u32::try_from(n % 4).unwrap_or(0),
        offset: n,
        group: group.to_owned(),
        error: format!("handler failed on message {n}: boom"),
        attempts: 3,
        first_failure: time(seconds),
        last_failure: time(seconds) + TimeDelta::seconds(60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_valid_and_distinct() {
        let e = order_placed_envelope(tenant(1), 5);
        e.validate().unwrap();
        assert_eq!(e.event.order_id, 5);
        assert_ne!(tenant(1), tenant(2));
        assert_eq!(time(1) - time(0), TimeDelta::seconds(1));
        assert_eq!(time(0).timestamp_subsec_micros(), 123_456);
        let m = test_message(3);
        assert_eq!(m.headers.get_str("event-type").unwrap(), Some(TEST_EVENT));
        assert_ne!(test_message(3), test_message(4));
        let d = test_dead_letter(2);
        assert!(d.first_failure < d.last_failure);
        let events = sample_events();
        assert!(events.len() >= 4);
        let mut seq = EnvelopeSequence::new(tenant(1));
        let all = seq.interleaved(&["a", "b"], 3);
        assert_eq!(all.len(), 6);
        assert_eq!(seq.count("a"), 3);
        assert_eq!(seq.count("zzz"), 0);
    }
}
