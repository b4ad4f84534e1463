//! How an envelope is laid out on the log: metadata in headers, the event in the
//! payload, the event id as message id. Any Iggy tool can read the metadata
//! without knowing the codec.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crate::{Error, ErrorKind, EventEnvelope, Headers, Message, Result};

/// Header names written on every message. Stable: changing one breaks every
/// consumer of existing data.
pub mod header {
    /// The envelope's `event_type`.
    pub const EVENT_TYPE: &str = "event-type";
    /// The envelope's `schema_version`, decimal.
    pub const SCHEMA_VERSION: &str = "schema-version";
    /// The envelope's `tenant_id`, hyphenated UUID.
    pub const TENANT_ID: &str = "tenant-id";
    /// The envelope's `correlation_id`.
    pub const CORRELATION_ID: &str = "correlation-id";
    /// The envelope's `causation_id`, when set.
    pub const CAUSATION_ID: &str = "causation-id";
    /// The envelope's `actor_id`, when set.
    pub const ACTOR_ID: &str = "actor-id";
    /// The envelope's `trace_id`, when set.
    pub const TRACE_ID: &str = "trace-id";
    /// The envelope's `timestamp`, RFC 3339 with microseconds.
    pub const TIMESTAMP: &str = "timestamp";
    /// The envelope's `retry_count`, decimal.
    pub const RETRY_COUNT: &str = "retry-count";
    /// The envelope's `partition_key`, when set.
    pub const PARTITION_KEY: &str = "partition-key";
    /// Name of the codec that wrote the payload.
    pub const CODEC: &str = "codec";
    /// W3C trace context of the publisher's span.
    pub const TRACEPARENT: &str = "traceparent";
}

/// The headers of `envelope` written with `codec`.
pub fn envelope_headers<E>(envelope: &EventEnvelope<E>, codec: &str) -> Headers {
    let mut h = Headers::new();
    h.insert_str(header::EVENT_TYPE, &envelope.event_type);
    h.insert_str(header::SCHEMA_VERSION, envelope.schema_version.to_string());
    h.insert_str(header::TENANT_ID, envelope.tenant_id.to_string());
    h.insert_str(header::CORRELATION_ID, envelope.correlation_id.to_string());
    if let Some(id) = envelope.causation_id {
        h.insert_str(header::CAUSATION_ID, id.to_string());
    }
    if let Some(id) = envelope.actor_id {
        h.insert_str(header::ACTOR_ID, id.to_string());
    }
    if let Some(trace) = &envelope.trace_id {
        h.insert_str(header::TRACE_ID, trace);
    }
    h.insert_str(
        header::TIMESTAMP,
        envelope
            .timestamp
            .to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    h.insert_str(header::RETRY_COUNT, envelope.retry_count.to_string());
    if let Some(key) = &envelope.partition_key {
        h.insert_str(header::PARTITION_KEY, key);
    }
    h.insert_str(header::CODEC, codec);
    h
}

/// The message for `envelope`, whose event the codec already encoded to `payload`.
pub fn envelope_message<E>(envelope: &EventEnvelope<E>, codec: &str, payload: Bytes) -> Message {
    Message {
        id: envelope.id.as_u128(),
        headers: envelope_headers(envelope, codec),
        payload,
    }
}

/// The codec name a message was written with.
pub fn codec_name(headers: &Headers) -> Result<&str> {
    required(headers, header::CODEC)
}

/// Reads the envelope metadata back from a message; the event is `()` until the
/// caller decodes the payload and [`EventEnvelope::map`]s it in.
pub fn envelope_metadata(message: &Message) -> Result<EventEnvelope<()>> {
    let h = &message.headers;
    let envelope = EventEnvelope {
        id: Uuid::from_u128(message.id),
        event_type: required(h, header::EVENT_TYPE)?.to_owned(),
        schema_version: parse(h, header::SCHEMA_VERSION)?,
        tenant_id: parse(h, header::TENANT_ID)?,
        correlation_id: parse(h, header::CORRELATION_ID)?,
        causation_id: parse_optional(h, header::CAUSATION_ID)?,
        actor_id: parse_optional(h, header::ACTOR_ID)?,
        trace_id: h.get_str(header::TRACE_ID)?.map(str::to_owned),
        timestamp: required(h, header::TIMESTAMP).and_then(|raw| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| bad_header(header::TIMESTAMP, raw, e))
        })?,
        retry_count: parse(h, header::RETRY_COUNT)?,
        partition_key: h.get_str(header::PARTITION_KEY)?.map(str::to_owned),
        event: (),
    };
    envelope.validate().map_err(|e| {
        Error::new(
            ErrorKind::Codec,
            format!("message carries an invalid envelope: {e}"),
        )
    })?;
    Ok(envelope)
}

fn required<'h>(headers: &'h Headers, key: &str) -> Result<&'h str> {
    headers.get_str(key)?.ok_or_else(|| {
        Error::new(ErrorKind::Codec, format!("message has no `{key}` header"))
            .with_context("header", key)
    })
}

fn parse<T>(headers: &Headers, key: &str) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let raw = required(headers, key)?;
    raw.parse().map_err(|e| bad_header(key, raw, e))
}

fn parse_optional<T>(headers: &Headers, key: &str) -> Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match headers.get_str(key)? {
        None => Ok(None),
        Some(raw) => raw.parse().map(Some).map_err(|e| bad_header(key, raw, e)),
    }
}

fn bad_header(
    key: &str,
    raw: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    let shown: String = raw.chars().take(64).collect();
    Error::new(
        ErrorKind::Codec,
        format!("header `{key}` has an invalid value `{shown}`"),
    )
    .with_context("header", key)
    .with_source(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> EventEnvelope<()> {
        EventEnvelope::builder("order.created", Uuid::now_v7(), ())
            .causation_id(Uuid::now_v7())
            .actor_id(Uuid::now_v7())
            .trace_id("abc")
            .partition_key("order-1")
            .schema_version(3)
            .build()
            .unwrap()
    }

    #[test]
    fn metadata_round_trips_through_headers() {
        let e = envelope();
        let msg = envelope_message(&e, "json", Bytes::new());
        assert_eq!(msg.id, e.id.as_u128());
        assert_eq!(codec_name(&msg.headers).unwrap(), "json");
        let mut back = envelope_metadata(&msg).unwrap();
        // RFC 3339 keeps microseconds; chrono's now() may carry nanoseconds.
        assert_eq!(
            back.timestamp.timestamp_micros(),
            e.timestamp.timestamp_micros()
        );
        back.timestamp = e.timestamp;
        assert_eq!(back, e);
    }

    #[test]
    fn missing_and_garbled_headers_are_codec_errors() {
        let e = envelope();
        let mut msg = envelope_message(&e, "json", Bytes::new());
        msg.headers.insert_str(header::SCHEMA_VERSION, "many");
        let err = envelope_metadata(&msg).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec);
        assert!(err.message().contains("schema-version"), "{err}");

        msg.headers.remove(header::SCHEMA_VERSION);
        assert!(envelope_metadata(&msg)
            .unwrap_err()
            .message()
            .contains("no `schema-version`"));

        let mut msg = envelope_message(&e, "json", Bytes::new());
        msg.headers
            .insert(header::EVENT_TYPE, Bytes::from_static(&[0xff, 0xfe]));
        assert!(envelope_metadata(&msg)
            .unwrap_err()
            .message()
            .contains("UTF-8"));
    }
}
