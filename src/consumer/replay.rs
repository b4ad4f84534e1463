//! Replay: run a handler over a topic's history without touching any group's
//! position, and reset a group's position.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::{
    context::PartitionCtx,
    state::Shared,
    worker::{attempt, Attempted},
    Handler,
};
use crate::{Error, ErrorKind, PollFrom, PollRequest, Result, TopicRef, Transport};

/// Where a replay or a group reset starts, on every partition of the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// The oldest record still stored.
    Beginning,
    /// This offset (clamped to what is stored).
    Offset(u64),
    /// The first record appended at or after this time.
    Timestamp(DateTime<Utc>),
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records the handler accepted.
    pub handled: u64,
    /// Records the handler gave up on (not dead-lettered: a replay is not a
    /// group and owns no DLQ entries).
    pub failed: Vec<ReplayFailure>,
}

/// One record a replay's handler gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayFailure {
    /// Its partition.
    pub partition: u32,
    /// Its offset.
    pub offset: u64,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
}

impl Transport {
    /// Runs `handler` over `topic` from `from` up to the end as it was when the
    /// replay started, partition by partition, in offset order; records appended
    /// later are not included. No group offset moves. Failures are retried per
    /// the consumer retry policy, then reported in the result.
    pub async fn replay<E, H>(
        &self,
        topic: &str,
        from: ReplayFrom,
        handler: H,
    ) -> Result<ReplayReport>
    where
        E: DeserializeOwned + Send + 'static,
        H: Handler<E>,
    {
        let topic = self.topic(topic);
        let partitions = self.backend().topic_info(&topic).await?.partitions;
        let shared = Shared::new(
            self,
            format!("replay:{}", topic.topic),
            vec![topic.clone()],
            self.inner.consumer.clone(),
            handler,
        );
        let mut report = ReplayReport::default();
        for partition in 0..partitions {
            let end = self
                .backend()
                .partition_info(&topic, partition)
                .await?
                .next_offset;
            let mut next = self.offset_at(&topic, partition, from).await?;
            let state = shared.state.start_partition(&topic, partition);
            let ctx = PartitionCtx::new(
                &shared,
                topic.clone(),
                partition,
                CancellationToken::new(),
                state,
            );
            while next < end {
                let records = self
                    .backend()
                    .poll(PollRequest {
                        topic: topic.clone(),
                        partition,
                        from: PollFrom::Offset(next),
                        max_records: shared.config.poll_batch,
                        max_wait: std::time::Duration::ZERO,
                    })
                    .await?;
                let Some(last) = records.last() else { break };
                next = last.offset + 1;
                for record in records.iter().filter(|r| r.offset < end) {
                    match attempt(&ctx, record).await {
                        Attempted::Handled | Attempted::Duplicate => report.handled += 1,
                        Attempted::Failed(failure) => report.failed.push(ReplayFailure {
                            partition,
                            offset: record.offset,
                            attempts: failure.attempts,
                            error: failure.reason,
                        }),
                        Attempted::Interrupted => {}
                    }
                }
            }
        }
        Ok(report)
    }

    /// Moves `group`'s committed position on every partition of `topic` to
    /// `to`, and returns the new (partition, next offset) pairs. Stop the
    /// group's subscriptions first: a running member commits over the reset.
    pub async fn reset_group(
        &self,
        group: &str,
        topic: &str,
        to: ReplayFrom,
    ) -> Result<Vec<(u32, u64)>> {
        let topic = self.topic(topic);
        let partitions = self.backend().topic_info(&topic).await?.partitions;
        let mut positions = Vec::with_capacity(partitions as usize);
        for partition in 0..partitions {
            let next = self.offset_at(&topic, partition, to).await?;
            self.offset_store()
                .commit(group, &topic, partition, next)
                .await?;
            positions.push((partition, next));
        }
        tracing::info!(group, %topic, ?to, "group offsets reset");
        Ok(positions)
    }

    /// The offset `from` means on one partition of `topic`, clamped to what is
    /// stored (a timestamp past the last record gives the partition's end).
    pub async fn offset_at(
        &self,
        topic: &TopicRef,
        partition: u32,
        from: ReplayFrom,
    ) -> Result<u64> {
        let info = self.backend().partition_info(topic, partition).await?;
        Ok(match from {
            ReplayFrom::Beginning => info.first_offset,
            ReplayFrom::Offset(offset) => offset.clamp(info.first_offset, info.next_offset),
            ReplayFrom::Timestamp(at) => {
                if !self.backend().capabilities().poll_by_timestamp {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "backend `{}` cannot seek by timestamp",
                            self.backend().name()
                        ),
                    ));
                }
                let micros = u64::try_from(at.timestamp_micros()).unwrap_or(0);
                self.backend()
                    .poll(PollRequest {
                        topic: topic.clone(),
                        partition,
                        from: PollFrom::Timestamp(micros),
                        max_records: 1,
                        max_wait: std::time::Duration::ZERO,
                    })
                    .await?
                    .first()
                    .map_or(info.next_offset, |r| r.offset)
            }
        })
    }
}
