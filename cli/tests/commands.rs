//! Every command run as a subprocess against a temporary data directory on the
//! embedded backend, checking its output and exit code.

mod common;

use std::{path::Path, process::Command};

use common::{cli_in, json};

/// The stream `demo` runs in (never the config's).
const DEMO_STREAM: (&str, &str) = ("RUSTOK_IGGY__STREAM", "rustok-demo");

/// Runs the CLI on `config`, in the demo's stream.
fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let dir = config.parent().unwrap();
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    cli_in(dir, &[DEMO_STREAM], &all)
}

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("app.toml");
    let data = dir.join("data");
    std::fs::write(
        &path,
        format!(
            "backend = \"embedded\"\n[plugins.embedded]\ndata_dir = {:?}\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    path
}

#[test]
fn demo_then_every_operator_command_on_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());

    let (code, out, err) = cli(
        &config,
        &[
            "demo",
            "--events",
            "600",
            "--reject-every",
            "200",
            "--flaky-every",
            "150",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("OK:"), "{out}");
    let redriven = out
        .lines()
        .find(|l| l.contains("redriven after the fix"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_default();
    assert_eq!(redriven, "3", "{out}");

    let (code, out, _) = cli(&config, &["topology", "--json"]);
    assert_eq!(code, 0);
    let rows = json(&out);
    let total: u64 = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["messages"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 603, "600 published + 3 redriven");

    let (code, out, _) = cli(&config, &["lag", "--group", "demo", "--json"]);
    assert_eq!(code, 0);
    assert!(
        json(&out).as_array().unwrap().iter().all(|r| r["lag"] == 0),
        "{out}"
    );

    let (code, out, _) = cli(&config, &["dlq", "list", "--include-redriven", "--json"]);
    assert_eq!(code, 0);
    let entries = json(&out)["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().all(|e| !e["redriven_at"].is_null()));
    let (code, out, _) = cli(&config, &["dlq", "list"]);
    assert_eq!(
        (code, out.trim()),
        (0, "(none)"),
        "redriven entries are hidden by default"
    );

    let (code, out, _) = cli(&config, &["dlq", "show", "1"]);
    assert_eq!(code, 0);
    assert!(out.contains("rejected"), "{out}");
    assert!(out.contains("event-type: order.placed"), "{out}");
    let (code, _, err) = cli(&config, &["dlq", "show", "999"]);
    assert_eq!(code, 1);
    assert!(err.contains("no dead letter #999"), "{err}");

    let (code, out, _) = cli(&config, &["dlq", "redrive", "1"]);
    assert_eq!(code, 1, "already redriven: {out}");

    let (code, out, _) = cli(&config, &["health"]);
    assert_eq!((code, out.lines().next()), (0, Some("healthy")));

    let (code, out, _) = cli(
        &config,
        &[
            "replay",
            "--topic",
            "events",
            "--from-beginning",
            "--limit",
            "3",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 4, "3 records and the summary: {out}");
    assert_eq!(
        json(out.lines().next().unwrap())["event_type"],
        "order.placed"
    );

    let (code, out, _) = cli(
        &config,
        &[
            "replay",
            "--topic",
            "events",
            "--from-offset",
            "10",
            "--to-group",
            "demo",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (_, out, _) = cli(&config, &["lag", "--group", "demo", "--json"]);
    let lag: u64 = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lag"].as_u64().unwrap())
        .sum();
    assert!(lag > 0, "the group was rewound: {out}");

    let (code, out, _) = cli(&config, &["dlq", "purge", "--include-redriven"]);
    assert_eq!(code, 0);
    assert!(out.contains("3 dead letter(s) match"), "{out}");
    let (code, out, _) = cli(&config, &["dlq", "purge", "--include-redriven", "--yes"]);
    assert_eq!(code, 0);
    assert!(out.contains("deleted 3"), "{out}");
}

#[test]
fn health_is_unhealthy_when_the_backend_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    // Another process (this test) holds the data directory's lock.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _held = runtime
        .block_on(rustok_iggy_embedded::EmbeddedBackend::open(
            rustok_iggy_embedded::EmbeddedConfig::new(dir.path().join("data")),
        ))
        .unwrap();
    let (code, out, _) = cli(&config, &["health"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("unhealthy"), "{out}");
}

#[test]
fn bad_config_names_the_key_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[routing]\npartitons = 3\n").unwrap();
    let (code, _, err) = cli(&path, &["topology"]);
    assert_eq!(code, 64, "a config error is a usage error");
    assert!(err.contains("unknown field `partitons`"), "{err}");
    assert!(err.contains("docs/configuration.md"), "{err}");
}

#[test]
fn help_lists_every_command_with_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "demo", "topology", "lag", "dlq", "replay", "import", "health",
    ] {
        assert!(
            text.contains(command),
            "{command} missing from --help:\n{text}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
        .args(["dlq", "redrive", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Example"));
}
