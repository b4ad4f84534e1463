//! Topic administration on disk: deleting segments and partitions, purging,
//! and per-topic retention, each durable across a reopen; purges survive a
//! SIGKILL at any point, and what a crash between two steps of a purge or a
//! partition deletion leaves is opened cleanly.

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::Duration,
};

use common::*;
use rand::Rng;
use rustok_iggy::{Backend, ErrorKind, TopicRef, TopicRetention};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};

async fn open(config: EmbeddedConfig) -> EmbeddedBackend {
    let backend = EmbeddedBackend::open(config).await.unwrap();
    backend.ensure_topic(&topic(), 1).await.unwrap();
    backend
}

fn base_of(path: &std::path::Path) -> u64 {
    path.file_stem().unwrap().to_string_lossy().parse().unwrap()
}

#[tokio::test]
async fn delete_segments_removes_the_oldest_sealed_ones_durably() {
    let dir = tempfile::tempdir().unwrap();
    let config = small(dir.path(), FsyncPolicy::Always);
    let backend = open(config.clone()).await;
    append_each(&backend, 1..301).await;
    let before = segments(&partition_dir(dir.path(), 0));
    assert!(before.len() > 4, "{} segments", before.len());

    assert_eq!(backend.delete_segments(&topic(), 0, 2).await.unwrap(), 2);
    let after = segments(&partition_dir(dir.path(), 0));
    assert_eq!(after, before[2..], "the two oldest files went");
    let info = backend.partition_info(&topic(), 0).await.unwrap();
    assert_eq!(info.first_offset, base_of(&before[2]));
    assert_eq!(info.storage.unwrap().segments as usize, before.len() - 2);
    backend.shutdown().await.unwrap();

    let backend = EmbeddedBackend::open(config).await.unwrap();
    let records = poll_all(&backend, &topic(), 0).await;
    assert_eq!(
        records[0].offset,
        base_of(&before[2]),
        "still gone after a reopen"
    );
    assert_eq!(records.last().unwrap().offset, 299);
    // Asking for more than there are deletes every sealed one, never the active.
    let deleted = backend
        .delete_segments(&topic(), 0, u32::MAX)
        .await
        .unwrap();
    assert_eq!(deleted as usize, before.len() - 3);
    assert_eq!(
        segments(&partition_dir(dir.path(), 0)),
        before[before.len() - 1..]
    );
    assert_eq!(
        backend
            .partition_info(&topic(), 0)
            .await
            .unwrap()
            .next_offset,
        300
    );
}

#[tokio::test]
async fn a_topic_retention_is_its_own_durable_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let config = small(dir.path(), FsyncPolicy::Always);
    let backend = open(config.clone()).await;
    let other = TopicRef::new("app", "kept");
    backend.ensure_topic(&other, 1).await.unwrap();
    let by_size = TopicRetention {
        max_age: None,
        max_bytes: Some(8192),
    };
    backend
        .set_topic_retention(&topic(), by_size)
        .await
        .unwrap();
    append_each(&backend, 1..301).await;
    for id in 1..301 {
        backend.append(&other, 0, vec![message(id)]).await.unwrap();
    }
    backend.enforce_retention().await.unwrap();
    let trimmed = backend.partition_info(&topic(), 0).await.unwrap();
    assert!(
        trimmed.first_offset > 0,
        "the limited topic kept everything"
    );
    let sealed: u64 = segments(&partition_dir(dir.path(), 0))
        .iter()
        .rev()
        .skip(1)
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(sealed <= 8192, "{sealed} bytes of sealed segments kept");
    assert_eq!(
        backend
            .partition_info(&other, 0)
            .await
            .unwrap()
            .first_offset,
        0,
        "another topic's records went"
    );
    let err = backend
        .set_topic_retention(
            &topic(),
            TopicRetention {
                max_age: None,
                max_bytes: Some(4095),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    backend.shutdown().await.unwrap();

    // Reopened: the retention is still the topic's, and an age limit set now
    // deletes every sealed segment at once (all are older than 1 µs).
    let backend = EmbeddedBackend::open(config).await.unwrap();
    assert_eq!(backend.topic_retention(&topic()).await.unwrap(), by_size);
    assert_eq!(
        backend.topic_retention(&other).await.unwrap(),
        TopicRetention::default(),
        "the config's, which keeps everything"
    );
    let by_age = TopicRetention {
        max_age: Some(Duration::from_micros(1)),
        max_bytes: None,
    };
    backend.set_topic_retention(&topic(), by_age).await.unwrap();
    assert_eq!(segments(&partition_dir(dir.path(), 0)).len(), 1);
    let records = poll_all(&backend, &topic(), 0).await;
    assert_eq!(records.last().unwrap().offset, 299);
    assert_eq!(
        records[0].offset,
        backend
            .partition_info(&topic(), 0)
            .await
            .unwrap()
            .first_offset
    );
}

#[tokio::test]
async fn a_purge_empties_the_topic_for_good_and_offsets_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        dedup_window: 100,
        ..small(dir.path(), FsyncPolicy::Always)
    };
    let backend = open(config.clone()).await;
    append_each(&backend, 1..201).await;
    backend.purge_topic(&topic()).await.unwrap();
    assert_eq!(segments(&partition_dir(dir.path(), 0)).len(), 1);
    // The dedup window forgot the purged ids: id 1 is stored again.
    let ack = backend.append(&topic(), 0, vec![message(1)]).await.unwrap();
    assert_eq!((ack.first_offset, ack.count), (0, 1));
    backend.shutdown().await.unwrap();

    let backend = EmbeddedBackend::open(config).await.unwrap();
    assert_dense(&poll_all(&backend, &topic(), 0).await, 1);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("streams/app/orders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !leftovers.iter().any(|n| n.contains("purged")),
        "{leftovers:?}"
    );
}

/// The states a crash between the steps of a purge leaves: the partition
/// directory moved away (no new one yet), or moved away with the new one
/// made. Either opens as an empty partition, and the old files go.
#[tokio::test]
async fn a_purge_cut_between_its_steps_opens_empty_or_as_it_was() {
    for new_one_made in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = small(dir.path(), FsyncPolicy::Always);
        let backend = open(config.clone()).await;
        append_each(&backend, 1..101).await;
        backend.shutdown().await.unwrap();
        let partition = partition_dir(dir.path(), 0);
        let moved = partition.with_file_name("0.purged");
        std::fs::rename(&partition, &moved).unwrap();
        if new_one_made {
            std::fs::create_dir(&partition).unwrap();
            std::fs::File::create(partition.join(format!("{:020}.log", 0))).unwrap();
        }

        let backend = EmbeddedBackend::open(config).await.unwrap();
        assert!(poll_all(&backend, &topic(), 0).await.is_empty());
        assert!(!moved.exists(), "the purged files stayed");
        let ack = backend.append(&topic(), 0, vec![message(1)]).await.unwrap();
        assert_eq!(ack.first_offset, 0);
        backend.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn deleted_partitions_stay_deleted_and_a_cut_deletion_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = small(dir.path(), FsyncPolicy::Always);
    let backend = EmbeddedBackend::open(config.clone()).await.unwrap();
    backend.ensure_topic(&topic(), 4).await.unwrap();
    for p in 0..4 {
        backend.append(&topic(), p, vec![message(1)]).await.unwrap();
    }
    assert_eq!(
        backend
            .delete_partitions(&topic(), 2)
            .await
            .unwrap()
            .partitions,
        2
    );
    assert!(!partition_dir(dir.path(), 2).exists());
    assert!(!partition_dir(dir.path(), 3).exists());
    backend.shutdown().await.unwrap();
    // A crash after `topic.meta` was rewritten, before partition 1's files
    // were removed: what it leaves, made by hand from a live partition.
    let backend = EmbeddedBackend::open(config.clone()).await.unwrap();
    assert_eq!(backend.topic_info(&topic()).await.unwrap().partitions, 2);
    assert_dense(&poll_all(&backend, &topic(), 1).await, 1);
    backend.delete_partitions(&topic(), 1).await.unwrap();
    backend.shutdown().await.unwrap();
    copy_dir(&partition_dir(dir.path(), 0), &partition_dir(dir.path(), 1));

    let backend = EmbeddedBackend::open(config).await.unwrap();
    assert_eq!(backend.topic_info(&topic()).await.unwrap().partitions, 1);
    assert!(!partition_dir(dir.path(), 1).exists(), "debris stayed");
    assert_eq!(
        backend
            .add_partitions(&topic(), 1)
            .await
            .unwrap()
            .partitions,
        2
    );
    assert!(poll_all(&backend, &topic(), 1).await.is_empty());
    assert_dense(&poll_all(&backend, &topic(), 0).await, 1);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Set in the child's environment to the data directory it writes to.
const PURGER_DIR: &str = "RUSTOK_EMBEDDED_PURGE_CRASH_DIR";
const PARTITIONS: u32 = 2;

/// The child: appends batches whose ids are their offsets + 1, purging the
/// topic every few rounds; prints `ACK <partition> <next offset>` after each
/// acknowledged append and `PURGED` after each acknowledged purge. Does
/// nothing in a normal test run.
#[test]
fn purge_crash_child() {
    let Ok(dir) = std::env::var(PURGER_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let backend = EmbeddedBackend::open(small(dir.as_ref(), FsyncPolicy::Always))
            .await
            .unwrap();
        backend.ensure_topic(&topic(), PARTITIONS).await.unwrap();
        let mut rng = rand::rng();
        let stdout = std::io::stdout();
        for round in 0u64.. {
            if rng.random_range(0..8) == 0 {
                backend.purge_topic(&topic()).await.unwrap();
                writeln!(stdout.lock(), "PURGED").unwrap();
                continue;
            }
            let partition = (round % u64::from(PARTITIONS)) as u32;
            let next = backend
                .partition_info(&topic(), partition)
                .await
                .unwrap()
                .next_offset;
            let count: u64 = rng.random_range(1..=16);
            let batch = (next..next + count)
                .map(|offset| message(u128::from(offset) + 1))
                .collect();
            backend.append(&topic(), partition, batch).await.unwrap();
            let mut out = stdout.lock();
            writeln!(out, "ACK {partition} {}", next + count).unwrap();
            out.flush().unwrap();
        }
    });
}

/// Killed at a random point (a purge in flight among them), the log opens
/// with each partition either emptied by that purge or holding every append
/// acknowledged since the last acknowledged purge, densely, with the right
/// content.
#[tokio::test]
async fn purges_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut purges = 0;
    for _round in 0..3 {
        let kill_after = rand::rng().random_range(10..200);
        let mut child = Command::new(&exe)
            .args([
                "purge_crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(PURGER_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Next offset acknowledged since the last acknowledged purge.
        let mut acked: BTreeMap<u32, u64> = BTreeMap::new();
        let mut seen = 0;
        while seen < kill_after {
            let Some(line) = lines.next() else { break };
            let line = line.unwrap();
            if line == "PURGED" {
                acked.clear();
                purges += 1;
            } else if let Some(rest) = line.strip_prefix("ACK ") {
                let (p, next) = rest.split_once(' ').unwrap();
                acked.insert(p.parse().unwrap(), next.parse().unwrap());
            } else {
                continue;
            }
            seen += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
            .await
            .unwrap();
        for p in 0..PARTITIONS {
            let records = poll_all(&backend, &topic(), p).await;
            let kept = records.len() as u64;
            let want = acked.get(&p).copied().unwrap_or(0);
            assert!(
                kept == 0 || kept >= want,
                "partition {p}: {kept} records, {want} acknowledged since the last purge"
            );
            for (i, r) in records.iter().enumerate() {
                assert_eq!(
                    r.offset, i as u64,
                    "partition {p}: offsets are dense from 0"
                );
                assert_eq!(
                    r.message,
                    message(i as u128 + 1),
                    "partition {p}: offset {i}"
                );
            }
        }
        backend.shutdown().await.unwrap();
    }
    eprintln!("{purges} purges acknowledged across the rounds");
}
