//! Metrics through the `metrics` facade: the application installs the exporter
//! (Prometheus, StatsD, ...); without one, recording costs next to nothing.
//!
//! Labels are `topic` and `group` (and `partition` on lag), never tenant or
//! event ids: those would make a time series per tenant or per event. The
//! reference of every name is in `docs/metrics.md`.

use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Histogram};

use crate::TopicRef;

/// Events appended by `publish`/`publish_batch` (counter; `topic`).
pub const PUBLISHED: &str = "rustok_iggy_published_total";
/// Published events the backend already stored, recognised by id and not
/// appended again (counter; `topic`).
pub const PUBLISH_DUPLICATES: &str = "rustok_iggy_publish_duplicates_total";
/// Appends that failed (counter; `topic`).
pub const PUBLISH_FAILURES: &str = "rustok_iggy_publish_failures_total";
/// Append latency, seconds (histogram; `topic`).
pub const APPEND_DURATION: &str = "rustok_iggy_append_duration_seconds";
/// Messages a handler accepted (counter; `topic`, `group`).
pub const CONSUMED: &str = "rustok_iggy_consumed_total";
/// Handler run time per attempt, seconds (histogram; `topic`, `group`).
pub const HANDLER_DURATION: &str = "rustok_iggy_handler_duration_seconds";
/// Failed attempts that were retried (counter; `topic`, `group`).
pub const RETRIES: &str = "rustok_iggy_retries_total";
/// Messages moved to the DLQ (counter; `topic`, `group`).
pub const DEAD_LETTERED: &str = "rustok_iggy_dead_lettered_total";
/// Messages skipped by the dedup window (counter; `topic`, `group`).
pub const DEDUPLICATED: &str = "rustok_iggy_deduplicated_total";
/// Dead letters republished (counter; `topic`).
pub const REDRIVEN: &str = "rustok_iggy_redriven_total";
/// Poll latency, seconds (histogram; `topic`, `group`).
pub const POLL_DURATION: &str = "rustok_iggy_poll_duration_seconds";
/// Offset commits that failed (counter; `topic`, `group`).
pub const COMMIT_FAILURES: &str = "rustok_iggy_commit_failures_total";
/// Records between a group's position and the partition's end (gauge;
/// `topic`, `group`, `partition`).
pub const LAG: &str = "rustok_iggy_consumer_lag";

/// Requests the Iggy-protocol server (`rustok-iggy serve`) answered
/// (counter; `command`, `result` = `ok` | `error`).
pub const SERVER_REQUESTS: &str = "rustok_iggy_server_requests_total";
/// Time from a request's arrival to its reply, seconds (histogram; `command`).
pub const SERVER_REQUEST_DURATION: &str = "rustok_iggy_server_request_duration_seconds";
/// Messages clients appended through the server (counter).
pub const SERVER_MESSAGES_SENT: &str = "rustok_iggy_server_messages_sent_total";
/// Messages clients polled through the server (counter).
pub const SERVER_MESSAGES_POLLED: &str = "rustok_iggy_server_messages_polled_total";
/// Client connections open now (gauge; `transport` = `tcp` | `quic`).
pub const SERVER_CONNECTIONS: &str = "rustok_iggy_server_connections";
/// Client connections accepted since start (counter; `transport`).
pub const SERVER_CONNECTIONS_OPENED: &str = "rustok_iggy_server_connections_opened_total";

/// Handles for one topic's publish metrics, registered once so the hot path
/// does not allocate label strings.
#[derive(Clone)]
pub(crate) struct PublishMetrics {
    published: Counter,
    duplicates: Counter,
    failures: Counter,
    append_duration: Histogram,
}

impl PublishMetrics {
    pub(crate) fn new(topic: &TopicRef) -> Self {
        let topic = topic.to_string();
        Self {
            published: counter!(PUBLISHED, "topic" => topic.clone()),
            duplicates: counter!(PUBLISH_DUPLICATES, "topic" => topic.clone()),
            failures: counter!(PUBLISH_FAILURES, "topic" => topic.clone()),
            append_duration: histogram!(APPEND_DURATION, "topic" => topic),
        }
    }

    pub(crate) fn appended(&self, ack: &crate::AppendAck, took: Duration) {
        self.published.increment(u64::from(ack.count));
        self.duplicates.increment(ack.duplicates.len() as u64);
        self.append_duration.record(took.as_secs_f64());
    }

    pub(crate) fn failed(&self) {
        self.failures.increment(1);
    }
}

/// Handles for one partition worker's metrics.
#[derive(Clone)]
pub(crate) struct ConsumerMetrics {
    pub(crate) consumed: Counter,
    pub(crate) handler_duration: Histogram,
    pub(crate) retries: Counter,
    pub(crate) dead_lettered: Counter,
    pub(crate) deduplicated: Counter,
    pub(crate) poll_duration: Histogram,
    pub(crate) commit_failures: Counter,
}

impl ConsumerMetrics {
    pub(crate) fn new(topic: &TopicRef, group: &str) -> Self {
        let labels = [("topic", topic.to_string()), ("group", group.to_owned())];
        Self {
            consumed: counter!(CONSUMED, &labels),
            handler_duration: histogram!(HANDLER_DURATION, &labels),
            retries: counter!(RETRIES, &labels),
            dead_lettered: counter!(DEAD_LETTERED, &labels),
            deduplicated: counter!(DEDUPLICATED, &labels),
            poll_duration: histogram!(POLL_DURATION, &labels),
            commit_failures: counter!(COMMIT_FAILURES, &labels),
        }
    }
}

pub(crate) fn redriven(topic: &TopicRef) {
    counter!(REDRIVEN, "topic" => topic.to_string()).increment(1);
}

pub(crate) fn lag(topic: &TopicRef, group: &str, partition: u32, lag: u64) {
    gauge!(
        LAG,
        "topic" => topic.to_string(),
        "group" => group.to_owned(),
        "partition" => partition.to_string()
    )
    .set(lag as f64);
}
