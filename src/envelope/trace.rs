//! W3C trace context across the log: the publisher writes a `traceparent`
//! header, the consumer records it on the handler's span, so logs and traces
//! of both sides join on the trace id.
//!
//! Only the wire format lives here (no OpenTelemetry dependency): an
//! application using `tracing-opentelemetry` can read the same header in its
//! handler (`wire::header::TRACEPARENT`) with its own propagator.

use rand::Rng;

use crate::{wire::header, EventEnvelope, Headers};

/// A `traceparent` value, built on the stack: the publish path writes one
/// per event, so it avoids `format!` and a heap string.
pub(crate) struct Traceparent([u8; TRACEPARENT_LEN]);

/// `00-` + 32 hex digits + `-` + 16 hex digits + `-01`.
const TRACEPARENT_LEN: usize = 55;

impl Traceparent {
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever written (see `traceparent`); the fallback is
        // unreachable but keeps this total.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// `00-<trace id>-<fresh span id>-01` when the envelope's trace id is a W3C
/// trace id (32 lowercase hex digits, not all zero); otherwise nothing, since
/// an invented trace id would join unrelated traces.
pub(crate) fn traceparent<E>(envelope: &EventEnvelope<E>) -> Option<Traceparent> {
    let trace_id = envelope.trace_id.as_deref()?;
    if !is_hex_id(trace_id, 32) {
        return None;
    }
    let span_id: u64 = rand::rng().random_range(1..=u64::MAX);
    let mut out = [0u8; TRACEPARENT_LEN];
    out[..3].copy_from_slice(b"00-");
    out[3..35].copy_from_slice(trace_id.as_bytes());
    out[35] = b'-';
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, slot) in out[36..52].iter_mut().enumerate() {
        *slot = HEX[((span_id >> (60 - 4 * i)) & 0xf) as usize];
    }
    out[52..].copy_from_slice(b"-01");
    Some(Traceparent(out))
}

/// Parses a `traceparent` value into (trace id, parent span id).
pub(crate) fn parse(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.split('-');
    let (version, trace_id, span_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let valid = parts.next().is_none()
        && version.len() == 2
        && version != "ff"
        && version.bytes().all(|b| b.is_ascii_hexdigit())
        && is_hex_id(trace_id, 32)
        && is_hex_id(span_id, 16)
        && flags.len() == 2
        && flags.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then_some((trace_id, span_id))
}

/// Records the message's trace context on the handler's span (fields
/// `trace_id` and `parent_span_id`), when it carries a valid one.
pub(crate) fn record_parent(span: &tracing::Span, headers: &Headers) {
    // Per event: skip the header lookup when no subscriber wants the span.
    if span.is_disabled() {
        return;
    }
    if let Some((trace_id, span_id)) = headers
        .get_str(header::TRACEPARENT)
        .ok()
        .flatten()
        .and_then(parse)
    {
        span.record("trace_id", trace_id);
        span.record("parent_span_id", span_id);
    }
}

fn is_hex_id(id: &str, len: usize) -> bool {
    id.len() == len
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn envelope(trace: Option<&str>) -> EventEnvelope<()> {
        let b = EventEnvelope::builder("a.b", Uuid::nil(), ()).id(Uuid::now_v7());
        match trace {
            Some(t) => b.trace_id(t),
            None => b,
        }
        .build()
        .unwrap()
    }

    #[test]
    fn writes_w3c_traceparent_for_w3c_trace_ids_only() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let value = traceparent(&envelope(Some(trace))).unwrap();
        let (t, span) = parse(value.as_str()).unwrap();
        assert_eq!(t, trace);
        assert_eq!(span.len(), 16);
        assert!(traceparent(&envelope(None)).is_none());
        assert!(traceparent(&envelope(Some("req-42"))).is_none());
        assert!(traceparent(&envelope(Some(&"0".repeat(32)))).is_none());
        assert!(traceparent(&envelope(Some(&trace.to_uppercase()))).is_none());
    }

    #[test]
    fn rejects_malformed_traceparents() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_some());
    }
}
