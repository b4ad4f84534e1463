//! The event envelope applications publish and handlers receive, and how it
//! is laid out on the log: [`wire`] (headers, for any Iggy client),
//! `codec` (encode and decode, side by side), `time` (the timestamp
//! header), `trace` (W3C trace context), `rustok` (RusToK's header-less
//! messages, read when `consumer.legacy_format` says so).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, ErrorKind, Result};

mod codec;
mod id;
mod rustok;
mod time;
pub(crate) mod trace;
pub mod wire;

pub(crate) use codec::{EncodeBuffers, EnvelopeCodec};

/// Longest `trace_id` accepted, in characters: trace ids travel in headers and
/// logs, so an unbounded one is a way to blow both up.
pub const MAX_TRACE_ID_LEN: usize = 512;

/// A domain event with the metadata that travels with it.
///
/// Field names follow RusToK's envelope. On the log the metadata lives in message
/// headers (readable by any Iggy tool) and only `event` is encoded by the codec.
///
/// ```
/// use rustok_iggy::EventEnvelope;
/// use uuid::Uuid;
///
/// let tenant = Uuid::now_v7();
/// let envelope = EventEnvelope::builder("order.created", tenant, 42_u64)
///     .schema_version(2)
///     .trace_id("4bf92f3577b34da6a3ce929d0e0e4736")
///     .build()
///     .unwrap();
/// assert_eq!(envelope.event_type, "order.created");
/// assert_eq!(envelope.correlation_id, envelope.id);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope<E> {
    /// Unique event id, a UUID v7 (time-ordered). Also the message id on the log,
    /// which is what Iggy deduplicates on.
    pub id: Uuid,
    /// Dotted event type, e.g. `order.created`; routes the event to a topic.
    pub event_type: String,
    /// Version of `event`'s schema, for consumers that upcast old events.
    pub schema_version: u16,
    /// Tenant the event belongs to; the default partition key.
    pub tenant_id: Uuid,
    /// Id shared by every event of one business flow; defaults to `id`.
    pub correlation_id: Uuid,
    /// Id of the event that caused this one, if any.
    pub causation_id: Option<Uuid>,
    /// User or service that acted, if known.
    pub actor_id: Option<Uuid>,
    /// Distributed trace id, at most [`MAX_TRACE_ID_LEN`] characters.
    pub trace_id: Option<String>,
    /// When the event happened (UTC).
    pub timestamp: DateTime<Utc>,
    /// How many times delivery of this event was attempted before this one.
    pub retry_count: u32,
    /// Overrides the partition key (default: the tenant id). Events with the same
    /// key keep their order. Always serialized (as `None` when unset): skipping it
    /// would break formats that are not self-describing, like postcard.
    #[serde(default)]
    pub partition_key: Option<String>,
    /// The domain event itself.
    pub event: E,
}

impl<E> EventEnvelope<E> {
    /// Starts an envelope with a fresh v7 id and the current time, both from
    /// one reading of the clock.
    pub fn builder(
        event_type: impl Into<String>,
        tenant_id: Uuid,
        event: E,
    ) -> EventEnvelopeBuilder<E> {
        let (id, timestamp) = id::fresh_id();
        EventEnvelopeBuilder {
            envelope: EventEnvelope {
                id,
                event_type: event_type.into(),
                schema_version: 1,
                tenant_id,
                correlation_id: id,
                causation_id: None,
                actor_id: None,
                trace_id: None,
                timestamp,
                retry_count: 0,
                partition_key: None,
                event,
            },
            correlation_set: false,
        }
    }

    /// Checks the invariants every published envelope must hold.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: &str| {
            Err(Error::new(ErrorKind::InvalidInput, msg).with_context("event_id", self.id))
        };
        if self.id.is_nil() {
            return invalid("event id must not be nil");
        }
        if self.event_type.trim().is_empty() {
            return invalid("event type must not be empty");
        }
        if let Some(trace) = &self.trace_id {
            if trace.chars().count() > MAX_TRACE_ID_LEN {
                return invalid(&format!(
                    "trace id is {} characters, more than the {MAX_TRACE_ID_LEN} allowed",
                    trace.chars().count()
                ));
            }
        }
        Ok(())
    }

    /// The bytes that choose this event's partition: `partition_key` if set,
    /// else the tenant id's 16 bytes.
    pub fn partition_key_bytes(&self) -> &[u8] {
        match &self.partition_key {
            Some(key) => key.as_bytes(),
            None => self.tenant_id.as_bytes(),
        }
    }

    /// The same metadata around another event value.
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> EventEnvelope<F> {
        EventEnvelope {
            id: self.id,
            event_type: self.event_type,
            schema_version: self.schema_version,
            tenant_id: self.tenant_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            actor_id: self.actor_id,
            trace_id: self.trace_id,
            timestamp: self.timestamp,
            retry_count: self.retry_count,
            partition_key: self.partition_key,
            event: f(self.event),
        }
    }
}

/// Builds a validated [`EventEnvelope`]; see [`EventEnvelope::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EventEnvelopeBuilder<E> {
    envelope: EventEnvelope<E>,
    correlation_set: bool,
}

impl<E> EventEnvelopeBuilder<E> {
    /// Sets the event id (default: a fresh UUID v7).
    pub fn id(mut self, id: Uuid) -> Self {
        self.envelope.id = id;
        self
    }

    /// Sets the schema version (default 1).
    pub fn schema_version(mut self, version: u16) -> Self {
        self.envelope.schema_version = version;
        self
    }

    /// Sets the correlation id (default: the event id).
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.envelope.correlation_id = id;
        self.correlation_set = true;
        self
    }

    /// Sets the id of the event that caused this one.
    pub fn causation_id(mut self, id: Uuid) -> Self {
        self.envelope.causation_id = Some(id);
        self
    }

    /// Sets who acted.
    pub fn actor_id(mut self, id: Uuid) -> Self {
        self.envelope.actor_id = Some(id);
        self
    }

    /// Sets the trace id.
    pub fn trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.envelope.trace_id = Some(trace_id.into());
        self
    }

    /// Sets when the event happened (default: now).
    pub fn timestamp(mut self, timestamp: DateTime<Utc>) -> Self {
        self.envelope.timestamp = timestamp;
        self
    }

    /// Sets the partition key (default: the tenant id).
    pub fn partition_key(mut self, key: impl Into<String>) -> Self {
        self.envelope.partition_key = Some(key.into());
        self
    }

    /// Validates and returns the envelope.
    pub fn build(mut self) -> Result<EventEnvelope<E>> {
        if !self.correlation_set {
            self.envelope.correlation_id = self.envelope.id;
        }
        self.envelope.validate()?;
        Ok(self.envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Uuid {
        Uuid::from_u128(7)
    }

    #[test]
    fn builder_fills_defaults() {
        let e = EventEnvelope::builder("a.b", tenant(), ()).build().unwrap();
        assert_eq!(e.id.get_version_num(), 7);
        assert_eq!(e.correlation_id, e.id);
        assert_eq!(e.schema_version, 1);
        assert_eq!(e.retry_count, 0);
        assert_eq!(e.partition_key_bytes(), tenant().as_bytes().to_vec());
    }

    #[test]
    fn ids_are_ordered_across_threads_and_never_before_the_envelope_timestamp() {
        let per_thread = |_| {
            std::thread::spawn(|| {
                (0..2_000)
                    .map(|_| EventEnvelope::builder("a.b", tenant(), ()).build().unwrap())
                    .collect::<Vec<_>>()
            })
        };
        let threads: Vec<_> = (0..4).map(per_thread).collect();
        let mut all = Vec::new();
        for thread in threads {
            let envelopes = thread.join().unwrap();
            // Taken one after another: each id above the one before.
            assert!(envelopes.windows(2).all(|w| w[0].id < w[1].id));
            all.extend(envelopes);
        }
        let mut ids: Vec<_> = all.iter().map(|e| e.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "ids are unique across threads");
        for e in &all {
            // The id's millisecond is the envelope's, or a later one when a
            // thread that read the clock later took the context first (ids
            // never go back), never an earlier one.
            let (secs, nanos) = e.id.get_timestamp().unwrap().to_unix();
            let millis = secs * 1_000 + u64::from(nanos / 1_000_000);
            assert!(millis >= e.timestamp.timestamp_millis() as u64, "{e:?}");
        }
    }

    #[test]
    fn custom_id_keeps_correlation_in_step() {
        let id = Uuid::now_v7();
        let e = EventEnvelope::builder("a.b", tenant(), ())
            .id(id)
            .build()
            .unwrap();
        assert_eq!(e.correlation_id, id);
    }

    #[test]
    fn rejects_nil_id_empty_type_and_long_trace() {
        let nil = EventEnvelope::builder("a.b", tenant(), ())
            .id(Uuid::nil())
            .build();
        assert_eq!(nil.unwrap_err().kind(), ErrorKind::InvalidInput);

        let empty = EventEnvelope::builder("  ", tenant(), ()).build();
        assert!(empty.unwrap_err().message().contains("event type"));

        let long = EventEnvelope::builder("a.b", tenant(), ())
            .trace_id("x".repeat(MAX_TRACE_ID_LEN + 1))
            .build();
        assert!(long.unwrap_err().message().contains("trace id"));

        let at_limit = EventEnvelope::builder("a.b", tenant(), ())
            .trace_id("x".repeat(MAX_TRACE_ID_LEN))
            .build();
        assert!(at_limit.is_ok());
    }
}
