//! Where a benchmark runs: the transport config for the chosen backend, in a
//! place of its own (a temporary data directory, a dedicated stream and
//! topics), and the in-process server of `--serve`.

use std::net::{Ipv4Addr, SocketAddr};

use rustok_iggy::{
    config::Secret, Error, ErrorKind, Result, RouteRule, RoutingConfig, TransportConfig,
};
use rustok_iggy_remote::RemoteConfig;
use rustok_iggy_server::RunningServer;

use super::args::{BackendKind, BenchArgs, Fsync};

/// Stream every benchmark topic lives in, away from application streams.
pub const STREAM: &str = "rustok-bench";
/// Event type of the latency workload; routed to a topic of its own so that
/// its group does not first consume the throughput workloads' backlog.
pub const LATENCY_EVENT: &str = "bench.latency";
/// Event type of the throughput workloads.
pub const EVENT: &str = "bench.event";

/// A ready place to benchmark in; dropping it deletes its temporary data.
pub struct Target {
    /// Config of the transport under test.
    pub config: TransportConfig,
    /// The backend's name.
    pub backend: BackendKind,
    /// Topic of the publish and consume workloads.
    pub topic: String,
    /// Topic of the latency workload.
    pub latency_topic: String,
    /// Topic the raw-SDK baseline writes to (remote only).
    pub raw_topic: String,
    /// Where the plain-file baseline writes (embedded only).
    pub scratch: tempfile::TempDir,
    /// The in-process server of `--serve`, stopped by [`Target::close`].
    server: Option<RunningServer>,
    /// The remote backend's settings, for the raw-SDK baseline.
    pub remote: Option<RemoteConfig>,
}

impl Target {
    /// Topic the raw `Backend::append` baseline writes to.
    pub fn append_topic(&self) -> String {
        format!("{}-append", self.topic)
    }

    /// Prepares the backend `args` ask for, starting the in-process server
    /// for `--backend remote --serve`.
    pub async fn open(config: &TransportConfig, args: &BenchArgs) -> Result<Self> {
        let scratch = tempfile::Builder::new()
            .prefix("rustok-iggy-bench-")
            .tempdir()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    "cannot create a temporary directory for the benchmark",
                )
                .with_source(e)
            })?;
        // Unique names, so a run against a shared server never meets an
        // earlier run's data.
        let run = uuid::Uuid::now_v7().simple().to_string();
        let topic = format!("b{}", &run[run.len() - 12..]);
        let mut config = config.clone();
        config.stream = STREAM.to_owned();
        config.offsets = None;
        config.dlq = None;
        if let Some(codec) = &args.codec {
            config.codec = codec.clone();
        }
        config.routing = RoutingConfig {
            default_topic: topic.clone(),
            partitions: config.routing.partitions,
            rules: vec![RouteRule {
                prefix: LATENCY_EVENT.to_owned(),
                topic: format!("{topic}-latency"),
                partitions: None,
            }],
        };
        let backend = match args.backend {
            Some(backend) => backend,
            None => BackendKind::from_name(&config.backend)?,
        };
        args.check(backend)?;
        let mut server = None;
        let mut remote = None;
        match backend {
            BackendKind::Memory => config.backend = "memory".to_owned(),
            BackendKind::Embedded => {
                config = with_embedded_log(config, &scratch, args.fsync)?;
            }
            BackendKind::Remote => {
                let mut remote_config: RemoteConfig = config.plugin("remote").parse()?;
                if args.serve {
                    let served = with_embedded_log(config.clone(), &scratch, args.fsync)?;
                    let password = uuid::Uuid::now_v7().simple().to_string();
                    let (running, _transport) = crate::serve::start(
                        &served,
                        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                        Some(("bench".to_owned(), Secret::new(password.clone()))),
                    )
                    .await?;
                    remote_config.url =
                        format!("iggy+tcp://bench:{password}@{}", running.local_addr());
                    remote_config.username = None;
                    remote_config.password = None;
                    server = Some(running);
                }
                let mut table = config.plugin("remote").table().clone();
                table.insert("url".into(), toml::Value::String(remote_config.url.clone()));
                if args.serve {
                    table.remove("username");
                    table.remove("password");
                }
                config.plugins.insert("remote", table);
                config.backend = "remote".to_owned();
                remote = Some(remote_config);
            }
        }
        Ok(Self {
            config,
            backend,
            latency_topic: format!("{topic}-latency"),
            raw_topic: format!("{topic}-raw"),
            topic,
            scratch,
            server,
            remote,
        })
    }

    /// Where the served backend listens, for `--serve`.
    pub fn served_at(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(RunningServer::local_addr)
    }

    /// Stops the in-process server (flushing and closing its log).
    pub async fn close(self) -> Result<()> {
        if let Some(server) = self.server {
            server
                .shutdown()
                .await
                .map_err(|e| Error::new(ErrorKind::Backend, format!("shutdown failed: {e}")))?;
        }
        Ok(())
    }
}

/// `config` on the embedded log in `<scratch>/log`, with `fsync`; other
/// `[plugins.embedded]` keys are kept.
fn with_embedded_log(
    mut config: TransportConfig,
    scratch: &tempfile::TempDir,
    fsync: Fsync,
) -> Result<TransportConfig> {
    let mut table = config.plugin("embedded").table().clone();
    let dir = scratch.path().join("log");
    table.insert(
        "data_dir".into(),
        toml::Value::String(dir.display().to_string()),
    );
    table.insert("fsync".into(), toml::Value::String(fsync.name().to_owned()));
    config.plugins.insert("embedded", table);
    config.backend = "embedded".to_owned();
    // Checked here so a bad key is reported before any workload starts.
    rustok_iggy_embedded::EmbeddedConfig::from_plugin_config(&config.plugin("embedded"))?;
    Ok(config)
}
