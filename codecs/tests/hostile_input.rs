//! Decoders return `Ok` or a codec error on any input: never a panic, never a
//! stack overflow, never a silently ignored tail.

mod common;

use common::{codecs, envelope, mutate, test_event, Kind, TestEvent};
use proptest::prelude::*;
use rustok_iggy::{Codec, CodecExt, ErrorKind};
use rustok_iggy_codecs::{JsonCodec, PostcardCodec};

fn decode_all(codec: &dyn Codec, bytes: &[u8]) -> Result<(), TestCaseError> {
    common::decode_all(codec, bytes).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for codec in codecs() {
            decode_all(codec.as_ref(), &bytes)?;
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[\\[\\]{}\":,0-9a-z \\-.eE]{0,64}") {
        // Mostly JSON punctuation, so the JSON decoder gets past the first byte.
        for codec in codecs() {
            decode_all(codec.as_ref(), text.as_bytes())?;
        }
    }

    #[test]
    fn damaged_events_never_panic(
        event in test_event(),
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4),
    ) {
        for codec in codecs() {
            let mut bytes = codec.encode_value(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for &edit in &edits {
                bytes = mutate(bytes, edit);
            }
            decode_all(codec.as_ref(), &bytes)?;
        }
    }

    #[test]
    fn damaged_envelopes_never_panic(
        envelope in envelope(),
        edit in (any::<u8>(), any::<usize>(), any::<u8>()),
    ) {
        for codec in codecs() {
            let bytes = codec.encode_value(&envelope).map_err(|e| TestCaseError::fail(e.to_string()))?;
            decode_all(codec.as_ref(), &mutate(bytes, edit))?;
        }
    }

    #[test]
    fn trailing_bytes_are_rejected(
        event in test_event(),
        tail in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        for codec in codecs() {
            let mut bytes = codec.encode_value(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if codec.name() == "json" && tail.iter().all(u8::is_ascii_whitespace) {
                continue; // JSON allows trailing whitespace
            }
            bytes.extend_from_slice(&tail);
            let err = codec.decode_value::<TestEvent>(&bytes);
            prop_assert!(err.is_err(), "codec {} accepted {} trailing bytes", codec.name(), tail.len());
        }
    }
}

#[test]
fn trailing_bytes_after_scalars_are_rejected() {
    for codec in codecs() {
        let mut bytes = codec.encode_value(&42_u64).unwrap();
        assert_eq!(codec.decode_value::<u64>(&bytes).unwrap(), 42);
        bytes.push(b'x');
        let err = codec.decode_value::<u64>(&bytes).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec, "{err}");
        assert_eq!(err.context("codec"), Some(codec.name()), "{err}");
    }
}

#[test]
fn empty_input_is_an_error() {
    for codec in codecs() {
        let err = codec.decode_value::<TestEvent>(&[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec, "{err}");
    }
}

/// A megabyte of nesting would overflow the stack of a decoder without a depth
/// limit (an abort, not a panic a test could catch).
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    const DEPTH: usize = 1 << 20;

    // `Nested(Nested(...))`: variant 4, a megabyte deep.
    let postcard = vec![4_u8; DEPTH];
    let err = PostcardCodec::new()
        .decode_value::<Kind>(&postcard)
        .unwrap_err();
    assert!(err.to_string().contains("nests deeper than 128"), "{err}");
    // And sequences: `Batch([Batch([...])])`, variant 5 then length 1.
    let batches = [5_u8, 1].repeat(DEPTH / 2);
    assert!(PostcardCodec::new().decode_value::<Kind>(&batches).is_err());

    let json = "{\"Nested\":".repeat(DEPTH / 10);
    assert!(JsonCodec::new()
        .decode_value::<Kind>(json.as_bytes())
        .is_err());
    let arrays = "[".repeat(DEPTH);
    for codec in codecs() {
        assert!(codec
            .decode_value::<serde_json::Value>(arrays.as_bytes())
            .is_err());
    }
}

/// The limit leaves room for any realistic event: 120 levels decode.
#[test]
fn moderate_nesting_decodes() {
    let mut kind = Kind::Created;
    for _ in 0..40 {
        kind = Kind::Nested(Box::new(Kind::Batch(vec![kind])));
    }
    // Three levels per iteration (JSON: `{"Nested":{"Batch":[`; postcard: two
    // enums and a sequence), plus the leaf enum for postcard.
    for codec in codecs() {
        let bytes = codec.encode_value(&kind).unwrap();
        assert_eq!(
            codec.decode_value::<Kind>(&bytes).unwrap(),
            kind,
            "{}",
            codec.name()
        );
    }
}
