//! Health reports: what a backend, a subscription and the transport say about
//! themselves.

use serde::{Deserialize, Serialize};

/// Overall state with the reasons for anything short of healthy.
///
/// ```
/// use rustok_iggy::HealthStatus;
///
/// let status = HealthStatus::Healthy
///     .merge(HealthStatus::Degraded(vec!["lag 10000 on orders/3".into()]));
/// assert!(matches!(status, HealthStatus::Degraded(ref r) if r.len() == 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "reasons", rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything works.
    Healthy,
    /// Works, but something needs attention.
    Degraded(Vec<String>),
    /// Does not work.
    Unhealthy(Vec<String>),
}

impl HealthStatus {
    /// The worse of the two, with the reasons of both.
    pub fn merge(self, other: HealthStatus) -> HealthStatus {
        use HealthStatus::*;
        match (self, other) {
            (Healthy, s) | (s, Healthy) => s,
            (Unhealthy(mut a), Unhealthy(b) | Degraded(b)) | (Degraded(b), Unhealthy(mut a)) => {
                a.extend(b);
                Unhealthy(a)
            }
            (Degraded(mut a), Degraded(b)) => {
                a.extend(b);
                Degraded(a)
            }
        }
    }

    /// Whether this is [`HealthStatus::Healthy`].
    pub fn is_healthy(&self) -> bool {
        matches!(self, HealthStatus::Healthy)
    }
}

/// Everything [`Transport::health`](crate::Transport::health) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// The worst of everything below, with all reasons.
    pub status: HealthStatus,
    /// What the backend says about itself.
    pub backend: HealthStatus,
    /// Dead letters not yet redriven, if the DLQ store could count them.
    pub dlq_pending: Option<u64>,
    /// One entry per running subscription of this transport.
    pub subscriptions: Vec<SubscriptionHealth>,
}

/// One subscription's part of a [`HealthReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionHealth {
    /// Its consumer group.
    pub group: String,
    /// Its topics (`stream/topic`).
    pub topics: Vec<String>,
    /// Its counters.
    pub stats: crate::SubscriptionStats,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// The partitions it runs now.
    pub partitions: Vec<PartitionHealth>,
}

/// One partition a subscription runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionHealth {
    /// `stream/topic`.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// Next offset the group will handle.
    pub position: u64,
    /// The partition's next offset at the last lag probe.
    pub end: u64,
    /// `end - position`.
    pub lag: u64,
}

#[cfg(test)]
mod tests {
    use super::HealthStatus::*;

    #[test]
    fn merge_keeps_the_worst_and_all_reasons() {
        assert_eq!(Healthy.merge(Healthy), Healthy);
        assert_eq!(
            Degraded(vec!["a".into()]).merge(Unhealthy(vec!["b".into()])),
            Unhealthy(vec!["b".into(), "a".into()])
        );
        assert_eq!(
            Degraded(vec!["a".into()]).merge(Degraded(vec!["b".into()])),
            Degraded(vec!["a".into(), "b".into()])
        );
        let json = serde_json::to_string(&Degraded(vec!["lag".into()])).unwrap();
        assert_eq!(json, r#"{"status":"degraded","reasons":["lag"]}"#);
    }
}
