//! The embedded log's baseline: a plain file written with `write_all`, the
//! same number of same-size records in the same batch sizes, fsynced by the
//! same policy, then read back sequentially. What a log can at best approach
//! on this disk.

use std::{
    fs::File,
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::{Condvar, Mutex},
    time::Instant,
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
    /// When to `sync_data`: after every batch (`always`); on a second
    /// thread, as soon as the previous one ended while written data is
    /// unsynced, as the log does (`interval`); or never.
    pub fsync: Fsync,
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
    let io = |what| io_error(&plan.path, what);
    let record_bytes = usize::try_from(plan.record_bytes)
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "record too large"))?;
    let batch = usize::try_from(plan.batch.max(1))
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "batch too large"))?;
    let chunk = vec![0xab_u8; record_bytes * batch];
    let started = Instant::now();
    let file = File::create(&plan.path).map_err(io("create the file"))?;
    // `interval`: (records written, writing done), for the syncer thread.
    let progress = (Mutex::new((0_u64, false)), Condvar::new());
    let elapsed = std::thread::scope(|scope| {
        let syncer =
            (plan.fsync == Fsync::Interval).then(|| scope.spawn(|| sync_loop(&file, &progress)));
        let written = write_all(plan, &file, &chunk, record_bytes, &progress);
        let elapsed = started.elapsed();
        let (lock, wake) = &progress;
        lock.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        wake.notify_one();
        let synced = match syncer.map(|s| s.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(io("fsync")(e)),
            Some(Err(_)) => Err(Error::new(
                ErrorKind::Backend,
                "plain-file baseline: the fsync thread panicked",
            )),
        };
        written.and(synced).map(|()| elapsed)
    })?;
    let written = Figure {
        events: plan.records,
        bytes: plan.records * plan.record_bytes,
        elapsed,
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

/// An I/O failure of the baseline on `path`, as `map_err` wants it.
fn io_error(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("plain-file baseline: cannot {what}"),
        )
        .with_context("path", path)
        .with_source(e)
    }
}

/// The write phase: the plan's records in batches, with `sync_data` after
/// every batch under `always`; under `interval` each batch is counted in
/// `progress` for the syncer thread.
fn write_all(
    plan: &Plan,
    mut file: &File,
    chunk: &[u8],
    record_bytes: usize,
    progress: &(Mutex<(u64, bool)>, Condvar),
) -> Result<()> {
    let io = |what| io_error(&plan.path, what);
    let mut left = plan.records;
    while left > 0 {
        let n = left.min(plan.batch.max(1));
        // n ≤ batch, which fits a usize.
        let bytes = n as usize * record_bytes;
        file.write_all(&chunk[..bytes]).map_err(io("write"))?;
        match plan.fsync {
            Fsync::Always => file.sync_data().map_err(io("fsync"))?,
            Fsync::Interval => {
                let (lock, wake) = progress;
                lock.lock().unwrap_or_else(|p| p.into_inner()).0 += n;
                wake.notify_one();
            }
            Fsync::Never => {}
        }
        left -= n;
    }
    Ok(())
}

/// The syncer of `interval`: fsyncs whenever records were written since its
/// last fsync began, at once (no timer), until writing is done and all is
/// synced.
fn sync_loop(file: &File, progress: &(Mutex<(u64, bool)>, Condvar)) -> std::io::Result<()> {
    let (lock, wake) = progress;
    let mut synced = 0;
    loop {
        let target = {
            let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
            while state.0 == synced && !state.1 {
                state = wake.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if state.0 == synced {
                return Ok(());
            }
            state.0
        };
        file.sync_data()?;
        synced = target;
    }
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
            read_batch: 64,
        })
        .await
        .unwrap();
        assert_eq!((written.events, written.bytes), (1_001, 1_001 * 37));
        assert_eq!((read.events, read.bytes), (1_001, 1_001 * 37));
        assert!(!path.exists());
    }
}
