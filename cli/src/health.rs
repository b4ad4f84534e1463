//! `health`: a probe for scripts and containers. Exit 0 healthy, 1
//! degraded, 2 unhealthy, and nothing else for a probe result
//! (`exit::USAGE` is for a bad flag or config); with `--json`, a JSON report
//! whatever happens.

use std::{process::ExitCode, time::Duration};

use clap::Args;
use rustok_iggy::{HealthStatus, Result, TransportConfig};
use rustok_iggy_remote::{Endpoints, RemoteConfig, TransportProtocol};
use serde::Serialize;

use crate::{
    exit,
    ops::{lag_of_groups, LagRow},
    output::print_json,
    store::Store,
};

/// Options of `health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Check the lag of these groups (each must have committed offsets).
    /// Default: every group with committed offsets, where the offset store
    /// can list them (embedded); none otherwise.
    #[arg(long, short)]
    group: Vec<String>,
}

/// What the probe found.
#[derive(Debug, Serialize)]
pub struct Probe {
    /// `healthy`, `degraded` or `unhealthy`.
    status: &'static str,
    /// Why it is not healthy.
    reasons: Vec<String>,
    /// What the backend says of itself (absent when it could not be opened).
    backend: Option<HealthStatus>,
    dlq_pending: Option<u64>,
    /// Lag of the groups checked, per partition.
    groups: Vec<LagRow>,
}

impl Probe {
    fn of(status: HealthStatus) -> Self {
        let (name, reasons) = match status {
            HealthStatus::Healthy => ("healthy", Vec::new()),
            HealthStatus::Degraded(r) => ("degraded", r),
            HealthStatus::Unhealthy(r) => ("unhealthy", r),
        };
        Self {
            status: name,
            reasons,
            backend: None,
            dlq_pending: None,
            groups: Vec::new(),
        }
    }

    /// 0 healthy, 1 degraded, 2 unhealthy.
    fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self.status {
            "healthy" => exit::OK,
            "degraded" => exit::FAILED,
            _ => exit::UNHEALTHY,
        })
    }

    /// Prints the report (JSON or text) and gives its exit code.
    pub fn report(&self, json: bool) -> Result<ExitCode> {
        if json {
            print_json(self)?;
        } else if self.reasons.is_empty() {
            println!("{}", self.status);
        } else {
            println!("{}: {}", self.status, self.reasons.join("; "));
        }
        if !json {
            if let Some(pending) = self.dlq_pending {
                println!("dead letters pending: {pending}");
            }
        }
        Ok(self.exit_code())
    }
}

/// Runs the probe. `Err` only for usage and config errors (the caller
/// exits with `exit::USAGE`); everything else is a probe result.
pub async fn run(config: &TransportConfig, args: HealthArgs, json: bool) -> Result<ExitCode> {
    let config = quick_fail(config);
    let store = match Store::open(&config).await {
        Ok(store) => store,
        Err(e) if exit::is_usage(&e) => return Err(e),
        Err(e) => {
            let mut reasons = vec![e.to_string()];
            reasons.extend(unreachable_addresses(&config).await);
            return Probe::of(HealthStatus::Unhealthy(reasons)).report(json);
        }
    };
    let probe = probe(&store, &config, &args).await;
    if let Err(e) = store.close().await {
        tracing::warn!(error = %e, "closing the backend after the probe");
    }
    probe.report(json)
}

async fn probe(store: &Store, config: &TransportConfig, args: &HealthArgs) -> Probe {
    let limits = &config.health;
    let report = store.transport.health().await;
    let mut status = report.status;
    if let Some(pending) = report.dlq_pending.filter(|p| *p > limits.max_dlq_pending) {
        status = status.merge(HealthStatus::Degraded(vec![format!(
            "{pending} dead letters pending (health.max_dlq_pending = {})",
            limits.max_dlq_pending
        )]));
    }
    // Without named groups, only those the offset store can list.
    let groups = if args.group.is_empty() && store.groups().is_none() {
        Ok(Vec::new())
    } else {
        lag_of_groups(store, &args.group, None).await
    };
    let groups = match groups {
        Ok(rows) => rows,
        Err(e) => {
            status = status.merge(HealthStatus::Degraded(vec![e.to_string()]));
            Vec::new()
        }
    };
    let lagging: Vec<String> = groups
        .iter()
        .filter(|r| r.lag > limits.max_lag)
        .map(|r| {
            format!(
                "group `{}` lags {} records on {}/{} (health.max_lag = {})",
                r.group, r.lag, r.topic, r.partition, limits.max_lag
            )
        })
        .collect();
    if !lagging.is_empty() {
        status = status.merge(HealthStatus::Degraded(lagging));
    }
    Probe {
        backend: Some(report.backend),
        dlq_pending: report.dlq_pending,
        groups,
        ..Probe::of(status)
    }
}

/// A probe answers now: the remote backend is told not to redial a server
/// that refused the first connection (its default retries for ten seconds).
fn quick_fail(config: &TransportConfig) -> TransportConfig {
    let mut config = config.clone();
    if config.backend == "remote" {
        let mut table = config.plugin("remote").table().clone();
        table.insert("reconnect_retries".into(), toml::Value::Integer(0));
        config.plugins.insert("remote", table);
    }
    config
}

/// Why each TCP address of a remote backend that could not be opened is
/// unreachable, as the operating system says it (`Connection refused`,
/// `No route to host`, a timeout): the SDK's own error only says that no
/// connection was made.
async fn unreachable_addresses(config: &TransportConfig) -> Vec<String> {
    if config.backend != "remote" {
        return Vec::new();
    }
    let Ok(remote) = RemoteConfig::from_plugin_config(&config.plugin("remote")) else {
        return Vec::new();
    };
    let Ok(endpoints) = Endpoints::parse(&remote.url) else {
        return Vec::new();
    };
    if endpoints.transport != TransportProtocol::Tcp {
        return Vec::new();
    }
    let wait = Duration::from_millis(remote.connect_timeout_ms);
    let mut reasons = Vec::new();
    for address in &endpoints.addresses {
        match tokio::time::timeout(wait, tokio::net::TcpStream::connect(address.as_str())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => reasons.push(format!("{address}: {e}")),
            Err(_) => reasons.push(format!(
                "{address}: no answer within {} ms (plugins.remote.connect_timeout_ms)",
                remote.connect_timeout_ms
            )),
        }
    }
    reasons
}
