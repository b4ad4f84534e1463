//! The connections this server has open, as Iggy lists them: `GetClients`,
//! `GetClient`, `GetMe`, and the client count of `GetStats`.
//!
//! Each connection registers when it opens and is removed when its
//! [`Registration`] drops, logged in or not, as Apache Iggy lists every
//! connected client. The entry is a copy of what its [`Session`] knows (user,
//! groups joined), refreshed after a request that changed either: a listing
//! never waits on another connection's request.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Mutex, MutexGuard},
};

use iggy_binary_protocol::responses::clients::{
    ClientDetailsResponse, ClientResponse, ConsumerGroupInfoResponse,
};

use crate::session::{Session, Transport};

/// A consumer group by its catalog ids: stream, topic, group.
pub(crate) type JoinedGroup = (u32, u32, u32);

/// What a listing shows of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientRecord {
    pub(crate) id: u32,
    pub(crate) address: SocketAddr,
    pub(crate) transport: Transport,
    /// The logged-in user; `None` before login.
    pub(crate) user: Option<u32>,
    /// Groups joined, ascending.
    pub(crate) groups: Vec<JoinedGroup>,
}

impl ClientRecord {
    /// The listing entry. A connection not logged in shows user id
    /// `u32::MAX`, Apache Iggy's "no user" (0 is the root user).
    pub(crate) fn response(&self) -> ClientResponse {
        ClientResponse {
            client_id: self.id,
            user_id: self.user.unwrap_or(u32::MAX),
            transport: self.transport.code(),
            address: self.address.to_string(),
            consumer_groups_count: u32::try_from(self.groups.len()).unwrap_or(u32::MAX),
        }
    }

    /// The entry with the groups joined (`GetClient`, `GetMe`).
    pub(crate) fn details(&self) -> ClientDetailsResponse {
        ClientDetailsResponse {
            client: self.response(),
            consumer_groups: self
                .groups
                .iter()
                .map(
                    |&(stream_id, topic_id, group_id)| ConsumerGroupInfoResponse {
                        stream_id,
                        topic_id,
                        group_id,
                    },
                )
                .collect(),
        }
    }
}

/// Every open connection, by id.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    open: Mutex<BTreeMap<u32, ClientRecord>>,
}

/// A connection's place in [`Clients`], removed when dropped.
pub(crate) struct Registration<'a> {
    clients: &'a Clients,
    id: u32,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.clients.lock().remove(&self.id);
    }
}

impl Clients {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, ClientRecord>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lists `session` until the returned registration drops.
    pub(crate) fn register(&self, session: &Session) -> Registration<'_> {
        self.lock().insert(session.id, session.record());
        Registration {
            clients: self,
            id: session.id,
        }
    }

    /// Brings `session`'s entry up to date when its user or groups changed
    /// (compared with the session's own copy of what is listed, so an
    /// unchanged session takes no lock).
    pub(crate) fn refresh(&self, session: &mut Session) {
        if let Some(record) = session.take_changed_record() {
            if let Some(entry) = self.lock().get_mut(&record.id) {
                *entry = record;
            }
        }
    }

    /// Connections open now.
    pub(crate) fn count(&self) -> u32 {
        u32::try_from(self.lock().len()).unwrap_or(u32::MAX)
    }

    /// Every open connection, by ascending id.
    pub(crate) fn list(&self) -> Vec<ClientRecord> {
        self.lock().values().cloned().collect()
    }

    /// The connection with this id, if open.
    pub(crate) fn get(&self, id: u32) -> Option<ClientRecord> {
        self.lock().get(&id).cloned()
    }
}
