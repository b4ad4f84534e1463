//! Helpers shared by the embedded backend's integration tests.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use rustok_iggy::{Backend, Headers, Message, PollFrom, PollRequest, Record, TopicRef};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};

/// The topic most tests use.
pub fn topic() -> TopicRef {
    TopicRef::new("app", "orders")
}

/// The directory of partition `p` of [`topic`] under `data_dir`.
pub fn partition_dir(data_dir: &Path, p: u32) -> PathBuf {
    data_dir.join("streams/app/orders").join(p.to_string())
}

/// Segment files of a partition directory, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// Small segments and a dense index, so tests cross segment boundaries.
pub fn small(data_dir: &Path, fsync: FsyncPolicy) -> EmbeddedConfig {
    EmbeddedConfig {
        segment_bytes: 4096,
        index_interval_bytes: 128,
        ..EmbeddedConfig::new(data_dir).fsync(fsync)
    }
}

/// A message whose payload is derived from its id, so content can be checked.
pub fn message(id: u128) -> Message {
    let mut headers = Headers::new();
    headers.insert("n", id.to_string()).unwrap();
    Message {
        origin_timestamp_micros: None,
        id,
        headers,
        payload: Bytes::from(format!("payload of {id} ").repeat(4)),
    }
}

/// Everything visible in a partition from `from` on.
pub async fn poll_all(backend: &EmbeddedBackend, topic: &TopicRef, partition: u32) -> Vec<Record> {
    let mut all: Vec<Record> = Vec::new();
    let mut next = 0;
    loop {
        let page = backend
            .poll(PollRequest {
                topic: topic.clone(),
                partition,
                from: PollFrom::Offset(next),
                max_records: 97,
                max_wait: Duration::ZERO,
            })
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return all;
        };
        next = last.offset + 1;
        all.extend(page);
    }
}

/// Appends messages `ids` one append each, and returns their offsets.
pub async fn append_each(backend: &EmbeddedBackend, ids: std::ops::Range<u128>) -> Vec<u64> {
    let mut offsets = Vec::new();
    for id in ids {
        let ack = backend
            .append(&topic(), 0, vec![message(id)])
            .await
            .unwrap();
        offsets.push(ack.first_offset);
    }
    offsets
}

/// Asserts that `records` are offsets `0..n` holding messages `1..=n`.
pub fn assert_dense(records: &[Record], n: u64) {
    assert_eq!(records.len() as u64, n, "record count");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.offset, i as u64, "offsets are dense");
        assert_eq!(r.message, message(i as u128 + 1), "content of offset {i}");
    }
}
