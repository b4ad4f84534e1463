//! # rustok-iggy-remote
//!
//! The `remote` backend of rustok-iggy: an Apache Iggy server through the
//! official `iggy` SDK (pinned `=0.11.0`; the wire protocol changes between
//! minor versions). An application moves from the embedded log to a server
//! by changing one config line:
//!
//! ```toml
//! backend = "remote"          # offsets and dlq default to the backend's own: "remote"
//! [plugins.remote]
//! url = "iggy+tcp://app:secret@10.0.0.1:8090,10.0.0.2:8090"
//! ```
//!
//! and linking this crate ([`link`]).
//!
//! ## Config (`[plugins.remote]`, see [`RemoteConfig`])
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `url` | `iggy+tcp://127.0.0.1:8090` | `iggy+tcp://[user[:pass]@]host:port[,host:port…]` or `iggy+quic://…`, addresses tried in order |
//! | `username`, `password` | from the URL, else `iggy`/`iggy` | override the URL's credentials; `password` is a redacted secret |
//! | `tls`, `tls_ca_file`, `tls_domain`, `tls_validate_certificate` | off, none, the host, `true` | TLS over TCP; QUIC takes `tls_domain` and `tls_validate_certificate` (below) |
//! | `reconnect_retries`, `reconnect_interval_ms` | 10, 1000 | the SDK's redial of a lost connection |
//! | `heartbeat_interval_ms`, `nodelay` | 5000, `true` | SDK heartbeat, TCP_NODELAY |
//! | `connect_timeout_ms`, `request_timeout_ms` | 10000, 30000 | per address at connect; per request |
//! | `send_retries`, `send_backoff_ms`, `send_backoff_max_ms` | 5, 100, 5000 | resends of an append after a retryable failure |
//! | `send_connections` | 4 | connections appends go over, partition *p* on connection *p* mod this (below, "Mapping"); 1 to [`MAX_SEND_CONNECTIONS`] |
//! | `dlq_stream` | `__rustok_dlq` | stream of the DLQ store's topics |
//! | `health_slow_ping_ms` | 500 | health is `Degraded` above this ping time |
//! | `durability` | `persisted` | topics this backend creates: `persisted` (acknowledged once in the segment and fsynced) or `replicated` (acknowledged from memory; a server crash loses acknowledged messages) |
//! | `dedup_lookback` | 10000 | records searched before an append's place for the stored copy of a message the server dropped as a duplicate (below, "Deduplication"); at most [`MAX_DEDUP_LOOKBACK`] |
//! | `waiting_polls` | true | send polls that may wait as waiting polls, which `rustok-iggy serve` holds until a record arrives (below, "Poll"); one connection per long-polled partition |
//! | `[plugins.remote.spawn]` | absent | managed mode: start and supervise the server (below) |
//!
//! Credentials never appear in `Debug`, logs or errors.
//!
//! ## Transports
//!
//! - **TCP** (`iggy+tcp://`, `iggy://`, `tcp://`), and **TLS over TCP**
//!   with `tls = true`: `tls_ca_file` (a PEM CA to trust; without it only
//!   the SDK's built-in public roots are), `tls_domain` (default: the host
//!   being dialled) and `tls_validate_certificate` (default `true`) go to the
//!   SDK's TCP client.
//! - **QUIC** (`iggy+quic://`, `quic://`, the server's UDP addresses):
//!   always encrypted. `tls_domain` (default: the dialled host) and
//!   `tls_validate_certificate` (default `true`) go to the SDK's QUIC client.
//!   That client has no CA-file option: it validates against the platform's
//!   trust store (on Linux the PEM file in `SSL_CERT_FILE` or the
//!   directories in `SSL_CERT_DIR`, else the system roots), so
//!   `tls_ca_file` with QUIC is a `Config` error saying so. Everything past
//!   the dial — topology, appends, polls, server-side groups (join, the raw
//!   sync request, leave), offsets, the DLQ, health — is the same code on
//!   both transports. Managed mode (`spawn`) needs a TCP URL.
//! - **HTTP** (`iggy+http://`, `http://`, `https://`) is refused with a
//!   `Config` error: the SDK's HTTP client cannot join or leave consumer
//!   groups (it answers `FeatureUnavailable`) and has no binary path for the
//!   group sync, and this backend's consumers are server-side group members.
//! - **WebSocket** (`iggy+ws://`, `ws://`, `wss://`) is refused too: no
//!   WebSocket Iggy endpoint runs in this project's tests, and an untested
//!   transport is not offered.
//!
//! Misused TLS keys are `Config` errors naming the key: `tls_ca_file`
//! without `tls = true`, with QUIC, or not a readable file; `tls_domain` that
//! is not a DNS name or IP address, or set on a plain-TCP URL;
//! `tls_validate_certificate = false` on a plain-TCP URL.
//!
//! What is tested, against this project's `rustok-iggy-server` with a CA and
//! certificate made by the test: the conformance suites and a transport
//! publishing and consuming through a consumer group, over TLS (CA file,
//! `tls_domain`, validation on) and over QUIC (validation on); refusals of
//! an untrusted CA, a missing CA file, a wrong name and plain TCP on the TLS
//! port; and that `tls_validate_certificate = false` turns validation off.
//!
//! ## Mapping
//!
//! - **Topology**: stream and topic by name; `ensure_topic` gets, creates,
//!   and treats "already exists" as success. A topic with another partition
//!   count is a `Config` error naming both counts. Partitions are numbered
//!   from 0, as in the core.
//! - **Append**: explicit partition id (computed by the core's
//!   partitioner), message id = the core's `u128` id (the SDK gives a
//!   message with id 0 a random one before sending), headers as Iggy user
//!   headers (string keys; UTF-8 values as `string`, others as `raw`).
//!   `AppendAck::first_offset` is the `base_offset` of the SDK's
//!   `SendMessagesResponse` confirmation. A send the server acknowledges
//!   without a confirmation (a server that dropped duplicates, or one
//!   before Apache Iggy 0.9) is read back by message id, below. An SDK
//!   connection carries one request at a time, so appends go over
//!   `send_connections` connections: partition *p* always over connection
//!   *p* mod `send_connections` (the first is the one every other request
//!   shares; the rest open on their first append), and a `publish_batch`
//!   over several partitions sends to them at once rather than a round
//!   trip per partition one after another.
//! - **Resends**: the SDK does not replay a send that failed on a
//!   disconnect. The backend sends the same batch again (up to
//!   `send_retries`, exponential backoff) when the failure is retryable. If
//!   the server had stored the first send but the reply was lost, the batch
//!   is then stored twice, under the **same message ids**; the ack reports
//!   the later copy. A server that deduplicates by message id drops the
//!   second copy, and the ack reports the first (below); without it,
//!   consumers see the duplicate (delivery is at-least-once anyway, and the
//!   core's `dedup_window` skips repeated ids).
//! - **Poll**: by offset or by timestamp (µs), one partition, as a
//!   standalone consumer that never commits. Apache Iggy answers an empty
//!   partition at once (`long_poll: false`: the core pauses between empty
//!   polls, up to `poll_wait_ms`). `rustok-iggy serve` holds a **waiting
//!   poll** until a record arrives or the wait passes
//!   ([`rustok_iggy::iggy_extension`]): a poll that may wait is sent as one,
//!   on a connection of the partition's own (a held request would hold up
//!   everything else on a shared connection), and a consumer sees an event
//!   as soon as it is stored. The server's first answer decides: one that
//!   refuses the command is polled the standard way from then on.
//! - **Partition info**: Iggy exposes the last offset (`current_offset`) and
//!   the number of stored messages; `next_offset = current_offset + 1`
//!   (0 when empty) and `first_offset = next_offset - messages_count`. Iggy
//!   exposes no first offset of its own: after retention deleted segments,
//!   this is exact as long as the server's count covers only retained
//!   messages.
//! - **Consumer groups**: Iggy keys membership by client connection, so each
//!   `join_group` opens a **connection of its own** for that member (several
//!   subscriptions in one process therefore never share a membership), creates
//!   the group if missing, and joins. A [`MemberId`](rustok_iggy::MemberId) is
//!   a process-local number naming that connection. `sync_group` sends Iggy's
//!   sync-group request on the member's connection and returns the server's
//!   generation and partitions; an empty reply (not a member: the server
//!   restarted or evicted it) is `NotFound`, the member's connection is
//!   closed, and the subscription joins again. `leave_group` leaves and
//!   closes the connection. Rebalancing is the server's and not cooperative
//!   (`cooperative_rebalance: false`).
//! - **Offsets** ([`RemoteOffsetStore`]): Iggy server-side consumer-group
//!   offsets. The core stores the next offset, Iggy the last consumed:
//!   `commit(n)` stores `n - 1`; `commit(0)` deletes (then `load` is `None`).
//!   Iggy takes a group's offset only from a member owning the partition, so
//!   a subscription's commits ([`Backend::commit_offset`](rustok_iggy::Backend::commit_offset))
//!   are stored on the member's own connection, and the server's refusal
//!   (`ConsumerGroupPartitionNotOwned`, or `ResourceNotFound` from Apache
//!   Iggy 0.9) is [`ErrorKind::Fenced`](rustok_iggy::ErrorKind::Fenced).
//!   Administrative writes (`OffsetStore::commit`, a reset) join the group
//!   as its only member for the write, and are refused while it has live
//!   members. An offset beyond the partition's last record is refused by
//!   the server (`InvalidInput`).
//! - **DLQ** ([`dlq_store`]): the core's
//!   [`LogDlqStore`](rustok_iggy::LogDlqStore), topics `entries` and
//!   `marks` in `dlq_stream`, the layout the embedded backend uses too.
//! - **Errors**: `IggyError` is mapped by code ([`kind_of_code`]); the
//!   table is in the `error` module docs and summarized here:
//!   connection-level codes → `Unavailable`, timeouts → `Timeout` (both
//!   retryable); not found → `NotFound`; already exists → `AlreadyExists`;
//!   authentication and credentials → `Config`; everything else → `Backend`.
//! - **Health**: a ping (its round-trip time, `Degraded` above
//!   `health_slow_ping_ms`, `Unhealthy` when it fails), the SDK's state of
//!   the member, send and waiting-poll connections (`Degraded` while one
//!   is reconnecting), `Unhealthy` after shutdown. Lag is the transport's.
//!
//! ## Deduplication
//!
//! A server that deduplicates appends by message id (`rustok-iggy serve`
//! with `[plugins.embedded] dedup_window`; Apache Iggy's
//! `message_deduplication` before 0.9, which 0.9 removed) drops a message
//! whose id it stores. The ack then says so as the embedded log's does: the
//! dropped message is in `AppendAck::duplicates` with the stored copy's
//! offset, and the transport's receipt for it is that copy's.
//!
//! Such a send carries no confirmation (`serve` confirms only a batch it
//! stored whole: a base offset would claim the messages are stored one
//! after another). The backend then looks each message id up, from a lower
//! bound of where the batch went to the partition's end (the append's own
//! copies), then in the `dedup_lookback` records before the bound (the
//! copies the server's window remembers), newest first, and stops once all
//! are found. The bound is the partition's end after this process's
//! previous append to it, so a confirmed append reads nothing before it
//! sends; without one it is the end read before sending, this process's
//! appends to the partition serialized meanwhile. A copy found nowhere,
//! even after flushing the partition with fsync (a log may serve only
//! fsynced records), fails the append with a `Backend` error naming
//! `plugins.remote.dedup_lookback`: set it to at least the server's window.
//!
//! ## Reconnection and several addresses
//!
//! The addresses of the URL are tried in order when a connection is
//! opened. Once connected, the SDK redials **that** address on a lost
//! connection (`reconnect_retries`, `reconnect_interval_ms`) and logs in
//! again; requests during the outage fail after `request_timeout_ms` or
//! with a retryable error, and the transport retries them. A server that
//! comes back on another address is reached by group members (each join
//! opens a new connection, trying the list in order), not by the shared
//! connection.
//!
//! ## Managed mode (`[plugins.remote.spawn]`, see [`SpawnConfig`])
//!
//! With a `spawn` section the backend starts the server itself (default
//! executable `iggy-server` on `PATH`; `rustok-iggy serve` works too),
//! waits until it answers a ping, restarts it when it dies (at most
//! `restart_max` times within `restart_window_ms`, with a backoff), and on
//! `shutdown` closes its connections, then stops it (SIGTERM, SIGKILL after
//! `stop_timeout_ms`). Address, data directory and root credentials reach the
//! child by environment (`IGGY_TCP_ADDRESS`, `IGGY_SYSTEM_PATH`,
//! `IGGY_ROOT_USERNAME`, `IGGY_ROOT_PASSWORD`), never by its command line.
//! Health is `Unhealthy` while the server is down; after the restart limit
//! every request fails `Unavailable`. A backend dropped without `shutdown`
//! kills the process. The server's output goes to `tracing` under the target
//! `rustok_iggy_remote::server`. Reference: this crate's `docs/managed-mode.md`.
//!
//! ```toml
//! backend = "remote"
//! [plugins.remote]
//! url = "iggy+tcp://app:secret@127.0.0.1:8090"
//! [plugins.remote.spawn]
//! executable = "iggy-server"
//! data_dir = "/var/lib/app/iggy"
//! ```
//!
//! ## Not supported
//!
//! HTTP and WebSocket transports; a CA file over QUIC; personal access tokens;
//! failing over the shared connection to another address of the list.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod admin;
mod backend;
#[cfg(feature = "baseline")]
pub mod baseline;
mod client;
mod config;
mod dlq;
mod error;
mod log;
mod mapping;
mod offsets;
mod plugin;
mod spawn;
mod url;
mod waiting;

pub use backend::RemoteBackend;
pub use config::{RemoteConfig, TopicDurability, MAX_DEDUP_LOOKBACK, MAX_SEND_CONNECTIONS};
pub use dlq::dlq_store;
pub use error::kind_of_code;
pub use offsets::RemoteOffsetStore;
pub use plugin::{link, PLUGIN};
pub use spawn::SpawnConfig;
pub use url::{Endpoints, TransportProtocol};

/// The name the backend, offset store and DLQ store are registered under.
pub const NAME: &str = "remote";
