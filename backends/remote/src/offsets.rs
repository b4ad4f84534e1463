//! [`RemoteOffsetStore`]: a group's positions as Iggy server-side consumer
//! offsets.

use std::sync::Arc;

use async_trait::async_trait;
use iggy::prelude::{Consumer, ConsumerGroupClient, ConsumerOffsetClient, Identifier};
use rustok_iggy::{ErrorKind, OffsetCapabilities, OffsetStore, Result, TopicRef};

use crate::{client::Link, log::ident, RemoteConfig, NAME};

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
/// loading or deleting there is `None`/`Ok`. On a server that wants the
/// consumer group to exist first, it is created.
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
}

#[async_trait]
impl OffsetStore for RemoteOffsetStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> OffsetCapabilities {
        OffsetCapabilities::new(true).with_zero_forgets()
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
        if next_offset == 0 {
            return self.delete(group, topic, partition).await;
        }
        let conn = self.link.get("commit_offset").await?;
        let (consumer, s, t) = Self::ids(group, topic)?;
        let store = || {
            conn.call(
                "store_consumer_offset",
                conn.client().store_consumer_offset(
                    &consumer,
                    &s,
                    &t,
                    Some(partition),
                    next_offset - 1,
                ),
            )
        };
        match store().await {
            Ok(()) => Ok(()),
            Err(e) if crate::error::is_group_not_found(&e) => {
                // A server that keeps group offsets only for existing groups.
                match conn
                    .call(
                        "create_consumer_group",
                        conn.client().create_consumer_group(&s, &t, group),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e.with_context("group", group)),
                }
                store()
                    .await
                    .map_err(|e| e.with_context("group", group).with_context("topic", topic))
            }
            Err(e) => Err(e.with_context("group", group).with_context("topic", topic)),
        }
    }

    async fn delete(&self, group: &str, topic: &TopicRef, partition: u32) -> Result<()> {
        let conn = self.link.get("delete_offset").await?;
        let (consumer, s, t) = Self::ids(group, topic)?;
        match conn
            .call(
                "delete_consumer_offset",
                conn.client()
                    .delete_consumer_offset(&consumer, &s, &t, Some(partition)),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.with_context("group", group).with_context("topic", topic)),
        }
    }
}
