//! The commit side of a partition worker: fenced commits of its position,
//! one at a time, off the partition's path.

use std::sync::atomic::Ordering;

use super::context::PartitionCtx;
use crate::{Error, ErrorKind, Fence};

/// The partition's position in the offset store: what it holds, and the
/// commit on its way there.
///
/// After a batch the commit runs in a task of its own while the next batch
/// is handled, instead of the partition waiting a round trip per batch. It
/// is still at-least-once: an offset is committed only after everything
/// before it was handled (or dead-lettered), and a crash before the commit
/// lands delivers that batch again, as a crash before an awaited commit
/// would. At most one commit is on its way, so they land in order; stopping
/// waits for it and commits the final position.
///
/// Every commit is fenced with the worker's [`Fence`]. Once one is refused
/// the worker is cancelled and nothing more is committed: the partition's
/// new owner starts from the last commit that was accepted.
pub(crate) struct Commits {
    /// This member's claim on the partition.
    fence: Fence,
    committed: Option<u64>,
    in_flight: Option<(u64, tokio::task::JoinHandle<crate::Result<()>>)>,
    fenced: bool,
}

impl Commits {
    /// Commits of a worker holding its partition under `fence`, starting
    /// from the group's `committed` position.
    pub(crate) fn new(fence: Fence, committed: Option<u64>) -> Self {
        Self {
            fence,
            committed,
            in_flight: None,
            fenced: false,
        }
    }

    /// Whether the store already holds `next` (or it is the start).
    fn holds(&self, next: u64) -> bool {
        self.committed == Some(next) || (self.committed.is_none() && next == 0)
    }

    /// Commits `next` (after the commit on its way) and waits for it. A
    /// failed commit is counted and logged; returns whether `next` is stored.
    pub(crate) async fn commit<E, H>(&mut self, ctx: &PartitionCtx<'_, E, H>, next: u64) -> bool {
        self.start(ctx, next).await;
        self.settle(ctx).await;
        !self.fenced && self.holds(next)
    }

    /// Starts committing `next` in the background, after the commit on its
    /// way (whose outcome is recorded first).
    pub(crate) async fn start<E, H>(&mut self, ctx: &PartitionCtx<'_, E, H>, next: u64) {
        self.settle(ctx).await;
        if self.fenced || self.holds(next) {
            return;
        }
        let transport = ctx.shared.transport.clone();
        let (group, topic, partition, fence) = (
            ctx.shared.group.clone(),
            ctx.topic.clone(),
            ctx.partition,
            self.fence,
        );
        // A refusal stops the batch being handled now, not after it.
        let cancel = ctx.cancel.clone();
        let task = tokio::spawn(async move {
            let result = transport
                .backend
                .commit_offset(&transport.offsets, &topic, &group, partition, fence, next)
                .await;
            if matches!(&result, Err(e) if e.kind() == ErrorKind::Fenced) {
                cancel.cancel();
            }
            result
        });
        self.in_flight = Some((next, task));
    }

    /// Waits for the commit on its way, if any, and records its outcome.
    async fn settle<E, H>(&mut self, ctx: &PartitionCtx<'_, E, H>) {
        if let Some((next, task)) = self.in_flight.take() {
            let result = task.await.unwrap_or_else(|e| {
                Err(Error::new(
                    ErrorKind::Backend,
                    format!("offset commit task failed: {e}"),
                ))
            });
            self.record(ctx, next, result);
        }
    }

    fn record<E, H>(
        &mut self,
        ctx: &PartitionCtx<'_, E, H>,
        next: u64,
        result: crate::Result<()>,
    ) -> bool {
        match result {
            Ok(()) => {
                self.committed = Some(next);
                true
            }
            Err(e) if e.kind() == ErrorKind::Fenced => {
                self.fenced = true;
                ctx.cancel.cancel();
                ctx.metrics.commit_failures.increment(1);
                ctx.shared
                    .state
                    .commit_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(group = %ctx.shared.group, topic = %ctx.topic, partition = ctx.partition, next, error = %e, "partition no longer ours; dropping its uncommitted work");
                false
            }
            Err(e) => {
                let shared = ctx.shared;
                shared.state.commit_failures.fetch_add(1, Ordering::Relaxed);
                shared.state.failed();
                ctx.metrics.commit_failures.increment(1);
                tracing::warn!(group = %shared.group, topic = %ctx.topic, partition = ctx.partition, next, error = %e, "offset commit failed");
                false
            }
        }
    }
}
