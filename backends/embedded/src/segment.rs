//! One segment file: records of a partition from a base offset on.
//!
//! Segments are named by their base offset, zero-padded to 20 digits
//! (`00000000000000001000.log`), so a directory listing sorts them. The index
//! beside each is `<base>.index`.

use std::{
    fs::File,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use bytes::Bytes;
use rustok_iggy::{Record, Result};

use crate::{
    error::{corrupt, io_error},
    frame::{self, Decoded, FRAME_HEADER_LEN},
    index::{IndexEntry, SegmentSummary, SparseIndex},
    read_buffer,
};

/// Bytes read per step while scanning a segment at open.
const SCAN_CHUNK: usize = 1 << 20;

/// The file name of the segment starting at `base`.
pub(crate) fn log_name(base: u64) -> String {
    format!("{base:020}.log")
}

/// The base offset a segment file name encodes, if it is one.
pub(crate) fn parse_log_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// An open segment and what is known about its records.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Offset of its first record.
    pub(crate) base: u64,
    /// Path of the `.log` file.
    pub(crate) path: PathBuf,
    /// The file, opened read-write; appends and reads use positional I/O, so
    /// readers and the writer share it without a seek position.
    pub(crate) file: Arc<File>,
    /// Bytes of complete records.
    pub(crate) len: u64,
    /// What the writer prepared in the file past the records (nothing
    /// after opening).
    pub(crate) ahead: Ahead,
    /// Offset after its last record.
    pub(crate) next: u64,
    /// Timestamp of its last record (0 when empty).
    pub(crate) last_timestamp: u64,
    /// The sparse index of its records.
    pub(crate) index: SparseIndex,
}

/// What the writer prepared in the active segment's file past its records,
/// so that appends there cost less: see `Partition::make_room`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Ahead {
    /// Where the disk space reserved with `fsutil::preallocate` ends.
    pub(crate) allocated: u64,
    /// How far the writer has filled the file with zeros past the records
    /// (or tried to: a failed fill is not retried before the writes pass
    /// it). A roll or a clean close cuts them; after a crash, recovery cuts
    /// them as it would a torn tail.
    pub(crate) zeroed: u64,
}

impl Segment {
    /// The index file path of this segment.
    pub(crate) fn index_path(&self) -> PathBuf {
        self.path.with_extension("index")
    }

    /// What an index file records about this segment.
    pub(crate) fn summary(&self) -> SegmentSummary {
        SegmentSummary {
            len: self.len,
            next_offset: self.next,
            last_timestamp: self.last_timestamp,
        }
    }

    /// Records in the segment.
    pub(crate) fn records(&self) -> u64 {
        self.next - self.base
    }
}

/// How a scan ended.
#[derive(Debug)]
pub(crate) struct ScanResult {
    /// Bytes of valid records from the start.
    pub(crate) valid_len: u64,
    /// Offset after the last valid record.
    pub(crate) next: u64,
    /// Timestamp of the last valid record.
    pub(crate) last_timestamp: u64,
    /// Where and why the scan stopped before the end of the file, if it did.
    pub(crate) damage: Option<(u64, &'static str)>,
}

/// Reads `file` (of `file_len` bytes) from the start, checking every frame
/// and that offsets run densely from `base`, and builds `index`.
pub(crate) fn scan(
    file: &File,
    path: &Path,
    base: u64,
    file_len: u64,
    index: &mut SparseIndex,
) -> Result<ScanResult> {
    let mut result = ScanResult {
        valid_len: 0,
        next: base,
        last_timestamp: 0,
        damage: None,
    };
    let mut chunk = SCAN_CHUNK;
    while result.valid_len < file_len {
        let want = usize::try_from(file_len - result.valid_len)
            .unwrap_or(usize::MAX)
            .min(chunk);
        let buf = read_at(file, path, result.valid_len, want)?;
        let mut pos = 0;
        while pos < buf.len() {
            let at = result.valid_len;
            match frame::decode(&buf, pos) {
                Decoded::Record { record, len } => {
                    if record.offset != result.next {
                        result.damage = Some((at, "offset out of sequence"));
                        return Ok(result);
                    }
                    if record.timestamp_micros < result.last_timestamp {
                        result.damage = Some((at, "timestamp went backwards"));
                        return Ok(result);
                    }
                    index.observe(record.offset, at, len as u64, record.timestamp_micros);
                    result.valid_len += len as u64;
                    result.next += 1;
                    result.last_timestamp = record.timestamp_micros;
                    pos += len;
                }
                Decoded::Incomplete { needed } => {
                    if at.saturating_add(needed as u64) > file_len {
                        result.damage = Some((at, "record cut short"));
                        return Ok(result);
                    }
                    // The record continues past this read: read again from it.
                    chunk = chunk.max(needed);
                    break;
                }
                Decoded::Invalid(why) => {
                    result.damage = Some((at, why));
                    return Ok(result);
                }
            }
        }
    }
    Ok(result)
}

/// Whether `file` holds nothing but zero bytes from `from` to `to`: the
/// zeros the writer keeps past its records, not a torn or damaged tail.
pub(crate) fn zero_filled(file: &File, path: &Path, from: u64, to: u64) -> Result<bool> {
    let mut at = from;
    while at < to {
        let want = usize::try_from(to - at)
            .unwrap_or(usize::MAX)
            .min(SCAN_CHUNK);
        if read_at(file, path, at, want)?.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += want as u64;
    }
    Ok(true)
}

/// `len` bytes of `file` from `position`, in a reused buffer where one is
/// free (see [`read_buffer`](crate::read_buffer)).
pub(crate) fn read_at(file: &File, path: &Path, position: u64, len: usize) -> Result<Bytes> {
    let mut buf = read_buffer::take(len);
    file.read_exact_at(&mut buf, position)
        .map_err(|e| io_error("read", path, e))?;
    let buf = buf.freeze();
    read_buffer::keep(&buf);
    Ok(buf)
}

/// Where a read of one segment starts and stops.
#[derive(Debug, Clone)]
pub(crate) struct ReadPlan {
    pub(crate) file: Arc<File>,
    pub(crate) path: PathBuf,
    /// Index entry (or segment start) to scan from.
    pub(crate) start: IndexEntry,
    /// Read no byte at or beyond this (the end of complete records).
    pub(crate) end: u64,
    /// Return no record at or beyond this offset (the visible mark).
    pub(crate) limit_offset: u64,
    /// Average record size, to size reads.
    pub(crate) average_record: u64,
}

/// What a read of one segment collected.
pub(crate) struct ReadOutcome {
    /// Whether the segment was read to `end` (so the next one may follow).
    pub(crate) exhausted: bool,
}

/// Reads records of one segment into `out`, from the plan's start entry, keeping
/// those `keep` accepts, until `out` has `max` records, the visible mark or the
/// end of the segment. `keep` sees records in order; once it accepted one,
/// every later record is kept too (the caller's filters are monotonic).
pub(crate) fn read_records(
    plan: &ReadPlan,
    keep: &mut dyn FnMut(&Record) -> bool,
    out: &mut Vec<Record>,
    max: usize,
) -> Result<ReadOutcome> {
    let mut position = plan.start.position;
    let mut expected = plan.start.offset;
    let wanted = (max - out.len()) as u64;
    let mut chunk = wanted
        .saturating_mul(plan.average_record.max(64))
        .clamp(4096, 4 << 20) as usize;
    while position < plan.end && out.len() < max {
        let want = usize::try_from(plan.end - position)
            .unwrap_or(usize::MAX)
            .min(chunk);
        let buf = read_at(&plan.file, &plan.path, position, want)?;
        let mut pos = 0;
        while pos < buf.len() {
            match frame::decode(&buf, pos) {
                Decoded::Record { record, len } => {
                    if record.offset != expected {
                        return Err(corrupt(
                            &plan.path,
                            position + pos as u64,
                            format!("expected offset {expected}, found {}", record.offset),
                        ));
                    }
                    if record.offset >= plan.limit_offset {
                        return Ok(ReadOutcome { exhausted: false });
                    }
                    expected += 1;
                    pos += len;
                    if keep(&record) {
                        out.push(record);
                        if out.len() >= max {
                            return Ok(ReadOutcome {
                                exhausted: position + pos as u64 >= plan.end,
                            });
                        }
                    }
                }
                Decoded::Incomplete { needed } => {
                    if position + (pos + needed) as u64 > plan.end {
                        return Err(corrupt(
                            &plan.path,
                            position + pos as u64,
                            "record runs past the end of the written data",
                        ));
                    }
                    // The next record does not fit in this read: read again from it.
                    chunk = chunk.max(needed.max(FRAME_HEADER_LEN));
                    break;
                }
                Decoded::Invalid(why) => {
                    return Err(corrupt(
                        &plan.path,
                        position + pos as u64,
                        format!("{why} (expected offset {expected})"),
                    ));
                }
            }
        }
        position += pos as u64;
    }
    Ok(ReadOutcome {
        exhausted: position >= plan.end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_and_parse() {
        assert_eq!(log_name(42), "00000000000000000042.log");
        assert_eq!(parse_log_name(&log_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_log_name("42.log"), None);
        assert_eq!(parse_log_name("0000000000000000004a.log"), None);
        assert_eq!(parse_log_name(&log_name(7).replace(".log", ".index")), None);
    }
}
