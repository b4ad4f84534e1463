//! Event types and proptest strategies shared by the integration tests.
//!
//! Also included by path from `examples/msgpack-codec/tests/hostile_input.rs`
//! and `fuzz/src/lib.rs`, so every codec is checked by the same cases: a new
//! dependency here must be a dev-dependency there too.

#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use rustok_iggy::{Codec, CodecExt, ErrorKind, EventEnvelope};
use rustok_iggy_codecs::{JsonCodec, PostcardCodec};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A domain event exercising most of the serde data model: strings, integers
/// of every width, options, sequences, maps, bytes and a recursive enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestEvent {
    pub name: String,
    pub count: u64,
    pub delta: i64,
    pub small: i8,
    pub flag: bool,
    pub letter: char,
    pub note: Option<String>,
    pub maybe_count: Option<u32>,
    pub tags: Vec<String>,
    pub blob: Vec<u8>,
    pub attributes: BTreeMap<String, i32>,
    pub kind: Kind,
    pub history: Vec<Kind>,
    pub unit: (),
}

/// Every enum variant shape, nested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Kind {
    Created,
    Renamed(String),
    Moved(u16, i16),
    Priced {
        cents: u64,
        currency: Option<String>,
    },
    Nested(Box<Kind>),
    Batch(Vec<Kind>),
}

pub fn kind() -> impl Strategy<Value = Kind> {
    let leaf = prop_oneof![
        Just(Kind::Created),
        any::<String>().prop_map(Kind::Renamed),
        (any::<u16>(), any::<i16>()).prop_map(|(a, b)| Kind::Moved(a, b)),
        (any::<u64>(), any::<Option<String>>())
            .prop_map(|(cents, currency)| Kind::Priced { cents, currency }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|k| Kind::Nested(Box::new(k))),
            prop::collection::vec(inner, 0..4).prop_map(Kind::Batch),
        ]
    })
}

pub fn test_event() -> impl Strategy<Value = TestEvent> {
    (
        (
            any::<String>(),
            any::<u64>(),
            any::<i64>(),
            any::<i8>(),
            any::<bool>(),
            any::<char>(),
            any::<Option<String>>(),
            any::<Option<u32>>(),
        ),
        (
            prop::collection::vec(any::<String>(), 0..4),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::btree_map(any::<String>(), any::<i32>(), 0..4),
            kind(),
            prop::collection::vec(kind(), 0..3),
        ),
    )
        .prop_map(
            |(
                (name, count, delta, small, flag, letter, note, maybe_count),
                (tags, blob, attributes, kind, history),
            )| TestEvent {
                name,
                count,
                delta,
                small,
                flag,
                letter,
                note,
                maybe_count,
                tags,
                blob,
                attributes,
                kind,
                history,
                unit: (),
            },
        )
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
    // Year 0 to 9999, whole range of sub-second precision (no leap seconds).
    (-62_167_219_200_i64..253_402_300_799, 0_u32..1_000_000_000)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap_or_default())
}

/// Arbitrary envelopes; not necessarily valid ones (nil ids, empty types), since
/// a codec must carry whatever it is given.
pub fn envelope() -> impl Strategy<Value = EventEnvelope<TestEvent>> {
    (
        (uuid(), any::<String>(), any::<u16>(), uuid(), uuid()),
        (
            proptest::option::of(uuid()),
            proptest::option::of(uuid()),
            any::<Option<String>>(),
            timestamp(),
            any::<u32>(),
            any::<Option<String>>(),
            test_event(),
        ),
    )
        .prop_map(
            |(
                (id, event_type, schema_version, tenant_id, correlation_id),
                (causation_id, actor_id, trace_id, timestamp, retry_count, partition_key, event),
            )| EventEnvelope {
                id,
                event_type,
                schema_version,
                tenant_id,
                correlation_id,
                causation_id,
                actor_id,
                trace_id,
                timestamp,
                retry_count,
                partition_key,
                event,
            },
        )
}

/// Every codec of the crate.
pub fn codecs() -> Vec<Box<dyn Codec>> {
    vec![Box::new(JsonCodec::new()), Box::new(PostcardCodec::new())]
}

/// Decodes `bytes` with `codec` into several target types (structs, enums,
/// self-describing values, sequences, strings, scalars); each must succeed or
/// fail with a codec error naming the codec. Shared by the proptests of every
/// codec crate and the cargo-fuzz targets in `fuzz/`.
pub fn decode_all(codec: &dyn Codec, bytes: &[u8]) -> Result<(), String> {
    fn check<T: serde::de::DeserializeOwned>(
        codec: &dyn Codec,
        bytes: &[u8],
    ) -> Result<(), String> {
        match codec.decode_value::<T>(bytes) {
            Ok(_) => Ok(()),
            Err(err)
                if err.kind() == ErrorKind::Codec && err.context("codec") == Some(codec.name()) =>
            {
                Ok(())
            }
            Err(err) => Err(format!(
                "{} decoding {}: {err} (kind {:?}, codec context {:?})",
                codec.name(),
                std::any::type_name::<T>(),
                err.kind(),
                err.context("codec")
            )),
        }
    }
    check::<TestEvent>(codec, bytes)?;
    check::<EventEnvelope<TestEvent>>(codec, bytes)?;
    check::<Kind>(codec, bytes)?;
    check::<serde_json::Value>(codec, bytes)?;
    check::<Vec<u8>>(codec, bytes)?;
    check::<Vec<String>>(codec, bytes)?;
    check::<BTreeMap<String, u64>>(codec, bytes)?;
    check::<String>(codec, bytes)?;
    check::<u64>(codec, bytes)?;
    check::<Option<i32>>(codec, bytes)?;
    check::<()>(codec, bytes)
}

/// One edit of a valid encoding, so a decoder gets deep into the value before
/// it meets the damage: `(op, at, byte)` sets, cuts at, inserts or appends
/// `byte` (`at` wraps around the length).
pub fn mutate(mut bytes: Vec<u8>, edit: (u8, usize, u8)) -> Vec<u8> {
    let (op, at, byte) = edit;
    let at = if bytes.is_empty() {
        0
    } else {
        at % bytes.len()
    };
    match op % 4 {
        0 if !bytes.is_empty() => bytes[at] = byte,
        1 => bytes.truncate(at),
        2 => bytes.insert(at, byte),
        _ => bytes.push(byte),
    }
    bytes
}
