//! Recovery from damage done to the files on disk: torn, zero-filled and
//! bit-flipped segments, an interrupted roll, lost indexes, a second opener.

mod common;

use std::{fs, io::Write, os::unix::fs::FileExt};

use common::*;
use rustok_iggy::{Backend, ErrorKind, PollFrom, PollRequest};
use rustok_iggy_embedded::{EmbeddedBackend, FsyncPolicy};

/// Writes messages 1..=n to partition 0, one append each, and shuts down.
async fn write(dir: &std::path::Path, n: u128) {
    let backend = EmbeddedBackend::open(small(dir, FsyncPolicy::Always))
        .await
        .unwrap();
    backend.ensure_topic(&topic(), 1).await.unwrap();
    append_each(&backend, 1..n + 1).await;
    backend.shutdown().await.unwrap();
}

async fn reopen(dir: &std::path::Path) -> EmbeddedBackend {
    EmbeddedBackend::open(small(dir, FsyncPolicy::Always))
        .await
        .unwrap()
}

fn last_segment(dir: &std::path::Path) -> std::path::PathBuf {
    segments(&partition_dir(dir, 0)).pop().unwrap()
}

#[tokio::test]
async fn a_torn_tail_of_the_active_segment_is_cut_at_the_last_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 5).await;
    let path = last_segment(dir.path());
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 7)
        .unwrap();

    let backend = reopen(dir.path()).await;
    let records = poll_all(&backend, &topic(), 0).await;
    assert_dense(&records, 4);
    // The next append continues densely where the valid data ends.
    let ack = backend.append(&topic(), 0, vec![message(5)]).await.unwrap();
    assert_eq!(ack.first_offset, 4);
    assert_dense(&poll_all(&backend, &topic(), 0).await, 5);
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_zero_filled_tail_is_cut_and_nothing_valid_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 6).await;
    let path = last_segment(dir.path());
    let len = fs::metadata(&path).unwrap().len();
    let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&[0u8; 8192]).unwrap();
    drop(file);

    let backend = reopen(dir.path()).await;
    assert_dense(&poll_all(&backend, &topic(), 0).await, 6);
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        len,
        "the zeros were cut"
    );
    let info = backend.partition_info(&topic(), 0).await.unwrap();
    assert_eq!(info.next_offset, 6);
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_flipped_bit_in_the_active_segment_cuts_from_that_record() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 3).await;
    let path = last_segment(dir.path());
    let len = fs::metadata(&path).unwrap().len();
    // Inside the last record's payload.
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, len - 3).unwrap();
    file.write_all_at(&[byte[0] ^ 0x10], len - 3).unwrap();
    drop(file);

    let backend = reopen(dir.path()).await;
    assert_dense(&poll_all(&backend, &topic(), 0).await, 2);
    backend.shutdown().await.unwrap();
}

/// Writes enough for several segments; returns the partition's segments.
async fn write_segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    write(dir, 120).await;
    let logs = segments(&partition_dir(dir, 0));
    assert!(logs.len() >= 3, "expected several segments, got {logs:?}");
    logs
}

fn flip_middle_byte(path: &std::path::Path) -> u64 {
    let len = fs::metadata(path).unwrap().len();
    let at = len / 2;
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x01], at).unwrap();
    at
}

#[tokio::test]
async fn corruption_in_a_sealed_segment_fails_the_open_naming_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_segments(dir.path()).await;
    flip_middle_byte(&logs[0]);
    // Without its index, the sealed segment is scanned at open.
    fs::remove_file(logs[0].with_extension("index")).unwrap();
    let err = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    let text = err.to_string();
    let name = logs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(text.contains(&name), "{text}");
    assert!(text.contains("at byte"), "{text}");
    assert!(text.contains("sealed"), "{text}");
    // Nothing was "repaired": the damaged file is intact on disk.
    assert!(logs[0].exists());
}

/// Appends `bytes` to the end of `path`.
fn append_bytes(path: &std::path::Path, bytes: &[u8]) {
    let mut file = fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

#[tokio::test]
async fn zeros_past_a_sealed_segments_records_are_cut_not_refused() {
    // What a roll that did not get to cut the writer's zeros leaves.
    let dir = tempfile::tempdir().unwrap();
    let logs = write_segments(dir.path()).await;
    let len = fs::metadata(&logs[0]).unwrap().len();
    append_bytes(&logs[0], &[0u8; 5000]);

    let backend = reopen(dir.path()).await;
    assert_dense(&poll_all(&backend, &topic(), 0).await, 120);
    assert_eq!(
        fs::metadata(&logs[0]).unwrap().len(),
        len,
        "the zeros were cut"
    );
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn zeros_then_anything_else_past_a_sealed_segments_records_fail_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_segments(dir.path()).await;
    let len = fs::metadata(&logs[0]).unwrap().len();
    let mut tail = vec![0u8; 5000];
    tail[4000] = 1;
    append_bytes(&logs[0], &tail);

    let err = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    assert!(err.to_string().contains("sealed"), "{err}");
    assert_eq!(
        fs::metadata(&logs[0]).unwrap().len(),
        len + 5000,
        "nothing was cut"
    );
}

#[tokio::test]
async fn corruption_in_an_indexed_sealed_segment_fails_the_read_naming_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_segments(dir.path()).await;
    flip_middle_byte(&logs[0]);
    let backend = reopen(dir.path()).await;
    let err = backend
        .poll(PollRequest {
            topic: topic(),
            partition: 0,
            from: PollFrom::Offset(0),
            max_records: 1_000,
            max_wait: std::time::Duration::ZERO,
        })
        .await
        .unwrap_err();
    let name = logs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.to_string().contains(&name), "{err}");
    assert!(err.to_string().contains("at byte"), "{err}");
    // Records of intact segments stay readable.
    let later = segment_base(&logs[1]);
    let records = backend
        .poll(PollRequest {
            topic: topic(),
            partition: 0,
            from: PollFrom::Offset(later),
            max_records: 5,
            max_wait: std::time::Duration::ZERO,
        })
        .await
        .unwrap();
    assert_eq!(records[0].offset, later);
    backend.shutdown().await.unwrap();
}

fn segment_base(path: &std::path::Path) -> u64 {
    path.file_stem().unwrap().to_string_lossy().parse().unwrap()
}

#[tokio::test]
async fn a_missing_sealed_segment_is_an_error_not_a_silent_gap() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_segments(dir.path()).await;
    fs::remove_file(&logs[1]).unwrap();
    let err = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("records are missing"), "{err}");
}

#[tokio::test]
async fn a_roll_interrupted_after_creating_the_new_segment_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_segments(dir.path()).await;
    let next = {
        let backend = reopen(dir.path()).await;
        let next = backend
            .partition_info(&topic(), 0)
            .await
            .unwrap()
            .next_offset;
        backend.shutdown().await.unwrap();
        next
    };
    // The crash left a new segment file: empty, or with a zero-filled block.
    let pdir = partition_dir(dir.path(), 0);
    let debris = pdir.join(format!("{:020}.log", next));
    fs::write(&debris, [0u8; 512]).unwrap();

    let backend = reopen(dir.path()).await;
    assert_eq!(
        backend
            .partition_info(&topic(), 0)
            .await
            .unwrap()
            .next_offset,
        next
    );
    assert_dense(&poll_all(&backend, &topic(), 0).await, next);
    let ack = backend
        .append(&topic(), 0, vec![message(u128::from(next) + 1)])
        .await
        .unwrap();
    assert_eq!(ack.first_offset, next);
    assert_dense(&poll_all(&backend, &topic(), 0).await, next + 1);
    assert!(segments(&pdir).len() >= logs.len());
    backend.shutdown().await.unwrap();
}

#[tokio::test]
async fn lost_or_damaged_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_segments(dir.path()).await;
    fs::remove_file(logs[0].with_extension("index")).unwrap();
    fs::write(logs[1].with_extension("index"), b"garbage").unwrap();
    let backend = reopen(dir.path()).await;
    let all = poll_all(&backend, &topic(), 0).await;
    assert_dense(&all, 120);
    // Offset and time lookups work through the rebuilt indexes.
    for probe in [0usize, 17, 63, 119] {
        let from_offset = backend
            .poll(PollRequest {
                topic: topic(),
                partition: 0,
                from: PollFrom::Offset(probe as u64),
                max_records: 1,
                max_wait: std::time::Duration::ZERO,
            })
            .await
            .unwrap();
        assert_eq!(from_offset[0].offset, probe as u64);
        let ts = all[probe].timestamp_micros;
        let from_time = backend
            .poll(PollRequest {
                topic: topic(),
                partition: 0,
                from: PollFrom::Timestamp(ts),
                max_records: 1,
                max_wait: std::time::Duration::ZERO,
            })
            .await
            .unwrap();
        let first_at = all
            .iter()
            .find(|r| r.timestamp_micros >= ts)
            .unwrap()
            .offset;
        assert_eq!(from_time[0].offset, first_at);
    }
    backend.shutdown().await.unwrap();
    assert!(logs[0].with_extension("index").exists(), "index rewritten");
}

#[tokio::test]
async fn a_second_open_of_the_data_dir_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = reopen(dir.path()).await;
    let err = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("already open"), "{err}");
    first.shutdown().await.unwrap();
    let second = reopen(dir.path()).await;
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn after_shutdown_every_store_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let backend = reopen(dir.path()).await;
    backend.shutdown().await.unwrap();
    backend.shutdown().await.unwrap();
    use rustok_iggy::{DlqStore, OffsetStore};
    let err = backend.offsets().load("g", &topic(), 0).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
    let err = backend.dlq().get(1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn a_torn_offset_commit_leaves_the_previous_positions() {
    use rustok_iggy::OffsetStore;
    let dir = tempfile::tempdir().unwrap();
    {
        let backend = reopen(dir.path()).await;
        backend
            .offsets()
            .commit("billing", &topic(), 0, 5)
            .await
            .unwrap();
        backend
            .offsets()
            .commit("billing", &topic(), 0, 9)
            .await
            .unwrap();
        backend.shutdown().await.unwrap();
    }
    // The second commit went to slot `b`: damage it as a crash mid-write would.
    let slot = dir.path().join("offsets/billing.b");
    let mut bytes = fs::read(&slot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs::write(&slot, &bytes).unwrap();
    let backend = reopen(dir.path()).await;
    assert_eq!(
        backend
            .offsets()
            .load("billing", &topic(), 0)
            .await
            .unwrap(),
        Some(5)
    );
    // Commits go on, overwriting the damaged slot.
    backend
        .offsets()
        .commit("billing", &topic(), 0, 11)
        .await
        .unwrap();
    backend.shutdown().await.unwrap();
    let backend = reopen(dir.path()).await;
    assert_eq!(
        backend
            .offsets()
            .load("billing", &topic(), 0)
            .await
            .unwrap(),
        Some(11)
    );
    backend.shutdown().await.unwrap();
}
