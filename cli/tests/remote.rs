//! Every operator command as a subprocess against a remote server: the
//! `rustok-iggy serve` binary (the embedded log behind Iggy's protocol) on a
//! free loopback port with a temporary data directory and credentials, and a
//! config `backend = "remote"` pointing at it. Checks output and exit codes.

mod common;

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use common::{json, Serve};
use rustok_iggy::{handler_fn, EventEnvelope, HandlerError, Transport, TransportConfig};
use rustok_iggy_testkit::{eventually, outbox};
use serde::{Deserialize, Serialize};

const USER: &str = "ops";
const PASSWORD: &str = "remote-cli-s3cret";
const PARTITIONS: u32 = 3;

/// `rustok-iggy serve` for these tests: the clients' partition count for
/// the transport's topic it creates, and writes fsynced before they are
/// acknowledged.
fn serve(data: &Path) -> Serve {
    serve_with(data, &[])
}

/// [`serve`] with more environment variables (config overrides).
fn serve_with(data: &Path, extra: &[(&str, &str)]) -> Serve {
    let partitions = PARTITIONS.to_string();
    let mut env = vec![
        ("RUSTOK_IGGY__ROUTING__PARTITIONS", partitions.as_str()),
        // With the default `interval`, readers see a write only after the
        // next group commit: one command would not surely see what the
        // previous one just did.
        ("RUSTOK_IGGY__PLUGINS__EMBEDDED__FSYNC", "always"),
    ];
    env.extend_from_slice(extra);
    Serve::start(data, (USER, PASSWORD), &env)
}

/// A loopback address nothing listens on (bound, then released).
fn closed_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn remote_config(dir: &Path, address: &str) -> (PathBuf, String) {
    let text = format!(
        "backend = \"remote\"\n[routing]\npartitions = {PARTITIONS}\n[plugins.remote]\nurl = \"iggy+tcp://{USER}:{PASSWORD}@{address}\"\n"
    );
    let path = dir.join("remote.toml");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

/// Runs the CLI with `args`: (exit code, stdout, stderr). No output may
/// carry the password.
fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let (code, out, err) = common::cli(config, args);
    assert!(
        !out.contains(PASSWORD) && !err.contains(PASSWORD),
        "the password leaked: {out}\n{err}"
    );
    (code, out, err)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    n: u64,
}

/// Publishes `events` orders through a transport on the remote config and
/// consumes them in group `billing`, whose handler rejects every order
/// whose number is a multiple of 10 (dead-lettered). Returns how many were
/// rejected.
fn publish_and_consume(config_text: &str, events: u64) -> u64 {
    rustok_iggy_codecs::link();
    rustok_iggy_remote::link();
    rustok_iggy_embedded::link();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = TransportConfig::from_toml(config_text).unwrap();
        let transport = Transport::from_config(&config).await.unwrap();
        let envelopes: Vec<_> = (0..events)
            .map(|n| {
                EventEnvelope::builder(
                    "order.placed",
                    uuid::Uuid::from_u128(u128::from(n % 7) + 1),
                    Order { n },
                )
                .build()
                .unwrap()
            })
            .collect();
        transport.publish_batch(&envelopes).await.unwrap();
        let handled = Arc::new(AtomicU64::new(0));
        let counter = handled.clone();
        let subscription = transport
            .subscribe(
                "billing",
                &["events"],
                handler_fn(move |e: EventEnvelope<Order>| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    async move {
                        if e.event.n.is_multiple_of(10) {
                            Err(HandlerError::permanent(format!(
                                "order {} refused",
                                e.event.n
                            )))
                        } else {
                            Ok(())
                        }
                    }
                }),
            )
            .await
            .unwrap();
        eventually("every event handled or dead-lettered", || async {
            let stats = subscription.stats();
            stats.handled + stats.dead_lettered >= events
        })
        .await;
        let stats = subscription.stats();
        subscription.shutdown().await.unwrap();
        transport.shutdown().await.unwrap();
        stats.dead_lettered
    })
}

/// Ids and letter identities of `dlq list --json --include-redriven`.
fn dlq_ids(config: &Path) -> Vec<(u64, String)> {
    let (code, out, err) = cli(config, &["dlq", "list", "--include-redriven", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    json(&out)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_u64().unwrap(), e["event_id"].to_string()))
        .collect()
}

/// Dead letters written through `serve` (the remote backend's DLQ store)
/// and by the embedded backend in process are one DLQ of the data
/// directory, with the same ids both ways.
#[test]
fn one_dlq_per_data_directory_whichever_way_it_is_reached() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = serve(&data);
    let (remote, remote_text) = remote_config(dir.path(), &server.address);
    assert_eq!(publish_and_consume(&remote_text, 20), 2);
    let served = dlq_ids(&remote);
    assert_eq!(
        served.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [1, 2],
        "ids start at 1"
    );
    assert_eq!(server.stop(), 0);

    // The same directory in process: the same DLQ, then two more letters.
    let embedded_text = format!(
        "backend = \"embedded\"\n[routing]\npartitions = {PARTITIONS}\n[plugins.embedded]\ndata_dir = {:?}\nfsync = \"always\"\n",
        data
    );
    let embedded = dir.path().join("embedded.toml");
    std::fs::write(&embedded, &embedded_text).unwrap();
    assert_eq!(dlq_ids(&embedded), served);
    assert_eq!(publish_and_consume(&embedded_text, 20), 2);
    let local = dlq_ids(&embedded);
    assert_eq!(local.len(), 4, "{local:?}");
    assert_eq!(local[..2], served[..]);

    // Served again: all four, as the embedded backend numbered them.
    let server = serve(&data);
    let (remote, _) = remote_config(dir.path(), &server.address);
    assert_eq!(dlq_ids(&remote), local);
    let (code, out, err) = cli(&remote, &["dlq", "redrive", "4"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(server.stop(), 0);
    let (code, out, err) = cli(&embedded, &["dlq", "show", "4", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!json(&out)["redriven_at"].is_null(), "{out}");
}

#[test]
fn every_command_works_against_a_served_remote_backend() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir.path().join("data"));
    let (config, text) = remote_config(dir.path(), &server.address);

    let rejected = publish_and_consume(&text, 40);
    assert_eq!(rejected, 4);

    let (code, out, err) = cli(&config, &["health"]);
    assert_eq!(
        (code, out.lines().next()),
        (
            1,
            Some("degraded: 4 dead letters pending (health.max_dlq_pending = 0)")
        ),
        "{out}{err}"
    );

    let (code, out, err) = cli(&config, &["topology", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows = json(&out);
    let events: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["topic"] == "rustok/events")
        .collect();
    assert_eq!(events.len(), 3, "one row per partition: {out}");
    let total: u64 = events.iter().map(|r| r["messages"].as_u64().unwrap()).sum();
    assert_eq!(total, 40, "{out}");

    let (code, out, err) = cli(&config, &["lag", "--group", "billing", "--json"]);
    assert_eq!(code, 0, "{err}");
    let lag = json(&out);
    assert_eq!(lag.as_array().unwrap().len(), 3, "{out}");
    assert!(
        lag.as_array().unwrap().iter().all(|r| r["lag"] == 0),
        "{out}"
    );

    let (code, out, err) = cli(&config, &["dlq", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let entries = json(&out)["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 4, "{out}");
    assert!(entries.iter().all(|e| e["redriven_at"].is_null()), "{out}");

    let (code, out, err) = cli(&config, &["dlq", "redrive", "--all"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("redriven 4 of 4"), "{out}");
    assert_eq!(out.matches(" -> rustok/events/").count(), 4, "{out}");
    let (code, _, err) = cli(&config, &["dlq", "redrive", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("already redriven"), "{err}");
    let (code, out, _) = cli(&config, &["dlq", "list"]);
    assert_eq!(
        (code, out.trim()),
        (0, "(none)"),
        "redriven entries are hidden"
    );
    let (code, out, _) = cli(&config, &["topology", "--json"]);
    assert_eq!(code, 0);
    let total: u64 = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["topic"] == "rustok/events")
        .map(|r| r["messages"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 44, "the redriven events were republished: {out}");

    let (code, out, err) = cli(
        &config,
        &[
            "replay",
            "--topic",
            "events",
            "--from-beginning",
            "--limit",
            "5",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 6, "5 records and the summary: {out}");
    assert_eq!(
        json(out.lines().next().unwrap())["event_type"],
        "order.placed"
    );

    let (code, out, err) = cli(
        &config,
        &[
            "replay",
            "--topic",
            "events",
            "--from-offset",
            "0",
            "--to-group",
            "billing",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.lines().count(), 3, "one line per partition: {out}");
    let (_, out, _) = cli(&config, &["lag", "--group", "billing", "--json"]);
    let lag: u64 = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lag"].as_u64().unwrap())
        .sum();
    assert_eq!(lag, 44, "the group was rewound to the start: {out}");

    let (code, out, _) = cli(&config, &["dlq", "purge", "--include-redriven"]);
    assert_eq!(code, 0);
    assert!(out.contains("4 dead letter(s) match"), "{out}");
    let (code, out, err) = cli(&config, &["dlq", "purge", "--include-redriven", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deleted 4"), "{out}");

    let (code, out, err) = cli(
        &config,
        &[
            "bench",
            "--events",
            "200",
            "--batch",
            "50",
            "--latency-events",
            "10",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&out);
    assert_eq!(
        (report["backend"].as_str(), report["served"].as_bool()),
        (Some("remote"), Some(false))
    );
    let names: Vec<_> = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["workload"].as_str().unwrap().to_owned(),
                w["baseline"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("publish".to_owned(), "raw SDK send_messages".to_owned()),
            (
                "publish over raw append".to_owned(),
                "raw Backend::append".to_owned()
            ),
            ("consume".to_owned(), "raw SDK poll_messages".to_owned()),
            ("consume, pull".to_owned(), "consume".to_owned()),
            ("codec".to_owned(), "bare serde_json".to_owned()),
        ]
    );
    assert_eq!(report["latency"]["samples"], 10);
    // The benchmark's topics live in a stream of their own and are deleted
    // afterwards: the application's stream is as it was.
    let (_, out, _) = cli(&config, &["topology", "--json"]);
    assert!(
        json(&out)
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["topic"] == "rustok/events"),
        "{out}"
    );

    assert_eq!(server.stop(), 0);
}

#[test]
fn bench_serve_needs_no_broker() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: --serve must not use it.
    let (config, _) = remote_config(dir.path(), &closed_address());
    let (code, out, err) = cli(
        &config,
        &[
            "bench",
            "--serve",
            "--events",
            "100",
            "--latency-events",
            "5",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("in-process Iggy-protocol server on 127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("backend remote (in-process server)"), "{out}");
    assert!(out.contains("raw SDK send_messages"), "{out}");
}

#[test]
fn unreachable_remote_is_unhealthy_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("down.toml");
    std::fs::write(
        &path,
        format!(
            "backend = \"remote\"\n[plugins.remote]\nurl = \"iggy+tcp://{USER}:{PASSWORD}@{}\"\nconnect_timeout_ms = 2000\nreconnect_retries = 0\n",
            closed_address()
        ),
    )
    .unwrap();
    let (code, out, _) = cli(&path, &["health"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("unhealthy"), "{out}");
}

/// `serve` with `[plugins.embedded] dedup_window` behind the remote
/// backend: publishing events again returns the stored copies' receipts
/// and stores nothing twice (the testkit's outbox scenario), also after
/// `serve` restarted on the same data (its window is read back from the
/// log). The relay killed mid-batch runs against the same server code in
/// `backends/remote/tests/dedup.rs`.
#[test]
fn served_dedup_window_returns_the_stored_copies_receipts() {
    rustok_iggy_codecs::link();
    rustok_iggy_remote::link();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let window = [("RUSTOK_IGGY__PLUGINS__EMBEDDED__DEDUP_WINDOW", "1000")];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = serve_with(&data, &window);
    let (_, text) = remote_config(dir.path(), &server.address);
    let config = TransportConfig::from_toml(&text).unwrap();
    let first = runtime.block_on(async {
        let transport = Transport::from_config(&config).await.unwrap();
        let first = outbox::publishing_again_returns_the_first_receipts(&transport).await;
        transport.shutdown().await.unwrap();
        first
    });
    assert_eq!(server.stop(), 0);

    let server = serve_with(&data, &window);
    let (_, text) = remote_config(dir.path(), &server.address);
    let config = TransportConfig::from_toml(&text).unwrap();
    runtime.block_on(async {
        let transport = Transport::from_config(&config).await.unwrap();
        let again = transport.publish_batch(&outbox::batch(0)).await.unwrap();
        assert_eq!(again, first);
        transport.shutdown().await.unwrap();
    });
    assert_eq!(server.stop(), 0);
}
