//! `rustok-iggy`: the operator CLI of rustok-iggy.

mod bench;
mod demo;
mod dlq;
mod http;
mod ops;
mod output;
mod progress;
mod replay;
mod serve;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use rustok_iggy::{Transport, TransportConfig};

/// Event streaming over Apache Iggy for RusToK: demo and operations.
#[derive(Debug, Parser)]
#[command(name = "rustok-iggy", version, about, long_about = None)]
struct Cli {
    /// TOML config file (see docs/configuration.md). Without one, defaults apply;
    /// `RUSTOK_IGGY__SECTION__KEY` environment variables override either.
    #[arg(long, short, global = true, env = "RUSTOK_IGGY_CONFIG")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish events, consume them in a three-member group with failing
    /// handlers, redrive the dead letters, print a summary.
    ///
    /// Example: rustok-iggy demo --events 5000
    Demo(demo::DemoArgs),
    /// Publish and consume throughput, publish-to-handler latency and codec
    /// cost, each next to a baseline measured in the same run (plain file for
    /// the embedded log, raw SDK for remote, bare serde_json/postcard for
    /// codecs). See docs/benchmarks.md.
    ///
    /// Example: rustok-iggy bench --backend embedded --fsync always --payload-bytes 1024 --events 100000
    ///
    /// Example: rustok-iggy bench --backend remote --serve --json
    Bench(bench::BenchArgs),
    /// Streams, topics, partitions, message counts, first and next offsets.
    ///
    /// Example: rustok-iggy --config app.toml topology --json
    Topology(ops::TopologyArgs),
    /// Committed offset, end offset and lag per group and partition.
    ///
    /// Example: rustok-iggy lag --group billing --group audit
    Lag(ops::LagArgs),
    /// Inspect, redrive and purge the dead-letter queue.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Print a topic's records from an offset or a time, or rewind a group there.
    ///
    /// Example: rustok-iggy replay --topic events --from-time 2026-11-26T10:00:00Z --to-group billing
    Replay(replay::ReplayArgs),
    /// Serve the configured backend over Iggy's binary protocol until
    /// interrupted, so the official SDKs and CLI (and the `remote` backend of
    /// other processes) can use it. Honours IGGY_TCP_ADDRESS, IGGY_SYSTEM_PATH,
    /// IGGY_ROOT_USERNAME and IGGY_ROOT_PASSWORD.
    ///
    /// Example: IGGY_ROOT_PASSWORD=secret rustok-iggy serve --address 0.0.0.0:8090 --username app
    Serve(serve::ServeArgs),
    /// The transport's health report. Exit code 0 healthy, 1 degraded,
    /// 2 unhealthy (usable as a container health probe).
    ///
    /// Example: rustok-iggy health --json
    Health(ops::HealthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Plugins register at link time; these calls make sure their crates are linked.
    rustok_iggy_codecs::link();
    rustok_iggy_embedded::link();
    rustok_iggy_remote::link();
    rustok_iggy_memory::link();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            if e.kind() == rustok_iggy::ErrorKind::Config {
                eprintln!("hint: see docs/configuration.md for every key and its valid values");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> rustok_iggy::Result<ExitCode> {
    let config = TransportConfig::load(cli.config.as_deref())?;
    let command = match cli.command {
        Command::Demo(args) => return demo::run(&config, args).await,
        Command::Serve(args) => return serve::run(&config, args).await,
        Command::Bench(args) => return bench::run(&config, args).await,
        command => command,
    };
    let transport = match Transport::from_config(&config).await {
        Ok(transport) => transport,
        // A probe must say "unhealthy", not "usage error", when the backend is down.
        Err(e) if matches!(command, Command::Health(_)) => {
            println!("unhealthy: {e}");
            return Ok(ops::health_exit_code(
                &rustok_iggy::HealthStatus::Unhealthy(vec![e.to_string()]),
            ));
        }
        Err(e) => return Err(e),
    };
    let code = match command {
        Command::Demo(_) | Command::Serve(_) | Command::Bench(_) => ExitCode::SUCCESS,
        Command::Topology(args) => ops::topology(&transport, args).await?,
        Command::Lag(args) => ops::lag(&transport, args).await?,
        Command::Dlq(command) => dlq::run(&transport, command).await?,
        Command::Replay(args) => replay::run(&transport, args).await?,
        Command::Health(args) => ops::health(&transport, args).await?,
    };
    transport.shutdown().await?;
    Ok(code)
}
