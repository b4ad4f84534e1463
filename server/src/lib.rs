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
//! | get client / get clients (21/22) | every open connection; see [Clients](crate#clients) |
//! | get/list/create/delete/update user, update permissions, change password (31–37) | the users; see [Users](crate#users-permissions-and-tokens) |
//! | list/create/delete personal access token (41–43) | the caller's own tokens |
//! | cluster metadata (12) | one healthy leader node: this server |
//! | stats (10) | real figures of the log, the connections, the process and the host; see [Stats](crate#stats) |
//! | snapshot (11) | a zip of the server's diagnostics; see [Snapshots](crate#snapshots) |
//! | describe options (13) | the topic keys create accepts, with kinds, defaults and what each does here; none for streams and users |
//! | get/list/create stream (200/201/202) | catalog + backend topics |
//! | delete stream (203) | as delete topic for each of its topics, then the stream leaves the catalog |
//! | update stream (204) | a rename in the catalog (the backend keeps its storage name, see docs/architecture.md); a name another stream has is 1012; any option 4041 (streams have none) |
//! | purge stream (205) | purge topic for each of its topics |
//! | get/list/create topic (300/301/302) | `topic_info` / `list_topics` / `ensure_topic`; create's options set compression, message expiry and max topic size (`set_topic_retention`); get reports them; more than 1,000 partitions is 2015, as Apache Iggy answers it, and 0 is 2019 (Apache Iggy creates a topic without partitions; the core does not) |
//! | delete topic (303) | `delete_topic`; the committed offsets of its groups and standalone consumers are deleted (as Apache Iggy deletes them: a topic created again is read from its start), and the topic and its groups leave the catalog |
//! | update topic (304) | a rename in the catalog (a name another topic has is 2013), compression (catalog), message expiry and max topic size (`set_topic_retention`; below one segment is 1019); options left out stay; other keys 4041, bad values 4042 |
//! | purge topic (305) | `purge_topic`: every partition empty, offsets from 0; the offsets of its groups and standalone consumers are deleted |
//! | create partitions (402) | `add_partitions`: new, empty partitions numbered after the existing ones; 0, or more than 1,000 in one request, is 2015 (as Apache Iggy, before the topic is looked up); more than 1,000 in all is 2019 (Apache Iggy has no such limit; the core's `MAX_PARTITIONS`) |
//! | delete partitions (403) | `delete_partitions`: the last N with their records and the offsets stored on them; 0 is 2015, more than the topic has, or all of them, 2019 (Apache Iggy allows a topic without partitions; the core does not) |
//! | delete segments (500) | `delete_segments`: the N oldest, never the active one; an unknown partition is 3007 |
//! | send messages (101) | `append` to one partition, checksums verified |
//! | poll messages (100) | `poll`: offset, timestamp, first, last, next; auto-commit |
//! | waiting poll (`0x72750064`, an extension of this server) | poll messages, held until a record arrives or the wait the request names passes (at most `max_poll_wait`, 1 s); see [`rustok_iggy::iggy_extension`]. The remote backend sends it; Apache Iggy answers it 3 ("invalid command"), as this server does with `max_poll_wait` zero |
//! | flush unsaved buffer (102) | `Backend::flush`: with `fsync`, syncs the partition to disk whatever the fsync policy |
//! | get/store/delete consumer offset (120/121/122) | the offset store |
//! | get/list/create/delete consumer group (600–603) | catalog names + backend membership |
//! | join/leave/sync consumer group (604/605/606) | `join_group` / `leave_group` / `sync_group` |
//! | any other command of the protocol (attach consumer session, poll routing, poll on primary, offset routing, login-register with a token by its own code) | error 5, "feature unavailable" |
//! | a code the protocol does not have | error 3, "invalid command", as Apache Iggy answers it |
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
//! - **Messages**: the id and payload are kept exactly. User headers are
//!   stored as string-keyed core headers, typed values (and typed keys) as
//!   their text, so core readers of the log read them by name; the Iggy
//!   kinds that text does not say go in one reserved core header,
//!   `iggy.meta`, so a poll returns every header with the kind it was sent
//!   with (bool, the integer and float kinds, string, raw). A message whose
//!   headers are all text keys with text or raw values, or that has none,
//!   gets no `iggy.meta`. The producer's origin timestamp is the core
//!   message's own field (`Message::origin_timestamp_micros`, 8 bytes of
//!   the embedded log's frame), polled back as sent; `timestamp` is the
//!   append time. A record a core producer appended has neither: its
//!   headers go out as `string` (UTF-8) or `raw`, its origin timestamp is
//!   its append time. Logs written before the field keep the origin in a
//!   version-1 `iggy.meta`, which is still read.
//!   A client's own header named `iggy.meta` is kept under its hex form
//!   (`0x696767792e6d657461`, as a key that is not text) and polled back
//!   under its name. Deliberate difference from Apache Iggy: of a key sent
//!   twice, or of two keys of different kinds with the same text (`42` the
//!   `u32` and `"42"`), the last is kept.
//! - **Offsets**: Iggy stores the last consumed offset, the core the next one
//!   to consume; stored `n` is committed as `n + 1`. A consumer group's
//!   offsets are kept under the group name (shared with in-process
//!   subscriptions of that group); a standalone consumer's under
//!   `iggy-consumer-<id>`.
//! - **Groups**: membership and assignment are the backend's; each poll by a
//!   member re-syncs its assignment, and a partition it no longer owns gets
//!   error 5009 so the SDK re-syncs. The SDK polls only the partitions its
//!   last `SyncConsumerGroup` named, so when a member's grant changed since
//!   (it was granted a partition another member just released), its poll
//!   gets an empty reply for partition `u32::MAX`, the protocol's "re-sync",
//!   and the SDK syncs and polls what it gained. (Apache Iggy names a
//!   member's whole target set at once and refuses polls from the member
//!   giving a partition up; here a partition is granted once its holder
//!   released it.) With cooperative rebalancing a partition
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
//!
//! ## Clients
//!
//! `GetClients` (`iggy client list`) lists every open connection, logged in
//! or not, by ascending id: its user (Apache Iggy's "no user", `u32::MAX`,
//! before login), peer address, transport (TLS counts as TCP, as on Apache
//! Iggy) and how many consumer groups it joined; `GetClient` adds those
//! groups by stream, topic and group id, and `GetMe` is the same for the
//! asking connection. An id no open connection has gets an empty reply,
//! which the SDK reads as "none", as Apache Iggy answers. A connection's
//! entry follows its login, logout, joins and leaves after each request,
//! and goes when the connection closes.
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
//! ## Snapshots
//!
//! `GetSnapshotFile` (`iggy snapshot`) answers with a zip of the server's
//! diagnostics, one `<type>.txt` per section, named as Apache Iggy names
//! them. This server reads the facts itself rather than shelling out to
//! `ls`, `ps` and `top` as Apache Iggy does:
//!
//! - `filesystem_overview`: the data directory's tree with sizes and
//!   modification times (Apache Iggy lists `/tmp` and `/proc`);
//! - `process_list`: every process's pid, parent, state, memory, CPU, run
//!   time and name, without command lines (which may carry secrets);
//! - `resource_usage`: the `GetStats` figures of this process and host;
//! - `test`: `test`;
//! - `server_logs`: a note that the server logs to standard error, not to
//!   files;
//! - `server_config`: the server's settings (passwords redacted) and the
//!   application's configuration from [`ServerBuilder::snapshot_config`].
//!
//! `stored` and `deflated` archives are written; `bzip2`, `zstd`, `lzma` and
//! `xz`, which Apache Iggy also writes, get `FeatureUnavailable`. One
//! snapshot is collected at a time; another meanwhile gets
//! `SnapshotFileCompletionFailed` (9000), as on Apache Iggy.
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
//! User options, client certificates, the HTTP and WebSocket transports, and
//! clustering.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod auth;
mod catalog;
mod clients;
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
mod iggy_meta;
mod listener;
mod mapping;
mod metrics;
mod quic;
mod session;
mod shared;
mod snapshot;
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
