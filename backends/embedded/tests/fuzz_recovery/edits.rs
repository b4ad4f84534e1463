//! The model both the proptest (`tests/fuzz_recovery.rs`) and the cargo-fuzz
//! target (`fuzz/fuzz_targets/segment_recovery.rs`) drive: a valid data
//! directory, edits to its files, and what opening the edited directory must
//! satisfy.
//!
//! The directory holds topic `app/orders` (partition 0 over several
//! segments, partition 1 in one), two commits of group `g` (so both offset
//! slot files exist), and one dead letter. After any edits, an open either
//! fails with an error naming a file under the directory, or succeeds; then
//! every partition reads densely from its first offset, every record read is
//! byte for byte the one written at that offset (a damaged record is never
//! returned), a read that meets damage fails naming a file, the group's
//! offset is one of its two commits, and the next append continues densely.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use rustok_iggy::{Backend, DlqFilter, DlqStore, Error, OffsetStore, PollFrom, PollRequest};
use rustok_iggy_embedded::{EmbeddedBackend, FsyncPolicy};

use crate::common::{message, small, topic};

/// Records appended to partition 0 (several 4 KiB segments) and 1.
pub const RECORDS: [u64; 2] = [60, 7];
/// Message ids of partition `p` start after `ID_BASE[p]`.
const ID_BASE: [u128; 2] = [0, 1_000];
/// The two commits of group `g` on partition 0 (the older slot keeps the first).
pub const COMMITS: [u64; 2] = [5, 9];
const GROUP: &str = "g";

/// The message written at `offset` of partition `p`.
pub fn expected(p: u32, offset: u64) -> rustok_iggy::Message {
    message(ID_BASE[p as usize] + u128::from(offset) + 1)
}

/// Writes the valid directory into `dir` (durably, as a real one would be).
pub async fn build(dir: &Path) {
    let backend = EmbeddedBackend::open(small(dir, FsyncPolicy::Always))
        .await
        .expect("open a fresh directory");
    backend.ensure_topic(&topic(), 2).await.expect("topic");
    for (p, count) in RECORDS.iter().enumerate() {
        for offset in 0..*count {
            // Batches of up to three, so segments hold several appends.
            if offset % 3 != 0 {
                continue;
            }
            let batch = (offset..(*count).min(offset + 3))
                .map(|o| expected(p as u32, o))
                .collect();
            backend
                .append(&topic(), p as u32, batch)
                .await
                .expect("append");
        }
    }
    let offsets = backend.offset_store().expect("own offset store");
    for next in COMMITS {
        offsets
            .commit(GROUP, &topic(), 0, next)
            .await
            .expect("commit");
    }
    let letter = rustok_iggy::DeadLetter {
        message: expected(0, 3),
        topic: topic(),
        partition: 0,
        offset: 3,
        group: GROUP.into(),
        error: "handler failed".into(),
        attempts: 3,
        first_failure: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        last_failure: chrono::DateTime::from_timestamp(1_700_000_060, 0).unwrap_or_default(),
    };
    backend.dlq().put(letter).await.expect("dlq put");
    backend.shutdown().await.expect("shutdown");
}

/// Every regular file of `dir` but the lock file, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.file_name().is_some_and(|n| n != ".lock") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Copies the tree `from` into `to` (which exists and is empty).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("read template").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Which length-like field of a record frame a [`Edit::Field`] overwrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The `u32` body length at the frame's start.
    BodyLen,
    /// The `u32` checksum after it.
    Crc,
    /// The `u32` headers length inside the body.
    HeadersLen,
    /// The `u64` offset inside the body.
    Offset,
}

/// One change to one file of the directory. `file` indexes [`files`] (modulo
/// their number); positions wrap around the file's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Flips one bit.
    Flip { file: usize, at: usize, bit: u8 },
    /// Cuts the file at `at`.
    Truncate { file: usize, at: usize },
    /// Inserts `bytes` at `at`.
    Splice {
        file: usize,
        at: usize,
        bytes: Vec<u8>,
    },
    /// Overwrites four bytes at `at` with `value` (little-endian): a length
    /// field anywhere.
    Word { file: usize, at: usize, value: u32 },
    /// Overwrites `field` of the `frame`-th record frame of a segment
    /// (frames counted from the start, modulo their number) with `value`.
    Field {
        file: usize,
        frame: usize,
        field: Field,
        value: u64,
    },
    /// Inserts a copy of the `frame`-th record frame of a segment before its
    /// `before`-th frame (or at the end): a record with a valid checksum in
    /// the wrong place.
    Repeat {
        file: usize,
        frame: usize,
        before: usize,
    },
    /// Replaces the whole content.
    Replace { file: usize, bytes: Vec<u8> },
    /// Deletes the file.
    Remove { file: usize },
}

/// Byte positions of the record frames of a segment, from its start until
/// the first position that does not hold a plausible frame.
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0usize;
    while let Some(len) = bytes.get(at..at + 4) {
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len == 0 || at + 8 + len > bytes.len() {
            break;
        }
        starts.push(at);
        at += 8 + len;
    }
    starts
}

/// The `file`-th segment (modulo their number) of `files`.
fn pick_log(files: &[PathBuf], file: usize) -> Option<&PathBuf> {
    let logs: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.get(file % logs.len().max(1)).copied()
}

/// Applies `edits` to the files of `dir`, in order.
pub fn apply(dir: &Path, edits: &[Edit]) {
    for edit in edits {
        let files = files(dir);
        if files.is_empty() {
            return;
        }
        let pick = |file: usize| &files[file % files.len()];
        let read = |path: &Path| fs::read(path).unwrap_or_default();
        let wrap = |at: usize, len: usize| if len == 0 { 0 } else { at % len };
        match edit {
            Edit::Flip { file, at, bit } => {
                let path = pick(*file);
                let mut bytes = read(path);
                if !bytes.is_empty() {
                    let at = wrap(*at, bytes.len());
                    bytes[at] ^= 1 << (bit % 8);
                    let _ = fs::write(path, bytes);
                }
            }
            Edit::Truncate { file, at } => {
                let path = pick(*file);
                let mut bytes = read(path);
                bytes.truncate(wrap(*at, bytes.len()));
                let _ = fs::write(path, bytes);
            }
            Edit::Splice {
                file,
                at,
                bytes: new,
            } => {
                let path = pick(*file);
                let mut bytes = read(path);
                let at = wrap(*at, bytes.len() + 1);
                bytes.splice(at..at, new.iter().copied());
                let _ = fs::write(path, bytes);
            }
            Edit::Word { file, at, value } => {
                let path = pick(*file);
                let mut bytes = read(path);
                if bytes.len() >= 4 {
                    let at = wrap(*at, bytes.len() - 3);
                    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
                    let _ = fs::write(path, bytes);
                }
            }
            Edit::Field {
                file,
                frame,
                field,
                value,
            } => {
                let Some(path) = pick_log(&files, *file) else {
                    continue;
                };
                let mut bytes = read(path);
                let starts = frame_starts(&bytes);
                let Some(&start) = starts.get(frame % starts.len().max(1)) else {
                    continue;
                };
                let (at, width) = match field {
                    Field::BodyLen => (start, 4),
                    Field::Crc => (start + 4, 4),
                    Field::HeadersLen => (start + 8 + 32, 4),
                    Field::Offset => (start + 8, 8),
                };
                if let Some(target) = bytes.get_mut(at..at + width) {
                    target.copy_from_slice(&value.to_le_bytes()[..width]);
                    let _ = fs::write(path, bytes);
                }
            }
            Edit::Repeat {
                file,
                frame,
                before,
            } => {
                let Some(path) = pick_log(&files, *file) else {
                    continue;
                };
                let mut bytes = read(path);
                let starts = frame_starts(&bytes);
                if starts.is_empty() {
                    continue;
                }
                let i = frame % starts.len();
                let end = starts.get(i + 1).copied().unwrap_or(bytes.len());
                let copy = bytes[starts[i]..end].to_vec();
                let at = starts
                    .get(before % (starts.len() + 1))
                    .copied()
                    .unwrap_or(bytes.len());
                bytes.splice(at..at, copy);
                let _ = fs::write(path, bytes);
            }
            Edit::Replace { file, bytes } => {
                let _ = fs::write(pick(*file), bytes);
            }
            Edit::Remove { file } => {
                let _ = fs::remove_file(pick(*file));
            }
        }
    }
}

/// Reads edits from raw fuzzer bytes: each edit is an opcode byte, a file
/// byte, a little-endian `u16` position, then the opcode's operands. Stops
/// at the first incomplete edit; at most eight edits.
pub fn parse_edits(mut data: &[u8]) -> Vec<Edit> {
    fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (data.get(..n)?, data.get(n..)?);
        *data = rest;
        Some(head)
    }
    let mut edits = Vec::new();
    while edits.len() < 8 {
        let Some(head) = take(&mut data, 4) else {
            break;
        };
        let (op, file, at) = (
            head[0],
            usize::from(head[1]),
            usize::from(u16::from_le_bytes([head[2], head[3]])),
        );
        let edit = match op % 8 {
            0 => take(&mut data, 1).map(|b| Edit::Flip {
                file,
                at,
                bit: b[0],
            }),
            1 => Some(Edit::Truncate { file, at }),
            2 => take(&mut data, 1)
                .and_then(|n| take(&mut data, usize::from(n[0] % 64)))
                .map(|bytes| Edit::Splice {
                    file,
                    at,
                    bytes: bytes.to_vec(),
                }),
            3 => take(&mut data, 4).map(|v| Edit::Word {
                file,
                at,
                value: u32::from_le_bytes([v[0], v[1], v[2], v[3]]),
            }),
            4 => take(&mut data, 9).map(|v| Edit::Field {
                file,
                frame: at,
                field: [Field::BodyLen, Field::Crc, Field::HeadersLen, Field::Offset]
                    [usize::from(v[0] % 4)],
                value: u64::from_le_bytes([v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]]),
            }),
            5 => take(&mut data, 2)
                .and_then(|n| {
                    take(
                        &mut data,
                        usize::from(u16::from_le_bytes([n[0], n[1]])) % 8192,
                    )
                })
                .map(|bytes| Edit::Replace {
                    file,
                    bytes: bytes.to_vec(),
                }),
            6 => take(&mut data, 1).map(|b| Edit::Repeat {
                file,
                frame: at,
                before: usize::from(b[0]),
            }),
            _ => Some(Edit::Remove { file }),
        };
        match edit {
            Some(edit) => edits.push(edit),
            None => break,
        }
    }
    edits
}

/// How an open of an edited directory went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Refused with an error naming a file of the directory.
    Refused,
    /// Opened; this many records were readable in all.
    Opened { records: u64 },
}

/// Opens `dir` and checks everything the module docs promise. `Err` is a
/// violation, described.
pub async fn check(dir: &Path) -> Result<Outcome, String> {
    let root = dir.display().to_string();
    // An error is acceptable only if it says which file is at fault.
    let named = |what: &str, e: &Error| -> Result<(), String> {
        if e.to_string().contains(&root) {
            Ok(())
        } else {
            Err(format!("{what} failed without naming a file: {e}"))
        }
    };
    let backend = match EmbeddedBackend::open(small(dir, FsyncPolicy::Never)).await {
        Ok(backend) => backend,
        Err(e) => return named("open", &e).map(|()| Outcome::Refused),
    };
    let result = check_open(&backend, dir, &named).await;
    let shutdown = backend.shutdown().await;
    let records = result?;
    if let Err(e) = shutdown {
        named("shutdown", &e)?;
    }
    Ok(Outcome::Opened { records })
}

async fn check_open(
    backend: &EmbeddedBackend,
    dir: &Path,
    named: &dyn Fn(&str, &Error) -> Result<(), String>,
) -> Result<u64, String> {
    let mut readable = 0;
    let partitions = match backend.topic_info(&topic()).await {
        Ok(info) => info.partitions,
        // `topic.meta` removed: the topic is debris of an interrupted create.
        Err(e) if e.kind() == rustok_iggy::ErrorKind::NotFound => 0,
        Err(e) => return Err(format!("topic_info: {e}")),
    };
    for p in 0..partitions {
        let info = backend
            .partition_info(&topic(), p)
            .await
            .map_err(|e| format!("partition_info {p}: {e}"))?;
        let mut next = info.first_offset;
        let mut intact = true;
        while next < info.next_offset {
            let page = backend
                .poll(PollRequest {
                    topic: topic(),
                    partition: p,
                    from: PollFrom::Offset(next),
                    max_records: 25,
                    max_wait: Duration::ZERO,
                })
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    named(&format!("poll of partition {p} at {next}"), &e)?;
                    intact = false;
                    break;
                }
            };
            if page.is_empty() {
                return Err(format!(
                    "partition {p}: poll at {next} is empty below next offset {}",
                    info.next_offset
                ));
            }
            for record in page {
                if record.offset != next {
                    return Err(format!(
                        "partition {p}: offset {} where {next} was due",
                        record.offset
                    ));
                }
                // Offsets past what was written can only be empty partitions
                // a grown `topic.meta` created, or none at all.
                if p as usize >= RECORDS.len() || record.offset >= RECORDS[p as usize] {
                    return Err(format!(
                        "partition {p}: offset {} was never written",
                        record.offset
                    ));
                }
                if record.message != expected(p, record.offset) {
                    return Err(format!(
                        "partition {p}: offset {} reads back altered: {:?}",
                        record.offset, record.message
                    ));
                }
                next += 1;
                readable += 1;
            }
        }
        if intact && p == 0 {
            match backend
                .append(&topic(), 0, vec![expected(0, info.next_offset)])
                .await
            {
                Ok(ack) if ack.first_offset == info.next_offset => {}
                Ok(ack) => {
                    return Err(format!(
                        "append after recovery got offset {}, expected {}",
                        ack.first_offset, info.next_offset
                    ))
                }
                Err(e) => named("append after recovery", &e)?,
            }
        }
    }
    let offsets = backend.offsets();
    match offsets.load(GROUP, &topic(), 0).await {
        Ok(None) => {
            let slots = files(&dir.join("offsets"))
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "a" || e == "b"))
                .count();
            if slots > 0 {
                return Err(format!(
                    "offset of {GROUP} lost while {slots} slot files exist"
                ));
            }
        }
        Ok(Some(next)) if COMMITS.contains(&next) => {}
        Ok(Some(next)) => return Err(format!("offset of {GROUP} reads {next}, never committed")),
        Err(e) => named("offset load", &e)?,
    }
    match backend.dlq().count(DlqFilter::default()).await {
        Ok(n) if n <= 1 => {}
        Ok(n) => return Err(format!("{n} dead letters, one was put")),
        Err(e) => named("dlq count", &e)?,
    }
    Ok(readable)
}
