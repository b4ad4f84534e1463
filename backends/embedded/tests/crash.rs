//! A child process appends with `fsync = "always"` and prints every
//! acknowledged offset; it is killed with SIGKILL at a random point, and every
//! acknowledged event must be readable after reopening, with dense offsets.
//!
//! The child is this test binary itself, re-run with [`WRITER_DIR`] set so
//! that only [`crash_writer_child`] does anything.

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
};

use common::*;
use rand::Rng;
use rustok_iggy::Backend;
use rustok_iggy_embedded::{EmbeddedBackend, FsyncPolicy};

/// Set in the child's environment to the data directory it writes to.
const WRITER_DIR: &str = "RUSTOK_EMBEDDED_CRASH_WRITER_DIR";
const PARTITIONS: u32 = 2;

/// The child: appends batches forever, printing `ACK <partition> <first> <count>`
/// after each acknowledged append. Does nothing in a normal test run.
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(WRITER_DIR) else {
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
            let ack = backend.append(&topic(), partition, batch).await.unwrap();
            assert_eq!(ack.first_offset, next);
            let mut out = stdout.lock();
            writeln!(out, "ACK {partition} {} {}", ack.first_offset, ack.count).unwrap();
            out.flush().unwrap();
        }
    });
}

#[tokio::test]
async fn every_acknowledged_append_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // Highest acknowledged offset + 1 per partition, over all rounds.
    let mut acked: BTreeMap<u32, u64> = BTreeMap::new();
    let mut total_acks = 0;
    for round in 0..3 {
        let kill_after = rand::rng().random_range(5..300);
        let mut child = Command::new(&exe)
            .args([
                "crash_writer_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        let mut record = |line: &str| -> bool {
            let Some(rest) = line.strip_prefix("ACK ") else {
                return false;
            };
            let fields: Vec<u64> = rest.split(' ').map(|f| f.parse().unwrap()).collect();
            let end = fields[1] + fields[2];
            let entry = acked.entry(fields[0] as u32).or_insert(0);
            *entry = (*entry).max(end);
            true
        };
        while seen < kill_after {
            let Some(line) = lines.next() else {
                panic!("the writer exited in round {round} after {seen} acks");
            };
            if record(&line.unwrap()) {
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
                               // Acks printed before the kill are acknowledged too.
        for line in lines {
            let Ok(line) = line else { break };
            if record(&line) {
                seen += 1;
            }
        }
        child.wait().unwrap();
        total_acks += seen;

        let backend = EmbeddedBackend::open(small(dir.path(), FsyncPolicy::Always))
            .await
            .unwrap();
        for partition in 0..PARTITIONS {
            let records = poll_all(&backend, &topic(), partition).await;
            let acknowledged = acked.get(&partition).copied().unwrap_or(0);
            assert!(
                records.len() as u64 >= acknowledged,
                "round {round}: partition {partition} has {} records, {acknowledged} were acknowledged",
                records.len()
            );
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.offset, i as u64, "offsets are dense");
                assert_eq!(r.message, message(i as u128 + 1), "content of offset {i}");
            }
        }
        backend.shutdown().await.unwrap();
    }
    assert!(total_acks >= 15);
}
