//! A receiver's partition worker: reads the partition into its lane while
//! the lane has room, and commits the lane's settled prefix.

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use tokio_util::sync::CancellationToken;

use super::{lane::Lane, Feed};
use crate::{
    consumer::{
        commits::Commits,
        context::{pause, PartitionCtx},
        worker::{poll_request, start_position, IdlePause},
    },
    Fence, TopicRef,
};

/// Runs until `cancel`: registers a lane for the partition, keeps it filled
/// up to `consumer.max_unacked`, commits what the application settled, and
/// commits once more on the way out. Deliveries still out then are the next
/// owner's (or the next run's) to deliver again.
pub(crate) async fn run(
    feed: Arc<Feed>,
    topic: TopicRef,
    partition: u32,
    fence: Fence,
    cancel: CancellationToken,
) {
    let position = feed.state.start_partition(&topic, partition);
    let ctx = PartitionCtx::new(&feed, topic, partition, cancel, position);
    if let Some((next, committed)) = start_position(&ctx).await {
        let lane = Arc::new(Lane::new(
            ctx.topic.clone(),
            partition,
            next,
            ctx.state.clone(),
            ctx.cancel.clone(),
            ctx.metrics.clone(),
        ));
        feed.handler.add(lane.clone());
        fill(&ctx, &lane, Commits::new(fence, committed)).await;
        lane.close();
        feed.handler.remove(&lane);
    }
    feed.state.stop_partition(&ctx.topic, partition);
}

async fn fill(ctx: &PartitionCtx<'_, (), Arc<super::Inbox>>, lane: &Lane, mut commits: Commits) {
    let feed = ctx.shared;
    let config = &feed.config;
    let backend = &feed.transport.backend;
    let poll_wait = Duration::from_millis(config.poll_wait_ms);
    let max_unacked = config.max_unacked as usize;
    // Read again once this much room is free, so a lane that is full reads
    // batches rather than one record per ack.
    let low_water = (config.poll_batch as usize).min(max_unacked).div_ceil(2);
    // As the push worker does: pin a `latest` start before the first batch.
    commits.commit(ctx, lane.with(|l| l.commit_point())).await;
    let mut failures = 0u32;
    let mut idle = IdlePause::new(backend.capabilities().long_poll, poll_wait);
    while !ctx.cancel.is_cancelled() {
        let (room, from) = lane.with(|l| (max_unacked.saturating_sub(l.held()), l.read_to()));
        if room < low_water {
            // Register before committing, so a settle meanwhile wakes us.
            let settled = lane.settled.notified();
            commit(ctx, lane, &mut commits).await;
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => break,
                _ = settled => continue,
            }
        }
        let mut request = poll_request(ctx, from, poll_wait);
        request.max_records = request.max_records.min(room as u32);
        let sent = Instant::now();
        let Some(polled) = ctx.poll(request).await else {
            break;
        };
        let took = sent.elapsed();
        let Some(records) = ctx.records(polled, &mut failures).await else {
            continue;
        };
        if records.is_empty() {
            commit(ctx, lane, &mut commits).await;
            if !pause(&ctx.cancel, idle.after_empty(took)).await {
                break;
            }
            continue;
        }
        idle.reset();
        lane.with(|l| l.push(records));
        feed.handler.wake();
        commit(ctx, lane, &mut commits).await;
    }
    let last = lane.with(|l| l.commit_point());
    commits.commit(ctx, last).await;
}

/// Starts committing the lane's settled prefix (after the commit on its way).
async fn commit(ctx: &PartitionCtx<'_, (), Arc<super::Inbox>>, lane: &Lane, commits: &mut Commits) {
    let point = lane.with(|l| l.commit_point());
    ctx.state.next.store(point, Ordering::Relaxed);
    commits.start(ctx, point).await;
}
