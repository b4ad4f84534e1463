//! How an envelope is laid out on the log: metadata in headers, the event in the
//! payload, the event id as message id. Any Iggy tool can read the metadata
//! without knowing the codec.

use bytes::Bytes;
use chrono::SecondsFormat;
use uuid::Uuid;

use super::time;
use crate::{Error, ErrorKind, EventEnvelope, Headers, HeadersBuilder, Message, Result};

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

    /// Written by the Iggy-protocol server (`rustok-iggy serve`) on a
    /// message an Iggy client sent: the Iggy kinds of its headers and its
    /// origin timestamp, which core headers cannot say. Not an envelope
    /// field: readers of events ignore it.
    pub const IGGY_META: &str = "iggy.meta";

    /// Every envelope name above (not [`IGGY_META`]).
    pub const ALL: [&str; 12] = [
        EVENT_TYPE,
        SCHEMA_VERSION,
        TENANT_ID,
        CORRELATION_ID,
        CAUSATION_ID,
        ACTOR_ID,
        TRACE_ID,
        TIMESTAMP,
        RETRY_COUNT,
        PARTITION_KEY,
        CODEC,
        TRACEPARENT,
    ];
}

/// The headers of `envelope` written with `codec`.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] if a value is too long for a header
/// ([`Headers::MAX_VALUE_LEN`]).
pub fn envelope_headers<E>(envelope: &EventEnvelope<E>, codec: &str) -> Result<Headers> {
    let mut h = HeadersBuilder::with_capacity(packed_len(envelope, codec, None));
    push_headers(&mut h, envelope, codec, None);
    h.build()
}

/// About the packed size of `envelope`'s headers: enough that pushing them
/// rarely grows the buffer.
pub(crate) fn packed_len<E>(
    envelope: &EventEnvelope<E>,
    codec: &str,
    traceparent: Option<&str>,
) -> usize {
    PACKED_FIXED
        + traceparent.map_or(0, |t| 6 + header::TRACEPARENT.len() + t.len())
        + envelope.event_type.len()
        + envelope.trace_id.as_ref().map_or(0, String::len)
        + envelope.partition_key.as_ref().map_or(0, String::len)
        + codec.len()
}

/// Pushes the headers of `envelope` written with `codec`, and the
/// `traceparent` the transport adds, in header-name order, so the builder
/// never sorts.
pub(crate) fn push_headers<E>(
    h: &mut HeadersBuilder,
    envelope: &EventEnvelope<E>,
    codec: &str,
    traceparent: Option<&str>,
) {
    let mut uuid = [0u8; uuid::fmt::Hyphenated::LENGTH];
    if let Some(id) = envelope.actor_id {
        h.push_in_order(header::ACTOR_ID, hyphenated(id, &mut uuid));
    }
    if let Some(id) = envelope.causation_id {
        h.push_in_order(header::CAUSATION_ID, hyphenated(id, &mut uuid));
    }
    h.push_in_order(header::CODEC, codec.as_bytes());
    h.push_in_order(
        header::CORRELATION_ID,
        hyphenated(envelope.correlation_id, &mut uuid),
    );
    h.push_in_order(header::EVENT_TYPE, envelope.event_type.as_bytes());
    if let Some(key) = &envelope.partition_key {
        h.push_in_order(header::PARTITION_KEY, key.as_bytes());
    }
    let mut number = itoa::Buffer::new();
    h.push_in_order(
        header::RETRY_COUNT,
        number.format(envelope.retry_count).as_bytes(),
    );
    h.push_in_order(
        header::SCHEMA_VERSION,
        number.format(envelope.schema_version).as_bytes(),
    );
    h.push_in_order(header::TENANT_ID, hyphenated(envelope.tenant_id, &mut uuid));
    match time::format_micros(&envelope.timestamp) {
        Some(text) => h.push_in_order(header::TIMESTAMP, &text),
        None => h.push_in_order(
            header::TIMESTAMP,
            envelope
                .timestamp
                .to_rfc3339_opts(SecondsFormat::Micros, true)
                .as_bytes(),
        ),
    };
    if let Some(trace) = &envelope.trace_id {
        h.push_in_order(header::TRACE_ID, trace.as_bytes());
    }
    if let Some(traceparent) = traceparent {
        h.push_in_order(header::TRACEPARENT, traceparent.as_bytes());
    }
}

/// Packed bytes of the headers every envelope has or may have, besides the
/// variable-length values: names, lengths, UUIDs, numbers and the timestamp.
const PACKED_FIXED: usize = 256;

/// A UUID, hyphenated lower case, without going through `fmt`.
fn hyphenated(id: Uuid, buf: &mut [u8; uuid::fmt::Hyphenated::LENGTH]) -> &[u8] {
    id.hyphenated().encode_lower(buf).as_bytes()
}

/// The message for `envelope`, whose event the codec already encoded to `payload`.
///
/// # Errors
/// As [`envelope_headers`].
pub fn envelope_message<E>(
    envelope: &EventEnvelope<E>,
    codec: &str,
    payload: Bytes,
) -> Result<Message> {
    Ok(Message {
        origin_timestamp_micros: None,
        id: envelope.id.as_u128(),
        headers: envelope_headers(envelope, codec)?,
        payload,
    })
}

/// Whether `headers` hold any header of this transport's envelope, that is
/// any in [`header::ALL`] other than `traceparent` (a W3C header other
/// producers write too). A message with none of them was not written by this
/// transport (RusToK's own transport writes none); a message with some but not
/// all of them is this transport's message, damaged.
pub(crate) fn carries_envelope_headers(headers: &Headers) -> bool {
    // Every message this transport writes has `event-type`: one lookup on
    // the consume path; the scan is for the header-less and the damaged.
    headers.get(header::EVENT_TYPE).is_some()
        || headers
            .iter()
            .any(|(name, _)| name != header::TRACEPARENT && header::ALL.contains(&name))
}

/// The codec name a message was written with.
pub fn codec_name(headers: &Headers) -> Result<&str> {
    required(headers, header::CODEC)
}

/// Reads the envelope metadata back from a message; the event is `()` until the
/// caller decodes the payload and [`EventEnvelope::map`]s it in.
pub fn envelope_metadata(message: &Message) -> Result<EventEnvelope<()>> {
    let h = Known::collect(&message.headers);
    let envelope = EventEnvelope {
        id: Uuid::from_u128(message.id),
        event_type: h.required(header::EVENT_TYPE)?.to_owned(),
        schema_version: h.parse(header::SCHEMA_VERSION)?,
        tenant_id: h.parse(header::TENANT_ID)?,
        correlation_id: h.parse(header::CORRELATION_ID)?,
        causation_id: h.parse_optional(header::CAUSATION_ID)?,
        actor_id: h.parse_optional(header::ACTOR_ID)?,
        trace_id: h.get_str(header::TRACE_ID)?.map(str::to_owned),
        timestamp: h
            .required(header::TIMESTAMP)
            .and_then(|raw| time::parse(raw).map_err(|e| bad_header(header::TIMESTAMP, raw, e)))?,
        retry_count: h.parse(header::RETRY_COUNT)?,
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
    headers.get_str(key)?.ok_or_else(|| missing(key))
}

fn missing(key: &str) -> Error {
    Error::new(ErrorKind::Codec, format!("message has no `{key}` header"))
        .with_context("header", key)
}

/// The values of the transport's own headers, found in one pass over a
/// message's headers rather than one search per field: reading an envelope
/// back is on every consumed message's path.
struct Known<'h> {
    values: [Option<&'h [u8]>; header::ALL.len()],
}

impl<'h> Known<'h> {
    fn collect(headers: &'h Headers) -> Self {
        let mut values = [None; header::ALL.len()];
        for (name, value) in headers.entries() {
            if let Some(i) = header::ALL
                .iter()
                .position(|known| known.as_bytes() == name)
            {
                values[i] = Some(value);
            }
        }
        Self { values }
    }

    fn get_str(&self, key: &'static str) -> Result<Option<&'h str>> {
        let Some(i) = header::ALL.iter().position(|known| *known == key) else {
            return Ok(None);
        };
        match self.values[i] {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes).map(Some).map_err(|e| {
                Error::new(
                    ErrorKind::Codec,
                    format!("header `{key}` is not valid UTF-8"),
                )
                .with_context("header", key)
                .with_source(e)
            }),
        }
    }

    fn required(&self, key: &'static str) -> Result<&'h str> {
        self.get_str(key)?.ok_or_else(|| missing(key))
    }

    fn parse<T>(&self, key: &'static str) -> Result<T>
    where
        T: std::str::FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let raw = self.required(key)?;
        raw.parse().map_err(|e| bad_header(key, raw, e))
    }

    fn parse_optional<T>(&self, key: &'static str) -> Result<Option<T>>
    where
        T: std::str::FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        match self.get_str(key)? {
            None => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|e| bad_header(key, raw, e)),
        }
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
    use chrono::{DateTime, Utc};

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
        let msg = envelope_message(&e, "json", Bytes::new()).unwrap();
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
    fn timestamps_are_written_as_rfc3339_with_microseconds() {
        for micros in [
            0_i64,
            1,
            999_999,
            1_764_201_600_123_456,
            4_102_444_799_999_999,
        ] {
            let mut e = envelope();
            e.timestamp = DateTime::from_timestamp_micros(micros).unwrap();
            let headers = envelope_headers(&e, "json").unwrap();
            assert_eq!(
                headers.get_str(header::TIMESTAMP).unwrap(),
                Some(
                    e.timestamp
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                        .as_str()
                )
            );
        }
    }

    fn timestamp_text(at: DateTime<Utc>) -> String {
        let mut e = envelope();
        e.timestamp = at;
        let headers = envelope_headers(&e, "json").unwrap();
        headers
            .get_str(header::TIMESTAMP)
            .unwrap()
            .unwrap()
            .to_owned()
    }

    proptest::proptest! {
        /// The hand-written formatter gives chrono's text for any instant,
        /// from year -262143 to 262142, leap seconds included.
        #[test]
        fn timestamps_match_chrono_everywhere(
            seconds in DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
            nanos in 0u32..2_000_000_000,
        ) {
            if let Some(at) = DateTime::from_timestamp(seconds, nanos) {
                let text = timestamp_text(at);
                proptest::prop_assert_eq!(&text, &at.to_rfc3339_opts(SecondsFormat::Micros, true));
                // Read back exactly as chrono reads it.
                proptest::prop_assert_eq!(
                    time::parse(&text).ok(),
                    DateTime::parse_from_rfc3339(&text).ok().map(|t| t.with_timezone(&Utc))
                );
            }
        }
    }

    #[test]
    fn timestamps_in_other_forms_are_read_by_chrono() {
        for (raw, expect) in [
            ("2026-11-27T04:30:44Z", "2026-11-27T04:30:44.000000Z"),
            ("2026-11-27T06:30:44.5+02:00", "2026-11-27T04:30:44.500000Z"),
            ("2016-12-31T23:59:60.5Z", "2016-12-31T23:59:60.500000Z"),
            ("2026-11-27t04:30:44.123456z", "2026-11-27T04:30:44.123456Z"),
        ] {
            let at = time::parse(raw).unwrap();
            assert_eq!(
                at.to_rfc3339_opts(SecondsFormat::Micros, true),
                expect,
                "{raw}"
            );
        }
        for bad in [
            "2026-13-27T04:30:44.123456Z",
            "2026-02-30T04:30:44.123456Z",
            "2026-11-27T24:30:44.123456Z",
            "2026-11-27T04:30:44.12345xZ",
            "2026-11-27 04:30:44.123456",
            "",
        ] {
            assert!(time::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_of_one_second_share_its_text_but_not_a_leap_seconds() {
        let second = |nanos| {
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|d| d.and_hms_nano_opt(23, 59, 59, nanos))
                .unwrap()
                .and_utc()
        };
        // In this order: the second is cached, then its leap second (same
        // Unix second) must not be read from the cache, nor replace it.
        for nanos in [500_000_000, 1_500_000_000, 700_001_000, 1_999_999_000, 0] {
            let at = second(nanos);
            assert_eq!(
                timestamp_text(at),
                at.to_rfc3339_opts(SecondsFormat::Micros, true),
                "{nanos}"
            );
        }
    }

    #[test]
    fn leap_seconds_and_year_bounds_match_chrono() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        assert_eq!(timestamp_text(leap), "2016-12-31T23:59:60.500000Z");
        for at in [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "+10000-01-01T00:00:00Z",
            "-0001-12-31T23:59:59Z",
        ] {
            let at = DateTime::parse_from_rfc3339(at)
                .map(|t| t.with_timezone(&Utc))
                .or_else(|_| at.parse::<DateTime<Utc>>())
                .unwrap();
            assert_eq!(
                timestamp_text(at),
                at.to_rfc3339_opts(SecondsFormat::Micros, true)
            );
        }
    }

    #[test]
    fn every_value_lands_under_its_own_name() {
        let e = envelope();
        let h = envelope_headers(&e, "postcard").unwrap();
        let expect = [
            (header::EVENT_TYPE, "order.created".to_owned()),
            (header::SCHEMA_VERSION, "3".to_owned()),
            (header::TENANT_ID, e.tenant_id.to_string()),
            (header::CORRELATION_ID, e.correlation_id.to_string()),
            (header::CAUSATION_ID, e.causation_id.unwrap().to_string()),
            (header::ACTOR_ID, e.actor_id.unwrap().to_string()),
            (header::TRACE_ID, "abc".to_owned()),
            (header::RETRY_COUNT, "0".to_owned()),
            (header::PARTITION_KEY, "order-1".to_owned()),
            (header::CODEC, "postcard".to_owned()),
        ];
        assert_eq!(h.len(), expect.len() + 1, "plus the timestamp");
        // Pushed in order without comparisons: the packed form must hold.
        assert_eq!(Headers::from_packed(h.packed().clone()).unwrap(), h);
        let mut traced = HeadersBuilder::default();
        push_headers(&mut traced, &e, "postcard", Some("00-abc-def-01"));
        let traced = traced.build().unwrap();
        assert_eq!(
            Headers::from_packed(traced.packed().clone()).unwrap(),
            traced
        );
        assert_eq!(traced.len(), h.len() + 1);
        for (name, value) in expect {
            assert_eq!(h.get_str(name).unwrap(), Some(value.as_str()), "{name}");
        }
    }

    #[test]
    fn any_envelope_header_but_traceparent_marks_a_message_as_this_transports() {
        let mut headers = Headers::new();
        assert!(!carries_envelope_headers(&headers));
        headers.insert("x-other-producer", "1").unwrap();
        headers
            .insert(header::TRACEPARENT, "00-abc-def-01")
            .unwrap();
        assert!(!carries_envelope_headers(&headers));
        for name in header::ALL.iter().filter(|n| **n != header::TRACEPARENT) {
            let mut one = headers.clone();
            one.insert(*name, "x").unwrap();
            assert!(carries_envelope_headers(&one), "{name}");
        }
    }

    #[test]
    fn missing_and_garbled_headers_are_codec_errors() {
        let e = envelope();
        let mut msg = envelope_message(&e, "json", Bytes::new()).unwrap();
        msg.headers.insert(header::SCHEMA_VERSION, "many").unwrap();
        let err = envelope_metadata(&msg).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec);
        assert!(err.message().contains("schema-version"), "{err}");

        msg.headers.remove(header::SCHEMA_VERSION);
        assert!(envelope_metadata(&msg)
            .unwrap_err()
            .message()
            .contains("no `schema-version`"));

        let mut msg = envelope_message(&e, "json", Bytes::new()).unwrap();
        msg.headers
            .insert(header::EVENT_TYPE, [0xff, 0xfe])
            .unwrap();
        assert!(envelope_metadata(&msg)
            .unwrap_err()
            .message()
            .contains("UTF-8"));
    }
}
