//! The `[plugins.embedded]` config section.

use std::{path::PathBuf, time::Duration};

use rustok_iggy::{config::PluginConfig, Error, Result};

use crate::dedup::DedupSettings;
use serde::{Deserialize, Serialize};

/// When appended data is fsynced; `fsync = "always" | "interval" | "never"`.
///
/// ```
/// use rustok_iggy_embedded::{EmbeddedConfig, FsyncPolicy};
///
/// // Every acknowledged append survives power loss.
/// let config = EmbeddedConfig::new("/var/lib/app/events").fsync(FsyncPolicy::Always);
/// assert_eq!(config.fsync, FsyncPolicy::Always);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// An append is acknowledged only after `fdatasync` of its segment
    /// (concurrent appends share one). Survives power loss; slowest.
    Always,
    /// Appends are acknowledged once written to the page cache; a group
    /// commit fsyncs every partition with unsynced data, starting as soon as
    /// the previous one ended (no fixed wait; nothing runs while idle).
    /// Consumers only ever see fsynced data, so nothing a consumer handled can
    /// vanish in a crash; they see a record one fsync after it was written,
    /// which a fixed period would delay. A power loss may drop acknowledged
    /// appends that were not fsynced yet: `fsync_interval_ms` bounds their
    /// age, since past it appends wait for their own fsync.
    Interval,
    /// Never fsyncs: data is in the page cache and survives a process crash,
    /// not an OS crash or power loss. How Iggy servers run by default.
    Never,
}

/// Settings of the embedded backend, from `[plugins.embedded]`.
///
/// Every key is optional; unknown keys are errors.
///
/// ```
/// use rustok_iggy::TransportConfig;
/// use rustok_iggy_embedded::{EmbeddedConfig, FsyncPolicy};
///
/// let config = TransportConfig::from_toml(r#"
///     backend = "embedded"
///     [plugins.embedded]
///     data_dir = "/var/lib/app/events"
///     fsync = "always"
/// "#).unwrap();
/// let embedded = EmbeddedConfig::from_plugin_config(&config.plugin("embedded")).unwrap();
/// assert_eq!(embedded.fsync, FsyncPolicy::Always);
///
/// let bad = TransportConfig::from_toml("[plugins.embedded]\nfsync = \"sometimes\"").unwrap();
/// let err = EmbeddedConfig::from_plugin_config(&bad.plugin("embedded")).unwrap_err();
/// assert!(err.to_string().contains("always"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Directory holding the log, offsets and DLQ index. Default
    /// `./data/rustok-iggy`, relative to the working directory; one process
    /// at a time may open it.
    pub data_dir: PathBuf,
    /// Durability policy: `always`, `interval` (default) or `never`.
    pub fsync: FsyncPolicy,
    /// Under `fsync = "interval"`, in ms (default 50): how old acknowledged
    /// but unsynced data may get. The group commit does not wait for it (it
    /// fsyncs as soon as the previous fsync ended); it matters when the disk
    /// falls behind, where appends then wait for their own fsync, as under
    /// `always`, instead of piling up unsynced data.
    pub fsync_interval_ms: u64,
    /// A partition starts a new segment file once the active one holds this
    /// many bytes (default 128 MiB, at least 4 KiB). Retention deletes whole
    /// segments, so this is also its granularity.
    pub segment_bytes: u64,
    /// Sealed segments whose newest record is older than this many seconds
    /// are deleted. Default: none (keep forever).
    pub retention_max_age_secs: Option<u64>,
    /// Oldest sealed segments are deleted while a partition holds more than
    /// this many bytes. Default: none (no limit).
    pub retention_max_bytes: Option<u64>,
    /// How often retention runs, in seconds (default 60; it also runs after
    /// every segment roll).
    pub retention_check_secs: u64,
    /// Bytes of records between two sparse index entries (default 4096):
    /// a lookup scans at most this much.
    pub index_interval_bytes: u64,
    /// Deduplicate appends by message id (the event id) against the ids of
    /// each partition's newest this many records (default 0: off). A
    /// message whose id is there is not appended again; its publish gets
    /// the stored copy's receipt. Like Apache Iggy's
    /// `message_deduplication.max_entries`.
    pub dedup_window: u64,
    /// With `dedup_window`: also forget ids of records older than this many
    /// seconds (default: none, only the count limits). Like Iggy's
    /// `message_deduplication.expiry`.
    pub dedup_max_age_secs: Option<u64>,
}

/// Where data goes when `data_dir` is not set.
pub const DEFAULT_DATA_DIR: &str = "./data/rustok-iggy";
/// Smallest accepted `segment_bytes`.
pub const MIN_SEGMENT_BYTES: u64 = 4096;
/// Largest accepted `dedup_window`: each remembered id costs about 80 bytes
/// of memory per partition, and the window is read back at open.
pub const MAX_DEDUP_WINDOW: u64 = 10_000_000;

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            fsync: FsyncPolicy::Interval,
            fsync_interval_ms: 50,
            segment_bytes: 128 << 20,
            retention_max_age_secs: None,
            retention_max_bytes: None,
            retention_check_secs: 60,
            index_interval_bytes: 4096,
            dedup_window: 0,
            dedup_max_age_secs: None,
        }
    }
}

impl EmbeddedConfig {
    /// Settings with `data_dir` and defaults for everything else.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Sets the durability policy.
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }

    /// Parses and validates a `[plugins.embedded]` section.
    pub fn from_plugin_config(section: &PluginConfig) -> Result<Self> {
        let config: Self = section.parse()?;
        config.validate(section.key())?;
        Ok(config)
    }

    /// Checks values serde cannot; errors name `prefix.key` and the valid range.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let key = |name: &str| {
            if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            }
        };
        if self.data_dir.as_os_str().is_empty() {
            return Err(Error::config(key("data_dir"), "must not be empty"));
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval_ms == 0 {
            return Err(Error::config(
                key("fsync_interval_ms"),
                "must be at least 1 with fsync = \"interval\" (or use fsync = \"always\")",
            ));
        }
        if self.segment_bytes < MIN_SEGMENT_BYTES {
            return Err(Error::config(
                key("segment_bytes"),
                format!("must be at least {MIN_SEGMENT_BYTES}"),
            ));
        }
        if self.index_interval_bytes == 0 {
            return Err(Error::config(
                key("index_interval_bytes"),
                "must be at least 1",
            ));
        }
        if self.retention_check_secs == 0 {
            return Err(Error::config(
                key("retention_check_secs"),
                "must be at least 1",
            ));
        }
        if self.dedup_window > MAX_DEDUP_WINDOW {
            return Err(Error::config(
                key("dedup_window"),
                format!("must be at most {MAX_DEDUP_WINDOW} (0 turns deduplication off)"),
            ));
        }
        if self.dedup_max_age_secs == Some(0) {
            return Err(Error::config(
                key("dedup_max_age_secs"),
                "must be at least 1 (leave it out to limit by dedup_window only)",
            ));
        }
        if self.dedup_max_age_secs.is_some() && self.dedup_window == 0 {
            return Err(Error::config(
                key("dedup_max_age_secs"),
                "needs dedup_window (the number of ids to remember per partition)",
            ));
        }
        if self.retention_max_age_secs == Some(0) {
            return Err(Error::config(
                key("retention_max_age_secs"),
                "must be at least 1 (leave it out to keep data forever)",
            ));
        }
        Ok(())
    }

    pub(crate) fn dedup(&self) -> DedupSettings {
        DedupSettings {
            // At most MAX_DEDUP_WINDOW (validated).
            window: self.dedup_window as usize,
            max_age_micros: self.dedup_max_age_secs.map(|s| s.saturating_mul(1_000_000)),
        }
    }

    pub(crate) fn fsync_interval(&self) -> Duration {
        Duration::from_millis(self.fsync_interval_ms)
    }

    /// Whether anything is ever fsynced.
    pub(crate) fn durable(&self) -> bool {
        self.fsync != FsyncPolicy::Never
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustok_iggy::{ErrorKind, TransportConfig};

    fn parse(text: &str) -> Result<EmbeddedConfig> {
        let config = TransportConfig::from_toml(&format!("[plugins.embedded]\n{text}"))?;
        EmbeddedConfig::from_plugin_config(&config.plugin("embedded"))
    }

    #[test]
    fn defaults_and_overrides() {
        let c = parse("").unwrap();
        assert_eq!(c, EmbeddedConfig::default());
        assert_eq!(c.data_dir, PathBuf::from("./data/rustok-iggy"));
        let c =
            parse("fsync = \"never\"\nsegment_bytes = 8192\nretention_max_bytes = 100000").unwrap();
        assert_eq!(c.fsync, FsyncPolicy::Never);
        assert_eq!(c.segment_bytes, 8192);
        assert_eq!(c.retention_max_bytes, Some(100_000));
    }

    #[test]
    fn invalid_values_name_the_key_and_valid_values() {
        let err = parse("fsync = \"sometimes\"").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.context("key"), Some("plugins.embedded.fsync"));
        for valid in ["always", "interval", "never"] {
            assert!(err.to_string().contains(valid), "{err}");
        }
        let err = parse("segment_bytes = 10").unwrap_err();
        assert_eq!(err.context("key"), Some("plugins.embedded.segment_bytes"));
        let err = parse("fsync_interval_ms = 0").unwrap_err();
        assert_eq!(
            err.context("key"),
            Some("plugins.embedded.fsync_interval_ms")
        );
        let err = parse("data_dri = \"x\"").unwrap_err();
        assert!(err.to_string().contains("data_dir"), "{err}");
        let err = parse("segment_bytes = -1").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let err = parse("dedup_max_age_secs = 60").unwrap_err();
        assert_eq!(
            err.context("key"),
            Some("plugins.embedded.dedup_max_age_secs")
        );
        let err = parse("dedup_window = 10000001").unwrap_err();
        assert_eq!(err.context("key"), Some("plugins.embedded.dedup_window"));
        let c = parse("dedup_window = 10000\ndedup_max_age_secs = 3600").unwrap();
        assert_eq!(
            (c.dedup_window, c.dedup_max_age_secs),
            (10_000, Some(3_600))
        );
    }
}
