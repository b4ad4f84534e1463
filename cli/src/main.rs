//! `rustok-iggy`: the operator CLI of rustok-iggy.

mod demo;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use rustok_iggy::TransportConfig;

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
    /// Publish events, consume them in a three-member group, print a summary.
    ///
    /// Example: rustok-iggy demo --events 5000
    Demo(demo::DemoArgs),
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
    rustok_iggy_testkit::link();

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
    let result = runtime.block_on(async {
        let config = TransportConfig::load(cli.config.as_deref())?;
        match cli.command {
            Command::Demo(args) => demo::run(&config, args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
