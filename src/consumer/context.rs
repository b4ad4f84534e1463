//! [`PartitionCtx`]: what one partition's worker (and a replay) works with,
//! and the retry-after-failure loop they share.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_util::sync::CancellationToken;

use super::{
    backoff,
    state::{PartitionState, Shared},
};
use crate::{metrics::ConsumerMetrics, Error, PollRequest, Record, TopicRef};

/// Everything one partition's processing needs.
pub(crate) struct PartitionCtx<'a, E, H> {
    pub(crate) shared: &'a Shared<E, H>,
    pub(crate) topic: TopicRef,
    pub(crate) partition: u32,
    pub(crate) cancel: CancellationToken,
    pub(crate) metrics: ConsumerMetrics,
    pub(crate) state: Arc<PartitionState>,
}

impl<'a, E, H> PartitionCtx<'a, E, H> {
    pub(crate) fn new(
        shared: &'a Shared<E, H>,
        topic: TopicRef,
        partition: u32,
        cancel: CancellationToken,
        state: Arc<PartitionState>,
    ) -> Self {
        let metrics = ConsumerMetrics::new(&topic, &shared.group);
        Self {
            shared,
            topic,
            partition,
            cancel,
            metrics,
            state,
        }
    }

    /// After the `failures`-th failure in a row of `what`: counts it on the
    /// subscription, logs it, and sleeps the retry backoff; `false` if
    /// cancelled first.
    pub(crate) async fn failed(&self, what: &str, failures: u32, error: &Error) -> bool {
        let shared = self.shared;
        shared.state.failed();
        tracing::warn!(
            group = %shared.group, topic = %self.topic, partition = self.partition,
            error = %error, "{what} failed"
        );
        pause(
            &self.cancel,
            backoff::random_delay(&shared.config.retry, failures),
        )
        .await
    }

    /// Polls the backend, timing the poll; `None` if cancelled first.
    pub(crate) async fn poll(&self, request: PollRequest) -> Option<crate::Result<Vec<Record>>> {
        let started = Instant::now();
        let polled = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return None,
            polled = self.shared.transport.backend.poll(request) => polled,
        };
        self.metrics
            .poll_duration
            .record(started.elapsed().as_secs_f64());
        Some(polled)
    }

    /// The records of a poll, or `None` after a failure, which is the
    /// `failures`-th in a row: counted and logged, the retry backoff slept
    /// (poll again, unless cancelled meanwhile). A success resets `failures`.
    pub(crate) async fn records(
        &self,
        polled: crate::Result<Vec<Record>>,
        failures: &mut u32,
    ) -> Option<Vec<Record>> {
        match polled {
            Ok(records) => {
                *failures = 0;
                Some(records)
            }
            Err(e) => {
                *failures += 1;
                self.failed("poll", *failures, &e).await;
                None
            }
        }
    }

    /// Runs `attempt` until it succeeds, with [`failed`](Self::failed)
    /// after each failure; `None` if cancelled first.
    pub(crate) async fn until_ok<T, F, Fut>(&self, what: &str, mut attempt: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = crate::Result<T>>,
    {
        let mut failures = 0;
        loop {
            match attempt().await {
                Ok(value) => return Some(value),
                Err(e) => {
                    failures += 1;
                    if !self.failed(what, failures, &e).await {
                        return None;
                    }
                }
            }
        }
    }
}

/// Sleeps for `duration`; `false` if cancelled first.
pub(crate) async fn pause(cancel: &CancellationToken, duration: Duration) -> bool {
    // A zero sleep still waits for the timer's next tick (up to 1 ms).
    if duration.is_zero() {
        return !cancel.is_cancelled();
    }
    tokio::select! {
        biased;
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(duration) => true,
    }
}
