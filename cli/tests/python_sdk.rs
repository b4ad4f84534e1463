//! Apache Iggy's Python SDK (`apache-iggy` 0.9.0 from PyPI) against
//! `rustok-iggy serve`: `python/sdk_session.py` creates a topology, sends
//! messages with typed headers and polls them back every way the SDK
//! polls, runs a two-member consumer group and reads the stats, checking
//! every answer.
//!
//! Needs a Python with that SDK: `IGGY_PYTHON=/path/to/venv/bin/python`.
//! `.ci/run` makes the virtual environment (`pip install apache-iggy==0.9.0`)
//! and runs this test; in a plain `cargo test` it is ignored, where it would
//! fail, not pass, without the SDK.

mod common;

use std::{path::PathBuf, process::Command};

use common::Serve;

#[test]
#[ignore = "needs Apache Iggy's Python SDK: IGGY_PYTHON=/path/to/python with apache-iggy 0.9.0 (.ci/run makes one)"]
fn the_python_sdk_session_passes_against_serve() {
    let python = std::env::var_os("IGGY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("set IGGY_PYTHON to a Python with apache-iggy 0.9.0"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/sdk_session.py");
    let dir = tempfile::tempdir().unwrap();
    let (user, password) = ("py-ops", "python-sdk-s3cret");
    let server = Serve::start(&dir.path().join("data"), (user, password), &[]);

    let out = Command::new(&python)
        .arg(&script)
        .args([server.address.as_str(), user, password])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.contains("python sdk session: ok"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(server.stop(), 0);
}
