//! What the writer prepares in the active segment's file past its records:
//! disk space reserved up to the segment size (`fallocate`, the length
//! unchanged) and zeros up to the next 64 KiB boundary. Neither is data: a
//! sealed segment and a cleanly closed one are exactly as long as their
//! records and hold no space beyond them, and a reopened log sees exactly
//! what was appended. Linux only (`fallocate`).
#![cfg(target_os = "linux")]

mod common;

use std::{
    os::unix::fs::{FileExt, MetadataExt},
    path::Path,
};

use common::*;
use rustok_iggy::Backend;
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};

const SEGMENT_BYTES: u64 = 256 << 10;
/// How far the writer fills the file with zeros: to the next multiple of this.
const ZERO_AHEAD: u64 = 64 << 10;
/// The file system's block: allocation is counted in whole blocks.
const BLOCK: u64 = 4096;

fn config(dir: &Path) -> EmbeddedConfig {
    EmbeddedConfig {
        segment_bytes: SEGMENT_BYTES,
        ..EmbeddedConfig::new(dir).fsync(FsyncPolicy::Never)
    }
}

/// A file's length, the bytes of disk it holds, and its last byte.
fn sizes(path: &Path) -> (u64, u64, u8) {
    let meta = std::fs::metadata(path).unwrap();
    let mut last = [0u8];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut last, meta.len() - 1)
        .unwrap();
    (meta.len(), meta.blocks() * 512, last[0])
}

#[tokio::test]
async fn space_and_zeros_are_prepared_ahead_of_the_records_and_cut_behind_them() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(config(dir.path())).await.unwrap();
    backend.ensure_topic(&topic(), 1).await.unwrap();
    backend
        .append(&topic(), 0, (1..11).map(message).collect())
        .await
        .unwrap();
    let logs = segments(&partition_dir(dir.path(), 0));
    assert_eq!(logs.len(), 1);
    let (len, held, last) = sizes(&logs[0]);
    assert_eq!(
        (len, last),
        (ZERO_AHEAD, 0),
        "ten records (under a block), then zeros to the 64 KiB boundary"
    );
    assert!(
        held >= SEGMENT_BYTES,
        "the segment's whole size is reserved ahead of its first write: {held} bytes held"
    );

    // Past the segment size: the first segment is sealed, a second starts.
    let mut n = 10;
    while segments(&partition_dir(dir.path(), 0)).len() < 2 {
        backend
            .append(&topic(), 0, (n + 1..n + 101).map(message).collect())
            .await
            .unwrap();
        n += 100;
    }
    let logs = segments(&partition_dir(dir.path(), 0));
    let (sealed_len, sealed_held, sealed_last) = sizes(&logs[0]);
    assert!(sealed_len >= SEGMENT_BYTES);
    assert_ne!(sealed_last, 0, "a sealed segment ends with its last record");
    assert!(
        sealed_held <= sealed_len.div_ceil(BLOCK) * BLOCK,
        "a sealed segment of {sealed_len} bytes holds {sealed_held}"
    );
    let (active_len, _, active_last) = sizes(&logs[1]);
    assert_eq!((active_len % ZERO_AHEAD, active_last), (0, 0));

    // A clean close cuts the zeros of the active segment too.
    backend.shutdown().await.unwrap();
    let (closed_len, _, closed_last) = sizes(&logs[1]);
    assert!(
        closed_len < active_len,
        "{closed_len} bytes after the close"
    );
    assert_ne!(
        closed_last, 0,
        "the closed segment ends with its last record"
    );

    // Reopened, the log holds every record appended and nothing else, and
    // appends go on after them.
    let backend = EmbeddedBackend::open(config(dir.path())).await.unwrap();
    assert_eq!(
        backend
            .append(&topic(), 0, vec![message(n + 1)])
            .await
            .unwrap()
            .first_offset,
        n as u64
    );
    assert_dense(&poll_all(&backend, &topic(), 0).await, n as u64 + 1);
    backend.shutdown().await.unwrap();
}
