//! The embedded backend's DLQ: the core's [`LogDlqStore`] on the engine's
//! own topics, so dead letters written in process and through `rustok-iggy
//! serve` (the remote backend's DLQ store, over the Iggy protocol) are one
//! DLQ.

mod legacy;

use std::sync::Arc;

use async_trait::async_trait;
use rustok_iggy::{DlqLog, LogDlqStore, Message, PollFrom, Record, Result, TopicRef};

use crate::{
    config::FsyncPolicy,
    error::{join_error, NAME},
    topology::{Engine, DLQ_STREAM},
};

/// The engine's partition 0 of a DLQ topic. Not the [`EmbeddedBackend`](crate::EmbeddedBackend):
/// it owns the store, and the store would then own it.
struct EngineLog(Arc<Engine>);

#[async_trait]
impl DlqLog for EngineLog {
    async fn topic_exists(&self, topic: &TopicRef) -> Result<bool> {
        self.0.check_open("dlq")?;
        Ok(self.0.topic(topic).is_ok())
    }

    async fn create_topic(&self, topic: &TopicRef) -> Result<()> {
        let (engine, topic) = (self.0.clone(), topic.clone());
        tokio::task::spawn_blocking(move || engine.ensure_topic(&topic, 1))
            .await
            .map_err(|e| join_error("dlq create", e))??;
        Ok(())
    }

    async fn append(&self, topic: &TopicRef, messages: Vec<Message>) -> Result<u64> {
        // The DLQ stream is exempt from retention: a roll needs no check.
        let appended = self.0.partition(topic, 0)?.append(messages).await?;
        Ok(appended.ack.first_offset)
    }

    async fn read(&self, topic: &TopicRef, from: u64, max: u32) -> Result<Vec<Record>> {
        self.0.check_open("dlq read")?;
        self.0
            .partition(topic, 0)?
            .read(PollFrom::Offset(from), max)
    }

    /// Under `interval`, a put does not wait for the group commit: it is
    /// fsynced before it returns (under `always` the append already was;
    /// under `never` nothing is).
    async fn sync(&self, topic: &TopicRef) -> Result<()> {
        if self.0.config.fsync != FsyncPolicy::Interval {
            return Ok(());
        }
        let partition = self.0.partition(topic, 0)?;
        let next = partition.state().next_offset();
        partition.sync_to(next).await
    }
}

/// The DLQ store of `engine`, after moving any dead letters of the layout
/// before this one into it (see [`legacy`]).
pub(crate) async fn open(engine: Arc<Engine>) -> Result<Arc<LogDlqStore>> {
    let store = Arc::new(LogDlqStore::new(
        NAME,
        Arc::new(EngineLog(engine.clone())),
        DLQ_STREAM,
    ));
    legacy::migrate(&engine, &store).await?;
    Ok(store)
}
