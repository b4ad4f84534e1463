//! [`RemoteOffsetStore`]: a group's positions as Iggy server-side consumer
//! offsets.

use std::sync::Arc;

use async_trait::async_trait;
use iggy::prelude::{Consumer, ConsumerGroupClient, ConsumerOffsetClient, Identifier};
use rustok_iggy::{Error, ErrorKind, OffsetCapabilities, OffsetStore, Result, TopicRef};

use crate::{
    client::{Connection, Link},
    log::ident,
    RemoteConfig, NAME,
};

/// Consumer-group offsets kept by the Iggy server
/// (`store`/`get`/`delete_consumer_offset` with a consumer-group consumer).
///
/// The core stores the **next** offset to consume, Iggy the **last
/// consumed** one: `commit(n)` stores `n - 1`, `load` returns the stored
/// value `+ 1`. A committed `0` (nothing consumed) has no Iggy
/// representation: `commit(0)` deletes the stored offset, and `load` then
/// returns `None`, so the group starts per its `start_from` policy. Iggy
/// keeps offsets per existing partition: committing to a topic that does not
/// exist is `NotFound` (the transport ensures topics before it consumes);
/// loading or deleting there is `None`/`Ok`. Iggy also refuses a position
/// beyond the partition's last record (`InvalidInput`; see
/// [`OffsetCapabilities::within_log`]).
///
/// **Iggy takes a group's offset only from a member that owns the
/// partition** (the connection that joined the group). A subscription's
/// commits therefore go through
/// [`RemoteBackend::commit_offset`](rustok_iggy::Backend::commit_offset),
/// on the member's own connection. [`commit`](OffsetStore::commit) and
/// [`delete`](OffsetStore::delete) here are the administrative writes (a
/// reset for replay, say): they join the group as its only member for the
/// write, and refuse with [`ErrorKind::Fenced`] while the group has live
/// members on the topic (stop its consumers first, as Kafka requires for an
/// offset reset). Reads need no membership.
///
/// ```no_run
/// # async fn run() -> rustok_iggy::Result<()> {
/// use rustok_iggy::{OffsetStore, TopicRef};
/// use rustok_iggy_remote::{RemoteConfig, RemoteOffsetStore};
///
/// let store = RemoteOffsetStore::new(RemoteConfig::new("iggy+tcp://127.0.0.1:8090"))?;
/// let topic = TopicRef::new("app", "orders");
/// store.commit("billing", &topic, 0, 42).await?; // Iggy stores 41
/// assert_eq!(store.load("billing", &topic, 0).await?, Some(42));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RemoteOffsetStore {
    link: Arc<Link>,
}

impl RemoteOffsetStore {
    /// A store with a connection of its own, opened on first use.
    pub fn new(config: RemoteConfig) -> Result<Self> {
        Ok(Self::on(Arc::new(Link::new(config.settings()?))))
    }

    pub(crate) fn on(link: Arc<Link>) -> Self {
        Self { link }
    }

    fn ids(group: &str, topic: &TopicRef) -> Result<(Consumer, Identifier, Identifier)> {
        Ok((
            Consumer::group(ident(group)?),
            ident(&topic.stream)?,
            ident(&topic.topic)?,
        ))
    }

    /// Stores `next_offset` on `connection`, which must be a member of
    /// `group` owning `partition` (or the server refuses it). A `0` deletes
    /// the stored offset.
    pub(crate) async fn store_on(
        connection: &Connection,
        group: &str,
        topic: &TopicRef,
        partition: u32,
        next_offset: u64,
    ) -> Result<()> {
        let (consumer, s, t) = Self::ids(group, topic)?;
        let client = connection.client();
        let stored = match next_offset.checked_sub(1) {
            Some(last) => {
                connection
                    .call(
                        "store_consumer_offset",
                        client.store_consumer_offset(&consumer, &s, &t, Some(partition), last),
                    )
                    .await
            }
            None => connection
                .call(
                    "delete_consumer_offset",
                    client.delete_consumer_offset(&consumer, &s, &t, Some(partition)),
                )
                .await
                .or_else(|e| {
                    // Nothing stored: nothing to forget.
                    if crate::error::is_offset_not_found(&e) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }),
        };
        stored.map_err(|e| e.with_context("group", group).with_context("topic", topic))
    }

    /// The administrative write: joins `group` on a connection of its own as
    /// the group's only member, stores, and leaves.
    async fn store_as_sole_member(
        &self,
        group: &str,
        topic: &TopicRef,
        partition: u32,
        next_offset: u64,
    ) -> Result<()> {
        let shared = self.link.get("commit_offset").await?;
        let (_, s, t) = Self::ids(group, topic)?;
        let g = ident(group)?;
        let found = shared
            .call(
                "get_consumer_group",
                shared.client().get_consumer_group(&s, &t, &g),
            )
            .await
            .map_err(|e| e.with_context("group", group).with_context("topic", topic))?;
        match found {
            Some(details) if details.members_count > 0 => {
                return Err(Error::new(
                    ErrorKind::Fenced,
                    format!(
                        "group `{group}` has {} live member(s) on {topic}; Iggy takes a group's offsets only from the member that owns the partition: stop the group's consumers, then try again",
                        details.members_count
                    ),
                )
                .with_context("backend", NAME)
                .with_context("partition", partition));
            }
            Some(_) => {}
            None => match shared
                .call(
                    "create_consumer_group",
                    shared.client().create_consumer_group(&s, &t, group),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.with_context("group", group).with_context("topic", topic)),
            },
        }
        let member = Connection::open(self.link.settings()).await?;
        let stored = async {
            member
                .call(
                    "join_consumer_group",
                    member.client().join_consumer_group(&s, &t, &g),
                )
                .await
                .map_err(|e| e.with_context("group", group))?;
            Self::store_on(&member, group, topic, partition, next_offset).await
        }
        .await;
        if let Err(e) = member
            .call(
                "leave_consumer_group",
                member.client().leave_consumer_group(&s, &t, &g),
            )
            .await
        {
            tracing::debug!(group, %topic, error = %e, "leaving after an offset reset");
        }
        // Closing the connection ends the membership either way.
        member.shutdown().await;
        stored
    }
}

#[async_trait]
impl OffsetStore for RemoteOffsetStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> OffsetCapabilities {
        OffsetCapabilities::new(true)
            .with_zero_forgets()
            .with_within_log()
    }

    async fn load(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<Option<u64>> {
        let conn = self.link.get("load_offset").await?;
        let (consumer, s, t) = Self::ids(group, topic)?;
        match conn
            .call(
                "get_consumer_offset",
                conn.client()
                    .get_consumer_offset(&consumer, &s, &t, Some(partition)),
            )
            .await
        {
            Ok(found) => Ok(found.map(|info| info.stored_offset.saturating_add(1))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.with_context("group", group).with_context("topic", topic)),
        }
    }

    async fn commit(
        &self,
        group: &str,
        topic: &TopicRef,
        partition: u32,
        next_offset: u64,
    ) -> Result<()> {
        self.store_as_sole_member(group, topic, partition, next_offset)
            .await
    }

    async fn delete(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<()> {
        match self.store_as_sole_member(group, topic, partition, 0).await {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}
