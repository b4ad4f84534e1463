//! Issue 19 (operator experience), each point driven through the built CLI:
//! config typos, read-only commands that create nothing, `replay` →
//! `import` round trips, `health` as a probe, a demo that leaves existing
//! data alone, and `--json` on every command.

mod common;

use std::path::{Path, PathBuf};

use common::{cli_in, json, tree};

/// A config on the embedded log in `dir/data`, after `extra` top-level TOML.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("app.toml");
    std::fs::write(
        &path,
        format!(
            "{extra}[plugins.embedded]\ndata_dir = {:?}\n",
            dir.join("data").display().to_string()
        ),
    )
    .unwrap();
    path
}

/// Runs the CLI in `dir` with `--config config`, `env` and `args`.
fn run(dir: &Path, config: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    cli_in(dir, env, &all)
}

const DEMO: (&str, &str) = ("RUSTOK_IGGY__STREAM", "rustok-demo");

/// A small demo run in `dir`'s data directory; `args` are added.
fn demo(dir: &Path, config: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut all = vec![
        "demo",
        "--events",
        "300",
        "--reject-every",
        "100",
        "--flaky-every",
        "0",
    ];
    all.extend_from_slice(args);
    let (code, out, err) = run(dir, config, env, &all);
    assert_eq!(code, 0, "{out}\n{err}");
    out
}

#[test]
fn misspelt_plugin_sections_are_errors_from_files_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[plugins.embeded]\ndata_dir = \"/somewhere\"\n").unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "").unwrap();
    let env_typo = [("RUSTOK_IGGY__PLUGINS__EMBEDED__DATA_DIR", "/somewhere")];
    for (config, env) in [(&bad, &[][..]), (&good, &env_typo[..])] {
        for command in [&["topology"][..], &["demo", "--events", "10"][..]] {
            let (code, out, err) = run(dir.path(), config, env, command);
            assert_eq!(code, 64, "{out}{err}");
            assert!(err.contains("plugins.embeded"), "{err}");
            assert!(
                err.contains("embedded, json, memory, postcard, remote"),
                "{err}"
            );
        }
    }
    // An unknown key in a backend's section, even one not selected.
    std::fs::write(
        &bad,
        "backend = \"memory\"\n[plugins.embedded]\ndata_dri = \"/x\"\n",
    )
    .unwrap();
    let (code, _, err) = run(dir.path(), &bad, &[], &["topology"]);
    assert_eq!(code, 64);
    assert!(err.contains("plugins.embedded.data_dri"), "{err}");
    assert!(err.contains("data_dir"), "{err}");
    // Nothing ran on the defaults.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn read_only_commands_create_nothing_and_name_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let data = dir.path().join("data");
    for args in [
        &["topology"][..],
        &["lag", "--group", "billing"],
        &["dlq", "list"],
        &["dlq", "show", "1"],
        &["replay", "--topic", "events", "--from-beginning"],
        &["health"],
    ] {
        let (code, _, err) = run(dir.path(), &config, &[], args);
        let expected = if args[0] == "health" { 2 } else { 1 };
        assert_eq!(code, expected, "{args:?}: {err}");
        if args[0] != "health" {
            assert!(err.contains(&data.display().to_string()), "{args:?}: {err}");
            assert!(err.contains("does not exist"), "{args:?}: {err}");
        }
        assert!(!data.exists(), "{args:?} created {}", data.display());
    }

    // A log that exists, in the demo's stream; the config's stream has none.
    demo(dir.path(), &config, &[], &[]);
    let before = tree(&data);
    let (code, _, err) = run(dir.path(), &config, &[], &["topology"]);
    assert_eq!(code, 1);
    assert!(err.contains("stream `rustok` does not exist"), "{err}");
    let (code, _, err) = run(dir.path(), &config, &[DEMO], &["lag", "--group", "billing"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("group `billing` has no committed offset"),
        "{err}"
    );
    assert!(err.contains("groups with offsets: demo"), "{err}");
    let (code, _, err) = run(
        dir.path(),
        &config,
        &[DEMO],
        &["replay", "--topic", "orders", "--from-beginning"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("topic `rustok-demo/orders` does not exist"),
        "{err}"
    );
    assert!(err.contains("topics: events"), "{err}");
    let (code, _, err) = run(
        dir.path(),
        &config,
        &[DEMO],
        &[
            "replay",
            "--topic",
            "events",
            "--from-beginning",
            "--to-group",
            "biling",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--create-group"), "{err}");
    for args in [&["health"][..], &["dlq", "list"], &["lag"], &["topology"]] {
        let (code, out, err) = run(dir.path(), &config, &[DEMO], args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    assert_eq!(
        tree(&data),
        before,
        "read-only commands changed the data directory"
    );

    // A mutating command creates what it names, and says so.
    let (code, out, err) = run(
        dir.path(),
        &config,
        &[DEMO],
        &[
            "replay",
            "--topic",
            "events",
            "--from-beginning",
            "--to-group",
            "billing",
            "--create-group",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("created group `billing` on rustok-demo/events"),
        "{out}"
    );
    let (code, out, _) = run(
        dir.path(),
        &config,
        &[DEMO],
        &["lag", "--group", "billing", "--json"],
    );
    assert_eq!(code, 0);
    let lag: u64 = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lag"].as_u64().unwrap())
        .sum();
    assert_eq!(lag, 303, "300 published and 3 redriven: {out}");
}

/// Records of a `replay --json` output without the fields a re-import
/// changes (the append time), keyed for comparison.
fn records(out: &str) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut lines: Vec<serde_json::Value> = out.lines().map(json).collect();
    let summary = lines.pop().unwrap();
    for line in &mut lines {
        line.as_object_mut().unwrap().remove("appended_at");
    }
    (lines, summary["summary"].clone())
}

/// Appends one record with the envelope headers the demo does not set
/// (trace context, partition key, causation) and a binary header, as a
/// producer with those would.
fn append_with_every_header(data: &Path) {
    use rustok_iggy::{Backend, Headers, Message, TopicRef};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let backend = rustok_iggy_embedded::EmbeddedBackend::open(
            rustok_iggy_embedded::EmbeddedConfig::new(data),
        )
        .await
        .unwrap();
        let mut headers = Headers::new();
        for (key, value) in [
            ("codec", "postcard"),
            ("event-type", "order.placed"),
            ("tenant-id", "01a2487e-6d4a-71ce-bc56-78f7194731e2"),
            ("schema-version", "2"),
            ("correlation-id", "01a2487e-6d4a-71ce-bc56-795a92d94866"),
            ("timestamp", "2026-11-26T10:00:00Z"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("partition-key", "order-7"),
            ("causation-id", "01a2487e-6d4a-71ce-bc56-795a92d94866"),
        ] {
            headers.insert(key, value).unwrap();
        }
        headers.insert("x-raw", [0xff_u8, 0x00]).unwrap();
        let message = Message {
            origin_timestamp_micros: None,
            id: 7,
            headers,
            payload: vec![0_u8, 159, 146, 150].into(),
        };
        backend
            .append(&TopicRef::new("rustok-demo", "events"), 3, vec![message])
            .await
            .unwrap();
        backend.shutdown().await.unwrap();
    });
}

#[test]
fn replay_json_carries_everything_and_import_republishes_it() {
    let dir = tempfile::tempdir().unwrap();
    // Binary payloads: postcard.
    let config = config(dir.path(), "codec = \"postcard\"\n");
    demo(dir.path(), &config, &[], &["--leave-dead-letters"]);
    append_with_every_header(&dir.path().join("data"));
    let replay = |env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["--json", "replay", "--topic", "rustok-demo/events"];
        args.extend_from_slice(extra);
        run(dir.path(), &config, env, &args)
    };
    let (code, out, err) = replay(&[DEMO], &["--from-beginning", "--limit", "0"]);
    assert_eq!(code, 0, "{err}");
    let (all, summary) = records(&out);
    assert_eq!(all.len(), 301);
    assert_eq!(summary["truncated"], false, "{summary}");
    let special = all
        .iter()
        .find(|r| r["headers"]["traceparent"].is_object())
        .unwrap();
    for (header, value) in [
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("partition-key", "order-7"),
        ("causation-id", "01a2487e-6d4a-71ce-bc56-795a92d94866"),
    ] {
        assert_eq!(special["headers"][header]["data"], value, "{special}");
    }
    assert_eq!(
        special["headers"]["x-raw"],
        serde_json::json!({"encoding": "base64", "data": "/wA="})
    );
    for record in &all {
        assert_eq!(record["payload"]["encoding"], "base64", "{record}");
        for header in [
            "codec",
            "event-type",
            "tenant-id",
            "schema-version",
            "correlation-id",
            "timestamp",
        ] {
            assert!(
                record["headers"][header]["data"].is_string(),
                "{header} missing: {record}"
            );
        }
    }
    // Truncation is stated in JSON and in text.
    let (_, out, _) = replay(&[DEMO], &["--from-beginning", "--limit", "5"]);
    let (five, summary) = records(&out);
    assert_eq!(
        (five.len(), &summary["truncated"], &summary["not_printed"]),
        (5, &true.into(), &296.into())
    );
    let (_, _, err) = run(
        dir.path(),
        &config,
        &[DEMO],
        &[
            "replay",
            "--topic",
            "events",
            "--from-beginning",
            "--limit",
            "5",
        ],
    );
    assert!(err.contains("truncated by --limit 5: 296 more"), "{err}");
    // Time arguments: short forms, and an example when they do not parse.
    let (code, out, _) = replay(&[DEMO], &["--from-time", "2000-01-01", "--limit", "0"]);
    assert_eq!((code, records(&out).0.len()), (0, 301));
    let (code, out, _) = replay(&[DEMO], &["--from-time", "26.11.2026"]);
    assert_eq!(code, 64);
    assert!(
        json(&out)["usage"]
            .as_str()
            .unwrap()
            .contains("2026-11-26T10:00:00Z"),
        "{out}"
    );

    // Re-published into another log: the same records, partitions and offsets.
    let file = dir.path().join("events.jsonl");
    let (_, out, _) = replay(&[DEMO], &["--from-beginning", "--limit", "0"]);
    std::fs::write(&file, &out).unwrap();
    let target = tempfile::tempdir().unwrap();
    let target_config = self::config(target.path(), "codec = \"postcard\"\n");
    let file_arg = file.to_str().unwrap();
    let (code, _, err) = run(
        target.path(),
        &target_config,
        &[DEMO],
        &["import", "--file", file_arg],
    );
    assert_eq!(code, 1, "the target does not exist yet: {err}");
    let (code, out, err) = run(
        target.path(),
        &target_config,
        &[DEMO],
        &["--json", "import", "--file", file_arg, "--create-topics"],
    );
    assert_eq!(code, 0, "{err}");
    let imported = json(&out);
    assert_eq!(imported["records"], 301, "{out}");
    assert_eq!(imported["ensured_topics"][0], "rustok-demo/events", "{out}");
    let (_, out, _) = run(
        target.path(),
        &target_config,
        &[DEMO],
        &[
            "--json",
            "replay",
            "--topic",
            "events",
            "--from-beginning",
            "--limit",
            "0",
        ],
    );
    assert_eq!(records(&out).0, all);
}

#[test]
fn health_is_a_probe() {
    let dir = tempfile::tempdir().unwrap();
    let health = |config: &Path, env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["--json", "health"];
        args.extend_from_slice(extra);
        let (code, out, err) = run(dir.path(), config, env, &args);
        (code, json(&out), err)
    };
    // Usage and config errors have their own code, and JSON.
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[health]\nmax_lagg = 1\n").unwrap();
    let (code, report, _) = health(&typo, &[], &[]);
    assert_eq!((code, &report["status"]), (64, &"error".into()), "{report}");
    assert_eq!(report["key"], "health.max_lagg");
    let (code, report, _) = health(&typo, &[], &["--bogus"]);
    assert_eq!((code, &report["status"]), (64, &"error".into()), "{report}");
    // Nothing to open: unhealthy, in JSON.
    let config = config(dir.path(), "");
    let (code, report, _) = health(&config, &[], &[]);
    assert_eq!(
        (code, &report["status"]),
        (2, &"unhealthy".into()),
        "{report}"
    );

    // Pending dead letters and group lag are checked against [health].
    demo(dir.path(), &config, &[], &["--leave-dead-letters"]);
    let (code, report, _) = health(&config, &[DEMO], &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["dlq_pending"], 3);
    assert!(
        report["reasons"][0]
            .as_str()
            .unwrap()
            .contains("3 dead letters pending"),
        "{report}"
    );
    let (code, _, err) = run(
        dir.path(),
        &config,
        &[DEMO],
        &[
            "replay",
            "--topic",
            "events",
            "--from-beginning",
            "--to-group",
            "demo",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let limits = [
        DEMO,
        ("RUSTOK_IGGY__HEALTH__MAX_DLQ_PENDING", "3"),
        ("RUSTOK_IGGY__HEALTH__MAX_LAG", "0"),
    ];
    let (code, report, _) = health(&config, &limits, &[]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report["reasons"][0]
            .as_str()
            .unwrap()
            .contains("group `demo` lags"),
        "{report}"
    );
    let (code, report, _) = health(&config, &limits[..2], &[]);
    assert_eq!(
        (code, &report["status"]),
        (0, &"healthy".into()),
        "{report}"
    );
    let (code, report, _) = health(&config, &limits, &["--group", "nope"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report["reasons"][0]
            .as_str()
            .unwrap()
            .contains("group `nope`"),
        "{report}"
    );

    // A remote server that is down: unhealthy at once, with the OS's cause.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let remote = dir.path().join("remote.toml");
    std::fs::write(
        &remote,
        format!("backend = \"remote\"\n[plugins.remote]\nurl = \"iggy+tcp://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let (code, report, err) = health(&remote, &[], &[]);
    assert_eq!(
        (code, &report["status"]),
        (2, &"unhealthy".into()),
        "{report}"
    );
    let reasons = report["reasons"].to_string();
    assert!(
        reasons.contains(&format!("127.0.0.1:{port}: Connection refused")),
        "{reasons}"
    );
    assert!(
        !err.contains("ERROR"),
        "the SDK's retries are not logged: {err}"
    );
}

#[test]
fn the_demo_leaves_existing_data_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    // An application's stream with dead letters pending (made by the demo,
    // told explicitly to use that stream).
    demo(
        dir.path(),
        &config,
        &[],
        &["--stream", "rustok", "--leave-dead-letters"],
    );
    let app = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, out, err) = run(dir.path(), &config, &[], &all);
        assert_eq!(code, 0, "{err}");
        json(&out)
    };
    let topology = app(&["topology"]);
    let pending = app(&["dlq", "list"]);
    assert_eq!(pending["entries"].as_array().unwrap().len(), 3);

    let out = demo(dir.path(), &config, &[], &[]);
    assert!(out.contains("stream `rustok-demo`"), "{out}");
    let redriven = out
        .lines()
        .find(|l| l.contains("redriven after the fix"))
        .and_then(|l| l.split_whitespace().last());
    assert_eq!(redriven, Some("3"), "only its own dead letters: {out}");
    assert_eq!(
        app(&["topology"]),
        topology,
        "the application's topics changed"
    );
    assert_eq!(
        app(&["dlq", "list"]),
        pending,
        "the application's dead letters changed"
    );

    let (code, _, err) = run(dir.path(), &config, &[], &["demo", "--timeout-secs", "0"]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn every_command_takes_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let out = demo(
        dir.path(),
        &config,
        &[],
        &["--json", "--leave-dead-letters"],
    );
    let summary = json(&out);
    assert_eq!(
        (summary["ok"].as_bool(), summary["dlq_pending"].as_u64()),
        (Some(true), Some(3)),
        "{out}"
    );
    let commands: &[&[&str]] = &[
        &["topology"],
        &["lag"],
        &["health"],
        &["dlq", "list"],
        &["dlq", "show", "1"],
        &["dlq", "purge", "--group", "nobody"],
        &["dlq", "redrive", "1"],
        &["dlq", "redrive", "--all"],
        &["dlq", "purge", "--include-redriven", "--yes"],
        &[
            "replay",
            "--topic",
            "events",
            "--from-offset",
            "0",
            "--to-group",
            "demo",
        ],
    ];
    for args in commands {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, out, err) = run(dir.path(), &config, &[DEMO], &all);
        assert!(
            code == 0 || (args[0] == "health" && code == 1),
            "{args:?}: {out}{err}"
        );
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"));
    }
    // A refused redrive filter is a usage error, not a failure per entry.
    let (code, _, err) = run(
        dir.path(),
        &config,
        &[DEMO],
        &["dlq", "redrive", "--all", "--include-redriven"],
    );
    assert_eq!(code, 64, "{err}");
    // `--json` is documented on every command's help.
    for args in [
        &["demo"][..],
        &["bench"],
        &["topology"],
        &["lag"],
        &["replay"],
        &["import"],
        &["serve"],
        &["health"],
        &["dlq", "list"],
        &["dlq", "show"],
        &["dlq", "redrive"],
        &["dlq", "purge"],
    ] {
        let mut all = args.to_vec();
        all.push("--help");
        let (code, out, _) = run(dir.path(), &config, &[], &all);
        assert_eq!(code, 0);
        assert!(
            out.contains("--json"),
            "{args:?} --help has no --json:\n{out}"
        );
    }
}

/// On a terminal, the progress bar of a long `replay` redraws a few times a
/// second, not once per record: its bytes stay small however many records
/// go by (a redraw per record wrote 9.4 MB for 50,000). The terminal is a
/// pseudo-terminal from util-linux's `script`; stdout goes to a file, so the
/// bar is drawn on stderr.
#[test]
fn the_replay_progress_bar_redraws_a_few_times_a_second_not_per_record() {
    use rustok_iggy::{Backend, TopicRef};
    const RECORDS: u64 = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let data = dir.path().join("data");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let backend = rustok_iggy_embedded::EmbeddedBackend::open(
            rustok_iggy_embedded::EmbeddedConfig::new(&data)
                .fsync(rustok_iggy_embedded::FsyncPolicy::Never),
        )
        .await
        .unwrap();
        let topic = TopicRef::new("rustok", "events");
        backend.ensure_topic(&topic, 1).await.unwrap();
        for chunk in (1..=RECORDS).collect::<Vec<_>>().chunks(5_000) {
            let batch = chunk
                .iter()
                .map(|n| rustok_iggy_testkit::fixtures::test_message(u128::from(*n)))
                .collect();
            backend.append(&topic, 0, batch).await.unwrap();
        }
        backend.shutdown().await.unwrap();
    });
    let records = dir.path().join("records.jsonl");
    let command = format!(
        "{} --config {} replay --topic rustok/events --from-beginning --limit 0 --json > {}",
        env!("CARGO_BIN_EXE_rustok-iggy"),
        config.display(),
        records.display()
    );
    let terminal = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env_remove("RUST_LOG")
        .output()
        .expect("util-linux `script` runs the CLI on a pseudo-terminal");
    let drawn = String::from_utf8_lossy(&terminal.stdout);
    assert!(terminal.status.success(), "{drawn}");
    let lines = std::fs::read_to_string(&records).unwrap().lines().count();
    assert_eq!(lines as u64, RECORDS + 1, "every record and the summary");
    assert!(drawn.contains("replaying"), "the bar was drawn: {drawn}");
    assert!(
        terminal.stdout.len() < 256 * 1024,
        "{} bytes of progress for {RECORDS} records",
        terminal.stdout.len()
    );
}
