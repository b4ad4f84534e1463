//! The testkit's conformance suites, run on the embedded backend and stores,
//! each case in a fresh temporary data directory.

use std::sync::Arc;

use rustok_iggy::{Backend, DlqStore, OffsetStore};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use tempfile::TempDir;

async fn open(fsync: FsyncPolicy) -> (EmbeddedBackend, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = EmbeddedConfig {
        // Small segments, so cases also cross segment boundaries.
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..EmbeddedConfig::new(dir.path()).fsync(fsync)
    };
    let backend = EmbeddedBackend::open(config).await.expect("open");
    (backend, dir)
}

rustok_iggy_testkit::backend_conformance!(backend_always, async {
    let (backend, dir) = open(FsyncPolicy::Always).await;
    (Arc::new(backend) as Arc<dyn Backend>, dir)
});

rustok_iggy_testkit::backend_conformance!(backend_never, async {
    let (backend, dir) = open(FsyncPolicy::Never).await;
    (Arc::new(backend) as Arc<dyn Backend>, dir)
});

// The pull consumer on the default (`interval`) policy.
rustok_iggy_testkit::receiver_conformance!(receiver, async {
    let (backend, dir) = open(FsyncPolicy::Interval).await;
    (Arc::new(backend) as Arc<dyn Backend>, dir)
});

rustok_iggy_testkit::offsets_conformance!(offsets, async {
    let (backend, dir) = open(FsyncPolicy::Always).await;
    (
        backend.offsets().clone() as Arc<dyn OffsetStore>,
        (backend, dir),
    )
});

rustok_iggy_testkit::dlq_conformance!(dlq, async {
    let (backend, dir) = open(FsyncPolicy::Interval).await;
    (backend.dlq().clone() as Arc<dyn DlqStore>, (backend, dir))
});
