//! What RusToK's own Iggy transport writes, for tests of
//! `consumer.legacy_format`: its whole envelope as the payload, with its
//! field names and order, the timestamp as RFC 3339 text in JSON and as UTC
//! microseconds in MessagePack (RusToK's rule), and a domain event shaped
//! like its `DomainEvent`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A domain event shaped like RusToK's `DomainEvent` (adjacently tagged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Domain {
    /// RusToK's `NodeCreated`.
    NodeCreated {
        /// The node.
        node_id: Uuid,
        /// Its kind.
        kind: String,
        /// Who created it.
        author_id: Option<Uuid>,
    },
}

/// RusToK's envelope as its `EventEnvelope` declares it, in its field order.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
pub struct RusTokWritten<E> {
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: u16,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub tenant_id: Uuid,
    pub trace_id: Option<String>,
    #[serde(serialize_with = "rustok_timestamp")]
    pub timestamp: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub event: E,
    pub retry_count: u32,
}

fn rustok_timestamp<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&at.to_rfc3339())
    } else {
        s.serialize_i64(at.timestamp_micros())
    }
}
