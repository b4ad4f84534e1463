//! The testkit's suites run against its own memory implementations (and the
//! codec suite against a small JSON codec).

mod common;

use std::sync::Arc;

use common::TestJson;
use rustok_iggy::{Backend, Codec, DlqStore, OffsetStore};
use rustok_iggy_testkit::{
    FaultPlan, FaultyBackend, MemoryBackend, MemoryDlqStore, MemoryOffsetStore,
};

rustok_iggy_testkit::backend_conformance!(memory_backend, async {
    Arc::new(MemoryBackend::new()) as Arc<dyn Backend>
});

// A fault-free wrapper must be indistinguishable from what it wraps.
rustok_iggy_testkit::backend_conformance!(faulty_backend_without_faults, async {
    let inner = Arc::new(MemoryBackend::new());
    Arc::new(
        FaultyBackend::new(inner)
            .appends(FaultPlan::none())
            .polls(FaultPlan::none()),
    ) as Arc<dyn Backend>
});

rustok_iggy_testkit::receiver_conformance!(memory_receiver, async {
    Arc::new(MemoryBackend::new()) as Arc<dyn Backend>
});

rustok_iggy_testkit::offsets_conformance!(memory_offsets, async {
    Arc::new(MemoryOffsetStore::new()) as Arc<dyn OffsetStore>
});

// The backend's own store, with a guard kept alive for the case.
rustok_iggy_testkit::offsets_conformance!(memory_backend_offsets, async {
    let backend = Arc::new(MemoryBackend::new());
    let store = backend
        .offset_store()
        .expect("the memory backend has an offset store");
    (store, backend)
});

rustok_iggy_testkit::dlq_conformance!(memory_dlq, async {
    Arc::new(MemoryDlqStore::new()) as Arc<dyn DlqStore>
});

rustok_iggy_testkit::codec_conformance!(test_json, || Arc::new(TestJson) as Arc<dyn Codec>);
