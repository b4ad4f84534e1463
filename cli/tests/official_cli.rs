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

/// Runs the official CLI against `address` as [`USER`] with `args`, `home`
/// as its home: what it printed, and whether it succeeded.
fn output(address: &str, home: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(iggy_cli())
        .args(["--tcp-server-address", address, "--username", USER])
        .args(["--password", PASSWORD])
        .args(args)
        .env("HOME", home)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_iggy(address: &str, home: &std::path::Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = output(address, home, args);
    assert!(ok, "iggy {args:?}: {stdout}\n{stderr}");
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

/// Runs the official CLI like [`iggy`], for a command the server must
/// refuse: what it said (stdout and stderr), or a panic if it succeeded.
fn iggy_refused(address: &str, home: &std::path::Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = output(address, home, &[&["--quiet"], args].concat());
    let said = format!("{stdout}{stderr}");
    assert!(!ok, "iggy {args:?} succeeded: {said}");
    said
}

/// The `Value` of a `Property | Value` row of the CLI's `get` tables.
fn property(table: &str, name: &str) -> String {
    table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells.len() >= 3 && cells[1] == name).then(|| cells[2].to_owned())
        })
        .next()
        .unwrap_or_else(|| panic!("no `{name}` in\n{table}"))
}

#[test]
#[ignore = "needs Apache Iggy's CLI: IGGY_CLI=/path/to/iggy (.ci/run installs iggy-cli 0.14.0)"]
fn the_official_cli_purges_updates_and_deletes_partitions_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    // Small segments, so a few sends make several.
    let server = Serve::start(
        &dir.path().join("data"),
        (USER, PASSWORD),
        &[
            ("RUSTOK_IGGY__ROUTING__PARTITIONS", "1"),
            ("RUSTOK_IGGY__PLUGINS__EMBEDDED__SEGMENT_BYTES", "4096"),
        ],
    );
    let at = server.address.clone();
    iggy(&at, &home, &["stream", "create", "app"]);
    iggy(
        &at,
        &home,
        &["topic", "create", "app", "orders", "3", "none"],
    );
    let big = "x".repeat(5_000);
    for _ in 0..4 {
        iggy(
            &at,
            &home,
            &[
                "message",
                "send",
                "--partition-id",
                "0",
                "app",
                "orders",
                &big,
            ],
        );
    }
    let segments = |home| number(&stats(&at, home), "Segments Count");
    // 4 on partition 0 (one per send), 1 on each of the other two, 1 on
    // the transport's own topic.
    assert_eq!(segments(&home), 7);

    // `--quiet`: a command that succeeds prints nothing; its effect is checked.
    iggy(
        &at,
        &home,
        &["segment", "delete", "app", "orders", "0", "2"],
    );
    assert_eq!(segments(&home), 5);
    let said = iggy_refused(
        &at,
        &home,
        &["segment", "delete", "app", "orders", "9", "1"],
    );
    assert!(said.contains("Partition with ID"), "{said}");

    iggy(&at, &home, &["partition", "delete", "app", "orders", "1"]);
    let table = iggy_loud(&at, &home, &["topic", "get", "app", "orders"]);
    assert_eq!(property(&table, "Partitions count"), "2");
    let said = iggy_refused(&at, &home, &["partition", "delete", "app", "orders", "5"]);
    assert!(said.contains("Invalid partitions count"), "{said}");

    iggy(
        &at,
        &home,
        &["topic", "update", "app", "orders", "sales", "gzip", "1day"],
    );
    let table = iggy_loud(&at, &home, &["topic", "get", "app", "sales"]);
    assert_eq!(property(&table, "Topic name"), "sales");
    assert_eq!(property(&table, "Compression"), "gzip");
    assert_eq!(property(&table, "Message expiry"), "1day");
    assert_eq!(property(&table, "Max topic size"), "unlimited");
    assert_ne!(property(&table, "Topic message count"), "0");

    iggy(&at, &home, &["topic", "purge", "app", "sales"]);
    let table = iggy_loud(&at, &home, &["topic", "get", "app", "sales"]);
    assert_eq!(property(&table, "Topic message count"), "0");
    assert_eq!(property(&table, "Topic size"), "0 B");

    iggy(&at, &home, &["stream", "create", "other"]);
    let said = iggy_refused(&at, &home, &["stream", "update", "app", "other"]);
    assert!(said.contains("already exists"), "{said}");
    iggy(&at, &home, &["stream", "update", "app", "shop"]);
    let table = iggy_loud(&at, &home, &["stream", "get", "shop"]);
    assert_eq!(property(&table, "Stream topics count"), "1");
    iggy(&at, &home, &["stream", "purge", "shop"]);
    let table = iggy_loud(&at, &home, &["stream", "get", "shop"]);
    assert_eq!(property(&table, "Stream message count"), "0");
    let said = iggy_refused(&at, &home, &["stream", "purge", "app"]);
    assert!(said.contains("was not found"), "{said}");

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
    // What each section holds, and that no secret is in it, is checked on
    // the unpacked archive in `server/tests/snapshot.rs`.
    assert_eq!(server.stop(), 0);
}

#[test]
#[ignore = "needs Apache Iggy's CLI: IGGY_CLI=/path/to/iggy (.ci/run installs iggy-cli 0.14.0)"]
fn the_official_cli_describes_the_topic_options() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let server = Serve::start(&dir.path().join("data"), (USER, PASSWORD), &[]);
    let at = server.address.clone();

    let catalog = iggy_loud(&at, &home, &["options", "topic"]);
    for key in [
        "compression_algorithm",
        "message_expiry",
        "max_topic_size",
        "segment_size",
        "durability",
        "consumer_offset_durability",
        "enforce_fsync",
        "messages_required_to_save",
        "size_of_messages_required_to_save",
        "preallocate_segments",
    ] {
        assert!(catalog.contains(key), "{key}: {catalog}");
    }
    assert!(catalog.contains("not applied"), "{catalog}");
    // Streams have no options, as on Apache Iggy.
    let streams = iggy_loud(&at, &home, &["options", "stream"]);
    assert!(!streams.contains("message_expiry"), "{streams}");
    assert_eq!(server.stop(), 0);
}
