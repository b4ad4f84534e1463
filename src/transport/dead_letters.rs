//! Operations on the dead-letter queue: list, inspect, redrive, purge.

use std::{sync::Arc, time::Duration};

use chrono::Utc;

use crate::{
    wire::header, DlqEntry, DlqFilter, DlqPage, Error, ErrorKind, PublishReceipt, Result, Transport,
};

/// The dead-letter queue of a transport; see [`Transport::dead_letters`].
#[derive(Debug, Clone, Copy)]
pub struct DeadLetters<'a> {
    transport: &'a Transport,
}

impl Transport {
    /// Operations on the dead-letter queue.
    ///
    /// ```no_run
    /// # async fn f(transport: rustok_iggy::Transport) -> rustok_iggy::Result<()> {
    /// use rustok_iggy::DlqFilter;
    ///
    /// let dlq = transport.dead_letters();
    /// let page = dlq.list(DlqFilter { group: Some("billing".into()), ..Default::default() }, None, 50).await?;
    /// for entry in &page.entries {
    ///     println!("#{} {}: {}", entry.id, entry.letter.topic, entry.letter.error);
    ///     dlq.redrive(entry.id, None).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn dead_letters(&self) -> DeadLetters<'_> {
        DeadLetters { transport: self }
    }
}

impl DeadLetters<'_> {
    /// Entries matching `filter` with ids above `after`, at most `limit`.
    pub async fn list(
        &self,
        filter: DlqFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<DlqPage> {
        self.transport.dlq_store().list(filter, after, limit).await
    }

    /// One entry, or [`ErrorKind::NotFound`].
    pub async fn get(&self, id: u64) -> Result<DlqEntry> {
        self.transport
            .dlq_store()
            .get(id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// How many entries match `filter`.
    pub async fn count(&self, filter: DlqFilter) -> Result<u64> {
        self.transport.dlq_store().count(filter).await
    }

    /// Republishes the entry's original message to the partition it came from,
    /// after `delay` if given, and marks the entry redriven.
    ///
    /// The message keeps its id, headers and payload; its `retry-count` header
    /// grows by the attempts already spent, so handlers see the whole history.
    /// The message is appended to the *topic*: every group consuming it sees it
    /// again, not only the group that failed (enable the subscription's dedup
    /// window where that matters). If the process stops between the append and
    /// the mark, a second redrive appends it once more (at least once).
    pub async fn redrive(&self, id: u64, delay: Option<Duration>) -> Result<PublishReceipt> {
        let entry = self.get(id).await?;
        if let Some(at) = entry.redriven_at {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("dead letter #{id} was already redriven at {at}"),
            ));
        }
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let letter = entry.letter;
        let mut message = letter.message;
        let previous: u32 = message
            .headers
            .get_str(header::RETRY_COUNT)
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        message.headers.insert(
            header::RETRY_COUNT,
            previous.saturating_add(letter.attempts).to_string(),
        )?;
        let ack = self
            .transport
            .backend()
            .append(&letter.topic, letter.partition, vec![message])
            .await
            .map_err(|e| {
                e.with_context("operation", "redrive")
                    .with_context("dlq_id", id)
            })?;
        self.transport
            .dlq_store()
            .mark_redriven(id, Utc::now())
            .await?;
        crate::metrics::redriven(&letter.topic);
        tracing::info!(dlq_id = id, topic = %letter.topic, partition = letter.partition, offset = ack.first_offset, "dead letter redriven");
        Ok(PublishReceipt {
            topic: Arc::new(letter.topic),
            partition: letter.partition,
            offset: ack.first_offset,
        })
    }

    /// Deletes every entry matching `filter` and returns how many.
    pub async fn purge(&self, filter: DlqFilter) -> Result<u64> {
        let store = self.transport.dlq_store();
        let mut deleted = 0;
        let mut after = None;
        loop {
            let page = store.list(filter.clone(), after, 500).await?;
            for entry in &page.entries {
                if store.delete(entry.id).await? {
                    deleted += 1;
                }
            }
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(deleted),
            }
        }
    }
}

fn not_found(id: u64) -> Error {
    Error::new(ErrorKind::NotFound, format!("no dead letter #{id}")).with_context("dlq_id", id)
}
