//! RusToK's envelope as its transport writes it, field for field, and its
//! mapping onto [`EventEnvelope`].
//!
//! The field list follows `rustok_events::EventEnvelope` (RusToK's
//! `crates/rustok-events/src/types.rs`, read at commit `4ea8a03`, August
//! 2026). Unknown fields are ignored, as RusToK's own reader ignores them,
//! so a RusToK release that adds a field does not turn its messages into
//! poison.

use chrono::{DateTime, Utc};
use serde::{de::Error as _, Deserialize, Deserializer};
use uuid::Uuid;

use crate::{envelope::time, EventEnvelope};

/// One RusToK envelope with its domain event decoded as `E`. Optional fields
/// may be `null`/nil or missing; every other field is required.
#[derive(Debug, Deserialize)]
pub(super) struct RusTokEnvelope<E> {
    id: Uuid,
    event_type: String,
    schema_version: u16,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    tenant_id: Uuid,
    trace_id: Option<String>,
    #[serde(deserialize_with = "timestamp")]
    timestamp: DateTime<Utc>,
    actor_id: Option<Uuid>,
    event: E,
    retry_count: u32,
}

impl<E> RusTokEnvelope<E> {
    /// The same event as this crate's envelope. RusToK has no partition key
    /// field (its key is always the tenant id), so `partition_key` is unset,
    /// which means the same here.
    pub(super) fn into_envelope(self) -> EventEnvelope<E> {
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
            partition_key: None,
            event: self.event,
        }
    }
}

/// RusToK's `timestamp_serde`: an RFC 3339 string in human-readable formats
/// (JSON), UTC microseconds as an integer in the others (MessagePack). Each
/// format gets only the form RusToK writes in it, so a timestamp of the
/// wrong type is refused rather than guessed at.
fn timestamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    if deserializer.is_human_readable() {
        let text = String::deserialize(deserializer)?;
        time::parse(&text).map_err(|e| D::Error::custom(format!("`{text}` is not RFC 3339: {e}")))
    } else {
        let micros = i64::deserialize(deserializer)?;
        DateTime::from_timestamp_micros(micros).ok_or_else(|| {
            D::Error::custom(format!("{micros} microseconds is out of chrono's range"))
        })
    }
}
