//! `rustok-iggy`: the operator CLI of rustok-iggy.

mod bench;
mod config;
mod demo;
mod dlq;
mod encoded;
mod exit;
mod health;
mod http;
mod import;
mod ops;
mod output;
mod progress;
mod record_line;
mod replay;
mod serve;
mod store;
mod time_arg;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: measured in docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Event streaming over Apache Iggy for RusToK: demo and operations.
#[derive(Debug, Parser)]
#[command(name = "rustok-iggy", version, about, long_about = None)]
struct Cli {
    /// TOML config file (see docs/configuration.md). Without one, defaults apply;
    /// `RUSTOK_IGGY__SECTION__KEY` environment variables override either.
    #[arg(long, short, global = true, env = "RUSTOK_IGGY_CONFIG")]
    config: Option<PathBuf>,

    /// Print JSON instead of text (every command; errors too, as
    /// `{"error": …}` on stdout).
    #[arg(long, global = true)]
    json: bool,

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
    ///
    /// Example: rustok-iggy bench --fsync never --events 200000 --runs 5
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
    /// With --json, one line per record with every header and the payload
    /// (base64 when not UTF-8), then a summary line: what `import` reads.
    ///
    /// Example: rustok-iggy replay --topic events --from-time 2026-11-26T10:00:00Z --to-group billing
    ///
    /// Example: rustok-iggy replay --topic rustok/events --from-beginning --limit 0 --json > events.jsonl
    Replay(replay::ReplayArgs),
    /// Append the records of `replay --json` to the configured store, each
    /// to the partition it came from, with its event id, headers and payload.
    ///
    /// Example: rustok-iggy --config remote.toml import --file events.jsonl
    Import(import::ImportArgs),
    /// Serve the configured backend over Iggy's binary protocol until
    /// interrupted, so the official SDKs and CLI (and the `remote` backend of
    /// other processes) can use it. Honours IGGY_TCP_ADDRESS, IGGY_SYSTEM_PATH,
    /// IGGY_ROOT_USERNAME and IGGY_ROOT_PASSWORD.
    ///
    /// Example: IGGY_ROOT_PASSWORD=secret rustok-iggy serve --address 0.0.0.0:8090 --username app
    Serve(serve::ServeArgs),
    /// A health probe: the backend, pending dead letters and the lag of the
    /// groups against `[health]`. Exit code 0 healthy, 1 degraded, 2
    /// unhealthy; 64 for a usage or config error.
    ///
    /// Example: rustok-iggy health --json
    Health(health::HealthArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    // A probe reports what failed in its own output; the SDK's connection
    // errors (logged as it retries) would only repeat it.
    let default_filter = match cli.command {
        Command::Health(_) => "error,iggy=off",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Plugins register at link time; these calls make sure their crates are linked.
    rustok_iggy_codecs::link();
    rustok_iggy_embedded::link();
    rustok_iggy_remote::link();
    rustok_iggy_memory::link();

    let json = cli.json;
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
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            report_error(&e, json);
            exit::for_error(&e)
        }
    }
}

/// A command line clap refused: its message, and `exit::USAGE` (clap's own
/// code, 2, would read as "unhealthy" to a `health` probe). Help and
/// version are not errors.
fn usage_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if std::env::args().any(|a| a == "--json") {
        println!(
            "{}",
            serde_json::json!({ "status": "error", "error": e.kind().to_string(), "usage": e.to_string() })
        );
    } else {
        let _ = e.print();
    }
    ExitCode::from(exit::USAGE)
}

/// Prints a failed command's error: text on stderr, or with `--json` a
/// JSON object on stdout (where a script reads).
fn report_error(e: &rustok_iggy::Error, json: bool) {
    let hint = (e.kind() == rustok_iggy::ErrorKind::Config)
        .then_some("see docs/configuration.md for every key and its valid values");
    if json {
        println!(
            "{}",
            serde_json::json!({
                "status": "error",
                "error": e.to_string(),
                "kind": e.kind().to_string(),
                "key": e.context("key"),
                "hint": hint,
            })
        );
    } else {
        eprintln!("error: {e}");
        if let Some(hint) = hint {
            eprintln!("hint: {hint}");
        }
    }
}

async fn run(cli: Cli) -> rustok_iggy::Result<ExitCode> {
    let config = config::load(cli.config.as_deref())?;
    let json = cli.json;
    match cli.command {
        Command::Demo(args) => demo::run(&config, args, json).await,
        Command::Serve(args) => serve::run(&config, args, json).await,
        Command::Bench(args) => bench::run(&config, args, json).await,
        Command::Topology(args) => ops::topology(&config, args, json).await,
        Command::Lag(args) => ops::lag(&config, args, json).await,
        Command::Dlq(command) => dlq::run(&config, command, json).await,
        Command::Replay(args) => replay::run(&config, args, json).await,
        Command::Import(args) => import::run(&config, args, json).await,
        Command::Health(args) => health::run(&config, args, json).await,
    }
}
