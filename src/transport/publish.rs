//! Publishing: an envelope is validated, routed, encoded and appended to the
//! partition its key maps to; a batch makes one append per partition.

use std::{collections::BTreeMap, time::Instant};

use serde::Serialize;
use tracing::Instrument;

use super::{PublishReceipt, Transport};
use crate::{
    config::LimitsConfig, envelope::EncodeBuffers, partition_for, AppendAck, Error, ErrorKind,
    EventEnvelope, Message, Result,
};

impl Transport {
    /// Publishes one event and returns once the backend stored it.
    ///
    /// The envelope is validated, routed to its topic, placed on the partition
    /// its key maps to, and its event encoded with the configured codec. An
    /// event larger than `limits.max_event_bytes` is refused with
    /// [`ErrorKind::InvalidInput`] and nothing is appended.
    pub async fn publish<E: Serialize + Sync>(
        &self,
        envelope: &EventEnvelope<E>,
    ) -> Result<PublishReceipt> {
        let (topic, partition, message) = self.prepare(envelope, &mut EncodeBuffers::new(1))?;
        let span = tracing::debug_span!(
            "rustok_iggy.publish",
            event_id = %envelope.id,
            event_type = %envelope.event_type,
            topic = %self.inner.topics[topic],
            partition,
        );
        async {
            let ack = self
                .append(topic, partition, vec![message], "publish")
                .await?;
            // The stored copy's offset if the backend deduplicated it.
            let offset = ack.offsets().next().unwrap_or(ack.first_offset);
            Ok(PublishReceipt {
                topic: self.inner.topics[topic].clone(),
                partition,
                offset,
            })
        }
        .instrument(span)
        .await
    }

    /// Publishes several events, one append per (topic, partition), all
    /// concurrently; returns once every append was stored, with one receipt per
    /// envelope in input order.
    ///
    /// Every envelope is validated, encoded and size-checked before the first
    /// append: an invalid or oversized one fails the whole batch and nothing
    /// is appended.
    ///
    /// Events of one partition keep their input order. If an append fails the
    /// error is returned, and appends to other partitions may have been stored:
    /// publishing the same envelopes again is safe where the backend deduplicates
    /// message ids (the embedded log with `dedup_window`; over the remote
    /// backend, a server that does: `rustok-iggy serve` with `dedup_window`,
    /// Apache Iggy's `message_deduplication` before 0.9) and at-least-once
    /// otherwise. An event the backend recognised as stored gets the stored
    /// copy's receipt.
    pub async fn publish_batch<E: Serialize + Sync>(
        &self,
        envelopes: &[EventEnvelope<E>],
    ) -> Result<Vec<PublishReceipt>> {
        let mut groups: BTreeMap<(usize, u32), (Vec<usize>, Vec<Message>)> = BTreeMap::new();
        let mut buffers = EncodeBuffers::new(envelopes.len());
        for (index, envelope) in envelopes.iter().enumerate() {
            let (topic, partition, message) = self.prepare(envelope, &mut buffers)?;
            let group = groups.entry((topic, partition)).or_default();
            group.0.push(index);
            group.1.push(message);
        }
        let span = tracing::debug_span!(
            "rustok_iggy.publish_batch",
            events = envelopes.len(),
            appends = groups.len()
        );
        let topics = &self.inner.topics;
        let appends =
            groups
                .into_iter()
                .map(|((topic, partition), (indexes, messages))| async move {
                    let ack = self
                        .append(topic, partition, messages, "publish_batch")
                        .await?;
                    Ok::<_, Error>((topic, partition, indexes, ack))
                });
        let acks = futures::future::try_join_all(appends)
            .instrument(span)
            .await?;
        let mut receipts: Vec<Option<PublishReceipt>> = vec![None; envelopes.len()];
        for (topic, partition, indexes, ack) in acks {
            for (index, offset) in indexes.into_iter().zip(ack.offsets()) {
                receipts[index] = Some(PublishReceipt {
                    topic: topics[topic].clone(),
                    partition,
                    offset,
                });
            }
        }
        receipts
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Backend,
                        "backend acknowledged fewer messages than were sent",
                    )
                })
            })
            .collect()
    }

    /// Appends `messages` to one partition of the router's `topic`, timing
    /// it into the topic's publish metrics; `operation` names the caller in
    /// the error.
    async fn append(
        &self,
        topic: usize,
        partition: u32,
        messages: Vec<Message>,
        operation: &'static str,
    ) -> Result<AppendAck> {
        let started = Instant::now();
        let metrics = &self.inner.publish_metrics[topic];
        let ack = self
            .inner
            .backend
            .append(&self.inner.topics[topic], partition, messages)
            .await
            .map_err(|e| {
                metrics.failed();
                e.with_context("operation", operation)
            })?;
        metrics.appended(&ack, started.elapsed());
        Ok(ack)
    }

    /// Validates, routes and encodes one envelope into `buffers`: (topic
    /// index, partition, message).
    fn prepare<E: Serialize>(
        &self,
        envelope: &EventEnvelope<E>,
        buffers: &mut EncodeBuffers,
    ) -> Result<(usize, u32, Message)> {
        let message = self.inner.envelopes.encode(envelope, buffers)?;
        let topic = self.inner.router.route_index(&envelope.event_type);
        let partitions = self.inner.router.topics()[topic].partitions;
        let partition = partition_for(envelope.partition_key_bytes(), partitions);
        self.check_size(&message)
            .map_err(|e| e.with_context("event_id", envelope.id))?;
        Ok((topic, partition, message))
    }

    /// Refuses a message over `limits.max_event_bytes` (payload plus header
    /// keys and values), naming both sizes and the key that sets the limit.
    fn check_size(&self, message: &Message) -> Result<()> {
        let limit = self.inner.limits.max_event_bytes;
        let size = message.payload.len() + message.headers.encoded_len();
        if size > limit {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "event of {size} bytes (payload {} + headers {}) exceeds the limit of \
                     {limit} bytes; raise `{}` to allow it",
                    message.payload.len(),
                    message.headers.encoded_len(),
                    LimitsConfig::MAX_EVENT_BYTES_KEY,
                ),
            )
            .with_context("key", LimitsConfig::MAX_EVENT_BYTES_KEY));
        }
        Ok(())
    }
}
