//! The [`Codec`] conformance suite; run it with
//! [`codec_conformance!`](crate::codec_conformance).
//!
//! The cases round-trip the [fixture events](crate::fixtures::sample_events)
//! and feed the decoder bytes it must refuse. Decoding must return an error,
//! never panic, for any input.

use std::{fmt::Debug, panic::AssertUnwindSafe, sync::Arc};

use rand::{rngs::StdRng, Rng, SeedableRng};
use rustok_iggy::{Codec, CodecExt, EventEnvelope};
use serde::de::DeserializeOwned;

use crate::fixtures::{
    envelope, order_placed, sample_events, tenant, OrderEvent, OrderPlaced, Sequenced, ORDER_EVENT,
};

fn encode<T: serde::Serialize + Debug>(codec: &dyn Codec, value: &T) -> Vec<u8> {
    codec
        .encode_value(value)
        .unwrap_or_else(|e| panic!("codec `{}` cannot encode {value:?}: {e}", codec.name()))
}

/// Decodes `bytes` as `T`, turning a panic into a test failure that shows the
/// input. `Some(value)` if it decoded.
fn try_decode<T: DeserializeOwned + Debug>(codec: &dyn Codec, bytes: &[u8]) -> Option<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| codec.decode_value::<T>(bytes))) {
        Ok(Ok(value)) => Some(value),
        Ok(Err(_)) => None,
        Err(_) => panic!(
            "codec `{}` panicked decoding {} bytes {bytes:02x?} as {}",
            codec.name(),
            bytes.len(),
            std::any::type_name::<T>()
        ),
    }
}

fn assert_rejects<T: DeserializeOwned + Debug>(codec: &dyn Codec, bytes: &[u8], what: &str) {
    if let Some(value) = try_decode::<T>(codec, bytes) {
        panic!(
            "codec `{}` accepted {what} ({bytes:02x?}) as {value:?}",
            codec.name()
        );
    }
}

/// The name is non-empty, printable ASCII without spaces (it travels in a
/// message header), and the same on every call.
pub fn name_is_stable_and_header_safe(codec: Arc<dyn Codec>) {
    let name = codec.name().to_owned();
    assert!(!name.is_empty(), "a codec needs a name");
    assert!(
        name.chars().all(|c| c.is_ascii_graphic()),
        "codec name {name:?} must be printable ASCII without spaces"
    );
    assert!(
        name.len() <= 255,
        "codec name {name:?} is too long for a header"
    );
    assert_eq!(codec.name(), name, "the codec name changed between calls");
    let _ = codec.capabilities();
}

/// Every fixture event, and a few plain values, decode to what was encoded.
pub fn round_trips_sample_events(codec: Arc<dyn Codec>) {
    for event in sample_events() {
        let bytes = encode(&*codec, &event);
        let back: OrderEvent = codec
            .decode_value(&bytes)
            .unwrap_or_else(|e| panic!("codec `{}` cannot decode {event:?}: {e}", codec.name()));
        assert_eq!(back, event);
    }
    for id in [0, 1, 2, 12_345] {
        let placed = order_placed(id);
        let back: OrderPlaced = codec.decode_value(&encode(&*codec, &placed)).unwrap();
        assert_eq!(back, placed);
    }
    let seq = Sequenced {
        key: "tenant-a".to_owned(),
        seq: 3,
    };
    let back: Sequenced = codec.decode_value(&encode(&*codec, &seq)).unwrap();
    assert_eq!(back, seq);
    let values: Vec<(String, Option<u64>)> =
        vec![("a".to_owned(), None), ("".to_owned(), Some(u64::MAX))];
    let back: Vec<(String, Option<u64>)> = codec.decode_value(&encode(&*codec, &values)).unwrap();
    assert_eq!(back, values);
}

/// A whole envelope (UUIDs, timestamps, options) round-trips as a value.
pub fn round_trips_an_envelope(codec: Arc<dyn Codec>) {
    let mut env = envelope(ORDER_EVENT, tenant(1), OrderEvent::Placed(order_placed(5)));
    env.partition_key = Some("order-5".to_owned());
    let back: EventEnvelope<OrderEvent> = codec
        .decode_value(&encode(&*codec, &env))
        .unwrap_or_else(|e| panic!("codec `{}` cannot decode an envelope: {e}", codec.name()));
    assert_eq!(back, env);
}

/// The same value always encodes to the same bytes.
pub fn encoding_is_deterministic(codec: Arc<dyn Codec>) {
    for event in sample_events() {
        assert_eq!(
            encode(&*codec, &event),
            encode(&*codec, &event),
            "{event:?}"
        );
    }
}

/// [`Codec::encode_into`] appends exactly what [`Codec::encode`] returns,
/// after whatever the buffer held: the transport encodes a whole batch into
/// one buffer.
pub fn encoding_into_a_buffer_appends_the_same_bytes(codec: Arc<dyn Codec>) {
    let mut buffer = bytes::BytesMut::from(&b"before"[..]);
    let mut expected = b"before".to_vec();
    for event in sample_events() {
        codec
            .encode_value_into(&event, &mut buffer)
            .unwrap_or_else(|e| panic!("codec `{}` cannot encode {event:?}: {e}", codec.name()));
        expected.extend_from_slice(&encode(&*codec, &event));
        assert_eq!(&buffer[..], &expected[..], "{event:?}");
    }
}

/// Inputs that are not an encoding of the expected type are errors.
pub fn rejects_garbage(codec: Arc<dyn Codec>) {
    let garbage: [(&str, &[u8]); 6] = [
        ("empty input", b""),
        ("0xff bytes", &[0xff; 32]),
        ("an out-of-range variant", &[0x7f]),
        ("an unterminated object", b"{\"Placed\":{\"order_id\":1"),
        ("an unterminated string", b"\"Archiv"),
        ("the text `null`", b"null"),
    ];
    for (what, bytes) in garbage {
        assert_rejects::<OrderEvent>(&*codec, bytes, what);
    }
    assert_rejects::<OrderPlaced>(&*codec, b"", "empty input");
    assert_rejects::<OrderPlaced>(&*codec, &[0xff; 32], "0xff bytes");
}

/// Random bytes (from a fixed seed) never make the decoder panic, whatever
/// it makes of them.
pub fn never_panics_on_random_input(codec: Arc<dyn Codec>) {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for _ in 0..500 {
        let len = rng.random_range(0..96usize);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = try_decode::<OrderEvent>(&*codec, &bytes);
        let _ = try_decode::<OrderPlaced>(&*codec, &bytes);
        let _ = try_decode::<EventEnvelope<Sequenced>>(&*codec, &bytes);
    }
    // Valid encodings with random bytes flipped.
    for event in sample_events() {
        let bytes = encode(&*codec, &event);
        for _ in 0..20 {
            let mut mutated = bytes.clone();
            if let Some(i) = (!mutated.is_empty()).then(|| rng.random_range(0..mutated.len())) {
                mutated[i] ^= rng.random_range(1..=255u8);
            }
            let _ = try_decode::<OrderEvent>(&*codec, &mutated);
        }
    }
}

/// Every strict prefix of an encoding is an error (the fixtures contain no
/// bare top-level numbers, whose prefixes are numbers too).
pub fn rejects_truncated_input(codec: Arc<dyn Codec>) {
    for event in sample_events() {
        let bytes = encode(&*codec, &event);
        for len in 0..bytes.len() {
            assert_rejects::<OrderEvent>(
                &*codec,
                &bytes[..len],
                &format!("{event:?} cut to {len} of {} bytes", bytes.len()),
            );
        }
    }
}

/// Bytes after a complete encoding are an error, not silently ignored
/// (trailing whitespace of a text format may be accepted).
pub fn rejects_trailing_bytes(codec: Arc<dyn Codec>) {
    for event in sample_events() {
        let bytes = encode(&*codec, &event);
        let suffixes: [&[u8]; 4] = [&[0x00], &[0x01, 0x02, 0x03], b"x", &bytes];
        for suffix in suffixes {
            let input = [bytes.as_slice(), suffix].concat();
            assert_rejects::<OrderEvent>(
                &*codec,
                &input,
                &format!("{event:?} followed by {suffix:02x?}"),
            );
        }
    }
}
