//! The active segment's disk space is reserved ahead of its writes without
//! changing the file's length, never past the segment size: a reopened log
//! sees exactly what was appended, and a sealed segment holds no space
//! beyond its records. Linux only (`fallocate`).
#![cfg(target_os = "linux")]

mod common;

use std::{os::unix::fs::MetadataExt, path::Path};

use common::*;
use rustok_iggy::Backend;
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};

const SEGMENT_BYTES: u64 = 256 << 10;
/// The file system's block: allocation is counted in whole blocks.
const BLOCK: u64 = 4096;

fn config(dir: &Path) -> EmbeddedConfig {
    EmbeddedConfig {
        segment_bytes: SEGMENT_BYTES,
        ..EmbeddedConfig::new(dir).fsync(FsyncPolicy::Never)
    }
}

/// A file's length and the bytes of disk it holds.
fn sizes(path: &Path) -> (u64, u64) {
    let meta = std::fs::metadata(path).unwrap();
    (meta.len(), meta.blocks() * 512)
}

#[tokio::test]
async fn the_active_segment_is_reserved_ahead_up_to_the_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(config(dir.path())).await.unwrap();
    backend.ensure_topic(&topic(), 1).await.unwrap();
    backend
        .append(&topic(), 0, (1..11).map(message).collect())
        .await
        .unwrap();
    let logs = segments(&partition_dir(dir.path(), 0));
    assert_eq!(logs.len(), 1);
    let (len, held) = sizes(&logs[0]);
    assert!(len > 0 && len < BLOCK, "ten records, {len} bytes");
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
    let (sealed_len, sealed_held) = sizes(&logs[0]);
    assert!(sealed_len >= SEGMENT_BYTES);
    assert!(
        sealed_held <= sealed_len.div_ceil(BLOCK) * BLOCK,
        "a sealed segment of {sealed_len} bytes holds {sealed_held}"
    );
    backend.shutdown().await.unwrap();

    // The reserved space past the end is not data: reopened, the log holds
    // every record appended and nothing else, and appends go on after them.
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
