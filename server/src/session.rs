//! What the server knows about one connection: who logged in, how many
//! logins failed, and which consumer groups it joined.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
};

use rustok_iggy::{MemberId, TopicRef};

use crate::{
    auth::Identity,
    clients::{ClientRecord, JoinedGroup},
    shared::Shared,
};

/// This connection's membership of one consumer group.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    /// The backend's id for the member.
    pub(crate) member: MemberId,
    /// Partitions granted at the last sync, ascending; reported back as
    /// "held" at the next sync, which is how a revoked partition is released.
    pub(crate) assigned: Vec<u32>,
    /// Partitions the last `SyncConsumerGroup` reply named (`None` before
    /// the first). The SDK polls those only (it picks the partition itself)
    /// and syncs again only when a poll is refused, so a poll after the
    /// grant changed tells it to re-sync (see `groups::refresh`). A member
    /// that never syncs names its partitions itself and is not told.
    pub(crate) told: Option<Vec<u32>>,
    /// What the backend counts this member as holding — the last grant and
    /// what it revoked but is not yet told was released — each with the
    /// generation it was granted at. A group-offset write is accepted for
    /// these partitions only, as Apache Iggy accepts one only from the
    /// member owning the partition (a revoked one until the hand-over ends).
    pub(crate) holding: BTreeMap<u32, u64>,
    /// Catalog ids, for `get me`.
    pub(crate) stream_id: u32,
    pub(crate) topic_id: u32,
    pub(crate) group_id: u32,
}

/// How a session reached the server, as Iggy numbers it in client listings
/// (TLS over TCP is still TCP there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Quic,
}

impl Transport {
    /// Iggy's `TransportProtocol` code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Transport::Tcp => 1,
            Transport::Quic => 2,
        }
    }
}

/// Per-connection state.
#[derive(Debug)]
pub(crate) struct Session {
    /// Connection id (the Iggy client id).
    pub(crate) id: u32,
    /// Peer address.
    pub(crate) peer: SocketAddr,
    /// TCP (plain or TLS) or QUIC.
    pub(crate) transport: Transport,
    /// The logged-in user id, if any.
    pub(crate) user: Option<u32>,
    /// When that user was created (see [`Identity`]).
    pub(crate) user_created_at: u64,
    /// Failed logins so far on this connection.
    pub(crate) failed_logins: u32,
    /// Close the connection once the current reply is written.
    pub(crate) close: bool,
    /// Joined groups, by (topic, group name).
    pub(crate) groups: HashMap<(TopicRef, String), Membership>,
    /// User and groups as the server's client listing shows them now.
    listed: (Option<u32>, Vec<JoinedGroup>),
}

impl Session {
    /// A fresh, unauthenticated session.
    pub(crate) fn new(id: u32, peer: SocketAddr, transport: Transport) -> Self {
        Self {
            id,
            peer,
            transport,
            user: None,
            user_created_at: 0,
            failed_logins: 0,
            close: false,
            groups: HashMap::new(),
            listed: (None, Vec::new()),
        }
    }

    /// Groups joined, by catalog ids, ascending.
    fn group_ids(&self) -> Vec<JoinedGroup> {
        let mut ids: Vec<JoinedGroup> = self
            .groups
            .values()
            .map(|m| (m.stream_id, m.topic_id, m.group_id))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// This connection as client listings show it.
    pub(crate) fn record(&self) -> ClientRecord {
        ClientRecord {
            id: self.id,
            address: self.peer,
            transport: self.transport,
            user: self.user,
            groups: self.group_ids(),
        }
    }

    /// The record, when user or groups changed since the last call (or
    /// since the session began): what [`Clients::refresh`] needs to list.
    ///
    /// [`Clients::refresh`]: crate::clients::Clients::refresh
    pub(crate) fn take_changed_record(&mut self) -> Option<ClientRecord> {
        let unchanged = self.listed.0 == self.user
            && self.listed.1.len() == self.groups.len()
            && self.groups.values().all(|m| {
                self.listed
                    .1
                    .contains(&(m.stream_id, m.topic_id, m.group_id))
            });
        if unchanged {
            return None;
        }
        let record = self.record();
        self.listed = (record.user, record.groups.clone());
        Some(record)
    }

    /// Who logged in on this connection, if anyone did.
    pub(crate) fn identity(&self) -> Option<Identity> {
        self.user.map(|id| Identity {
            id,
            created_at: self.user_created_at,
        })
    }

    /// Records a login as `who`.
    pub(crate) fn log_in(&mut self, who: Identity) {
        self.user = Some(who.id);
        self.user_created_at = who.created_at;
        self.failed_logins = 0;
    }

    /// The VSR session number handed out at login (never 0).
    pub(crate) fn session_number(&self) -> u64 {
        u64::from(self.id) + 1
    }

    /// Leaves every joined group (at logout and when the connection ends), so
    /// their partitions go to the remaining members.
    pub(crate) async fn leave_all(&mut self, shared: &Shared) {
        for ((topic, group), membership) in self.groups.drain() {
            shared.forget_member(&topic, &group, self.id);
            if let Err(error) = shared
                .backend
                .leave_group(&topic, &group, membership.member)
                .await
            {
                tracing::debug!(%error, %topic, group, "leaving a group at disconnect failed");
            }
        }
    }
}
