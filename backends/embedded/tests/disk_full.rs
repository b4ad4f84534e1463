//! A full disk, simulated with a file size limit the test sets: a child
//! process (this test binary re-run with [`CHILD_DIR`] set, so that only
//! [`disk_full_child`] does anything) ignores `SIGXFSZ` and lowers its soft
//! `RLIMIT_FSIZE`, so every write past the limit fails with `EFBIG`, the way
//! writes fail on a full disk. That needs no privilege, unlike mounting a
//! small tmpfs, so CI runs it as it is.
//!
//! Under the limit, appends to the log, offset commits (in-place slot
//! writes and slot creation) and DLQ puts and marks fail with an
//! `Unavailable` error naming the file, leave nothing partial behind, and
//! keep everything acknowledged before; once the limit is raised again
//! ("space returns") the same operations succeed. The parent then reopens
//! the directory without any limit and checks that everything acknowledged,
//! and nothing else, is there.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use common::*;
use rustok_iggy::{Backend, DeadLetter, DlqFilter, DlqStore, Error, ErrorKind, OffsetStore};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};

/// Set in the child's environment to the data directory it writes to.
const CHILD_DIR: &str = "RUSTOK_EMBEDDED_DISK_FULL_DIR";
/// The file size limit while the "disk" is full: each file may grow to this.
const LIMIT: u64 = 16 * 1024;
/// A limit below the size of any offset slot or DLQ marks file.
const TINY: u64 = 16;

/// Segments far larger than [`LIMIT`], so the limit, not a roll, stops
/// appends.
fn config(dir: &Path) -> EmbeddedConfig {
    EmbeddedConfig {
        segment_bytes: 1 << 20,
        index_interval_bytes: 512,
        ..EmbeddedConfig::new(dir).fsync(FsyncPolicy::Always)
    }
}

/// Sets this process's soft file size limit (the hard limit stays, so it
/// can be raised again).
fn set_file_size_limit(bytes: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the kernel to fill and read.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

fn raise_file_size_limit() {
    set_file_size_limit(u64::MAX);
}

/// Asserts `err` is the clear error of a full disk about a file under `dir`
/// whose name contains `file`.
fn assert_full(err: &Error, dir: &Path, file: &str) {
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let text = err.to_string();
    assert!(text.contains("file size limit is reached"), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    assert!(text.contains(file), "{text}");
}

/// No temporary file is left anywhere under `dir`.
fn assert_no_debris(dir: &Path) {
    fn walk(dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path);
            } else {
                assert!(
                    !path.to_string_lossy().ends_with(".tmp"),
                    "{} left behind",
                    path.display()
                );
            }
        }
    }
    walk(dir);
}

fn letter(n: u128) -> DeadLetter {
    DeadLetter {
        message: message(n),
        topic: topic(),
        partition: 0,
        offset: n as u64,
        group: "g".into(),
        error: "handler failed".into(),
        attempts: 3,
        first_failure: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        last_failure: chrono::DateTime::from_timestamp(1_700_000_060, 0).unwrap(),
    }
}

fn segment_len(dir: &Path, topic_dir: &str) -> u64 {
    let dir = dir.join("streams").join(topic_dir).join("0");
    segments(&dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// The child: fills each file up to the limit, checks the failures, raises
/// the limit, continues, and prints what was acknowledged as
/// `ACKED <records> <letters> <group g offset> <group h offset> <redriven id>`.
/// Does nothing in a normal test run.
#[test]
fn disk_full_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let dir = Path::new(&dir);
    // SAFETY: ignoring a signal has no memory-safety preconditions. With
    // SIGXFSZ ignored a write past the limit fails with EFBIG instead of
    // killing the process.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let backend = EmbeddedBackend::open(config(dir)).await.unwrap();
        backend.ensure_topic(&topic(), 1).await.unwrap();
        let offsets = backend.offsets().clone();
        let dlq = backend.dlq().clone();
        // Both offset slot files exist before the disk fills.
        offsets.commit("g", &topic(), 0, 1).await.unwrap();
        offsets.commit("g", &topic(), 0, 2).await.unwrap();

        set_file_size_limit(LIMIT);

        // The log: append one record at a time until the segment is full.
        let mut acked = 0_u64;
        let err = loop {
            assert!(acked < 10_000, "the limit never stopped appends");
            match backend
                .append(&topic(), 0, vec![message(u128::from(acked) + 1)])
                .await
            {
                Ok(ack) => {
                    assert_eq!(ack.first_offset, acked);
                    acked += 1;
                }
                Err(err) => break err,
            }
        };
        assert_full(&err, dir, ".log");
        let full_len = segment_len(dir, "app/orders");
        assert!(full_len <= LIMIT, "{full_len} bytes written past the limit");
        // A batch fails whole: nothing of it is visible or left in the file.
        let batch = (0..5).map(|i| message(u128::from(acked) + 1 + i)).collect();
        let err = backend.append(&topic(), 0, batch).await.unwrap_err();
        assert_full(&err, dir, ".log");
        assert_eq!(
            segment_len(dir, "app/orders"),
            full_len,
            "a partial batch was left"
        );
        let info = backend.partition_info(&topic(), 0).await.unwrap();
        assert_eq!(info.next_offset, acked, "failed appends took no offsets");
        assert_dense(&poll_all(&backend, &topic(), 0).await, acked);

        // The DLQ topic: puts fail once its segment is full.
        let mut letters = 0_u64;
        let err = loop {
            assert!(letters < 10_000, "the limit never stopped DLQ puts");
            match dlq.put(letter(u128::from(letters) + 1)).await {
                Ok(id) => {
                    letters += 1;
                    assert_eq!(id, letters);
                }
                Err(err) => break err,
            }
        };
        assert_full(&err, dir, ".log");
        assert_eq!(dlq.count(DlqFilter::default()).await.unwrap(), letters);

        // Small files: a limit below their size. An in-place slot update and
        // the creation of a new group's slot fail; so does a DLQ mark (a
        // record of the marks topic), and the entry stays unmarked.
        set_file_size_limit(TINY);
        let err = offsets.commit("g", &topic(), 0, 3).await.unwrap_err();
        assert_full(&err, dir, "offsets");
        let err = offsets.commit("h", &topic(), 0, 7).await.unwrap_err();
        assert_full(&err, dir, "offsets");
        let err = dlq.mark_redriven(1, chrono::Utc::now()).await.unwrap_err();
        assert_full(&err, dir, "__rustok_dlq/marks/0/");
        assert!(dlq.get(1).await.unwrap().unwrap().redriven_at.is_none());
        assert_no_debris(dir);

        // Space returns: everything resumes where it stopped.
        raise_file_size_limit();
        for i in 0..20 {
            let ack = backend
                .append(&topic(), 0, vec![message(u128::from(acked) + 1)])
                .await
                .unwrap();
            assert_eq!(ack.first_offset, acked, "append {i} after space returned");
            acked += 1;
        }
        assert_dense(&poll_all(&backend, &topic(), 0).await, acked);
        offsets.commit("g", &topic(), 0, 3).await.unwrap();
        offsets.commit("h", &topic(), 0, 7).await.unwrap();
        letters += 1;
        assert_eq!(dlq.put(letter(u128::from(letters))).await.unwrap(), letters);
        dlq.mark_redriven(1, chrono::Utc::now()).await.unwrap();
        assert!(
            backend.health().await.is_healthy(),
            "{:?}",
            backend.health().await
        );
        backend.shutdown().await.unwrap();
        println!("ACKED {acked} {letters} 3 7 1");
    });
}

#[tokio::test]
async fn a_full_disk_fails_writes_clearly_and_they_resume_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(&exe)
        .args([
            "disk_full_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the child failed: {stdout}");
    let report: Vec<u64> = BufReader::new(stdout.as_bytes())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            // libtest prints the test's name on the same line first.
            line.split_once("ACKED ").map(|(_, rest)| {
                rest.split_whitespace()
                    .map_while(|f| f.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_else(|| panic!("no report from the child: {stdout}"));
    let [records, letters, g, h, redriven] = report[..] else {
        panic!("bad report {report:?}");
    };
    assert!(records > 20 && letters > 1, "{report:?}");

    // Reopened without any limit: exactly what was acknowledged.
    let backend = EmbeddedBackend::open(config(dir.path())).await.unwrap();
    assert_dense(&poll_all(&backend, &topic(), 0).await, records);
    let offsets = backend.offsets();
    assert_eq!(offsets.load("g", &topic(), 0).await.unwrap(), Some(g));
    assert_eq!(offsets.load("h", &topic(), 0).await.unwrap(), Some(h));
    let dlq = backend.dlq();
    let every = DlqFilter {
        include_redriven: true,
        ..DlqFilter::default()
    };
    assert_eq!(dlq.count(every).await.unwrap(), letters);
    for id in 1..=letters {
        let entry = dlq.get(id).await.unwrap().unwrap();
        assert_eq!(entry.letter, letter(u128::from(id)));
        assert_eq!(entry.redriven_at.is_some(), id == redriven, "entry {id}");
    }
    assert_no_debris(dir.path());
    backend.shutdown().await.unwrap();
}
