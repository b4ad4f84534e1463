//! Apache Iggy's own `iggy` CLI (`iggy-cli` 0.14.0, the release of the SDK
//! 0.11.0 line) against `rustok-iggy serve`: it creates a stream, a topic
//! and a consumer group, sends messages, and reads the server's stats; it
//! manages users, their permissions and personal access tokens, and uses a
//! token; it lists clients, purges, updates and deletes partitions and
//! segments, takes a snapshot and reads the option catalog.
//!
//! Needs that CLI: `IGGY_CLI=/path/to/iggy`. `.ci/run` installs it
//! (`cargo install iggy-cli --version =0.14.0 --locked`) and runs this test;
//! in a plain `cargo test` it is ignored, where it would fail, not pass,
//! without the CLI.

mod common;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

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
fn iggy(address: &str, home: &Path, args: &[&str]) -> String {
    let login = ["--username", USER, "--password", PASSWORD, "--quiet"];
    succeeded(args, &cli(address, home, &login, args))
}

/// The official CLI against `address`, `login` its login flags; what it
/// did, success or not.
fn cli(address: &str, home: &Path, login: &[&str], args: &[&str]) -> Output {
    Command::new(iggy_cli())
        .args(["--tcp-server-address", address])
        .args(login)
        .args(args)
        .env("HOME", home)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The stdout of a run that must have succeeded.
fn succeeded(args: &[&str], out: &Output) -> String {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "iggy {args:?}: {stdout}\n{stderr}");
    stdout
}

/// The stderr of a run that must have failed.
fn failed(args: &[&str], out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "iggy {args:?} succeeded: {stderr}");
    stderr
}

/// A `serve` of this CLI's user on a fresh data directory, with `env`
/// added to its environment, and an empty home for the CLI: the directory
/// holding both (dropped last), the home, the server and its address.
fn serve(env: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, Serve, String) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let server = Serve::start(&dir.path().join("data"), (USER, PASSWORD), env);
    let at = server.address.clone();
    (dir, home, server, at)
}

/// `iggy stats -o list`: one `name|value` line per figure.
fn stats(address: &str, home: &Path) -> HashMap<String, String> {
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

/// [`iggy`] without `--quiet`, for the commands that print nothing with it
/// (`client list`, `client get`, the tables of `get`).
fn iggy_loud(address: &str, home: &Path, args: &[&str]) -> String {
    let login = ["--username", USER, "--password", PASSWORD];
    succeeded(args, &cli(address, home, &login, args))
}

/// Runs the official CLI like [`iggy`], for a command the server must
/// refuse: what it said (stdout and stderr), or a panic if it succeeded.
fn iggy_refused(address: &str, home: &Path, args: &[&str]) -> String {
    let login = ["--username", USER, "--password", PASSWORD, "--quiet"];
    let out = cli(address, home, &login, args);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "iggy {args:?} succeeded: {said}");
    said
}

#[test]
#[ignore = "needs Apache Iggy's CLI: IGGY_CLI=/path/to/iggy (.ci/run installs iggy-cli 0.14.0)"]
fn the_official_cli_creates_sends_and_reads_stats() {
    let cli = iggy_cli();
    assert!(cli.is_file(), "IGGY_CLI={} is not a file", cli.display());
    // One partition for the transport's own topic `rustok/events`, which
    // `serve` creates at start.
    let (_dir, home, server, at) = serve(&[("RUSTOK_IGGY__ROUTING__PARTITIONS", "1")]);

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

/// A scripted session of the CLI's user and token commands: create, list,
/// get, rename, (de)activate, change a password, set permissions, delete;
/// create, list and delete a token and log in with it; `iggy login`.
#[test]
#[ignore = "needs Apache Iggy's CLI: IGGY_CLI=/path/to/iggy (.ci/run installs iggy-cli 0.14.0)"]
fn the_official_cli_manages_users_permissions_and_tokens() {
    let (_dir, home, server, at) = serve(&[]);
    let root = ["--username", USER, "--password", PASSWORD];
    let run = |login: &[&str], args: &[&str]| cli(&at, &home, login, args);
    let ok = |login: &[&str], args: &[&str]| succeeded(args, &run(login, args));
    let refused = |login: &[&str], args: &[&str]| failed(args, &run(login, args));

    let out = ok(
        &root,
        &["user", "create", "alice", "alice-pass-1", "-g", "r_usr"],
    );
    assert!(out.contains("User with username: alice created"), "{out}");
    let out = refused(&root, &["user", "create", "alice", "other-pass"]);
    assert!(out.contains("User already exists"), "{out}");
    let out = ok(&root, &["user", "list", "-l", "list"]);
    let users: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(users.len(), 2, "{out}");
    assert!(
        users[0].starts_with("0|") && users[0].ends_with(&format!("|active|{USER}")),
        "{out}"
    );
    assert!(
        users[1].starts_with("1|") && users[1].ends_with("|active|alice"),
        "{out}"
    );
    let out = ok(&root, &["user", "get", "alice"]);
    let row = |name: &str, value: &str| {
        out.lines()
            .any(|l| l.contains(&format!(" {name} ")) && l.contains(&format!("| {value} ")))
    };
    assert!(row("User ID", "1"), "{out}");
    assert!(row("Read Users", "true"), "{out}");
    assert!(row("Manage Users", "false"), "{out}");
    let out = refused(&root, &["user", "delete", USER]);
    assert!(out.contains("Cannot delete user with ID: 0"), "{out}");
    let out = refused(&root, &["user", "permissions", USER, "-g", "r_str"]);
    assert!(
        out.contains("Cannot change permissions for user with ID: 0"),
        "{out}"
    );

    // Rename, deactivate (no login then), reactivate.
    ok(&root, &["user", "name", "alice", "bob"]);
    ok(&root, &["user", "status", "bob", "inactive"]);
    let out = ok(&root, &["user", "list", "-l", "list"]);
    assert!(out.lines().any(|l| l.ends_with("|inactive|bob")), "{out}");
    let bob = ["--username", "bob", "--password", "alice-pass-1"];
    let out = refused(&bob, &["user", "list"]);
    assert!(out.contains("Invalid credentials"), "{out}");
    ok(&root, &["user", "status", "bob", "active"]);

    // Bob's own password; then his permissions decide what he may do.
    ok(
        &bob,
        &["user", "password", "bob", "alice-pass-1", "bob-pass-2"],
    );
    let bob = ["--username", "bob", "--password", "bob-pass-2"];
    let out = ok(&bob, &["user", "list", "-l", "list"]);
    assert!(out.lines().any(|l| l.ends_with("|active|bob")), "{out}");
    let out = refused(&bob, &["stream", "create", "bobs"]);
    assert!(out.contains("Unauthorized"), "{out}");
    ok(&root, &["user", "permissions", "bob", "-g", "m_str,r_str"]);
    ok(&bob, &["stream", "create", "bobs"]);
    let out = refused(&bob, &["user", "list"]);
    assert!(out.contains("Unauthorized"), "{out}");

    // A token: printed once, listed by name, good for logging in.
    let mut quiet = bob.to_vec();
    quiet.push("--quiet");
    let token = ok(&quiet, &["pat", "create", "ci"]).trim().to_owned();
    assert!(token.len() > 40, "{token}");
    let out = ok(&bob, &["pat", "list", "-l", "list"]);
    assert!(out.lines().any(|l| l == "ci|unlimited"), "{out}");
    let with_token = ["--token", token.as_str()];
    let out = ok(&with_token, &["me"]);
    assert!(
        out.lines()
            .any(|l| l.contains(" User ID ") && l.contains("| 1 ")),
        "{out}"
    );
    let out = ok(&with_token, &["stream", "list", "-l", "list"]);
    assert!(out.contains("bobs"), "{out}");
    // The CLI deletes the token on the server, then from the platform's
    // secret store, which a machine without a desktop session lacks: the
    // server side is what is checked.
    let args = ["pat", "delete", "ci"];
    let out = run(&bob, &args);
    if !out.status.success() {
        let stderr = failed(&args, &out);
        assert!(stderr.contains("store"), "{stderr}");
    }
    let out = ok(&bob, &["pat", "list", "-l", "list"]);
    assert!(!out.contains("ci|"), "{out}");
    let out = refused(&with_token, &["me"]);
    assert!(out.contains("Invalid personal access token"), "{out}");

    // `iggy login` creates its session token on the server, then keeps it
    // in the platform's secret store (when there is one).
    let _ = run(&root, &["login"]);
    let out = ok(&root, &["pat", "list", "-l", "list"]);
    let session = out
        .lines()
        .find(|l| l.starts_with("iggy-cli-session|"))
        .unwrap_or_else(|| panic!("no login token: {out}"));
    assert!(
        !session.ends_with("|unlimited"),
        "the login token expires: {out}"
    );

    ok(&root, &["user", "delete", "bob"]);
    let out = ok(&root, &["user", "list", "-l", "list"]);
    assert!(!out.contains("bob"), "{out}");
    assert_eq!(server.stop(), 0);
}

#[test]
#[ignore = "needs Apache Iggy's CLI: IGGY_CLI=/path/to/iggy (.ci/run installs iggy-cli 0.14.0)"]
fn the_official_cli_lists_and_gets_clients() {
    let (_dir, home, server, at) = serve(&[]);
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
    // Small segments, so a few sends make several.
    let (_dir, home, server, at) = serve(&[
        ("RUSTOK_IGGY__ROUTING__PARTITIONS", "1"),
        ("RUSTOK_IGGY__PLUGINS__EMBEDDED__SEGMENT_BYTES", "4096"),
    ]);
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
    let (dir, home, server, at) = serve(&[]);
    let out = dir.path().join("snapshots");
    std::fs::create_dir(&out).unwrap();

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
    let (_dir, home, server, at) = serve(&[]);

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
