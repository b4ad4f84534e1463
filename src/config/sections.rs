//! The sections of [`TransportConfig`](super::TransportConfig) other than
//! routing and plugins: `[consumer]` (with `[consumer.retry]`), `[health]`
//! and `[limits]`, their defaults and their checks.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Defaults for subscriptions (each can be overridden per subscription).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Records fetched per poll. Also bounds what a crash redelivers: at most
    /// two batches per partition (the one being handled and the one whose
    /// commit was still on its way).
    pub poll_batch: u32,
    /// How long a poll waits for data before returning empty, in ms. Over
    /// a server that answers empty polls at once (Apache Iggy), the longest
    /// pause between them (pauses start at 1 ms and double up to it).
    pub poll_wait_ms: u64,
    /// How often a subscription tells the group which partitions it holds and
    /// learns its assignment, in ms.
    pub heartbeat_ms: u64,
    /// At most this many partitions run handlers at the same time, per
    /// subscription.
    pub max_concurrency: usize,
    /// Pull receivers (`Transport::receiver`): at most this many messages of
    /// one partition are delivered and not yet settled (acked, nacked or
    /// dead-lettered); the partition is not read further until some are.
    /// Also bounds what a crash redelivers per partition.
    pub max_unacked: u32,
    /// Where a group starts on a partition it never committed on.
    pub start_from: StartFrom,
    /// Remember this many recently handled event ids per subscription and skip
    /// a message whose id is among them (0: off). See `docs/delivery.md` for
    /// what this does and does not guarantee.
    pub dedup_window: usize,
    /// How long `Subscription::shutdown` waits for in-flight handlers, in ms.
    pub shutdown_timeout_ms: u64,
    /// How often a subscription reads its partitions' ends for lag, in ms.
    pub lag_probe_ms: u64,
    /// How to read a message that carries none of this transport's headers
    /// (RusToK's own transport writes such messages). Off by default: such a
    /// message goes to the DLQ.
    pub legacy_format: LegacyFormat,
    /// Retry and dead-letter policy.
    pub retry: RetryConfig,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            poll_batch: 256,
            poll_wait_ms: 100,
            heartbeat_ms: 100,
            max_concurrency: 16,
            max_unacked: 1_024,
            start_from: StartFrom::Earliest,
            dedup_window: 0,
            shutdown_timeout_ms: 30_000,
            lag_probe_ms: 1_000,
            legacy_format: LegacyFormat::None,
            retry: RetryConfig::default(),
        }
    }
}

impl ConsumerConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.poll_batch == 0 {
            return Err(Error::config("consumer.poll_batch", "must be at least 1"));
        }
        if self.heartbeat_ms == 0 {
            return Err(Error::config("consumer.heartbeat_ms", "must be at least 1"));
        }
        if self.lag_probe_ms == 0 {
            return Err(Error::config("consumer.lag_probe_ms", "must be at least 1"));
        }
        if self.max_unacked == 0 {
            return Err(Error::config("consumer.max_unacked", "must be at least 1"));
        }
        if self.max_concurrency == 0 {
            return Err(Error::config(
                "consumer.max_concurrency",
                "must be at least 1",
            ));
        }
        self.retry.validate()
    }
}

/// Thresholds of [`Transport::health`](crate::Transport::health).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// A subscription whose lag on a partition exceeds this is degraded.
    pub max_lag: u64,
    /// A subscription with this many failures in a row (handler, poll, commit,
    /// DLQ) is degraded.
    pub max_consecutive_failures: u64,
    /// The `health` command is degraded when more dead letters than this are
    /// pending (not yet redriven): each one is an event no handler accepted,
    /// waiting for an operator. Default 0.
    pub max_dlq_pending: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            max_lag: 10_000,
            max_consecutive_failures: 10,
            max_dlq_pending: 0,
        }
    }
}

/// Size limits on published events (`[limits]`).
///
/// An event is refused at publish, before anything is appended, when its
/// encoded payload plus its headers exceed `max_event_bytes`: a clear error
/// at the producer instead of a backend refusing it (or a consumer choking on
/// it) later.
///
/// ```
/// use rustok_iggy::{LimitsConfig, TransportConfig};
///
/// let config = TransportConfig::from_toml("[limits]\nmax_event_bytes = 4096").unwrap();
/// assert_eq!(config.limits.max_event_bytes, 4096);
/// assert_eq!(LimitsConfig::default().max_event_bytes, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest event accepted by `publish`, in bytes of encoded payload plus
    /// header keys and values. At most [`LimitsConfig::MAX_EVENT_BYTES`].
    pub max_event_bytes: usize,
}

impl LimitsConfig {
    /// The highest `max_event_bytes` accepted: Iggy's largest message payload
    /// (64,000,000 bytes), which is also below the embedded backend's 64 MiB
    /// record limit, so an event under the limit fits every backend.
    pub const MAX_EVENT_BYTES: usize = 64_000_000;

    /// The config key of the limit, named in errors.
    pub const MAX_EVENT_BYTES_KEY: &'static str = "limits.max_event_bytes";

    pub(crate) fn validate(&self) -> Result<()> {
        if !(1..=Self::MAX_EVENT_BYTES).contains(&self.max_event_bytes) {
            return Err(Error::config(
                Self::MAX_EVENT_BYTES_KEY,
                format!(
                    "must be between 1 and {} bytes, got {}",
                    Self::MAX_EVENT_BYTES,
                    self.max_event_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_event_bytes: 1 << 20,
        }
    }
}

/// Where a new group starts reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The oldest stored record.
    Earliest,
    /// Only records appended after the group first polls.
    Latest,
}

/// How a subscription reads a message without this transport's headers
/// (`consumer.legacy_format`).
///
/// RusToK's own Iggy transport writes its whole envelope as the payload, in
/// JSON or in MessagePack with named fields, and no headers. A consumer of
/// this crate pointed at RusToK's existing topics reads those messages with
/// one of the `Rustok*` values; a message that carries any of this
/// transport's headers is always read by its headers, whatever this says.
/// See `docs/migration-from-rustok.md`.
///
/// ```
/// use rustok_iggy::{ConsumerConfig, LegacyFormat, SubscriptionOptions, TransportConfig};
///
/// let config = TransportConfig::from_toml("[consumer]\nlegacy_format = \"rustok-auto\"").unwrap();
/// assert_eq!(config.consumer.legacy_format, LegacyFormat::RustokAuto);
///
/// // Or for one subscription only:
/// let options = SubscriptionOptions::new("billing", ["domain"]).consumer(ConsumerConfig {
///     legacy_format: LegacyFormat::RustokJson,
///     ..ConsumerConfig::default()
/// });
/// # let _ = options;
///
/// let err = TransportConfig::from_toml("[consumer]\nlegacy_format = \"rustok\"").unwrap_err();
/// assert_eq!(err.context("key"), Some("consumer.legacy_format"));
/// assert!(err.to_string().contains("`rustok-msgpack`"), "{err}");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LegacyFormat {
    /// Not read: a message without this transport's headers is poison and
    /// goes to the DLQ (the default).
    #[default]
    None,
    /// RusToK's envelope as JSON (RusToK's `serialization = "json"`).
    RustokJson,
    /// RusToK's envelope as MessagePack with named fields (RusToK's
    /// `serialization = "messagepack"`).
    RustokMsgpack,
    /// Either of the two, told apart by the payload's first byte (`{` after
    /// any whitespace is JSON, which can never start a MessagePack map), for
    /// topics RusToK wrote in both formats.
    RustokAuto,
}

/// How a subscription treats a failing handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts before a message goes to the DLQ (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry, in ms.
    pub initial_backoff_ms: u64,
    /// Longest delay between retries, in ms.
    pub max_backoff_ms: u64,
    /// Each delay is the previous one times this.
    pub multiplier: f64,
    /// Fraction of each delay replaced by randomness (0 to 1), so consumers that
    /// failed together do not retry together.
    pub jitter: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 10_000,
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl RetryConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::config(
                "consumer.retry.max_attempts",
                "must be at least 1",
            ));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(Error::config(
                "consumer.retry.multiplier",
                "must be a number of at least 1.0",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::config(
                "consumer.retry.jitter",
                "must be between 0.0 and 1.0",
            ));
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            return Err(Error::config(
                "consumer.retry.initial_backoff_ms",
                "must not exceed consumer.retry.max_backoff_ms",
            ));
        }
        Ok(())
    }
}
