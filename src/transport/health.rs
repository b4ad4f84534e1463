//! `Transport::health`: backend, subscriptions, lag and DLQ in one report.

use std::sync::atomic::Ordering;

use crate::{
    health::{PartitionHealth, SubscriptionHealth},
    DlqFilter, HealthReport, HealthStatus, Transport,
};

impl Transport {
    /// How the transport is doing: the backend's own health, every running
    /// subscription's lag per partition (the partition's end, read now,
    /// minus the group's position; the end of the last lag probe,
    /// `consumer.lag_probe_ms`, if the backend cannot answer), failures in a
    /// row, dead letters added since the previous call, and the DLQ's
    /// pending entries.
    ///
    /// `Degraded` when a partition lags more than `health.max_lag`, a
    /// subscription failed `health.max_consecutive_failures` times in a row, a
    /// subscription dead-lettered messages since the previous call, or the DLQ
    /// cannot be counted; `Unhealthy` when the backend says so.
    ///
    /// ```no_run
    /// # async fn f(transport: rustok_iggy::Transport) {
    /// let report = transport.health().await;
    /// println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    /// # }
    /// ```
    pub async fn health(&self) -> HealthReport {
        let inner = &self.inner;
        let limits = &inner.health;
        let backend = inner.backend.health().await;
        let mut status = backend.clone();
        let dlq_pending = match inner.dlq.count(DlqFilter::default()).await {
            Ok(count) => Some(count),
            Err(e) => {
                status = status.merge(HealthStatus::Degraded(vec![format!(
                    "cannot count the DLQ: {e}"
                )]));
                None
            }
        };
        let mut subscriptions = Vec::new();
        for state in inner.live_subscriptions() {
            let mut reasons = Vec::new();
            // Fresh ends: between probes a stored end lags the log, and a
            // lag computed from it reads low exactly when producers run ahead.
            for ((topic, partition), p) in state.partitions() {
                match inner.backend.partition_info(&topic, partition).await {
                    Ok(info) => p.end.store(info.next_offset, Ordering::Relaxed),
                    Err(e) => {
                        tracing::debug!(group = %state.group, %topic, partition, error = %e, "health: cannot read the partition's end; using the last probe")
                    }
                }
            }
            let mut partitions: Vec<PartitionHealth> = state
                .partitions()
                .into_iter()
                .map(|((topic, partition), p)| PartitionHealth {
                    topic: topic.to_string(),
                    partition,
                    position: p.next.load(Ordering::Relaxed),
                    end: p.end.load(Ordering::Relaxed),
                    lag: p.lag(),
                })
                .collect();
            partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            for p in partitions.iter().filter(|p| p.lag > limits.max_lag) {
                reasons.push(format!(
                    "group `{}` lags {} records on {}/{} (limit {})",
                    state.group, p.lag, p.topic, p.partition, limits.max_lag
                ));
            }
            let failures = state.consecutive_failures.load(Ordering::Relaxed);
            if failures >= limits.max_consecutive_failures {
                reasons.push(format!(
                    "group `{}` failed {failures} times in a row",
                    state.group
                ));
            }
            let stats = state.stats();
            let before = state
                .dead_lettered_at_last_check
                .swap(stats.dead_lettered, Ordering::Relaxed);
            if stats.dead_lettered > before {
                reasons.push(format!(
                    "group `{}` dead-lettered {} messages since the last check",
                    state.group,
                    stats.dead_lettered - before
                ));
            }
            if !reasons.is_empty() {
                status = status.merge(HealthStatus::Degraded(reasons));
            }
            subscriptions.push(SubscriptionHealth {
                group: state.group.clone(),
                topics: state.topics.iter().map(ToString::to_string).collect(),
                stats,
                consecutive_failures: failures,
                partitions,
            });
        }
        HealthReport {
            status,
            backend,
            dlq_pending,
            subscriptions,
        }
    }
}
