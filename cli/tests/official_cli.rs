//! Apache Iggy's own `iggy` CLI (`iggy-cli` 0.14.0, the release of the SDK
//! 0.11.0 line) against `rustok-iggy serve`: it creates a stream, a topic
//! and a consumer group, sends messages, and reads the server's stats.
//!
//! Needs that CLI: `IGGY_CLI=/path/to/iggy`. `.ci/run` installs it
//! (`cargo install iggy-cli --version =0.14.0 --locked`) and runs this test;
//! in a plain `cargo test` it is ignored, where it would fail, not pass,
//! without the CLI.

mod common;

use std::{collections::HashMap, path::PathBuf, process::Command};

use common::Serve;

const USER: &str = "ops";
const PASSWORD: &str = "official-cli-s3cret";

/// The official CLI, from `IGGY_CLI`.
fn iggy_cli() -> PathBuf {
    std::env::var_os("IGGY_CLI").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "set IGGY_CLI to Apache Iggy's `iggy` CLI: cargo install iggy-cli --version =0.14.0 --locked"
        )
    })
}

/// Runs the official CLI against `address` with `args`, logging in with
/// flags, with `home` as its home (it keeps no state there then, but must
/// not read a developer's); its stdout, or a panic showing what it said.
fn iggy(address: &str, home: &std::path::Path, args: &[&str]) -> String {
    run_iggy(address, home, &[&["--quiet"], args].concat())
}

/// [`iggy`] without `--quiet`, for the commands that print nothing with it
/// (`client list`, `client get`).
fn iggy_loud(address: &str, home: &std::path::Path, args: &[&str]) -> String {
    run_iggy(address, home, args)
}

fn run_iggy(address: &str, home: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(iggy_cli())
        .args(["--tcp-server-address", address, "--username", USER])
        .args(["--password", PASSWORD])
        .args(args)
        .env("HOME", home)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "iggy {args:?}: {stdout}\n{stderr}");
    stdout
}

/// `iggy stats -o list`: one `name|value` line per figure.
fn stats(address: &str, home: &std::path::Path) -> HashMap<String, String> {
    iggy(address, home, &["stats", "-o", "list"])
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn number(stats: &HashMap<String, String>, name: &str) -> u64 {
    let value = stats
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` in {stats:?}"));
    value
        .parse()
        .unwrap_or_else(|e| panic!("`{name}` = `{value}`: {e}"))
}

#[test]
#[ignore = "needs Apache Iggy's CLI: IGGY_CLI=/path/to/iggy (.ci/run installs iggy-cli 0.14.0)"]
fn the_official_cli_creates_sends_and_reads_stats() {
    let cli = iggy_cli();
    assert!(cli.is_file(), "IGGY_CLI={} is not a file", cli.display());
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    // One partition for the transport's own topic `rustok/events`, which
    // `serve` creates at start.
    let server = Serve::start(
        &dir.path().join("data"),
        (USER, PASSWORD),
        &[("RUSTOK_IGGY__ROUTING__PARTITIONS", "1")],
    );
    let at = server.address.clone();

    iggy(&at, &home, &["stream", "create", "app"]);
    iggy(
        &at,
        &home,
        &["topic", "create", "app", "orders", "2", "none"],
    );
    iggy(
        &at,
        &home,
        &["consumer-group", "create", "app", "orders", "billing"],
    );
    iggy(
        &at,
        &home,
        &[
            "message",
            "send",
            "--partition-id",
            "1",
            "app",
            "orders",
            "one",
            "two",
            "three",
        ],
    );

    let stats = stats(&at, &home);
    assert_eq!(number(&stats, "Iggy Server PID"), u64::from(server.pid()));
    // `rustok` (the transport's stream, with `events`) and `app`.
    assert_eq!(number(&stats, "Streams Count"), 2, "{stats:?}");
    assert_eq!(number(&stats, "Topics Count"), 2, "{stats:?}");
    assert_eq!(number(&stats, "Partitions Count"), 3, "{stats:?}");
    // The embedded log: one segment file per partition so far.
    assert_eq!(number(&stats, "Segments Count"), 3, "{stats:?}");
    assert_eq!(number(&stats, "Message Count"), 3, "{stats:?}");
    assert!(number(&stats, "Messages Size Bytes") > 0, "{stats:?}");
    assert_eq!(number(&stats, "Consumer Groups Count"), 1, "{stats:?}");
    // This very `iggy stats` connection.
    assert_eq!(number(&stats, "Clients Count"), 1, "{stats:?}");
    assert!(number(&stats, "Iggy Server Memory Usage") > 0, "{stats:?}");
    assert!(number(&stats, "Total Memory (RAM)") > 0, "{stats:?}");
    assert!(number(&stats, "Threads Count") > 0, "{stats:?}");
    assert!(number(&stats, "Total Disk Space") > 0, "{stats:?}");
    assert!(
        number(&stats, "Free Disk Space") <= number(&stats, "Total Disk Space"),
        "{stats:?}"
    );
    for name in ["OS Name", "Kernel Version", "Start Time (UTC)"] {
        assert!(
            stats.get(name).is_some_and(|v| !v.is_empty()),
            "{name}: {stats:?}"
        );
    }

    let json = common::json(&iggy(&at, &home, &["stats", "-o", "json"]));
    let version = json["iggy_server_version"].as_str().unwrap_or_default();
    assert!(version.starts_with("rustok-iggy-server "), "{json}");
    assert_eq!(json["messages_count"], 3, "{json}");

    assert_eq!(server.stop(), 0);
}

#[test]
#[ignore = "needs Apache Iggy's CLI: IGGY_CLI=/path/to/iggy (.ci/run installs iggy-cli 0.14.0)"]
fn the_official_cli_lists_and_gets_clients() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let server = Serve::start(&dir.path().join("data"), (USER, PASSWORD), &[]);
    let at = server.address.clone();
    // A connection that never logs in is listed too, without a user.
    let idle = std::net::TcpStream::connect(&at).unwrap();
    let idle_address = idle.local_addr().unwrap().to_string();

    // `id|user id|address|transport|groups`: the idle connection and the
    // CLI's own, logged in as the root user (id 0).
    let listed = iggy_loud(&at, &home, &["client", "list", "--list-mode", "list"]);
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|line| line.split('|').collect())
        .filter(|row: &Vec<&str>| row.len() == 5)
        .collect();
    assert_eq!(rows.len(), 2, "{listed}");
    let idle_row = rows.iter().find(|row| row[2] == idle_address).unwrap();
    assert_eq!(idle_row[1..], ["", &idle_address, "TCP", "0"], "{listed}");
    let cli_row = rows.iter().find(|row| row[2] != idle_address).unwrap();
    assert_eq!(cli_row[1], "0", "{listed}");
    assert!(cli_row[2].starts_with("127.0.0.1:"), "{listed}");

    let details = iggy_loud(&at, &home, &["client", "get", idle_row[0]]);
    for (property, value) in [
        ("Client ID", idle_row[0]),
        ("User ID", "None"),
        ("Address", idle_address.as_str()),
        ("Transport", "TCP"),
        ("Consumer Groups Count", "0"),
    ] {
        assert!(
            details
                .lines()
                .any(|line| line.contains(&format!("| {property} "))
                    && line.contains(&format!("| {value} "))),
            "{property} = {value}: {details}"
        );
    }
    let gone = iggy_loud(&at, &home, &["client", "get", "4000000"]);
    assert!(gone.contains("was not found"), "{gone}");
    drop(idle);
    assert_eq!(server.stop(), 0);
}

#[test]
#[ignore = "needs Apache Iggy's CLI: IGGY_CLI=/path/to/iggy (.ci/run installs iggy-cli 0.14.0)"]
fn the_official_cli_takes_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = dir.path().join("snapshots");
    std::fs::create_dir(&home).unwrap();
    std::fs::create_dir(&out).unwrap();
    let server = Serve::start(&dir.path().join("data"), (USER, PASSWORD), &[]);
    let at = server.address.clone();

    iggy(
        &at,
        &home,
        &[
            "snapshot",
            "--snapshot-types",
            "all",
            "--out-dir",
            out.to_str().unwrap(),
        ],
    );
    let files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let zip = std::fs::read(&files[0]).unwrap();
    // A zip (local file header magic) naming every section.
    assert_eq!(zip[..4], [0x50, 0x4b, 0x03, 0x04]);
    for section in [
        "filesystem_overview.txt",
        "process_list.txt",
        "resource_usage.txt",
        "test.txt",
        "server_logs.txt",
        "server_config.txt",
    ] {
        assert!(
            zip.windows(section.len()).any(|w| w == section.as_bytes()),
            "{section} is in the archive"
        );
    }
    assert!(
        !zip.windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()),
        "no password in the archive"
    );
    assert_eq!(server.stop(), 0);
}
