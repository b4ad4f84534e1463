//! [`RemoteBackend`]: the core's `Backend` over an Iggy server.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_trait::async_trait;
use iggy::prelude::{ConsumerGroupClient, Identifier};
use iggy_binary_protocol::{
    codes::SYNC_CONSUMER_GROUP_CODE, requests::consumer_groups::SyncConsumerGroupRequest,
    responses::consumer_groups::SyncConsumerGroupResponse, WireDecode, WireEncode, WireIdentifier,
};
use rustok_iggy::{
    AppendAck, Assignment, Backend, BackendCapabilities, DlqStore, Error, ErrorKind, Fence,
    HealthStatus, LogDlqStore, MemberId, Message, OffsetStore, PartitionInfo, PollRequest, Record,
    Result, TopicInfo, TopicRef, TopicRetention,
};

use crate::{
    client::{count_reconnecting, Connection, Link},
    log::{ident, Log},
    spawn::{gave_up, ManagedServer, ServerState},
    RemoteConfig, RemoteOffsetStore, NAME,
};

/// A group member: its own SDK connection, since Iggy keys group membership
/// (and the right to commit the group's offsets) by client connection.
struct Member {
    topic: TopicRef,
    group: String,
    connection: Arc<Connection>,
    /// The partitions of its last sync, each with the generation of the
    /// sync that first listed it (what a worker's fence carries).
    granted: BTreeMap<u32, u64>,
}

/// The remote backend: an Apache Iggy server through the official SDK.
///
/// Every method maps to SDK calls on one shared TCP connection, except
/// group membership: each [`join_group`](Backend::join_group) opens a
/// connection of its own (see the crate docs, "Consumer groups").
///
/// With `[plugins.remote.spawn]` (managed mode) the backend also owns the
/// server process: [`connect`](Self::connect) starts it, a task restarts it
/// when it dies, [`shutdown`](Backend::shutdown) stops it, and dropping the
/// backend kills it.
///
/// ```no_run
/// # async fn run() -> rustok_iggy::Result<()> {
/// use rustok_iggy::{Backend, TopicRef};
/// use rustok_iggy_remote::{RemoteBackend, RemoteConfig};
///
/// let backend = RemoteBackend::connect(RemoteConfig::new("iggy+tcp://iggy:iggy@127.0.0.1:8090")).await?;
/// backend.ensure_topic(&TopicRef::new("app", "orders"), 4).await?;
/// # Ok(()) }
/// ```
pub struct RemoteBackend {
    log: Arc<Log>,
    members: Mutex<HashMap<u64, Member>>,
    next_member: AtomicU64,
    offsets: Arc<RemoteOffsetStore>,
    dlq: Arc<LogDlqStore>,
    /// The server this backend started (managed mode).
    server: Option<ManagedServer>,
}

impl std::fmt::Debug for RemoteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBackend")
            .field("link", &self.log.link)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn wire(name: &str) -> Result<WireIdentifier> {
    WireIdentifier::named(name).map_err(|_| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("`{name}` is not a valid Iggy name"),
        )
    })
}

impl RemoteBackend {
    /// Connects (trying each address of the URL in order) and logs in.
    ///
    /// In managed mode (`config.spawn`) it first starts the server and
    /// waits until it answers a ping: a server that cannot be started is a
    /// `Config` error naming the executable (not found, not executable) or
    /// `Unavailable`; one that exits first is `Unavailable` with its exit
    /// status and last stderr lines; one that does not answer within
    /// `ready_timeout_ms` is stopped, and the error is `Timeout`. No
    /// process is left behind by a failed `connect`.
    pub async fn connect(config: RemoteConfig) -> Result<Self> {
        let mut settings = config.settings()?;
        let server = match settings.spawn.take() {
            Some(plan) => Some(ManagedServer::start(plan, &settings).await?),
            None => None,
        };
        let link = Arc::new(Link::new(settings));
        let connected = match link.get("connect").await {
            Ok(_) => Self::on(link, server),
            Err(e) => Err((e, server)),
        };
        match connected {
            Ok(backend) => Ok(backend),
            Err((e, server)) => {
                if let Some(server) = server {
                    server.stop().await;
                }
                Err(e)
            }
        }
    }

    fn on(
        link: Arc<Link>,
        server: Option<ManagedServer>,
    ) -> std::result::Result<Self, (Error, Option<ManagedServer>)> {
        let log = match Log::new(link.clone()) {
            Ok(log) => Arc::new(log),
            Err(e) => return Err((e, server)),
        };
        Ok(Self {
            offsets: Arc::new(RemoteOffsetStore::on(link)),
            dlq: Arc::new(crate::dlq::on(log.clone())),
            log,
            members: Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(1),
            server,
        })
    }

    /// The process id of the server this backend started and supervises
    /// (managed mode), while it runs; `None` while it restarts, after the
    /// backend gave up on it or shut down, and without managed mode.
    ///
    /// To reach it through a [`Transport`](rustok_iggy::Transport) built
    /// from config, set `pid_file` in `[plugins.remote.spawn]` instead.
    pub fn managed_server_pid(&self) -> Option<u32> {
        match self.server.as_ref()?.state() {
            ServerState::Running { pid } => Some(pid),
            _ => None,
        }
    }

    /// Fails once the backend gave up restarting its managed server: without
    /// it, a request could only wait for its timeout.
    fn check_server(&self, operation: &'static str) -> Result<()> {
        match self.server.as_ref().map(ManagedServer::state) {
            Some(ServerState::GaveUp { reason }) => Err(gave_up(operation, &reason)),
            _ => Ok(()),
        }
    }

    /// Its offset store (server-side consumer offsets on the same connection).
    pub fn remote_offsets(&self) -> Arc<RemoteOffsetStore> {
        self.offsets.clone()
    }

    /// Its DLQ store (topics in `dlq_stream` on the same connection).
    pub fn remote_dlq(&self) -> Arc<LogDlqStore> {
        self.dlq.clone()
    }

    fn check_open(&self, operation: &'static str) -> Result<()> {
        if self.log.link.is_closed() {
            Err(crate::error::closed(operation))
        } else {
            Ok(())
        }
    }

    async fn ensure_group(&self, topic: &TopicRef, group: &str) -> Result<()> {
        let conn = self.log.conn("join_group").await?;
        let client = conn.client();
        let (s, t, g) = (ident(&topic.stream)?, ident(&topic.topic)?, ident(group)?);
        let found = match conn
            .call("get_consumer_group", client.get_consumer_group(&s, &t, &g))
            .await
        {
            Ok(found) => found,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // The topic itself must exist.
                self.log.topic_info(topic).await?;
                None
            }
            Err(e) => return Err(e),
        };
        if found.is_none() {
            match conn
                .call(
                    "create_consumer_group",
                    client.create_consumer_group(&s, &t, group),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.with_context("group", group)),
            }
        }
        Ok(())
    }

    fn unknown_member(member: MemberId, group: &str) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!("member {} is not in group `{group}`", member.0),
        )
        .with_context("backend", NAME)
    }

    async fn drop_member(&self, member: MemberId) {
        let removed = lock(&self.members).remove(&member.0);
        if let Some(m) = removed {
            m.connection.shutdown().await;
        }
    }
}

#[async_trait]
impl Backend for RemoteBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> BackendCapabilities {
        BackendCapabilities::default()
            .persistent(true)
            .poll_by_timestamp(true)
            .long_poll(false)
            .cooperative_rebalance(false)
    }

    async fn ensure_topic(&self, topic: &TopicRef, partitions: u32) -> Result<TopicInfo> {
        self.check_server("ensure_topic")?;
        self.log.ensure_topic(topic, partitions).await
    }

    async fn topic_info(&self, topic: &TopicRef) -> Result<TopicInfo> {
        self.check_server("topic_info")?;
        self.log.topic_info(topic).await
    }

    async fn delete_topic(&self, topic: &TopicRef) -> Result<()> {
        self.check_server("delete_topic")?;
        self.log.delete_topic(topic).await
    }

    async fn add_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        self.check_server("add_partitions")?;
        self.log.add_partitions(topic, count).await
    }

    async fn delete_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        self.check_server("delete_partitions")?;
        self.log.delete_partitions(topic, count).await
    }

    async fn purge_topic(&self, topic: &TopicRef) -> Result<()> {
        self.check_server("purge_topic")?;
        self.log.purge_topic(topic).await
    }

    /// Returns how many fewer segments the server reports afterwards.
    async fn delete_segments(&self, topic: &TopicRef, partition: u32, count: u32) -> Result<u32> {
        self.check_server("delete_segments")?;
        self.log.delete_segments(topic, partition, count).await
    }

    /// The topic's message expiry and max topic size.
    async fn topic_retention(&self, topic: &TopicRef) -> Result<TopicRetention> {
        self.check_server("topic_retention")?;
        self.log.topic_retention(topic).await
    }

    /// Sets the topic's message expiry and max topic size (Iggy's
    /// `UpdateTopic`); the server enforces them.
    async fn set_topic_retention(
        &self,
        topic: &TopicRef,
        retention: TopicRetention,
    ) -> Result<TopicRetention> {
        self.check_server("set_topic_retention")?;
        self.log.set_topic_retention(topic, retention).await
    }

    async fn list_topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        self.check_server("list_topics")?;
        self.log.list_topics(stream).await
    }

    async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        messages: Vec<Message>,
    ) -> Result<AppendAck> {
        self.check_server("append")?;
        self.log.append(topic, partition, messages).await
    }

    async fn poll(&self, request: PollRequest) -> Result<Vec<Record>> {
        self.check_server("poll")?;
        self.log.poll(request).await
    }

    async fn partition_info(&self, topic: &TopicRef, partition: u32) -> Result<PartitionInfo> {
        self.check_server("partition_info")?;
        self.log.partition_info(topic, partition).await
    }

    async fn flush(&self, topic: &TopicRef, partition: u32, fsync: bool) -> Result<()> {
        self.check_server("flush")?;
        self.log.flush(topic, partition, fsync).await
    }

    async fn join_group(&self, topic: &TopicRef, group: &str) -> Result<MemberId> {
        self.check_open("join_group")?;
        self.check_server("join_group")?;
        self.ensure_group(topic, group).await?;
        let connection = Arc::new(Connection::open(self.log.link.settings()).await?);
        let (s, t, g) = (ident(&topic.stream)?, ident(&topic.topic)?, ident(group)?);
        if let Err(e) = connection
            .call(
                "join_consumer_group",
                connection.client().join_consumer_group(&s, &t, &g),
            )
            .await
        {
            connection.shutdown().await;
            return Err(e.with_context("group", group));
        }
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        lock(&self.members).insert(
            id,
            Member {
                topic: topic.clone(),
                group: group.to_owned(),
                connection,
                granted: BTreeMap::new(),
            },
        );
        if self.log.link.is_closed() {
            self.drop_member(MemberId(id)).await;
            return Err(crate::error::closed("join_group"));
        }
        Ok(MemberId(id))
    }

    /// Asks the server for this member's partitions (Iggy's sync-group
    /// request on the member's connection). The server tracks what it granted
    /// the connection itself, so `held` is not sent.
    async fn sync_group(
        &self,
        topic: &TopicRef,
        group: &str,
        member: MemberId,
        _held: Vec<u32>,
    ) -> Result<Assignment> {
        self.check_open("sync_group")?;
        self.check_server("sync_group")?;
        let connection = {
            let members = lock(&self.members);
            match members.get(&member.0) {
                Some(m) if m.topic == *topic && m.group == group => m.connection.clone(),
                _ => return Err(Self::unknown_member(member, group)),
            }
        };
        let request = SyncConsumerGroupRequest {
            stream_id: wire(&topic.stream)?,
            topic_id: wire(&topic.topic)?,
            group_id: wire(group)?,
        };
        let reply = connection
            .call(
                "sync_consumer_group",
                connection
                    .client()
                    .send_binary_request(SYNC_CONSUMER_GROUP_CODE, request.to_bytes()),
            )
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.drop_member(member).await;
                return Err(Self::unknown_member(member, group).with_source(e));
            }
            Err(e) => return Err(e.with_context("group", group)),
        };
        if reply.is_empty() {
            // Not a member (any more): the server restarted, or evicted it.
            self.drop_member(member).await;
            return Err(Self::unknown_member(member, group));
        }
        let (assignment, _) = SyncConsumerGroupResponse::decode(&reply).map_err(|e| {
            Error::new(
                ErrorKind::Backend,
                format!("malformed sync-group reply: {e:?}"),
            )
            .with_context("backend", NAME)
        })?;
        let mut partitions = assignment.partitions;
        partitions.sort_unstable();
        partitions.dedup();
        if let Some(m) = lock(&self.members).get_mut(&member.0) {
            m.granted = partitions
                .iter()
                .map(|p| {
                    let since = m.granted.get(p).copied();
                    (*p, since.unwrap_or(assignment.generation))
                })
                .collect();
        }
        Ok(Assignment {
            generation: assignment.generation,
            partitions,
        })
    }

    async fn leave_group(&self, topic: &TopicRef, group: &str, member: MemberId) -> Result<()> {
        let removed = {
            let mut members = lock(&self.members);
            match members.get(&member.0) {
                Some(m) if m.topic == *topic && m.group == group => members.remove(&member.0),
                _ => None,
            }
        };
        let Some(m) = removed else {
            return Ok(());
        };
        let (s, t, g): (Identifier, Identifier, Identifier) =
            (ident(&topic.stream)?, ident(&topic.topic)?, ident(group)?);
        let left = m
            .connection
            .call(
                "leave_consumer_group",
                m.connection.client().leave_consumer_group(&s, &t, &g),
            )
            .await;
        // Closing the connection ends the membership either way.
        m.connection.shutdown().await;
        match left {
            Err(e) if e.kind() != ErrorKind::NotFound && !e.is_retryable() => Err(e),
            _ => Ok(()),
        }
    }

    /// Stores the offset on the member's own connection, so the server
    /// decides whether it still owns the partition (Apache Iggy refuses
    /// anyone else). Refused client-side, without a request, when the
    /// member is gone or its last sync shows the partition granted again
    /// since the fence's generation; a partition missing from the last sync
    /// is left to the server, which accepts the last commit of a hand-over.
    /// A store other than this backend's own has no server to decide: the
    /// write goes there only for a partition of the member's last sync.
    async fn commit_offset(
        &self,
        store: &Arc<dyn OffsetStore>,
        topic: &TopicRef,
        group: &str,
        partition: u32,
        fence: Fence,
        next_offset: u64,
    ) -> Result<()> {
        self.check_open("commit_offset")?;
        self.check_server("commit_offset")?;
        let refused = |why: &str| {
            fence
                .refused(topic, group, partition, why)
                .with_context("backend", NAME)
        };
        let (connection, since) = {
            let members = lock(&self.members);
            match members.get(&fence.member.0) {
                Some(m) if m.topic == *topic && m.group == group => {
                    (m.connection.clone(), m.granted.get(&partition).copied())
                }
                _ => return Err(refused("the member is not in the group")),
            }
        };
        let own = std::ptr::addr_eq(Arc::as_ptr(store), Arc::as_ptr(&self.offsets));
        match (since, own) {
            (Some(since), _) if since != fence.generation => Err(refused(&format!(
                "the partition was granted again at generation {since}"
            ))),
            (None, false) => Err(refused("the partition is not in the member's assignment")),
            (Some(_), false) => store.commit(group, topic, partition, next_offset).await,
            (_, true) => {
                RemoteOffsetStore::store_on(&connection, group, topic, partition, next_offset)
                    .await
                    .map_err(|e| {
                        if crate::error::is_ownership_refusal(&e) {
                            refused("the server says the member does not own the partition")
                                .with_source(e)
                        } else {
                            e
                        }
                    })
            }
        }
    }

    async fn health(&self) -> HealthStatus {
        if self.log.link.is_closed() {
            return HealthStatus::Unhealthy(vec!["remote backend: shut down".into()]);
        }
        // A server known to be down is not pinged: that would only wait for
        // the request timeout.
        match self.server.as_ref().map(ManagedServer::state) {
            Some(ServerState::Restarting { reason }) => {
                return HealthStatus::Unhealthy(vec![format!(
                    "remote backend: {reason}; restarting it"
                )])
            }
            Some(ServerState::GaveUp { reason }) => {
                return HealthStatus::Unhealthy(vec![format!("remote backend: {reason}")])
            }
            Some(ServerState::Stopped) => {
                return HealthStatus::Unhealthy(vec![
                    "remote backend: managed Iggy server stopped".into()
                ])
            }
            Some(ServerState::Running { .. }) | None => {}
        }
        let conn = match self.log.conn("health").await {
            Ok(conn) => conn,
            Err(e) => return HealthStatus::Unhealthy(vec![format!("remote backend: {e}")]),
        };
        let mut status = HealthStatus::Healthy;
        match conn.ping().await {
            Err(e) => {
                return HealthStatus::Unhealthy(vec![format!(
                    "remote backend: ping of {} failed: {e}",
                    conn.address()
                )])
            }
            Ok(rtt) => {
                let slow =
                    Duration::from_millis(self.log.link.settings().config.health_slow_ping_ms);
                if rtt > slow {
                    status = status.merge(HealthStatus::Degraded(vec![format!(
                        "remote backend: ping of {} took {} ms",
                        conn.address(),
                        rtt.as_millis()
                    )]));
                }
            }
        }
        let members: Vec<_> = lock(&self.members)
            .values()
            .map(|m| m.connection.clone())
            .collect();
        let down = count_reconnecting(&members).await;
        if down > 0 {
            status = status.merge(HealthStatus::Degraded(vec![format!(
                "remote backend: {down} group member connection(s) reconnecting"
            )]));
        }
        let down = self.log.senders.reconnecting().await + self.log.waiting.reconnecting().await;
        if down > 0 {
            status = status.merge(HealthStatus::Degraded(vec![format!(
                "remote backend: {down} send or waiting-poll connection(s) reconnecting"
            )]));
        }
        status
    }

    async fn shutdown(&self) -> Result<()> {
        if !self.log.link.close() {
            return Ok(());
        }
        let members: Vec<Member> = lock(&self.members).drain().map(|(_, m)| m).collect();
        for m in members {
            m.connection.shutdown().await;
        }
        self.log.waiting.close().await;
        self.log.senders.close().await;
        if let Some(conn) = self.log.link.opened() {
            conn.shutdown().await;
        }
        // Last: the connections above left their groups on a live server.
        if let Some(server) = &self.server {
            server.stop().await;
        }
        Ok(())
    }

    fn offset_store(&self) -> Option<Arc<dyn OffsetStore>> {
        Some(self.offsets.clone())
    }

    fn dlq_store(&self) -> Option<Arc<dyn DlqStore>> {
        Some(self.dlq.clone())
    }
}
