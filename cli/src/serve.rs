//! `serve`: the backend of the config (the embedded log by default) behind an
//! Iggy binary-protocol listener, until SIGINT or SIGTERM.
//!
//! It honours the Iggy server's own environment variables, so it can stand in
//! wherever an `iggy-server` is expected: `IGGY_TCP_ADDRESS`,
//! `IGGY_SYSTEM_PATH` (the embedded data directory), `IGGY_ROOT_USERNAME`,
//! `IGGY_ROOT_PASSWORD`.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::Args;
use rustok_iggy::{config::Secret, Error, ErrorKind, Result, Transport, TransportConfig};
use rustok_iggy_embedded::server::{RunningServer, Server};

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Loopback by default; any other address needs
    /// credentials.
    #[arg(long, env = "IGGY_TCP_ADDRESS", default_value = "127.0.0.1:8090")]
    address: SocketAddr,
    /// Data directory of the embedded backend (overrides
    /// `plugins.embedded.data_dir`).
    #[arg(long, env = "IGGY_SYSTEM_PATH")]
    data_dir: Option<PathBuf>,
    /// The user clients log in as.
    #[arg(long, env = "IGGY_ROOT_USERNAME")]
    username: Option<String>,
    /// Its password. Prefer the environment variable: a flag shows in `ps`.
    #[arg(long, env = "IGGY_ROOT_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Also serve `GET /metrics` (Prometheus) and `GET /health` (JSON; 503 when
    /// unhealthy) on this address.
    #[arg(long, env = "RUSTOK_IGGY_HTTP_ADDRESS")]
    http_address: Option<SocketAddr>,
}

/// Applies `--data-dir` to the embedded backend's section.
pub fn apply_data_dir(config: &TransportConfig, args: &ServeArgs) -> TransportConfig {
    let mut config = config.clone();
    if let Some(dir) = &args.data_dir {
        let mut table = config.plugin("embedded").table().clone();
        table.insert(
            "data_dir".into(),
            toml::Value::String(dir.display().to_string()),
        );
        config.plugins.insert("embedded", table);
    }
    config
}

/// Serves until interrupted; shuts down gracefully (connections closed,
/// groups left, the backend flushed and closed).
pub async fn run(config: &TransportConfig, args: ServeArgs) -> Result<ExitCode> {
    let config = apply_data_dir(config, &args);
    // The recorder must exist before the transport registers its metrics.
    let metrics = match args.http_address {
        Some(_) => Some(
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Unavailable,
                        "cannot install the metrics recorder",
                    )
                    .with_source(e)
                })?,
        ),
        None => None,
    };
    let credentials = match (args.username, args.password) {
        (Some(user), Some(password)) => Some((user, Secret::new(password))),
        (None, None) => None,
        _ => {
            return Err(Error::config(
                "IGGY_ROOT_USERNAME",
                "set both the username and the password, or neither",
            ))
        }
    };
    let (server, transport) = start(&config, args.address, credentials).await?;
    println!("listening on {}", server.local_addr());
    let stop_http = tokio_util::sync::CancellationToken::new();
    if let (Some(address), Some(metrics)) = (args.http_address, metrics) {
        let listener = crate::http::bind(address).await?;
        let local = listener.local_addr().map_err(|e| {
            Error::new(ErrorKind::Unavailable, "HTTP listener has no address").with_source(e)
        })?;
        println!("http on {local} (/metrics, /health)");
        tokio::spawn(crate::http::run(
            listener,
            transport.clone(),
            metrics,
            stop_http.clone(),
        ));
    }
    println!(
        "backend `{}`, stream `{}`; stop with Ctrl-C or SIGTERM",
        transport.backend().name(),
        config.stream
    );
    wait_for_signal().await?;
    println!("stopping");
    stop_http.cancel();
    server
        .shutdown()
        .await
        .map_err(|e| Error::new(ErrorKind::Backend, format!("shutdown failed: {e}")))?;
    println!("stopped; data synced");
    Ok(ExitCode::SUCCESS)
}

/// Builds the transport of `config` and serves its backend (and offset
/// store) on `address`; the server shuts the backend down with it. Shared by
/// `serve` and `bench --backend remote --serve`.
pub async fn start(
    config: &TransportConfig,
    address: SocketAddr,
    credentials: Option<(String, Secret)>,
) -> Result<(RunningServer, Transport)> {
    let transport = Transport::from_config(config).await?;
    let mut builder = Server::builder(transport.backend().clone())
        .bind(address)
        .offsets(transport.offset_store().clone())
        .stream(config.stream.clone())
        .shutdown_backend(true);
    if let Some(dir) = embedded_data_dir(config)? {
        builder = builder.catalog_path(dir.join("iggy-catalog.json"));
    }
    if let Some((user, password)) = credentials {
        builder = builder.credentials(user, password);
    }
    let server = builder.start().await.map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("cannot start the listener: {e}"),
        )
    })?;
    Ok((server, transport))
}

/// The embedded backend's data directory, when the backend is embedded.
fn embedded_data_dir(config: &TransportConfig) -> Result<Option<PathBuf>> {
    if config.backend != "embedded" {
        return Ok(None);
    }
    let embedded: rustok_iggy_embedded::EmbeddedConfig = config.plugin("embedded").parse()?;
    Ok(Some(embedded.data_dir))
}

async fn wait_for_signal() -> Result<()> {
    let io = |e: std::io::Error| {
        Error::new(ErrorKind::Unavailable, "cannot listen for signals").with_source(e)
    };
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(io)?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map_err(io),
        _ = terminate.recv() => Ok(()),
    }
}
