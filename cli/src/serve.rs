//! `serve`: the backend of the config (the embedded log by default) behind an
//! Iggy binary-protocol listener, until SIGINT or SIGTERM.
//!
//! It honours the Iggy server's own environment variables, so it can stand in
//! wherever an `iggy-server` is expected: `IGGY_TCP_ADDRESS`,
//! `IGGY_SYSTEM_PATH` (the embedded data directory), `IGGY_ROOT_USERNAME`,
//! `IGGY_ROOT_PASSWORD`. TLS and QUIC have options of their own
//! (`--tls-cert-file`, `--tls-key-file`, `--quic-address`).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::Args;
use rustok_iggy::{config::Secret, Error, ErrorKind, Result, Transport, TransportConfig};
use rustok_iggy_server::{RunningServer, Server, TlsConfig};
use serde::Serialize;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, `host:port` (a name such as `localhost:8090`
    /// is resolved; its first address is used). Loopback by default; any
    /// other address needs credentials.
    #[arg(long, env = "IGGY_TCP_ADDRESS", default_value = "127.0.0.1:8090")]
    address: String,
    /// Data directory of the embedded backend (overrides
    /// `plugins.embedded.data_dir`).
    #[arg(long, env = "IGGY_SYSTEM_PATH")]
    data_dir: Option<PathBuf>,
    /// The root user's name. Like Apache Iggy's, it and the password create
    /// the root user at the first start only; the users (with their hashed
    /// passwords and tokens) are kept in `iggy-users.json` in the data
    /// directory, and a root password changed through the API stays changed.
    #[arg(long, env = "IGGY_ROOT_USERNAME")]
    username: Option<String>,
    /// Its password. Prefer the environment variable: a flag shows in `ps`.
    #[arg(long, env = "IGGY_ROOT_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Also serve `GET /metrics` (Prometheus) and `GET /health` (JSON; 503 when
    /// unhealthy) on this address.
    #[arg(long, env = "RUSTOK_IGGY_HTTP_ADDRESS")]
    http_address: Option<SocketAddr>,
    /// Serve TLS on the TCP address with this certificate chain (PEM);
    /// needs `--tls-key-file`.
    #[arg(long, env = "RUSTOK_IGGY_TLS_CERT_FILE")]
    tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert-file`.
    #[arg(long, env = "RUSTOK_IGGY_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,
    /// Also serve the SDK's QUIC transport on this UDP address, with the
    /// `--tls-cert-file` certificate (required).
    #[arg(long, env = "RUSTOK_IGGY_QUIC_ADDRESS")]
    quic_address: Option<SocketAddr>,
}

/// The encrypted listeners of [`start_with`]: TLS on the TCP address, QUIC.
#[derive(Debug, Clone, Default)]
pub struct Encryption {
    /// Certificate and key; the TCP listener then speaks TLS only.
    pub tls: Option<TlsConfig>,
    /// The QUIC listener's UDP address (needs `tls`).
    pub quic: Option<SocketAddr>,
}

impl Encryption {
    /// From the flags; errors name the flag (and its variable) that is
    /// missing.
    fn from_args(args: &ServeArgs) -> Result<Self> {
        let tls = match (&args.tls_cert_file, &args.tls_key_file) {
            (Some(cert), Some(key)) => Some(TlsConfig::new(cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::config(
                    "--tls-key-file (RUSTOK_IGGY_TLS_KEY_FILE)",
                    "--tls-cert-file needs its key file",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "--tls-cert-file (RUSTOK_IGGY_TLS_CERT_FILE)",
                    "--tls-key-file needs its certificate file",
                ))
            }
        };
        if args.quic_address.is_some() && tls.is_none() {
            return Err(Error::config(
                "--quic-address (RUSTOK_IGGY_QUIC_ADDRESS)",
                "QUIC needs a certificate: set --tls-cert-file and --tls-key-file",
            ));
        }
        Ok(Self {
            tls,
            quic: args.quic_address,
        })
    }
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

/// What `serve` says once it listens (`--json`: one JSON line).
#[derive(Debug, Serialize)]
struct Listening {
    address: SocketAddr,
    tls: bool,
    quic: Option<SocketAddr>,
    http: Option<SocketAddr>,
    backend: String,
    stream: String,
}

/// Serves until interrupted; shuts down gracefully (connections closed,
/// groups left, the backend flushed and closed).
pub async fn run(config: &TransportConfig, args: ServeArgs, json: bool) -> Result<ExitCode> {
    let config = apply_data_dir(config, &args);
    let encryption = Encryption::from_args(&args)?;
    let address = resolve(&args.address).await?;
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
    // The HTTP port is taken before anything is announced or opened: a
    // busy port fails the start, not a running server later. The recorder
    // must exist before the transport registers its metrics.
    let http = match args.http_address {
        Some(address) => {
            let listener = crate::http::bind(address).await?;
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Unavailable,
                        "cannot install the metrics recorder",
                    )
                    .with_source(e)
                })?;
            Some((listener, recorder))
        }
        None => None,
    };
    let signals = StopSignals::install()?;
    let (server, transport) = start_with(&config, address, credentials, encryption).await?;
    let stop_http = tokio_util::sync::CancellationToken::new();
    let mut http_addr = None;
    if let Some((listener, recorder)) = http {
        http_addr = listener.local_addr().ok();
        tokio::spawn(crate::http::run(
            listener,
            transport.clone(),
            recorder,
            stop_http.clone(),
        ));
    }
    let listening = Listening {
        address: server.local_addr(),
        tls: server.is_tls(),
        quic: server.quic_addr(),
        http: http_addr,
        backend: transport.backend().name().to_owned(),
        stream: config.stream.clone(),
    };
    if json {
        crate::output::print_json_line(&listening)?;
    } else {
        announce(&listening);
    }
    signals.wait().await;
    if !json {
        println!("stopping");
    }
    stop_http.cancel();
    server
        .shutdown()
        .await
        .map_err(|e| Error::new(ErrorKind::Backend, format!("shutdown failed: {e}")))?;
    if json {
        crate::output::print_json_line(&serde_json::json!({ "stopped": true, "synced": true }))?;
    } else {
        println!("stopped; data synced");
    }
    Ok(ExitCode::SUCCESS)
}

fn announce(l: &Listening) {
    let tls = if l.tls { " (TLS)" } else { "" };
    println!("listening on {}{tls}", l.address);
    if let Some(quic) = l.quic {
        println!("quic on {quic}");
    }
    if let Some(http) = l.http {
        println!("http on {http} (/metrics, /health)");
    }
    println!(
        "backend `{}`, stream `{}`; stop with Ctrl-C or SIGTERM",
        l.backend, l.stream
    );
}

/// `host:port` to the first address it resolves to.
async fn resolve(address: &str) -> Result<SocketAddr> {
    let usage = |why: String| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("--address `{address}`: {why}; expected host:port, e.g. 127.0.0.1:8090 or localhost:8090"),
        )
    };
    tokio::net::lookup_host(address)
        .await
        .map_err(|e| usage(e.to_string()))?
        .next()
        .ok_or_else(|| usage("resolves to no address".to_owned()))
}

/// Builds the transport of `config` and serves its backend (and offset
/// store) on `address`; the server shuts the backend down with it. Shared by
/// `serve` and `bench --backend remote --serve`.
pub async fn start(
    config: &TransportConfig,
    address: SocketAddr,
    credentials: Option<(String, Secret)>,
) -> Result<(RunningServer, Transport)> {
    start_with(config, address, credentials, Encryption::default()).await
}

/// [`start`], with TLS and QUIC as `encryption` says.
pub async fn start_with(
    config: &TransportConfig,
    address: SocketAddr,
    credentials: Option<(String, Secret)>,
    encryption: Encryption,
) -> Result<(RunningServer, Transport)> {
    let transport = Transport::from_config(config).await?;
    let mut builder = Server::builder(transport.backend().clone())
        .bind(address)
        .offsets(transport.offset_store().clone())
        .stream(config.stream.clone())
        .snapshot_config(snapshot_config(config))
        .shutdown_backend(true);
    if let Some(dir) = embedded_data_dir(config)? {
        builder = builder
            .catalog_path(dir.join("iggy-catalog.json"))
            .users_path(dir.join("iggy-users.json"))
            .data_dir(dir);
    }
    if let Some((user, password)) = credentials {
        builder = builder.credentials(user, password);
    }
    if let Some(tls) = encryption.tls {
        builder = builder.tls(tls);
    }
    if let Some(quic) = encryption.quic {
        builder = builder.quic(quic);
    }
    let server = builder.start().await.map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("cannot start the listener: {e}"),
        )
    })?;
    Ok((server, transport))
}

/// The configuration as `iggy snapshot` shows it: TOML, every secret `***`
/// (how `TransportConfig` serializes).
fn snapshot_config(config: &TransportConfig) -> String {
    match toml::to_string_pretty(config) {
        Ok(text) => format!("rustok-iggy configuration:\n{text}"),
        Err(error) => format!("rustok-iggy configuration: cannot be shown ({error})"),
    }
}

/// The embedded backend's data directory, when the backend is embedded.
fn embedded_data_dir(config: &TransportConfig) -> Result<Option<PathBuf>> {
    if config.backend != "embedded" {
        return Ok(None);
    }
    let embedded: rustok_iggy_embedded::EmbeddedConfig = config.plugin("embedded").parse()?;
    Ok(Some(embedded.data_dir))
}

/// SIGINT and SIGTERM listeners, installed before the server announces
/// itself: a supervisor that stops it as soon as it reads the announcement
/// gets a graceful stop, not the default action of the signal.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn install() -> Result<Self> {
        let listen = |kind: SignalKind| {
            signal(kind).map_err(|e| {
                Error::new(ErrorKind::Unavailable, "cannot listen for signals").with_source(e)
            })
        };
        Ok(Self {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
