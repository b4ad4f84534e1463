//! Opening a partition directory after a clean shutdown or a crash.
//!
//! - The newest segment is the *active* one. It is scanned record by record;
//!   a torn, zero-filled or otherwise invalid tail (what a crash during an
//!   append leaves) is cut off at the last valid record, and the cut is logged.
//! - An active segment that is empty after that, with older segments before
//!   it, is what a crash during a segment roll leaves: it is removed and the
//!   previous segment becomes active again (the next append rolls anew).
//! - Every older segment is *sealed*: it was complete (and, under durable
//!   policies, fsynced) before the next one was created. Its index file is
//!   trusted only if it describes the file's exact length; otherwise the
//!   segment is scanned, and any invalid record is an error naming the file
//!   and byte position. Data in a sealed segment is never dropped silently;
//!   zeros past its last record (which the writer keeps ahead of its
//!   appends, and a roll cuts before sealing) are cut.
//! - Segments must be contiguous: a gap in offsets between two segments is an
//!   error too.

use std::{fs, io, path::Path, sync::Arc};

use rustok_iggy::Result;

use crate::{
    error::{corrupt, io_error},
    fsutil::sync_dir,
    index::SparseIndex,
    partition::{create_segment, open_segment_file, GroupCommit, Partition, Settings},
    segment::{parse_log_name, scan, zero_filled, Ahead, Segment},
};

/// Opens (creating if needed) the partition stored in `dir`, fsynced under
/// `interval` by `commit`.
pub(crate) fn open_partition(
    dir: &Path,
    label: String,
    settings: Settings,
    commit: Arc<GroupCommit>,
) -> Result<Partition> {
    fs::create_dir_all(dir).map_err(|e| io_error("open partition", dir, e))?;
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error("open partition", dir, e))? {
        let entry = entry.map_err(|e| io_error("open partition", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".tmp") {
            // An index being written when the process stopped.
            let _ = fs::remove_file(entry.path());
        } else if let Some(base) = parse_log_name(&name) {
            bases.push(base);
        }
    }
    bases.sort_unstable();

    let active = loop {
        let Some(&base) = bases.last() else {
            break create_segment(dir, 0, settings)?;
        };
        let segment = open_active(dir, base, settings)?;
        if segment.len == 0 && bases.len() > 1 {
            tracing::warn!(
                segment = %segment.path.display(),
                "removing the empty segment of an interrupted roll"
            );
            drop(segment);
            remove(&dir.join(crate::segment::log_name(base)))?;
            remove(
                &dir.join(crate::segment::log_name(base))
                    .with_extension("index"),
            )?;
            if settings.durable() {
                sync_dir(dir).map_err(|e| io_error("recover partition", dir, e))?;
            }
            bases.pop();
            continue;
        }
        break segment;
    };

    let mut segments = Vec::with_capacity(bases.len().max(1));
    for &base in bases.iter().take(bases.len().saturating_sub(1)) {
        segments.push(open_sealed(dir, base, settings)?);
    }
    segments.push(active);
    for pair in segments.windows(2) {
        if pair[0].next != pair[1].base {
            return Err(corrupt(
                &pair[1].path,
                0,
                format!(
                    "segment starts at offset {} but the one before it ends at {}: records are missing",
                    pair[1].base, pair[0].next
                ),
            ));
        }
    }
    let mut partition = Partition::new(dir.to_path_buf(), label, settings, segments, commit);
    partition.load_dedup()?;
    Ok(partition)
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io_error("recover partition", path, e))
        }
        _ => Ok(()),
    }
}

/// Opens the active segment, cutting an invalid tail.
fn open_active(dir: &Path, base: u64, settings: Settings) -> Result<Segment> {
    let path = dir.join(crate::segment::log_name(base));
    let file = open_segment_file(&path)?;
    let file_len = file
        .metadata()
        .map_err(|e| io_error("open segment", &path, e))?
        .len();
    let mut index = SparseIndex::new(settings.index_interval);
    let result = scan(&file, &path, base, file_len, &mut index)?;
    if let Some((position, why)) = result.damage {
        if zero_filled(&file, &path, position, file_len)? {
            // What the writer keeps past its records (or a crash zeroed).
            tracing::debug!(
                segment = %path.display(),
                position,
                cut_bytes = file_len - position,
                "cutting the zeros past the last record of the active segment"
            );
        } else {
            tracing::warn!(
                segment = %path.display(),
                position,
                reason = why,
                cut_bytes = file_len - position,
                "truncating the torn tail of the active segment"
            );
        }
        file.set_len(result.valid_len)
            .map_err(|e| io_error("truncate torn tail", &path, e))?;
    }
    if settings.durable() {
        // What recovery keeps is visible at once, so make it durable first.
        file.sync_data()
            .map_err(|e| io_error("recover partition", &path, e))?;
    }
    Ok(Segment {
        base,
        path,
        file: Arc::new(file),
        len: result.valid_len,
        ahead: Ahead::default(),
        next: result.next,
        last_timestamp: result.last_timestamp,
        index,
    })
}

/// Opens a sealed segment: from its index if that is current, else by a
/// strict scan.
fn open_sealed(dir: &Path, base: u64, settings: Settings) -> Result<Segment> {
    let path = dir.join(crate::segment::log_name(base));
    let file = open_segment_file(&path)?;
    let file_len = file
        .metadata()
        .map_err(|e| io_error("open segment", &path, e))?
        .len();
    let index_path = path.with_extension("index");
    if let Some((index, summary)) =
        SparseIndex::load(&index_path, base, file_len, settings.index_interval)
    {
        return Ok(Segment {
            base,
            path,
            file: Arc::new(file),
            len: summary.len,
            ahead: Ahead::default(),
            next: summary.next_offset,
            last_timestamp: summary.last_timestamp,
            index,
        });
    }
    let mut index = SparseIndex::new(settings.index_interval);
    let result = scan(&file, &path, base, file_len, &mut index)?;
    if let Some((position, why)) = result.damage {
        if !zero_filled(&file, &path, position, file_len)? {
            return Err(corrupt(
                &path,
                position,
                format!(
                    "{why} in a sealed segment (after offset {}); restore the file or move it away",
                    result.next
                ),
            ));
        }
        // Zeros the writer kept past the records, which the roll that sealed
        // the segment did not get to cut: no data. A record lost with them
        // would leave a gap before the next segment, which fails the open.
        tracing::info!(
            segment = %path.display(),
            position,
            cut_bytes = file_len - position,
            "cutting the zeros past the last record of a sealed segment"
        );
        file.set_len(result.valid_len)
            .map_err(|e| io_error("cut zeros", &path, e))?;
        if settings.durable() {
            file.sync_data()
                .map_err(|e| io_error("recover partition", &path, e))?;
        }
    }
    let segment = Segment {
        base,
        path,
        file: Arc::new(file),
        len: result.valid_len,
        ahead: Ahead::default(),
        next: result.next,
        last_timestamp: result.last_timestamp,
        index,
    };
    if let Err(e) = segment.index.store(&index_path, segment.summary()) {
        tracing::warn!(segment = %segment.path.display(), error = %e, "cannot write segment index");
    }
    Ok(segment)
}
