//! The msgpack decoder on hostile input, with the same event types and
//! checks as the built-in codecs (`codecs/tests/common`): arbitrary bytes and
//! damaged valid encodings decode or fail with a codec error naming
//! `msgpack`, never panic, and a length field (str32, bin32, array32, map32,
//! ext32 claiming up to 4 GiB) never sizes an allocation.

#[path = "../../../codecs/tests/common/mod.rs"]
mod common;

use common::{decode_all, envelope, mutate, test_event, TestEvent};
use proptest::prelude::*;
use rustok_iggy::{CodecExt, ErrorKind};
use rustok_iggy_example_msgpack::MsgpackCodec;
use rustok_iggy_testkit::alloc::CountingAllocator;

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator::new();

/// Peak heap one decode of a small payload may take: serde pre-sizes
/// collections from a length hint at most 1 MiB; the rest is small change.
const BOUND: usize = 4 << 20;

/// Headers claiming `u32::MAX` (4 GiB) of content: str32, bin32, array32,
/// map32, ext32 (type 1).
const HUGE: [&[u8]; 5] = [
    b"\xdb\xff\xff\xff\xff",
    b"\xc6\xff\xff\xff\xff",
    b"\xdd\xff\xff\xff\xff",
    b"\xdf\xff\xff\xff\xff",
    b"\xc9\xff\xff\xff\xff\x01",
];

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    decode_all(&MsgpackCodec::new(), bytes).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _only_me = HEAP.exclusive();
        check(&bytes)?;
    }

    #[test]
    fn damaged_events_never_panic(
        event in test_event(),
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4),
    ) {
        let _only_me = HEAP.exclusive();
        let mut bytes = MsgpackCodec::new().encode_value(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for &edit in &edits {
            bytes = mutate(bytes, edit);
        }
        check(&bytes)?;
    }

    #[test]
    fn damaged_envelopes_never_panic(
        envelope in envelope(),
        edit in (any::<u8>(), any::<usize>(), any::<u8>()),
    ) {
        let _only_me = HEAP.exclusive();
        let bytes = MsgpackCodec::new().encode_value(&envelope).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check(&mutate(bytes, edit))?;
    }

    #[test]
    fn valid_events_round_trip_and_trailing_bytes_are_rejected(
        event in test_event(),
        tail in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        let _only_me = HEAP.exclusive();
        let codec = MsgpackCodec::new();
        let mut bytes = codec.encode_value(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let decoded: TestEvent = codec.decode_value(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded, event);
        bytes.extend_from_slice(&tail);
        let err = codec.decode_value::<TestEvent>(&bytes).err();
        prop_assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Codec));
    }

    /// A 4 GiB header spliced in anywhere in a valid event.
    #[test]
    fn huge_length_fields_do_not_size_allocations(
        event in test_event(),
        at in any::<usize>(),
        which in 0..HUGE.len(),
    ) {
        let _only_me = HEAP.exclusive();
        let valid = MsgpackCodec::new().encode_value(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let at = at % (valid.len() + 1);
        let mut bytes = valid[..at].to_vec();
        bytes.extend_from_slice(HUGE[which]);
        bytes.extend_from_slice(&valid[at..]);
        let (result, peak) = HEAP.measure(|| check(&bytes));
        result?;
        prop_assert!(peak < BOUND, "peak heap {} bytes, bound {}", peak, BOUND);
    }
}

/// Each 4 GiB header alone, and followed by a little content: a codec
/// error, and a bounded heap.
#[test]
fn headers_claiming_4_gib_fail_within_the_bound() {
    let _only_me = HEAP.exclusive();
    let mut worst = 0;
    for header in HUGE {
        for tail in [&b""[..], b"\x01\x02\x03", b"\xa1a\xa1b"] {
            let bytes = [header, tail].concat();
            let (result, peak) = HEAP.measure(|| {
                let codec = MsgpackCodec::new();
                (
                    codec.decode_value::<String>(&bytes).err(),
                    codec.decode_value::<Vec<u8>>(&bytes).err(),
                    codec.decode_value::<Vec<String>>(&bytes).err(),
                    codec.decode_value::<serde_json::Value>(&bytes).err(),
                    decode_all(&codec, &bytes),
                )
            });
            let (a, b, c, d, all) = result;
            all.unwrap();
            for err in [a, b, c, d] {
                let err = err.expect("4 GiB of content cannot be there");
                assert_eq!(err.kind(), ErrorKind::Codec, "{err}");
                assert_eq!(err.context("codec"), Some("msgpack"), "{err}");
            }
            assert!(peak < BOUND, "{header:02x?}: peak {peak}, bound {BOUND}");
            worst = worst.max(peak);
        }
    }
    println!("msgpack, 4 GiB headers: peak heap {worst} bytes");
}
