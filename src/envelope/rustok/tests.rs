//! RusToK payloads as RusToK's transport writes them, read back field by
//! field; and what is refused, with which reason.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use rustok_iggy_testkit::rustok::{Domain, RusTokWritten as Written};

use super::{decode, Format};
use crate::{ErrorKind, EventEnvelope, LegacyFormat, MAX_TRACE_ID_LEN};

fn full() -> Written<Domain> {
    Written {
        id: Uuid::from_u128(0x0198_0000_0000_7000_8000_0000_0000_0001),
        event_type: "node.created".into(),
        schema_version: 3,
        correlation_id: Uuid::from_u128(2),
        causation_id: Some(Uuid::from_u128(3)),
        tenant_id: Uuid::from_u128(4),
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
        timestamp: base_time() + TimeDelta::nanoseconds(123_456_789),
        actor_id: Some(Uuid::from_u128(5)),
        event: Domain::NodeCreated {
            node_id: Uuid::from_u128(6),
            kind: "post".into(),
            author_id: None,
        },
        retry_count: 2,
    }
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 23, 17, 1, 40).unwrap()
}

fn json_of<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

fn msgpack_of<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).unwrap()
}

/// Every field of `written` arrived, `timestamp` to `precision_nanos`.
fn assert_maps(read: &EventEnvelope<Domain>, written: &Written<Domain>, precision_nanos: u32) {
    assert_eq!(read.id, written.id);
    assert_eq!(read.event_type, written.event_type);
    assert_eq!(read.schema_version, written.schema_version);
    assert_eq!(read.correlation_id, written.correlation_id);
    assert_eq!(read.causation_id, written.causation_id);
    assert_eq!(read.tenant_id, written.tenant_id);
    assert_eq!(read.trace_id, written.trace_id);
    assert_eq!(
        read.timestamp.timestamp_nanos_opt().unwrap() / i64::from(precision_nanos),
        written.timestamp.timestamp_nanos_opt().unwrap() / i64::from(precision_nanos)
    );
    assert_eq!(read.actor_id, written.actor_id);
    assert_eq!(read.event, written.event);
    assert_eq!(read.retry_count, written.retry_count);
    assert_eq!(read.partition_key, None, "RusToK's key is the tenant id");
}

#[test]
fn every_field_of_a_json_envelope_maps() {
    let written = full();
    let read: EventEnvelope<Domain> = decode(&json_of(&written), Format::Json).unwrap();
    // RFC 3339 text keeps nanoseconds.
    assert_maps(&read, &written, 1);
    assert_eq!(read.timestamp, written.timestamp);
}

#[test]
fn every_field_of_a_msgpack_envelope_maps() {
    let written = full();
    let bytes = msgpack_of(&written);
    // Named fields: a map, its keys the field names; UUIDs as 16-byte bins.
    assert_eq!(bytes[0], 0x8b, "an 11-entry map");
    assert!(bytes.windows(9).any(|w| w == b"tenant_id"));
    let read: EventEnvelope<Domain> = decode(&bytes, Format::Msgpack).unwrap();
    assert_maps(&read, &written, 1_000);
}

#[test]
fn a_json_timestamp_in_any_rfc3339_form_is_read() {
    for (text, after) in [
        ("2026-07-23T17:01:40+00:00", 0),
        ("2026-07-23T19:01:40.5+02:00", 500_000),
        ("2026-07-23T17:01:40.123456Z", 123_456),
    ] {
        let mut value = serde_json::to_value(full()).unwrap();
        value["timestamp"] = json!(text);
        let read: EventEnvelope<Domain> = decode(&json_of(&value), Format::Json).unwrap();
        assert_eq!(
            read.timestamp,
            base_time() + TimeDelta::microseconds(after),
            "{text}"
        );
    }
}

#[test]
fn optional_fields_may_be_null_or_missing() {
    let mut written = full();
    written.causation_id = None;
    written.actor_id = None;
    written.trace_id = None;
    for bytes in [json_of(&written), msgpack_of(&written)] {
        let format = Format::of(LegacyFormat::RustokAuto, &bytes).unwrap();
        let read: EventEnvelope<Domain> = decode(&bytes, format).unwrap();
        assert_maps(&read, &written, 1_000);
    }
    let mut value = serde_json::to_value(full()).unwrap();
    for key in ["causation_id", "actor_id", "trace_id"] {
        value.as_object_mut().unwrap().remove(key);
    }
    let read: EventEnvelope<Domain> = decode(&json_of(&value), Format::Json).unwrap();
    assert_eq!(
        (read.causation_id, read.actor_id, read.trace_id),
        (None, None, None)
    );
    // Fields RusToK may add later are ignored, as RusToK's reader ignores them.
    value["added_in_a_later_release"] = json!({"x": 1});
    assert!(decode::<Domain>(&json_of(&value), Format::Json).is_ok());
}

#[test]
fn auto_tells_the_formats_apart_by_the_first_byte() {
    let json = json_of(&full());
    let msgpack = msgpack_of(&full());
    let padded = [b" \r\n\t".as_slice(), &json].concat();
    assert_eq!(
        Format::of(LegacyFormat::RustokAuto, &json),
        Some(Format::Json)
    );
    assert_eq!(
        Format::of(LegacyFormat::RustokAuto, &padded),
        Some(Format::Json)
    );
    assert_eq!(
        Format::of(LegacyFormat::RustokAuto, &msgpack),
        Some(Format::Msgpack)
    );
    assert_eq!(
        Format::of(LegacyFormat::RustokAuto, b""),
        Some(Format::Msgpack)
    );
    assert!(decode::<Domain>(&padded, Format::Json).is_ok());
    // The fixed settings do not sniff; `none` reads nothing.
    assert_eq!(
        Format::of(LegacyFormat::RustokJson, &msgpack),
        Some(Format::Json)
    );
    assert_eq!(
        Format::of(LegacyFormat::RustokMsgpack, &json),
        Some(Format::Msgpack)
    );
    assert_eq!(Format::of(LegacyFormat::None, &json), None);
    // Read in the wrong format, each is refused.
    assert!(decode::<Domain>(&json, Format::Msgpack).is_err());
    assert!(decode::<Domain>(&msgpack, Format::Json).is_err());
}

/// The reason a payload was refused: a codec error saying what it is not,
/// with the field at fault and what was wrong with it.
fn reason(bytes: &[u8], format: Format) -> String {
    let err = decode::<Domain>(bytes, format).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec, "{err}");
    err.to_string()
}

#[test]
fn a_field_of_the_wrong_type_is_refused_naming_it() {
    let cases: &[(&str, Value, &str)] = &[
        ("id", json!("not-a-uuid"), "UUID parsing failed"),
        ("id", json!(7), "invalid type"),
        ("event_type", json!(5), "invalid type"),
        ("schema_version", json!(70_000), "u16"),
        ("schema_version", json!("3"), "invalid type"),
        ("correlation_id", json!([1, 2]), "invalid type"),
        ("causation_id", json!("x"), "UUID parsing failed"),
        ("tenant_id", json!(null), "invalid type"),
        ("trace_id", json!(7), "invalid type"),
        (
            "timestamp",
            json!(1_784_826_100_000_000_i64),
            "invalid type",
        ),
        ("timestamp", json!("yesterday"), "not RFC 3339"),
        ("actor_id", json!(true), "invalid type"),
        (
            "event",
            json!({"type": "NodeDeleted", "data": {}}),
            "unknown variant",
        ),
        (
            "event",
            json!({"type": "NodeCreated", "data": {"kind": "post"}}),
            "node_id",
        ),
        ("retry_count", json!(-1), "u32"),
    ];
    for (field, bad, says) in cases {
        let mut value = serde_json::to_value(full()).unwrap();
        value[*field] = bad.clone();
        let text = reason(&json_of(&value), Format::Json);
        assert!(
            text.contains("not a RusToK envelope in JSON"),
            "{field}: {text}"
        );
        assert!(text.contains(field), "{field}: {text}");
        assert!(text.contains(says), "{field} = {bad}: {text}");
    }
}

#[test]
fn msgpack_fields_must_have_the_types_rustok_writes_in_msgpack() {
    // RusToK's JSON forms (UUIDs and the timestamp as text) written as
    // MessagePack: RusToK writes UUIDs as 16-byte bins there.
    let text_forms = serde_json::to_value(full()).unwrap();
    let text = reason(&msgpack_of(&text_forms), Format::Msgpack);
    assert!(
        text.contains("not a RusToK envelope in MessagePack"),
        "{text}"
    );
    assert!(text.contains("id: invalid type: string"), "{text}");

    // Only the timestamp as RFC 3339 text, where RusToK writes microseconds.
    let mut bytes = msgpack_of(&full());
    let micros = rmp_serde::to_vec(&full().timestamp.timestamp_micros()).unwrap();
    let at = bytes
        .windows(micros.len())
        .position(|w| w == micros.as_slice())
        .unwrap();
    let as_text = rmp_serde::to_vec("2026-07-23T17:01:40Z").unwrap();
    bytes.splice(at..at + micros.len(), as_text);
    let text = reason(&bytes, Format::Msgpack);
    assert!(text.contains("timestamp: "), "{text}");

    // Microseconds beyond what chrono represents.
    let mut bytes = msgpack_of(&full());
    bytes.splice(at..at + micros.len(), rmp_serde::to_vec(&i64::MAX).unwrap());
    let text = reason(&bytes, Format::Msgpack);
    assert!(text.contains("out of chrono's range"), "{text}");
}

/// [`full`] in MessagePack as RusToK writes it, with one field left out.
#[derive(Default, Serialize)]
struct Partial {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<Domain>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_count: Option<u32>,
}

impl Partial {
    fn without(field: &str) -> Self {
        let full = full();
        let mut partial = Self {
            id: Some(full.id),
            event_type: Some(full.event_type),
            schema_version: Some(full.schema_version),
            correlation_id: Some(full.correlation_id),
            tenant_id: Some(full.tenant_id),
            timestamp: Some(full.timestamp.timestamp_micros()),
            event: Some(full.event),
            retry_count: Some(full.retry_count),
        };
        match field {
            "id" => partial.id = None,
            "event_type" => partial.event_type = None,
            "schema_version" => partial.schema_version = None,
            "correlation_id" => partial.correlation_id = None,
            "tenant_id" => partial.tenant_id = None,
            "timestamp" => partial.timestamp = None,
            "event" => partial.event = None,
            "retry_count" => partial.retry_count = None,
            other => panic!("{other} is not a required field"),
        }
        partial
    }
}

#[test]
fn a_payload_of_another_shape_is_not_an_envelope() {
    let required = [
        "id",
        "event_type",
        "schema_version",
        "correlation_id",
        "tenant_id",
        "timestamp",
        "event",
        "retry_count",
    ];
    for field in required {
        let mut value = serde_json::to_value(full()).unwrap();
        value.as_object_mut().unwrap().remove(field);
        let text = reason(&json_of(&value), Format::Json);
        assert!(text.contains(&format!("missing field `{field}`")), "{text}");
        let text = reason(&msgpack_of(&Partial::without(field)), Format::Msgpack);
        assert!(text.contains(&format!("missing field `{field}`")), "{text}");
    }
    // This crate's own event payload (the envelope is in its headers).
    let text = reason(br#"{"node_id": "x"}"#, Format::Json);
    assert!(text.contains("missing field `id`"), "{text}");
    for (bytes, format) in [
        (&b"[1, 2, 3]"[..], Format::Json),
        (b"", Format::Json),
        (b"\xff\x00garbage", Format::Json),
        (&[0x93, 0x01, 0x02, 0x03], Format::Msgpack),
        (b"", Format::Msgpack),
        (b"\xc1", Format::Msgpack),
        (b"\xff\x00garbage", Format::Msgpack),
    ] {
        let text = reason(bytes, format);
        assert!(
            text.contains("not a RusToK envelope"),
            "{bytes:02x?}: {text}"
        );
    }
    // One envelope and nothing after it.
    let mut json = json_of(&full());
    json.extend_from_slice(b" {}");
    assert!(reason(&json, Format::Json).contains("trailing"));
    let mut msgpack = msgpack_of(&full());
    msgpack.push(0x00);
    assert!(reason(&msgpack, Format::Msgpack).contains("1 unexpected bytes after the envelope"));
}

#[test]
fn envelopes_are_validated_as_any_envelope_is() {
    let mut nil = full();
    nil.id = Uuid::nil();
    let mut untyped = full();
    untyped.event_type = "  ".into();
    let mut long = full();
    long.trace_id = Some("x".repeat(MAX_TRACE_ID_LEN + 1));
    for (written, says) in [
        (nil, "event id must not be nil"),
        (untyped, "event type must not be empty"),
        (long, "trace id"),
    ] {
        for (bytes, format) in [
            (json_of(&written), Format::Json),
            (msgpack_of(&written), Format::Msgpack),
        ] {
            let text = reason(&bytes, format);
            assert!(text.contains("invalid RusToK envelope"), "{text}");
            assert!(text.contains(says), "{text}");
        }
    }
}

/// An event type that nests through an externally tagged enum, which
/// `rmp-serde` does not count towards its own depth limit.
#[derive(Debug, Serialize, Deserialize)]
enum Tree {
    Leaf,
    Node(Box<Tree>),
}

fn tree(depth: usize) -> Tree {
    (0..depth).fold(Tree::Leaf, |t, _| Tree::Node(Box::new(t)))
}

fn with_event<E: Serialize>(event: E) -> Written<E> {
    let base = full();
    Written {
        id: base.id,
        event_type: base.event_type,
        schema_version: base.schema_version,
        correlation_id: base.correlation_id,
        causation_id: base.causation_id,
        tenant_id: base.tenant_id,
        trace_id: base.trace_id,
        timestamp: base.timestamp,
        actor_id: base.actor_id,
        event,
        retry_count: base.retry_count,
    }
}

#[test]
fn nesting_is_bounded_in_both_formats_enums_included() {
    // Within the limit: the envelope is one level, the event the rest.
    let fits = msgpack_of(&with_event(tree(100)));
    assert!(decode::<Tree>(&fits, Format::Msgpack).is_ok());
    let too_deep = msgpack_of(&with_event(tree(200)));
    let err = decode::<Tree>(&too_deep, Format::Msgpack).unwrap_err();
    assert!(err.to_string().contains("deeper than 128"), "{err}");
    // Crafted bytes far deeper than any stack survives are refused before
    // decoding starts: each level is a one-entry map {"Node": ...}.
    let mut bomb = msgpack_of(&with_event(Tree::Leaf));
    let leaf = rmp_serde::to_vec_named(&Tree::Leaf).unwrap();
    let at = bomb
        .windows(leaf.len())
        .rposition(|w| w == leaf.as_slice())
        .unwrap();
    let level = [&[0x81, 0xa4][..], b"Node"].concat();
    let nested: Vec<u8> = std::iter::repeat_n(level.as_slice(), 1_000_000)
        .flatten()
        .copied()
        .chain(leaf.iter().copied())
        .collect();
    bomb.splice(at..at + leaf.len(), nested);
    let err = decode::<Tree>(&bomb, Format::Msgpack).unwrap_err();
    assert!(err.to_string().contains("deeper than 128"), "{err}");

    let mut json = json_of(&with_event(Tree::Leaf));
    let leaf = br#""Leaf""#;
    let at = json.windows(leaf.len()).position(|w| w == leaf).unwrap();
    let nested: Vec<u8> = std::iter::repeat_n(&br#"{"Node":"#[..], 100_000)
        .flatten()
        .copied()
        .chain(leaf.iter().copied())
        .chain(std::iter::repeat_n(b'}', 100_000))
        .collect();
    json.splice(at..at + leaf.len(), nested);
    let err = decode::<Tree>(&json, Format::Json).unwrap_err();
    assert!(err.to_string().contains("recursion limit"), "{err}");
}
