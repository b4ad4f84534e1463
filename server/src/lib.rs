//! # rustok-iggy-server
//!
//! An Apache Iggy binary-protocol server (TCP, optionally TLS, and QUIC) over **any** rustok-iggy
//! [`Backend`](rustok_iggy::Backend): processes other than the one owning the
//! backend — a worker, the official `iggy` CLI, any Iggy SDK, this project's
//! remote backend — produce and consume on it.
//!
//! The server is generic over the core's traits: it serves an
//! `Arc<dyn Backend>` and an [`OffsetStore`](rustok_iggy::OffsetStore) (the
//! backend's own unless [`ServerBuilder::offsets`] names another). Messages
//! published in-process through a `rustok_iggy::Transport` on the same
//! backend and messages sent over TCP land in the same partitions, offsets
//! and consumer groups. The crate depends on the core only; the CLI runs it
//! as `rustok-iggy serve`.
//!
//! ```no_run
//! # async fn run() -> rustok_iggy_server::Result<()> {
//! use std::sync::Arc;
//! use rustok_iggy::config::Secret;
//! use rustok_iggy_server::Server;
//! # let backend: Arc<dyn rustok_iggy::Backend> = Arc::new(rustok_iggy_testkit::MemoryBackend::new());
//!
//! let server = Server::builder(backend)
//!     .bind("0.0.0.0:8090".parse().unwrap())
//!     .credentials("admin", Secret::new("change me"))
//!     .max_connections(256)
//!     .start()
//!     .await?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! ## Transports
//!
//! - **TCP** on [`ServerBuilder::bind`], always.
//! - **TLS over TCP** with [`ServerBuilder::tls`] (a PEM certificate chain
//!   and key, [`TlsConfig`]): the TCP listener then speaks TLS only (1.2 and
//!   1.3, rustls with the *ring* provider chosen explicitly, no client
//!   certificates). A peer that fails the handshake — plain TCP, a client
//!   that distrusts the certificate — is dropped (logged at debug); the
//!   server serves on.
//! - **QUIC** with [`ServerBuilder::quic`] on a UDP address
//!   ([`RunningServer::quic_addr`]), using the `tls` certificate (required).
//!   It is the SDK's `QuicClient` transport: one bidirectional stream per
//!   request (header and body, then the stream's end), the reply on the
//!   same stream. One QUIC connection is one session (login, group
//!   memberships), with the TCP path's frame limits, login rules, idle and
//!   read timeouts, connection limit (shared with TCP) and shutdown; cluster
//!   metadata names its port.
//!
//! Tested with the SDK's own clients: TLS with a CA file, a server name and
//! validation on; QUIC with validation on; refused handshakes (untrusted
//! CA, wrong name, plain TCP on the TLS port). HTTP and WebSocket are not
//! served.
//!
//! ## Protocol
//!
//! The wire protocol of SDK `iggy = "=0.11.0"`, through
//! `iggy_binary_protocol = "=0.11.0"` for every request and reply type: each
//! request is a 256-byte VSR `RequestHeader` then its body; each reply a
//! 256-byte `ReplyHeader` (status 0, or an Iggy error code with an empty body)
//! then its body, with the result section metadata replies carry. There is no
//! replication: the server answers as a single-node cluster whose only node is
//! the leader, so the SDK never redirects or routes polls elsewhere.
//!
//! | Command (code) | Served as |
//! |---|---|
//! | ping (1) | always, even before login |
//! | login-register (40) | with a username and password, or with a personal access token (the same command, told apart by the body, as Apache Iggy tells them); protocol version checked |
//! | logout (39) | leaves the connection's groups |
//! | get me (20) | this connection, its user, its groups |
//! | get/list/create/delete/update user, update permissions, change password (31–37) | the users; see [Users](crate#users-permissions-and-tokens) |
//! | list/create/delete personal access token (41–43) | the caller's own tokens |
//! | cluster metadata (12) | one healthy leader node: this server |
//! | stats (10) | real figures of the log, the connections, the process and the host; see [Stats](crate#stats) |
//! | get/list/create stream (200/201/202) | catalog + backend topics |
//! | delete stream (203) | as delete topic for each of its topics, then the stream leaves the catalog |
//! | get/list/create topic (300/301/302) | `topic_info` / `list_topics` / `ensure_topic` |
//! | delete topic (303) | `delete_topic`; its groups' committed offsets are deleted (as Apache Iggy deletes them: a topic created again starts its groups afresh), and the topic and its groups leave the catalog; standalone consumers' offsets stay (an offset store cannot list them) |
//! | create partitions (402) | `add_partitions`: new, empty partitions numbered after the existing ones |
//! | delete partitions (403) | not served, "feature unavailable": the core's backends only add partitions; removing the last ones would drop their records and move keys under consumers |
//! | send messages (101) | `append` to one partition, checksums verified |
//! | poll messages (100) | `poll`: offset, timestamp, first, last, next; auto-commit |
//! | flush unsaved buffer (102) | `Backend::flush`: with `fsync`, syncs the partition to disk whatever the fsync policy |
//! | get/store/delete consumer offset (120/121/122) | the offset store |
//! | get/list/create/delete consumer group (600–603) | catalog names + backend membership |
//! | join/leave/sync consumer group (604/605/606) | `join_group` / `leave_group` / `sync_group` |
//! | anything else | error 5, "feature unavailable" |
//!
//! Before login only ping and login are served; everything else gets error
//! 40, "unauthenticated". After it, every command is checked against the
//! user's permissions first (error 41, "unauthorized"). The legacy login
//! commands (38, 44), which SDK 0.11 no longer sends, get error 4 ("invalid
//! format"), as Apache Iggy 0.9 refuses them.
//!
//! ## Users, permissions and tokens
//!
//! Apache Iggy's users: the root user (id 0) and those clients create, each
//! with optional permissions — global, per stream, per topic of a stream —
//! and personal access tokens to log in with. The rules are Apache Iggy's
//! permissioner's, command by command, inheritance included (`manage_streams`
//! covers reading them, a stream's `read_stream` polling its topics, and so
//! on); as there, a request naming a stream or topic that does not exist
//! gets its not-found answer before any permission is checked, and the root
//! user may do anything. Permission changes apply at once, to sessions
//! already logged in. The error codes are Apache Iggy's (user exists 46, no
//! such user 20, root not deletable 48, root permissions fixed 49, wrong
//! password 42, token name taken 51, token limit 52, bad or expired token
//! 53, inactive user's token 40).
//!
//! - **Stored** with [`ServerBuilder::users_path`] (`rustok-iggy serve`:
//!   `iggy-users.json` in the data directory), crash-safe like the catalog;
//!   passwords as Argon2id hashes, tokens as BLAKE3 hashes, neither ever in
//!   clear, in logs or in `Debug` output. Without a path, in memory.
//! - **Root.** [`ServerBuilder::credentials`] create the root user when there
//!   are no users yet; afterwards the stored root user wins, as Apache
//!   Iggy's `IGGY_ROOT_*` seed its first start only, so a password changed
//!   through the API survives restarts. A stored root user still on the
//!   loopback-only default password is refused off loopback.
//! - **Tokens**: at most [`ServerBuilder::max_tokens_per_user`] per user
//!   (100), `expiry` honoured (0 and `u64::MAX` mean never), an expired
//!   token refused at login and no longer listed.
//! - **Ids** are reused, lowest free first, as Apache Iggy reuses them; a
//!   session of a deleted user may do nothing afterwards, even once its id
//!   names a new user (Apache Iggy would let it act as the new user).
//! - User options (the options block of create/update user) are not kept.
//!
//! ## Mapping
//!
//! - **Ids.** Iggy names streams, topics and groups by numeric id or by name;
//!   the core by name only. A catalog assigns ids from 0 per level, in order
//!   of first sight (topics the backend already holds are learned in name
//!   order), and never reuses one. With [`ServerBuilder::catalog_path`] it is
//!   kept in a small JSON file, so ids survive restarts exactly; without, ids
//!   are rebuilt deterministically from the backend (streams the server is
//!   told about with [`ServerBuilder::stream`] first, in that order, then as
//!   clients name them), and names always resolve. A stream with no topics
//!   exists only in the catalog (a backend cannot hold one).
//! - **Partitions** are numbered from 0 in Iggy 0.11 and in the core: no
//!   translation. Explicit partition ids are used as given; `balanced`
//!   round-robins per topic; a messages key goes to
//!   [`partition_for`](rustok_iggy::partition_for) (`xxh32`, seed 0, the
//!   same function the SDK applies client-side).
//! - **Messages**: see the [`mapping`](crate#mapping) notes below: the id and
//!   payload are kept exactly; user headers become string-keyed byte values
//!   (typed values as their text), and back as `string` (UTF-8) or `raw`
//!   values. Lossy: the Iggy value kind, duplicate keys, headers with empty
//!   or over-255-byte keys or values (left out of poll replies), and the
//!   producer's origin timestamp (polls report the append time).
//! - **Offsets**: Iggy stores the last consumed offset, the core the next one
//!   to consume; stored `n` is committed as `n + 1`. A consumer group's
//!   offsets are kept under the group name (shared with in-process
//!   subscriptions of that group); a standalone consumer's under
//!   `iggy-consumer-<id>`.
//! - **Groups**: membership and assignment are the backend's; each poll by a
//!   member re-syncs its assignment, and a partition it no longer owns gets
//!   error 5009 so the SDK re-syncs. With cooperative rebalancing a partition
//!   moves only after its holder was told it lost it. `get consumer group`
//!   lists the members connected over TCP or QUIC (the `Backend` trait exposes no
//!   member list, so in-process subscribers are not shown, though they share
//!   the partitions).
//! - Message ids are not deduplicated unless the backend does it.
//!
//! ## Stats
//!
//! `GetStats` answers in the SDK 0.11 layout (Apache Iggy 0.9's), so
//! `iggy stats` and `iggy-bench`'s report read it. Only a logged-in client
//! whose user may read the server (`read_servers` or `manage_servers`) gets
//! it (error 40 before login, 41 without the permission), as on Apache
//! Iggy; the request body is not read, as there.
//!
//! - **Log.** Streams are those `get streams` lists (the catalog); topics,
//!   partitions, messages, bytes and segments add up what `get topic`
//!   reports per partition, so the figures agree. Bytes and segments come
//!   from [`PartitionInfo::storage`](rustok_iggy::PartitionInfo): the
//!   embedded log's segment files (record bytes, its per-record framing
//!   included, where Apache Iggy counts its own message format); a backend
//!   without storage (the memory backend) reports 0 bytes and one segment
//!   per partition, Apache Iggy's figure for a partition without storage.
//!   Consumer groups are those `get consumer groups` lists: a group only
//!   in-process subscribers use is counted once a client named it.
//! - **Clients**: connections open now (TCP, TLS, QUIC; logged in or not),
//!   like Apache Iggy's connected clients.
//! - **Process and host**, taken as Apache Iggy takes them (`sysinfo`):
//!   process id, CPU (percent of one core since the previous `GetStats`, or
//!   since the server started for the first one; Apache Iggy's first sample
//!   reports 0), resident memory, storage bytes read and written, threads;
//!   the host's CPU, memory (the cgroup's cap and free memory when it caps
//!   memory below the host's), host name, OS name and version, kernel. For
//!   a server embedded in an application these are the application's
//!   process. Total CPU is the host's average over all cores; Apache Iggy
//!   averages over the cores a cpuset allows it.
//! - **Disk**: free and total space of the file system of
//!   [`ServerBuilder::data_dir`] (`rustok-iggy serve`: the embedded data
//!   directory); 0 and 0 without one, as Apache Iggy reports when it cannot
//!   tell.
//! - **Run and start time** are this server's, from [`ServerBuilder::start`],
//!   in microseconds; Apache Iggy reports its process's, in whole seconds.
//! - **Version**: `rustok-iggy-server <version>` and that version as Apache
//!   Iggy numbers its own (`major·10⁶ + minor·10³ + patch`): this server is
//!   not an Apache Iggy release.
//! - **Cache metrics**: none, as Apache Iggy 0.9 sends none; the embedded log
//!   has no cache of its own (reads go through the OS page cache).
//!
//! ## Security and limits
//!
//! Binds `127.0.0.1:8090` by default. Without [`ServerBuilder::credentials`]
//! only a loopback address is accepted, with Iggy's default root user
//! ([`DEFAULT_ROOT_USERNAME`]/[`DEFAULT_ROOT_PASSWORD`]); on any other
//! address `start` refuses to run without credentials. A failed login is
//! answered after a 200 ms pause, and a connection is closed after
//! [`ServerBuilder::max_login_failures`] failed logins; before login a frame
//! body may not exceed 16 KiB. A connection is also closed when idle for
//! [`ServerBuilder::idle_timeout`], when a started frame does not complete
//! within [`ServerBuilder::read_timeout`], and after a header that is not a
//! request or declares a frame above [`ServerBuilder::max_frame_bytes`] (the
//! latter answered first). Connections above
//! [`ServerBuilder::max_connections`] are closed on accept. No peer input can
//! panic the server.
//!
//! ## Not supported
//!
//! User options, client certificates, the HTTP and WebSocket transports, snapshots, listing clients, deleting topics or data, changing a
//! partition count, segments, message-id deduplication, and clustering.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod auth;
mod catalog;
mod commands;
mod config;
mod connection;
mod durable;
mod error;
mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod host;
mod listener;
mod mapping;
mod metrics;
mod quic;
mod session;
mod shared;
#[cfg(feature = "test-support")]
pub mod test_support;
mod tls;

use std::sync::Arc;

pub use config::{
    Credentials, ServerBuilder, DEFAULT_PORT, DEFAULT_ROOT_PASSWORD, DEFAULT_ROOT_USERNAME,
};
pub use error::{Result, ServerError};
pub use listener::RunningServer;
pub use tls::TlsConfig;

/// The Iggy command codes this server serves; every other code is answered
/// with "feature unavailable".
pub fn served_commands() -> &'static [u32] {
    commands::SERVED
}

/// Entry point: `Server::builder(backend)…start()`.
#[derive(Debug, Clone, Copy)]
pub struct Server;

impl Server {
    /// A builder serving `backend` (and, unless told otherwise, its own
    /// offset store).
    pub fn builder(backend: Arc<dyn rustok_iggy::Backend>) -> ServerBuilder {
        ServerBuilder::new(backend)
    }
}
