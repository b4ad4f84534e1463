//! Options of `bench`.

use clap::{Args, ValueEnum};
use rustok_iggy::{Error, Result, TransportConfig};
use rustok_iggy_embedded::{EmbeddedConfig, FsyncPolicy};
use serde::Serialize;

/// The backends `bench` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// The embedded durable log, in a temporary directory.
    Embedded,
    /// The in-memory backend (no baseline).
    Memory,
    /// An Iggy server: `[plugins.remote] url`, or the in-process one of `--serve`.
    Remote,
}

impl BackendKind {
    /// The kind of a configured backend name.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "embedded" => Ok(Self::Embedded),
            "memory" => Ok(Self::Memory),
            "remote" => Ok(Self::Remote),
            other => Err(Error::config(
                "backend",
                format!("`bench` measures embedded, memory or remote, not `{other}`"),
            )),
        }
    }

    /// Its config name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Memory => "memory",
            Self::Remote => "remote",
        }
    }
}

/// `fsync` of the embedded log (and of the plain-file baseline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// Every append is fsynced before it is acknowledged.
    Always,
    /// Group commit every `fsync_interval_ms`.
    Interval,
    /// Never: the page cache only.
    Never,
}

impl Fsync {
    /// Its config value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Interval => "interval",
            Self::Never => "never",
        }
    }
}

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Backend to measure (default: the config's `backend`). Embedded and
    /// `--serve` write to a temporary directory, never to a configured one.
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// With `--backend remote`: start an in-process Iggy-protocol server over
    /// the embedded log on a free loopback port instead of using
    /// `[plugins.remote] url`, so no broker is needed.
    #[arg(long)]
    pub serve: bool,
    /// Codec to publish with (default: the config's `codec`).
    #[arg(long)]
    pub codec: Option<String>,
    /// Size of each event's body, in bytes (the encoded message is a little
    /// larger: field names, timestamp, headers).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=16_777_216))]
    pub payload_bytes: u64,
    /// Events per `publish_batch` (and per baseline write).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch: u64,
    /// Events per throughput workload.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
    /// Concurrent publishing tasks, sharing the events.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_024))]
    pub producers: u64,
    /// Members of the consuming group.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_024))]
    pub consumers: u64,
    /// Fsync policy of the embedded log and of the plain-file baseline
    /// (default: the config's `plugins.embedded.fsync`, itself `interval`
    /// by default).
    #[arg(long = "fsync", value_enum)]
    fsync_flag: Option<Fsync>,
    /// The policy measured: `--fsync`, else the config's (set by
    /// [`BenchArgs::resolve`]).
    #[arg(skip = Fsync::Interval)]
    pub fsync: Fsync,
    /// Events of the latency workload, published one at a time.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub latency_events: u64,
    /// Events per second the latency workload publishes at.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub latency_rate: u64,
    /// Times to run the whole measurement, each on a fresh log (and server,
    /// and topics); the report gives the median of each figure, each ratio
    /// the median of the runs' own ratios, and the range of events/s. On a
    /// shared or virtual machine a single run can be off by a third.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Print one JSON document instead of a table (the global `--json`).
    #[arg(skip)]
    pub json: bool,
}

impl BenchArgs {
    /// Fills in what comes from outside the command's flags: `--json`, and
    /// the fsync policy of the config when `--fsync` is not given.
    pub fn resolve(&mut self, config: &TransportConfig, json: bool) -> Result<()> {
        self.json = json;
        self.fsync = match self.fsync_flag {
            Some(fsync) => fsync,
            None => match EmbeddedConfig::from_plugin_config(&config.plugin("embedded"))?.fsync {
                FsyncPolicy::Always => Fsync::Always,
                FsyncPolicy::Interval => Fsync::Interval,
                FsyncPolicy::Never => Fsync::Never,
            },
        };
        Ok(())
    }

    /// Refuses combinations clap cannot express.
    pub fn check(&self, backend: BackendKind) -> Result<()> {
        if self.serve && backend != BackendKind::Remote {
            return Err(Error::config("--serve", "only applies to --backend remote"));
        }
        Ok(())
    }
}
