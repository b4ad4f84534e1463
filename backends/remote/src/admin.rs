//! Topic administration on the server: deleting partitions, purging,
//! deleting segments and a topic's retention (its message expiry and max
//! topic size), each one request of the SDK.

use iggy::prelude::{
    IggyExpiry, MaxTopicSize, PartitionClient, SegmentClient, TopicClient, TopicUpdateOptions,
};
use rustok_iggy::{Error, ErrorKind, Result, TopicInfo, TopicRef, TopicRetention};

use crate::log::{ident, Log};

impl Log {
    /// Deletes the last `count` partitions on the server (SDK
    /// `delete_partitions`; the count was checked by
    /// [`rustok_iggy::Checked`]) and returns the count it reports.
    pub(crate) async fn delete_partitions(
        &self,
        topic: &TopicRef,
        count: u32,
    ) -> Result<TopicInfo> {
        let conn = self.conn("delete_partitions").await?;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        conn.call(
            "delete_partitions",
            conn.client().delete_partitions(&s, &t, count),
        )
        .await
        .map_err(|e| e.with_context("topic", topic))?;
        self.forget(topic);
        self.topic_info(topic).await
    }

    /// Purges the topic on the server (SDK `purge_topic`): its partitions
    /// start again at offset 0, so what this process knew of their ends is
    /// dropped.
    pub(crate) async fn purge_topic(&self, topic: &TopicRef) -> Result<()> {
        let conn = self.conn("purge_topic").await?;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        let purged = conn
            .call("purge_topic", conn.client().purge_topic(&s, &t))
            .await
            .map_err(|e| e.with_context("topic", topic));
        self.forget(topic);
        purged
    }

    /// Deletes up to `count` of the partition's oldest sealed segments on
    /// the server (SDK `delete_segments`, which reports nothing) and returns
    /// how many fewer segments the partition has afterwards.
    pub(crate) async fn delete_segments(
        &self,
        topic: &TopicRef,
        partition: u32,
        count: u32,
    ) -> Result<u32> {
        let before = self.partition_info(topic, partition).await?;
        let conn = self.conn("delete_segments").await?;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        conn.call(
            "delete_segments",
            conn.client().delete_segments(&s, &t, partition, count),
        )
        .await
        .map_err(|e| {
            e.with_context("topic", topic)
                .with_context("partition", partition)
        })?;
        let after = self.partition_info(topic, partition).await?;
        let segments = |info: rustok_iggy::PartitionInfo| info.storage.map_or(0, |s| s.segments);
        Ok(segments(before).saturating_sub(segments(after)))
    }

    /// The topic's message expiry and max topic size, as the server reports
    /// them (never expiring and unlimited are `None`).
    pub(crate) async fn topic_retention(&self, topic: &TopicRef) -> Result<TopicRetention> {
        let details = self.topic_details(topic).await?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("topic {topic} does not exist"))
                .with_context("backend", crate::NAME)
        })?;
        Ok(TopicRetention {
            max_age: match details.message_expiry {
                IggyExpiry::ExpireDuration(d) => Some(d.get_duration()),
                IggyExpiry::NeverExpire | IggyExpiry::ServerDefault => None,
            },
            max_bytes: match details.max_topic_size {
                MaxTopicSize::Custom(size) => Some(size.as_bytes_u64()),
                MaxTopicSize::Unlimited | MaxTopicSize::ServerDefault => None,
            },
        })
    }

    /// Sets both on the server (SDK `update_topic` under the topic's own
    /// name, so nothing else changes) and returns what it then reports.
    pub(crate) async fn set_topic_retention(
        &self,
        topic: &TopicRef,
        retention: TopicRetention,
    ) -> Result<TopicRetention> {
        let conn = self.conn("set_topic_retention").await?;
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        let micros = retention.max_age.map_or(u64::MAX, |age| {
            u64::try_from(age.as_micros()).unwrap_or(u64::MAX - 1)
        });
        let options = TopicUpdateOptions {
            message_expiry: Some(IggyExpiry::from(micros)),
            max_topic_size: Some(MaxTopicSize::from(retention.max_bytes.unwrap_or(u64::MAX))),
            ..TopicUpdateOptions::default()
        };
        conn.call(
            "update_topic",
            conn.client().update_topic(&s, &t, &topic.topic, &options),
        )
        .await
        .map_err(|e| e.with_context("topic", topic))?;
        self.topic_retention(topic).await
    }
}
