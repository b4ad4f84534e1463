//! State every connection shares: the backend, its offset store, the
//! catalog, the users, limits, the consumer-group members served here, and
//! what `GetStats` reports about the server itself.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use rustok_iggy::{Backend, OffsetStore, TopicRef};

use crate::{
    auth::Users,
    catalog::{now_micros, Catalog},
    clients::Clients,
    host::HostProbe,
    snapshot::Snapshots,
};

/// Per-connection limits.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_frame_bytes: u32,
    pub(crate) idle_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) max_login_failures: u32,
    pub(crate) max_poll_messages: u32,
    /// Longest hold of a waiting poll; zero refuses them.
    pub(crate) max_poll_wait: Duration,
    pub(crate) max_batch_messages: u32,
}

type Members = HashMap<(TopicRef, String), BTreeMap<u32, Vec<u32>>>;

/// Everything a command handler may need besides its session.
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) offsets: Arc<dyn OffsetStore>,
    pub(crate) catalog: Catalog,
    /// Who may log in, and what each user may do.
    pub(crate) users: Users,
    pub(crate) limits: Limits,
    pub(crate) local_addr: SocketAddr,
    /// The bound UDP address of the QUIC listener, if there is one (named
    /// in cluster metadata).
    pub(crate) quic_addr: Option<SocketAddr>,
    /// Process and machine figures for `GetStats`.
    pub(crate) host: HostProbe,
    /// What `GetSnapshotFile` collects.
    pub(crate) snapshots: Snapshots,
    /// When the server started: wall-clock microseconds since the Unix
    /// epoch (reported) and the monotonic instant (its run time counts from).
    started: (u64, Instant),
    members: Mutex<Members>,
    balanced: Mutex<HashMap<TopicRef, u32>>,
    next_connection: AtomicU32,
    /// Connections open now (TCP, TLS and QUIC, logged in or not).
    pub(crate) clients: Clients,
}

/// What [`Shared::new`] starts from, besides the limits and addresses.
pub(crate) struct Parts {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) offsets: Arc<dyn OffsetStore>,
    pub(crate) catalog: Catalog,
    pub(crate) users: Users,
    pub(crate) host: HostProbe,
    pub(crate) snapshots: Snapshots,
}

impl Shared {
    pub(crate) fn new(
        parts: Parts,
        limits: Limits,
        local_addr: SocketAddr,
        quic_addr: Option<SocketAddr>,
    ) -> Self {
        Self {
            backend: parts.backend,
            offsets: parts.offsets,
            catalog: parts.catalog,
            users: parts.users,
            limits,
            local_addr,
            quic_addr,
            host: parts.host,
            snapshots: parts.snapshots,
            started: (now_micros(), Instant::now()),
            members: Mutex::new(HashMap::new()),
            balanced: Mutex::new(HashMap::new()),
            next_connection: AtomicU32::new(1),
            clients: Clients::default(),
        }
    }

    /// When the server started (microseconds since the Unix epoch) and how
    /// long it has run (microseconds).
    pub(crate) fn uptime(&self) -> (u64, u64) {
        let (at, since) = self.started;
        let run = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        (at, run)
    }

    /// A new connection id.
    pub(crate) fn next_connection_id(&self) -> u32 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Round-robin partition for `Balanced` partitioning.
    pub(crate) fn next_balanced(&self, topic: &TopicRef, partitions: u32) -> u32 {
        let mut map = self.balanced.lock().unwrap_or_else(|p| p.into_inner());
        let cursor = map.entry(topic.clone()).or_insert(0);
        let partition = cursor.checked_rem(partitions).unwrap_or(0);
        *cursor = cursor.wrapping_add(1);
        partition
    }

    /// Records what a connection's member of a group holds (for listings).
    pub(crate) fn set_member(&self, topic: &TopicRef, group: &str, connection: u32, held: &[u32]) {
        let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        members
            .entry((topic.clone(), group.to_owned()))
            .or_default()
            .insert(connection, held.to_vec());
    }

    /// Removes a connection's member of a group from the listings.
    pub(crate) fn forget_member(&self, topic: &TopicRef, group: &str, connection: u32) {
        let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let key = (topic.clone(), group.to_owned());
        if let Some(group_members) = members.get_mut(&key) {
            group_members.remove(&connection);
            if group_members.is_empty() {
                members.remove(&key);
            }
        }
    }

    /// Members of a group served by this server: (connection id, partitions).
    pub(crate) fn members(&self, topic: &TopicRef, group: &str) -> Vec<(u32, Vec<u32>)> {
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(topic.clone(), group.to_owned()))
            .map(|m| m.iter().map(|(c, p)| (*c, p.clone())).collect())
            .unwrap_or_default()
    }
}
