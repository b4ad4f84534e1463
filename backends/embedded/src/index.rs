//! The sparse offset and time index of one segment.
//!
//! One entry (offset, byte position, timestamp) at the segment's first record
//! and then every `index_interval_bytes` of records. Timestamps never decrease
//! along a partition, so one table answers both "where is offset N" and "where
//! is the first record at or after time T": each lookup is a binary search
//! followed by a short scan of at most one interval.
//!
//! The index is derived data. It lives in memory while the segment is open and
//! is written beside a sealed segment (`<base>.index`) so reopening does not
//! rescan it. A missing, torn or stale index file (one that does not describe
//! the segment's current length) is ignored and rebuilt by scanning.

use std::{
    fs,
    io::{self, Write},
    path::Path,
};

use crate::bin::Cursor;

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    /// Offset of the record.
    pub(crate) offset: u64,
    /// Byte position of its frame in the segment.
    pub(crate) position: u64,
    /// Its timestamp, microseconds since the Unix epoch.
    pub(crate) timestamp: u64,
}

const MAGIC: &[u8; 4] = b"RKIX";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 4 + 4 + 8 * 4;
const ENTRY_LEN: usize = 24;

/// What an index file says about its segment besides the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentSummary {
    /// Bytes of records in the segment.
    pub(crate) len: u64,
    /// Offset after its last record.
    pub(crate) next_offset: u64,
    /// Timestamp of its last record (0 when empty).
    pub(crate) last_timestamp: u64,
}

/// The sparse index of one segment.
#[derive(Debug, Clone, Default)]
pub(crate) struct SparseIndex {
    entries: Vec<IndexEntry>,
    interval: u64,
    bytes_since_entry: u64,
}

impl SparseIndex {
    /// An empty index adding an entry every `interval` bytes.
    pub(crate) fn new(interval: u64) -> Self {
        Self {
            entries: Vec::new(),
            interval: interval.max(1),
            bytes_since_entry: 0,
        }
    }

    /// Accounts for the next record of the segment (records must be observed
    /// in order).
    pub(crate) fn observe(&mut self, offset: u64, position: u64, len: u64, timestamp: u64) {
        if self.entries.is_empty() || self.bytes_since_entry >= self.interval {
            self.entries.push(IndexEntry {
                offset,
                position,
                timestamp,
            });
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += len;
    }

    /// The entry to start scanning from for `offset`: the last one at or
    /// below it (`None`: start at the segment's beginning).
    pub(crate) fn seek_offset(&self, offset: u64) -> Option<IndexEntry> {
        let after = self.entries.partition_point(|e| e.offset <= offset);
        after.checked_sub(1).map(|i| self.entries[i])
    }

    /// The entry to start scanning from for the first record at or after
    /// `timestamp`: the last one strictly before it, since records between
    /// two entries may share the later entry's timestamp.
    pub(crate) fn seek_timestamp(&self, timestamp: u64) -> Option<IndexEntry> {
        let after = self.entries.partition_point(|e| e.timestamp < timestamp);
        after.checked_sub(1).map(|i| self.entries[i])
    }

    /// Writes the index beside its segment; see [`write_file`].
    pub(crate) fn store(&self, path: &Path, summary: SegmentSummary) -> io::Result<()> {
        write_file(path, &self.encode(summary))
    }

    /// The index file's bytes: header, entries, CRC-32C.
    pub(crate) fn encode(&self, summary: SegmentSummary) -> Vec<u8> {
        let mut buf = Vec::with_capacity(HEADER_LEN + self.entries.len() * ENTRY_LEN + 4);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        for v in [
            summary.len,
            summary.next_offset,
            summary.last_timestamp,
            self.entries.len() as u64,
        ] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        for e in &self.entries {
            for v in [e.offset, e.position, e.timestamp] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        let crc = crate::checksum::crc32c(&buf);
        buf.extend_from_slice(&crc.to_le_bytes());
        buf
    }

    /// Reads an index file; `None` if it is missing, damaged, or does not
    /// describe a segment of `segment_len` bytes starting at `base`.
    pub(crate) fn load(
        path: &Path,
        base: u64,
        segment_len: u64,
        interval: u64,
    ) -> Option<(Self, SegmentSummary)> {
        let bytes = fs::read(path).ok()?;
        let (content, crc) = bytes.split_at(bytes.len().checked_sub(4)?);
        if crate::checksum::crc32c(content).to_le_bytes() != crc {
            return None;
        }
        let mut c = Cursor::new(content);
        if c.take(4)? != MAGIC || c.u32()? != VERSION {
            return None;
        }
        let summary = SegmentSummary {
            len: c.u64()?,
            next_offset: c.u64()?,
            last_timestamp: c.u64()?,
        };
        let count = usize::try_from(c.u64()?).ok()?;
        // The count must match the bytes present: nothing is allocated from it.
        if count.checked_mul(ENTRY_LEN)? != c.remaining() || summary.len != segment_len {
            return None;
        }
        let mut index = Self::new(interval);
        index.entries.reserve(count);
        let mut previous: Option<IndexEntry> = None;
        for _ in 0..count {
            let e = IndexEntry {
                offset: c.u64()?,
                position: c.u64()?,
                timestamp: c.u64()?,
            };
            let ordered = match previous {
                None => e.offset == base && e.position == 0,
                Some(p) => {
                    e.offset > p.offset && e.position > p.position && e.timestamp >= p.timestamp
                }
            };
            if !ordered || e.position >= segment_len || e.offset >= summary.next_offset {
                return None;
            }
            previous = Some(e);
            index.entries.push(e);
        }
        if (count == 0) != (segment_len == 0) || summary.next_offset < base {
            return None;
        }
        Some((index, summary))
    }
}

/// Writes index bytes beside their segment (temporary file, then rename, so a
/// reader never finds half of one). Not fsynced: a lost index is rebuilt.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("index.tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SparseIndex {
        let mut index = SparseIndex::new(100);
        // Records of 60 bytes at offsets 10.., timestamps in pairs.
        for i in 0..10u64 {
            index.observe(10 + i, i * 60, 60, 1_000 + i / 2);
        }
        index
    }

    #[test]
    fn lookups_pick_the_entry_to_scan_from() {
        let index = sample();
        // Entries every second record (60 + 60 >= 100).
        assert_eq!(index.entries.len(), 5);
        assert_eq!(index.seek_offset(9), None);
        assert_eq!(index.seek_offset(10).map(|e| e.offset), Some(10));
        assert_eq!(index.seek_offset(13).map(|e| e.offset), Some(12));
        assert_eq!(index.seek_offset(u64::MAX).map(|e| e.offset), Some(18));
        assert_eq!(index.seek_timestamp(1_000), None);
        assert_eq!(index.seek_timestamp(1_002).map(|e| e.offset), Some(12));
    }

    #[test]
    fn files_round_trip_and_stale_or_damaged_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let index = sample();
        let summary = SegmentSummary {
            len: 600,
            next_offset: 20,
            last_timestamp: 1_004,
        };
        index.store(&path, summary).unwrap();
        let (loaded, got) = SparseIndex::load(&path, 10, 600, 100).unwrap();
        assert_eq!(got, summary);
        assert_eq!(loaded.entries, index.entries);
        // Describes another length: stale.
        assert!(SparseIndex::load(&path, 10, 660, 100).is_none());
        let mut bytes = fs::read(&path).unwrap();
        bytes[20] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(SparseIndex::load(&path, 10, 600, 100).is_none());
        fs::write(&path, &bytes[..3]).unwrap();
        assert!(SparseIndex::load(&path, 10, 600, 100).is_none());
        assert!(SparseIndex::load(&dir.path().join("missing"), 10, 600, 100).is_none());
    }
}
