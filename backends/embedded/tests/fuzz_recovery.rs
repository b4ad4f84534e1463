//! Recovery from arbitrary damage, proptest-driven (the stable, CI-run
//! equivalent of the `segment_recovery` cargo-fuzz target in `fuzz/`): a
//! valid data directory gets random edits to its segment, index, offset-slot,
//! DLQ and topic files (bit flips, cuts, splices, huge length fields,
//! misplaced valid frames, replaced or deleted files), and opening it must
//! either fail with an error naming a file or succeed with every readable
//! record intact and offsets dense (see `fuzz_recovery/edits.rs`). A
//! counting allocator checks that huge length fields allocate nothing near
//! what they claim.

mod common;
#[path = "fuzz_recovery/edits.rs"]
mod edits;

use std::{path::Path, sync::OnceLock};

use edits::{apply, build, check, copy_tree, files, Edit, Field, Outcome};
use proptest::prelude::*;
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig};
use rustok_iggy_testkit::alloc::CountingAllocator;

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator::new();

/// Peak heap an open (and the reads) of the small test directory may take,
/// whatever its length fields claim: the directory is ~20 KiB, and a frame
/// may claim up to 4 GiB.
const BOUND: usize = 8 << 20;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The valid directory, built once and copied for each case.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            runtime().block_on(build(dir.path()));
            dir
        })
        .path()
}

/// A fresh copy of the template with `edits` applied.
fn edited(edits: &[Edit]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(template(), dir.path());
    apply(dir.path(), edits);
    dir
}

fn length_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(u32::MAX),
        Just(1 << 31),
        Just(64 << 20),
        Just((64 << 20) + 1),
        0_u32..512,
        any::<u32>(),
    ]
}

fn field_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        length_value().prop_map(u64::from),
        Just(u64::MAX),
        0_u64..80,
        any::<u64>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    let file = any::<usize>;
    let at = any::<usize>;
    let field = prop_oneof![
        Just(Field::BodyLen),
        Just(Field::Crc),
        Just(Field::HeadersLen),
        Just(Field::Offset),
    ];
    prop_oneof![
        1 => (file(), at(), any::<u8>()).prop_map(|(file, at, bit)| Edit::Flip { file, at, bit }),
        1 => (file(), at()).prop_map(|(file, at)| Edit::Truncate { file, at }),
        1 => (file(), at(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(file, at, bytes)| Edit::Splice { file, at, bytes }),
        1 => (file(), at(), length_value()).prop_map(|(file, at, value)| Edit::Word { file, at, value }),
        2 => (file(), any::<usize>(), field, field_value()).prop_map(|(file, frame, field, value)| {
            Edit::Field { file, frame, field, value }
        }),
        1 => (file(), any::<usize>(), any::<usize>())
            .prop_map(|(file, frame, before)| Edit::Repeat { file, frame, before }),
        1 => (file(), prop::collection::vec(any::<u8>(), 0..512))
            .prop_map(|(file, bytes)| Edit::Replace { file, bytes }),
        1 => file().prop_map(|file| Edit::Remove { file }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 192,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_damage_is_refused_naming_a_file_or_recovered_intact(
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let _only_me = HEAP.exclusive();
        let dir = edited(&edits);
        let outcome = runtime().block_on(check(dir.path()));
        prop_assert!(outcome.is_ok(), "{:?} after {:?}", outcome, edits);
    }
}

/// Without edits, everything written reads back (so the check can pass at
/// all, and the proptest's edits are what it reacts to).
#[test]
fn the_template_opens_with_every_record() {
    let _only_me = HEAP.exclusive();
    let dir = edited(&[]);
    let records = edits::RECORDS.iter().sum();
    assert_eq!(
        runtime().block_on(check(dir.path())),
        Ok(Outcome::Opened { records })
    );
    // Segments, indexes, slots, marks, metadata: every kind of file is there
    // for the edits to hit.
    let names: Vec<String> = files(dir.path())
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for suffix in [".log", ".index", ".a", ".b", "topic.meta"] {
        assert!(
            names.iter().any(|n| n.ends_with(suffix)),
            "{suffix} in {names:?}"
        );
    }
    assert!(
        names.iter().filter(|n| n.ends_with(".log")).count() >= 4,
        "partition 0 spans several segments: {names:?}"
    );
}

/// Every frame's length fields set to huge values, one at a time: the open
/// and the reads stay within [`BOUND`] of heap, and the outcome is valid.
#[test]
fn huge_length_fields_allocate_nothing_near_their_claim() {
    let _only_me = HEAP.exclusive();
    let runtime = runtime();
    let logs = files(template())
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .count();
    let mut worst = 0;
    let mut cases = 0;
    let mut refused = 0;
    for file in 0..logs {
        for frame in [0, 1, 5, usize::MAX] {
            for field in [Field::BodyLen, Field::HeadersLen] {
                for value in [u64::from(u32::MAX), 64 << 20, (64 << 20) - 1, 1 << 31] {
                    let dir = edited(&[Edit::Field {
                        file,
                        frame,
                        field,
                        value,
                    }]);
                    let (outcome, peak) = HEAP.measure(|| runtime.block_on(check(dir.path())));
                    let outcome =
                        outcome.unwrap_or_else(|e| panic!("{field:?}={value} in log {file}: {e}"));
                    refused += u32::from(outcome == Outcome::Refused);
                    assert!(
                        peak < BOUND,
                        "{field:?}={value} in log {file}: peak heap {peak}, bound {BOUND}"
                    );
                    worst = worst.max(peak);
                    cases += 1;
                }
            }
        }
    }
    println!("{cases} huge length fields ({refused} refused, the rest recovered): peak heap {worst} bytes");
}

/// The byte-level edit format of the cargo-fuzz target decodes to the edits
/// it describes, so fuzzer inputs mean what the target says.
#[test]
fn fuzzer_bytes_decode_to_edits() {
    let bytes = [
        0, 3, 10, 0, 7, // flip bit 7 of byte 10 of file 3
        1, 2, 0, 1, // truncate file 2 at 256
        6, 0, 2, 0, 1, // repeat frame 2 of log 0 before frame 1
        7, 9, 0, 0, // remove file 9
        2, 1, // incomplete: dropped
    ];
    assert_eq!(
        edits::parse_edits(&bytes),
        vec![
            Edit::Flip {
                file: 3,
                at: 10,
                bit: 7
            },
            Edit::Truncate { file: 2, at: 256 },
            Edit::Repeat {
                file: 0,
                frame: 2,
                before: 1
            },
            Edit::Remove { file: 9 },
        ]
    );
}

/// `topic.meta` carries a CRC-32C of its count, so a bit flip that turns
/// one count into another valid one ("partitions = 1" read as 5, say) fails
/// the open naming the file instead of opening a topic of another shape.
#[test]
fn a_flipped_partition_count_is_refused_naming_topic_meta() {
    let _only_me = HEAP.exclusive();
    let all = files(template());
    let metas: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].ends_with("topic.meta"))
        .collect();
    assert_eq!(metas.len(), 3, "{all:?}");
    for file in metas {
        let text = std::fs::read_to_string(&all[file]).unwrap();
        let (count, rest) = text.split_once('\n').unwrap();
        assert!(rest.starts_with("crc32c = "), "{text}");
        let grown = count.replace(|c: char| c.is_ascii_digit(), "5");
        assert_ne!(grown, count);
        let dir = edited(&[Edit::Replace {
            file,
            bytes: format!("{grown}\n{rest}").into_bytes(),
        }]);
        assert_eq!(runtime().block_on(check(dir.path())), Ok(Outcome::Refused));
        let err = runtime()
            .block_on(EmbeddedBackend::open(EmbeddedConfig::new(dir.path())))
            .unwrap_err();
        assert!(err.to_string().contains("topic.meta"), "{err}");
    }
}

/// A `topic.meta` without a checksum (as written before checksums) is read
/// as it is: a grown count opens, with the extra partitions empty, for an
/// application topic and for the DLQ's topics alike (the DLQ reads and
/// writes partition 0 only). (Found by the cargo-fuzz target when the DLQ
/// checked its topic's shape on open: that failed naming no file.)
#[test]
fn an_unchecksummed_partition_count_is_read_as_it_is() {
    let _only_me = HEAP.exclusive();
    let all = files(template());
    let metas: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].ends_with("topic.meta"))
        .collect();
    assert_eq!(metas.len(), 3, "{all:?}");
    for file in metas {
        let dir = edited(&[Edit::Replace {
            file,
            bytes: b"partitions = 5\n".to_vec(),
        }]);
        let outcome = runtime().block_on(check(dir.path()));
        assert!(matches!(outcome, Ok(Outcome::Opened { .. })), "{outcome:?}");
    }
}
