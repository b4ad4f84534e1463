//! `rustok-iggy bench` as a subprocess on the embedded and memory backends,
//! with small event counts: its report's content and exit code (never its
//! timings, which depend on the machine).

mod common;

use std::{path::Path, process::Command};

use common::{cli, json};

/// A config whose embedded data directory the benchmark must leave alone.
fn config(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let path = dir.join("app.toml");
    let data = dir.join("data");
    std::fs::write(
        &path,
        format!(
            "backend = \"embedded\"\n[routing]\npartitions = 4\n[plugins.embedded]\ndata_dir = {:?}\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    (path, data)
}

fn workload<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workload"] == name)
        .unwrap_or_else(|| panic!("no {name} workload: {report}"))
}

#[test]
fn embedded_bench_reports_every_workload_against_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = config(dir.path());
    let (code, out, err) = cli(
        &config,
        &[
            "bench",
            "--backend",
            "embedded",
            "--fsync",
            "always",
            "--events",
            "300",
            "--batch",
            "40",
            "--producers",
            "2",
            "--consumers",
            "2",
            "--payload-bytes",
            "64",
            "--latency-events",
            "20",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let report = json(&out);
    assert_eq!(report["backend"], "embedded");
    assert_eq!(report["served"], false);
    assert_eq!(report["fsync"], "always");
    assert_eq!(report["codec"], "json");
    assert_eq!(report["partitions"], 4);
    assert_eq!(
        (report["producers"].as_u64(), report["consumers"].as_u64()),
        (Some(2), Some(2))
    );
    let message_bytes = report["message_bytes"].as_u64().unwrap();
    assert!(
        message_bytes > 64,
        "the body plus fields and headers: {report}"
    );

    // The cost of idempotent publish: the publish workload again on a log
    // with `dedup_window`, against `publish` of the same run; and the pull
    // receiver against the push consumer of the same run.
    for (name, baseline) in [
        ("publish", "plain file write_all"),
        ("publish over raw append", "raw Backend::append"),
        ("publish, dedup", "publish"),
        ("consume", "plain file read"),
        ("consume, pull", "consume"),
        ("codec", "bare serde_json"),
    ] {
        let w = workload(&report, name);
        assert_eq!(w["events"], 300, "{w}");
        assert!(w["events_per_sec"].as_f64().unwrap() > 0.0, "{w}");
        assert!(w["mb_per_sec"].as_f64().unwrap() > 0.0, "{w}");
        assert_eq!(w["baseline"]["name"], baseline, "{w}");
        let ratio = w["ratio"].as_f64().unwrap();
        let expected = w["events_per_sec"].as_f64().unwrap()
            / w["baseline"]["events_per_sec"].as_f64().unwrap();
        assert!((ratio - expected).abs() <= expected * 1e-9, "{w}");
        if cfg!(target_os = "linux") {
            assert!(w["peak_rss_mib"].as_f64().unwrap() > 0.0, "{w}");
        }
    }
    // MB/s of publish and consume count whole messages.
    let publish = workload(&report, "publish");
    let implied_bytes =
        publish["mb_per_sec"].as_f64().unwrap() * 1e6 * publish["seconds"].as_f64().unwrap();
    assert!(
        (implied_bytes - (300 * message_bytes) as f64).abs() < 1.0,
        "{publish}"
    );

    let latency = &report["latency"];
    assert_eq!(latency["samples"], 20, "{latency}");
    assert_eq!(report["latency_rate"], 1000, "the default rate");
    let at = |k: &str| latency[k].as_u64().unwrap();
    assert!(at("p50_us") >= 1, "{latency}");
    assert!(
        at("p50_us") <= at("p90_us")
            && at("p90_us") <= at("p99_us")
            && at("p99_us") <= at("max_us")
    );

    assert!(
        !data.exists(),
        "bench wrote to the configured data directory"
    );
}

/// Workload sizes small enough for a test: the figures are not looked at.
const SMALL: &[&str] = &[
    "--events",
    "200",
    "--latency-events",
    "10",
    "--latency-rate",
    "500",
];

#[test]
fn memory_bench_prints_a_table_without_backend_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(dir.path());
    let args = [
        &["bench", "--backend", "memory", "--codec", "postcard"],
        SMALL,
    ]
    .concat();
    let (code, out, err) = cli(&config, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("backend memory, codec postcard, fsync -"),
        "{out}"
    );
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row: {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // publish and consume have no baseline on the memory backend but the
    // backend itself (the transport's own cost).
    let cells = row("publish over raw append");
    assert_eq!(cells[4], "200", "{out}");
    assert!(cells.iter().any(|c| c.ends_with('x')), "a ratio: {out}");
    for name in ["publish ", "consume"] {
        let cells = row(name);
        assert_eq!(cells[1], "200", "{out}");
        assert_eq!(&cells[4..7], ["-", "-", "-"], "{out}");
    }
    let codec = row("codec");
    assert_eq!(&codec[4..6], ["bare", "postcard"], "{out}");
    assert!(codec[7].ends_with('x'), "a ratio: {out}");
    assert!(
        out.contains("latency (publish -> handler, 10 events one at a time, 500/s)"),
        "{out}"
    );
    assert!(out.contains("p99"), "{out}");
}

#[test]
fn bench_runs_several_times_and_reports_medians_with_their_range() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(dir.path());
    let args = [&["bench", "--backend", "memory", "--runs", "3"], SMALL].concat();
    let (code, out, err) = cli(&config, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("; medians of 3 runs"), "{out}");
    let publish = out
        .lines()
        .find(|l| l.starts_with("publish over raw append"))
        .unwrap_or_else(|| panic!("no publish row: {out}"));
    // The median, then the slowest and fastest run in brackets.
    assert!(publish.contains(" (") && publish.contains(") "), "{out}");

    let (code, out, err) = cli(&config, &[&["--json"][..], &args[..]].concat());
    assert_eq!(code, 0, "{out}\n{err}");
    let report = json(&out);
    assert_eq!(report["runs"], 3, "{out}");
    for row in report["workloads"].as_array().unwrap() {
        let figure = |key: &str| row[key].as_f64().unwrap();
        assert!(
            figure("min_events_per_sec") <= figure("events_per_sec")
                && figure("events_per_sec") <= figure("max_events_per_sec"),
            "{row}"
        );
    }
}

#[test]
fn bench_refuses_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(dir.path());
    let (code, _, err) = cli(&config, &["bench", "--backend", "embedded", "--serve"]);
    assert_eq!(code, 64, "a usage error: {err}");
    assert!(err.contains("only applies to --backend remote"), "{err}");
    let (code, _, err) = cli(&config, &["bench", "--events", "0"]);
    assert_eq!(code, 64, "a usage error: {err}");
    let (code, _, err) = cli(&config, &["bench", "--runs", "0"]);
    assert_eq!(code, 64, "a usage error: {err}");
    let (code, _, err) = cli(
        &config,
        &[
            "bench",
            "--backend",
            "embedded",
            "--codec",
            "nope",
            "--events",
            "10",
        ],
    );
    assert_eq!(code, 64, "a config error: {err}");
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn bench_measures_the_configs_fsync_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}fsync = \"always\"\n")).unwrap();
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "--backend",
            "embedded",
            "--events",
            "20",
            "--batch",
            "10",
            "--latency-events",
            "2",
            "--json",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = cli(&config, &args);
        assert_eq!(code, 0, "{out}\n{err}");
        json(&out)["fsync"].clone()
    };
    assert_eq!(bench(&[]), "always");
    assert_eq!(bench(&["--fsync", "never"]), "never");
}

#[test]
fn bench_help_has_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
        .args(["bench", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Example: rustok-iggy bench"), "{text}");
    for flag in [
        "--latency-rate",
        "--backend",
        "--serve",
        "--codec",
        "--payload-bytes",
        "--batch",
        "--events",
        "--producers",
        "--consumers",
        "--fsync",
        "--json",
    ] {
        assert!(text.contains(flag), "{flag} missing: {text}");
    }
}
