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
//! | `url` | `iggy+tcp://127.0.0.1:8090` | `iggy+tcp://[user[:pass]@]host:port[,host:port…]`, addresses tried in order |
//! | `username`, `password` | from the URL, else `iggy`/`iggy` | override the URL's credentials; `password` is a redacted secret |
//! | `tls`, `tls_ca_file`, `tls_domain`, `tls_validate_certificate` | off, none, the host, `true` | TLS over TCP |
//! | `reconnect_retries`, `reconnect_interval_ms` | 10, 1000 | the SDK's redial of a lost connection |
//! | `heartbeat_interval_ms`, `nodelay` | 5000, `true` | SDK heartbeat, TCP_NODELAY |
//! | `connect_timeout_ms`, `request_timeout_ms` | 10000, 30000 | per address at connect; per request |
//! | `send_retries`, `send_backoff_ms`, `send_backoff_max_ms` | 5, 100, 5000 | resends of an append after a retryable failure |
//! | `dlq_stream` | `__rustok_dlq` | stream of the DLQ store's topics |
//! | `health_slow_ping_ms` | 500 | health is `Degraded` above this ping time |
//! | `[plugins.remote.spawn]` | absent | managed mode: start and supervise the server (below) |
//!
//! Credentials never appear in `Debug`, logs or errors. Only TCP is
//! supported: the SDK's QUIC, HTTP and WebSocket clients have other config
//! types and semantics (no explicit group sync over HTTP), so `iggy+quic://`
//! and `iggy+http://` URLs are refused with a `Config` error.
//!
//! ## Mapping
//!
//! - **Topology**: stream and topic by name; `ensure_topic` gets, creates,
//!   and treats "already exists" as success. A topic with another partition
//!   count is a `Config` error naming both counts. Partitions are numbered
//!   from 0, as in the core.
//! - **Append**: explicit partition id (computed by the core's
//!   partitioner), message id = the core's `u128` id, headers as Iggy user
//!   headers (string keys; UTF-8 values as `string`, others as `raw`).
//!   `AppendAck::first_offset` is the `base_offset` of the SDK's
//!   `SendMessagesResponse` confirmation. From a server that sends no
//!   confirmation, the backend reads the partition's end before sending
//!   (serializing this process's appends to that partition) and then finds
//!   the batch's first message id at or after it: exact under concurrent
//!   writers as long as message ids are unique.
//! - **Resends**: the SDK does not replay a send that failed on a
//!   disconnect. The backend sends the same batch again (up to
//!   `send_retries`, exponential backoff) when the failure is retryable. If
//!   the server had stored the first send but the reply was lost, the batch
//!   is then stored twice, under the **same message ids**; the ack reports
//!   the later copy. Iggy's server-side deduplication (by message id, when
//!   enabled on the server) drops the second copy; without it, consumers see
//!   the duplicate (delivery is at-least-once anyway, and the core's
//!   `dedup_window` skips repeated ids).
//! - **Poll**: by offset or by timestamp (µs), one partition, as a
//!   standalone consumer that never commits; no long polling
//!   (`long_poll: false`: the core sleeps `poll_wait_ms` between empty polls).
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
//! - **DLQ** ([`RemoteDlqStore`]): topics `entries` and `marks` in
//!   `dlq_stream`; see its docs.
//! - **Errors**: `IggyError` is mapped by code ([`kind_of_code`]); the
//!   table is in the `error` module docs and summarized here:
//!   connection-level codes → `Unavailable`, timeouts → `Timeout` (both
//!   retryable); not found → `NotFound`; already exists → `AlreadyExists`;
//!   authentication and credentials → `Config`; everything else → `Backend`.
//! - **Health**: a ping (its round-trip time, `Degraded` above
//!   `health_slow_ping_ms`, `Unhealthy` when it fails), the SDK's
//!   diagnostic events of the member connections (`Degraded` while one is
//!   reconnecting), `Unhealthy` after shutdown. Lag is the transport's.
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
//! QUIC, HTTP and WebSocket transports; personal access tokens;
//! failing over the shared connection to another address of the list.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod backend;
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

pub use backend::RemoteBackend;
pub use config::RemoteConfig;
pub use dlq::RemoteDlqStore;
pub use error::kind_of_code;
pub use offsets::RemoteOffsetStore;
pub use plugin::{link, BACKEND_PLUGIN, DLQ_PLUGIN, OFFSETS_PLUGIN};
pub use spawn::SpawnConfig;
pub use url::Endpoints;

/// The name the backend, offset store and DLQ store are registered under.
pub const NAME: &str = "remote";
