//! A length field read from a payload never sizes an allocation: postcard
//! payloads of a few bytes that claim gigabytes of sequence, string, byte or
//! map content fail with a codec error while the heap stays within a small,
//! fixed bound (serde pre-sizes collections from a length hint at most 1 MiB).

mod common;

use std::collections::BTreeMap;

use common::{decode_all, TestEvent};
use rustok_iggy::{CodecExt, ErrorKind};
use rustok_iggy_codecs::{JsonCodec, PostcardCodec};
use rustok_iggy_testkit::alloc::CountingAllocator;

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator::new();

/// What one decode of a payload of at most a few hundred bytes may allocate
/// at peak: serde's 1 MiB cap on pre-sizing, a few times over for nested
/// collections, and small change. Far below any claimed length tested.
const BOUND: usize = 4 << 20;

/// postcard's varint of `n`.
fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

const CLAIMS: [u64; 5] = [1 << 16, 1 << 31, 1 << 32, 1 << 40, u64::MAX];

#[test]
fn postcard_length_fields_do_not_size_allocations() {
    let _only_me = HEAP.exclusive();
    let codec = PostcardCodec::new();
    let mut worst = 0;
    for claim in CLAIMS {
        // A claimed length followed by a few real elements, then the end.
        let mut bytes = varint(claim);
        bytes.extend_from_slice(&[1, b'a', 1, b'b', 0, 7]);
        let (results, peak) = HEAP.measure(|| {
            (
                codec.decode_value::<Vec<u8>>(&bytes).map(|_| ()),
                codec.decode_value::<Vec<String>>(&bytes).map(|_| ()),
                codec.decode_value::<Vec<u64>>(&bytes).map(|_| ()),
                codec.decode_value::<String>(&bytes).map(|_| ()),
                codec
                    .decode_value::<BTreeMap<String, u32>>(&bytes)
                    .map(|_| ()),
                codec.decode_value::<Vec<Vec<u128>>>(&bytes).map(|_| ()),
            )
        });
        for result in [
            results.0, results.1, results.2, results.3, results.4, results.5,
        ] {
            let err = result.expect_err("a claimed length past the end cannot decode");
            assert_eq!(err.kind(), ErrorKind::Codec, "{err}");
        }
        assert!(
            peak < BOUND,
            "claimed length {claim}: peak heap {peak} bytes, bound {BOUND}"
        );
        worst = worst.max(peak);
    }
    println!("postcard, lengths up to 2^64 claimed: peak heap {worst} bytes");
}

/// The same claims at every length field of a real event: each string,
/// sequence and map length of a valid encoding overwritten by a huge one.
#[test]
fn huge_lengths_inside_an_event_do_not_size_allocations() {
    let _only_me = HEAP.exclusive();
    let codec = PostcardCodec::new();
    let event = TestEvent {
        name: "n".into(),
        count: 1,
        delta: -1,
        small: 1,
        flag: true,
        letter: 'x',
        note: Some("note".into()),
        maybe_count: Some(3),
        tags: vec!["a".into(), "b".into()],
        blob: vec![1, 2, 3],
        attributes: [("k".to_owned(), 1)].into(),
        kind: common::Kind::Batch(vec![common::Kind::Created]),
        history: vec![common::Kind::Renamed("r".into())],
        unit: (),
    };
    let valid = codec.encode_value(&event).unwrap();
    let mut worst = 0;
    let mut cases = 0;
    for at in 0..valid.len() {
        for claim in [1 << 32, u64::MAX] {
            let mut bytes = valid[..at].to_vec();
            bytes.extend_from_slice(&varint(claim));
            bytes.extend_from_slice(&valid[at..]);
            let (result, peak) = HEAP.measure(|| decode_all(&codec, &bytes));
            result.unwrap();
            assert!(
                peak < BOUND,
                "claim at byte {at}: peak {peak}, bound {BOUND}"
            );
            worst = worst.max(peak);
            cases += 1;
        }
    }
    println!("postcard, {cases} events with a huge length spliced in: peak heap {worst} bytes");
}

/// JSON carries no length fields; a long run of openers and a huge number
/// literal still stay within the bound.
#[test]
fn json_inputs_stay_within_the_bound() {
    let _only_me = HEAP.exclusive();
    let codec = JsonCodec::new();
    let inputs = [
        "[".repeat(64 << 10).into_bytes(),
        format!("[{}]", "9".repeat(1 << 16)).into_bytes(),
        b"{\"name\": \"\\u0000\", \"tags\": [".repeat(1 << 10),
    ];
    for bytes in inputs {
        let (result, peak) = HEAP.measure(|| decode_all(&codec, &bytes));
        result.unwrap();
        assert!(peak < BOUND, "peak {peak}, bound {BOUND}");
    }
}
