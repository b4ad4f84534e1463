//! Recovery of an embedded data directory after arbitrary edits of its
//! files (the input is a list of edits, see `edits::parse_edits`): the open
//! fails naming a file, or every readable record is intact and dense.
#![no_main]

use std::sync::OnceLock;

use rustok_iggy_fuzz::edits::{apply, build, check, copy_tree, parse_edits};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn template() -> &'static std::path::Path {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            runtime().block_on(build(dir.path()));
            dir
        })
        .path()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let edits = parse_edits(data);
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(template(), dir.path());
    apply(dir.path(), &edits);
    if let Err(violation) = runtime().block_on(check(dir.path())) {
        panic!("{violation} after {edits:?}");
    }
});
