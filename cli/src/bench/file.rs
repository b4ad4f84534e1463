//! The embedded log's baseline: a plain file written with `write_all`, the
//! same number of same-size records in the same batch sizes, fsynced by the
//! same policy, then read back sequentially. What a log can at best approach
//! on this disk.

use std::{
    fs::File,
    io::{Read, Write},
    path::PathBuf,
    time::{Duration, Instant},
};

use rustok_iggy::{Error, ErrorKind, Result};

use super::{args::Fsync, measure::Figure};

/// What to write.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file (deleted afterwards).
    pub path: PathBuf,
    /// Records to write.
    pub records: u64,
    /// Bytes per record.
    pub record_bytes: u64,
    /// Records per `write_all`.
    pub batch: u64,
    /// When to `sync_data`: after every batch (`always`), once the interval
    /// passed since the last sync (`interval`), or never.
    pub fsync: Fsync,
    /// The period of `interval`.
    pub interval: Duration,
    /// Records per read when reading back.
    pub read_batch: u64,
}

/// Writes, then reads back, the plan's records: (write figure, read figure).
/// Runs on a blocking thread.
pub async fn run(plan: Plan) -> Result<(Figure, Figure)> {
    tokio::task::spawn_blocking(move || {
        let result = write_and_read(&plan);
        // Unlinked, its remaining dirty pages are dropped rather than written
        // back while the next workload runs.
        let _ = std::fs::remove_file(&plan.path);
        result
    })
    .await
    .map_err(super::workload::join_error)?
}

fn write_and_read(plan: &Plan) -> Result<(Figure, Figure)> {
    let io = |what: &'static str| {
        let path = plan.path.display().to_string();
        move |e: std::io::Error| {
            Error::new(
                ErrorKind::Unavailable,
                format!("plain-file baseline: cannot {what}"),
            )
            .with_context("path", path)
            .with_source(e)
        }
    };
    let record_bytes = usize::try_from(plan.record_bytes)
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "record too large"))?;
    let batch = usize::try_from(plan.batch.max(1))
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "batch too large"))?;
    let chunk = vec![0xab_u8; record_bytes * batch];
    let started = Instant::now();
    let mut file = File::create(&plan.path).map_err(io("create the file"))?;
    let mut last_sync = Instant::now();
    let mut left = plan.records;
    while left > 0 {
        let n = left.min(plan.batch.max(1));
        // n ≤ batch, which fits a usize.
        let bytes = n as usize * record_bytes;
        file.write_all(&chunk[..bytes]).map_err(io("write"))?;
        let sync = match plan.fsync {
            Fsync::Always => true,
            Fsync::Interval => last_sync.elapsed() >= plan.interval,
            Fsync::Never => false,
        };
        if sync {
            file.sync_data().map_err(io("fsync"))?;
            last_sync = Instant::now();
        }
        left -= n;
    }
    let written = Figure {
        events: plan.records,
        bytes: plan.records * plan.record_bytes,
        elapsed: started.elapsed(),
    };
    drop(file);

    let started = Instant::now();
    let mut file = File::open(&plan.path).map_err(io("open the file"))?;
    let mut buffer =
        vec![0_u8; record_bytes * usize::try_from(plan.read_batch.max(1)).unwrap_or(1)];
    let mut read = 0_u64;
    loop {
        let n = file.read(&mut buffer).map_err(io("read"))?;
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    let elapsed = started.elapsed();
    if read != written.bytes {
        return Err(Error::new(
            ErrorKind::Backend,
            format!(
                "plain-file baseline read {read} bytes back, wrote {}",
                written.bytes
            ),
        ));
    }
    Ok((
        written,
        Figure {
            events: read / plan.record_bytes.max(1),
            bytes: read,
            elapsed,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_and_reads_every_record_and_deletes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.bin");
        let (written, read) = run(Plan {
            path: path.clone(),
            records: 1_001,
            record_bytes: 37,
            batch: 100,
            fsync: Fsync::Interval,
            interval: Duration::from_millis(1),
            read_batch: 64,
        })
        .await
        .unwrap();
        assert_eq!((written.events, written.bytes), (1_001, 1_001 * 37));
        assert_eq!((read.events, read.bytes), (1_001, 1_001 * 37));
        assert!(!path.exists());
    }
}
