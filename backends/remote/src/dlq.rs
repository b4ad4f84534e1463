//! The remote DLQ: the core's [`LogDlqStore`] on topics of the Iggy server,
//! in the stream `dlq_stream` (default `__rustok_dlq`: the embedded
//! backend's, so a DLQ written through `rustok-iggy serve` is the one the
//! embedded backend reads in process, and the other way round).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use rustok_iggy::{
    DlqLog, ErrorKind, LogDlqStore, Message, PollFrom, PollRequest, Record, Result, TopicRef,
};

use crate::{client::Link, log::Log, RemoteConfig, NAME};

#[async_trait]
impl DlqLog for Log {
    async fn topic_exists(&self, topic: &TopicRef) -> Result<bool> {
        Ok(self.topic_details(topic).await?.is_some())
    }

    async fn create_topic(&self, topic: &TopicRef) -> Result<()> {
        self.ensure_topic(topic, 1).await.map(drop)
    }

    async fn append(&self, topic: &TopicRef, messages: Vec<Message>) -> Result<u64> {
        Ok(Log::append(self, topic, 0, messages).await?.first_offset)
    }

    async fn read(&self, topic: &TopicRef, from: u64, max: u32) -> Result<Vec<Record>> {
        self.poll(PollRequest {
            topic: topic.clone(),
            partition: 0,
            from: PollFrom::Offset(from),
            max_records: max,
            max_wait: Duration::ZERO,
        })
        .await
    }

    /// A flush with fsync. A server without on-demand flush (Apache Iggy
    /// 0.9) refuses it; there its own fsync settings decide, as for every
    /// append (see [`Backend::flush`](rustok_iggy::Backend::flush)).
    async fn sync(&self, topic: &TopicRef) -> Result<()> {
        match self.flush(topic, 0, true).await {
            Err(e) if e.kind() == ErrorKind::Unsupported => Ok(()),
            other => other,
        }
    }
}

/// The DLQ of the server `config` names, on a connection of its own opened
/// on first use (see [`LogDlqStore`] for the layout).
///
/// ```no_run
/// # async fn run() -> rustok_iggy::Result<()> {
/// use rustok_iggy::{DlqFilter, DlqStore};
/// use rustok_iggy_remote::RemoteConfig;
///
/// let dlq = rustok_iggy_remote::dlq_store(RemoteConfig::new("iggy+tcp://127.0.0.1:8090"))?;
/// println!("{} dead letters pending", dlq.count(DlqFilter::default()).await?);
/// # Ok(()) }
/// ```
pub fn dlq_store(config: RemoteConfig) -> Result<LogDlqStore> {
    let link = Arc::new(Link::new(config.settings()?));
    Ok(on(Arc::new(Log::new(link)?)))
}

/// The DLQ on an existing log (the backend's own connection).
pub(crate) fn on(log: Arc<Log>) -> LogDlqStore {
    let stream = log.link.settings().config.dlq_stream.clone();
    LogDlqStore::new(NAME, log, stream)
}
