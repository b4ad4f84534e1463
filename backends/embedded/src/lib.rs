//! # rustok-iggy-embedded
//!
//! The embedded backend of rustok-iggy: a durable, in-process, Iggy-shaped
//! log (streams → topics → partitions → offsets) that needs no server, with
//! its own offset store and DLQ store. All three are registered as
//! `"embedded"`; call [`link()`] from the binary that builds a transport
//! from config.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> rustok_iggy::Result<()> {
//! use rustok_iggy::{Transport, TransportConfig};
//!
//! rustok_iggy_embedded::link();
//! rustok_iggy_codecs::link();
//! let dir = tempfile::tempdir().unwrap();
//! let config = TransportConfig::from_toml(&format!(
//!     "backend = \"embedded\"\n[plugins.embedded]\ndata_dir = {:?}\nfsync = \"always\"",
//!     dir.path()
//! ))?;
//! let transport = Transport::from_config(&config).await?;
//! assert_eq!(transport.backend().name(), "embedded");
//! assert_eq!(transport.offset_store().name(), "embedded");
//! transport.backend().shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! ## Configuration (`[plugins.embedded]`)
//!
//! | key | default | meaning |
//! | --- | --- | --- |
//! | `data_dir` | `./data/rustok-iggy` | where everything is stored |
//! | `fsync` | `"interval"` | `"always"`, `"interval"` or `"never"` (below) |
//! | `fsync_interval_ms` | 50 | `interval`: longest acknowledged data stays unsynced before appends wait for their fsync |
//! | `segment_bytes` | 128 MiB | roll a segment at this size (at least 4 KiB) |
//! | `retention_max_age_secs` | none | delete sealed segments older than this |
//! | `retention_max_bytes` | none | per partition, delete oldest sealed segments above this |
//! | `retention_check_secs` | 60 | how often retention runs |
//! | `index_interval_bytes` | 4096 | bytes between sparse index entries |
//! | `dedup_window` | 0 (off) | deduplicate appends by message id against each partition's newest this many records |
//! | `dedup_max_age_secs` | none | with `dedup_window`: forget ids of records older than this |
//!
//! Unknown keys and invalid values are [`ErrorKind::Config`](rustok_iggy::ErrorKind::Config)
//! errors naming the key (see [`EmbeddedConfig`]).
//!
//! ## On-disk layout
//!
//! ```text
//! <data_dir>/.lock                                  locked while open
//! <data_dir>/streams/<stream>/<topic>/topic.meta    partition count, the topic's own retention
//! <data_dir>/streams/<stream>/<topic>/<n>/<base>.log     segment, from offset <base>
//! <data_dir>/streams/<stream>/<topic>/<n>/<base>.index   its sparse offset/time index
//! <data_dir>/offsets/<group>.a, <group>.b           committed offsets of a group (two slots)
//! ```
//!
//! Names are percent-encoded into file names. Segment names are the base
//! offset zero-padded to 20 digits. A record is framed as
//! `u32 length | u32 CRC32C | u64 offset | u64 timestamp (µs) | u128 message id |
//! u32 headers length | [u64 origin timestamp (µs)] | headers | payload`, the
//! origin timestamp present when the message has one (the top bit of the
//! headers length says so; a log holding such a record cannot be opened by
//! a version before the field, which would cut it as damage); a segment rolls once it holds
//! `segment_bytes`. Indexes are derived data, rebuilt when missing or stale.
//! The data directory is locked (`.lock`, an OS file lock): a second open,
//! from another process or this one, is refused with
//! [`ErrorKind::Unavailable`](rustok_iggy::ErrorKind::Unavailable).
//!
//! ## Durability (`fsync`)
//!
//! - `always`: `append` returns only after `fdatasync` of the segment.
//!   Concurrent appends to a partition share one fsync (group commit). An
//!   acknowledged append survives power loss.
//! - `interval` (default): `append` returns once the batch is in the page
//!   cache; a group commit fsyncs every partition with new data together,
//!   and starts the next round as soon as one ended while new data arrived
//!   (no timer; nothing runs while the log is idle). Polls return only
//!   records below the durable mark, so a consumer never handles an event
//!   that a crash could then take back; it sees a record about one fsync
//!   after it was written. A power loss can lose acknowledged appends not
//!   yet fsynced; once the oldest of them is `fsync_interval_ms` old (default
//!   50: the disk is falling behind), appends wait for their own fsync. A
//!   process crash loses nothing.
//! - `never`: no fsync at all; data survives a process crash but not an OS
//!   crash or power loss. Polls see records as soon as they are written.
//!
//! Under `always` and `interval`, segment files are fsynced when sealed and
//! their directory after a segment is created or deleted; group offsets are
//! written in place to the older of two slot files and fdatasynced (see
//! [`EmbeddedOffsetStore`]); DLQ puts and marks (records of the DLQ's
//! topics, see [`DLQ_STREAM`]) are fsynced before they return.
//!
//! An fsync failure *poisons* the partition: the kernel may have dropped the
//! dirty pages, so the append fails, later appends fail with an error saying
//! why, and
//! [`health`](rustok_iggy::Backend::health) reports Unhealthy until the data
//! directory is reopened (which re-reads what really is on disk). A failed
//! write (a full disk, or a file size limit such as `RLIMIT_FSIZE`:
//! [`ErrorKind::Unavailable`](rustok_iggy::ErrorKind::Unavailable) naming the
//! file) is cut back off the segment and fails only that append; appends
//! resume once space returns. Offset commits fail the same way and keep
//! their previous content.
//!
//! Fsyncs, segment rolls (an fsync of the sealed segment, its index file, a
//! new file and a directory fsync) and topic changes run on tokio's blocking
//! pool (`spawn_blocking`), so a slow disk does not stall the runtime's
//! workers; appends wait for each other on an async lock, and the locks
//! polls take are never held across file I/O. An append of 4 MiB or more is
//! also written there; a smaller one is written inline (a `pwrite` into the
//! page cache). Measured with the
//! benchmark (five alternating runs, medians): writing 1,000-record batches
//! inline gave 9.7 M records/s at 100 B and 2.6 M/s at 1 KiB, against 8.1 M/s
//! and 2.4 M/s through the blocking pool; the page-cache copy of a batch up
//! to a few MiB takes less than the hop to the pool and back.
//! Reads (`poll`) are positional reads done inline, bounded by `max_records`.
//!
//! ## Recovery
//!
//! While a segment is written, its file runs on in zeros to the next 64 KiB
//! boundary past its records (appends into pages the page cache already
//! holds cost half as much); a roll and a clean close cut them.
//!
//! On open, each partition's newest (active) segment is scanned: a torn,
//! zero-filled or corrupt tail is truncated at the last valid record, whose
//! offsets must also run densely. An empty active segment after older ones
//! (a crash during a roll) is removed. Older (sealed) segments are trusted
//! through their index when it matches the file's length, and scanned
//! otherwise; zeros past their last record are cut, but other damage in a
//! sealed segment, or a gap between segments, fails the open with an error
//! naming the file and byte position, and a read that meets damage fails
//! the same way. Data is never dropped silently.
//!
//! ## Retention
//!
//! `retention_max_age_secs` and `retention_max_bytes` (per partition) delete
//! whole sealed segments, oldest first, every `retention_check_secs` and
//! after each roll; the active segment is never deleted, nor is the DLQ.
//! A topic's own retention ([`set_topic_retention`](rustok_iggy::Backend::set_topic_retention),
//! Iggy's message expiry and max topic size) replaces the config's for that
//! topic: it is kept in `topic.meta`, written atomically and durably before
//! it is acknowledged, and its size is split equally between the topic's
//! partitions (at least one segment each; a size below `segment_bytes` is
//! refused). `delete_segments` deletes the oldest sealed segments on demand
//! the same way.
//!
//! ## Purge and partition deletion
//!
//! A purge empties each partition in turn: its directory is renamed to
//! `<n>.purged`, a new one with an empty segment at offset 0 takes its
//! place, then the old one is deleted; deleting partitions rewrites
//! `topic.meta` with the smaller count first, then deletes their
//! directories. Each step is atomic, and what a crash between two of them
//! leaves (a `.purged` directory, a partition directory beyond the count) is
//! removed when the topic is opened, so a partition is either as it was or
//! emptied, and a partition is either there or gone.
//! The partition's first offset moves up; a poll from below it starts at it
//! ([`EmbeddedBackend::retention_clamps`] lists such polls), and health is
//! Degraded while a group's committed offset lies below it.
//!
//! ## Out of scope
//!
//! Replication, compaction and encryption. One process owns a data
//! directory; other processes reach it through that process (for example
//! `rustok-iggy serve`, the Iggy protocol in front of it).
//!
//! ## Deduplication
//!
//! With `dedup_window` set, an append leaves out every message whose id is
//! among the ids of the partition's newest `dedup_window` records (and
//! younger than `dedup_max_age_secs`, if set), or repeats an earlier message
//! of the same batch, and reports each in
//! [`AppendAck::duplicates`](rustok_iggy::AppendAck::duplicates) with the
//! stored copy's offset. The window is rebuilt from those records at open,
//! so it holds exactly what the log holds after a restart or a crash.

#![warn(missing_docs)]

mod backend;
mod bin;
mod checksum;
mod config;
mod dedup;
mod dlq;
mod error;
mod frame;
mod fsutil;
mod index;
mod offsets;
mod partition;
mod plugin;
mod read_buffer;
mod recovery;
mod segment;
mod slots;
mod topology;

pub use backend::{EmbeddedBackend, RetentionClamp};
pub use config::{
    EmbeddedConfig, FsyncPolicy, DEFAULT_DATA_DIR, MAX_DEDUP_WINDOW, MIN_SEGMENT_BYTES,
};

pub use offsets::EmbeddedOffsetStore;
pub use plugin::{link, PLUGIN};

/// The stream holding the DLQ's topics (`entries` and `marks`, see
/// [`LogDlqStore`](rustok_iggy::LogDlqStore)): the remote backend's default
/// `dlq_stream`, so a remote client of `rustok-iggy serve` shares the DLQ.
pub const DLQ_STREAM: &str = topology::DLQ_STREAM;
