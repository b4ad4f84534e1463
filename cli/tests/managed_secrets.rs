//! No secret in what managed mode shows, with a real server child: the
//! remote backend starts this crate's `rustok-iggy serve` with a root
//! password and secrets in its environment, and the child logs everything
//! it logs at all (`RUST_LOG=trace` in its environment). Every line the child writes on
//! stdout or stderr is forwarded into `tracing` by the supervisor, and every
//! log line of this process is captured ([`LogCapture`]); the configs,
//! transport, health reports and errors are logged with `Debug` and
//! `Display` too. After a login, a publish, a group consuming, a login with a
//! wrong password and a shutdown, none of the secrets appears anywhere.
//!
//! A binary of its own: the capture is the process's global subscriber.
#![cfg(unix)]

mod common;

use std::sync::Arc;

use common::{free_address, toml_str};
use rustok_iggy::{Backend, Transport, TransportConfig};
use rustok_iggy_remote::{RemoteBackend, RemoteConfig};
use rustok_iggy_testkit::{
    fixtures::{order_placed_envelope, tenant},
    outage, LogCapture,
};

/// The backend's password (the `password` key) and the server's root
/// password (`spawn.root_password`): the login that works.
const PASSWORD: &str = "mgdPw-5e1c0a9d";
/// A password in the URL, overridden by the key.
const URL_PASSWORD: &str = "mgdUrlPw-83b7f2c4";
/// A token in the child's environment.
const ENV_TOKEN: &str = "mgdTok-0d6a4e71";
/// An all-digit secret in the child's environment.
const NUMERIC_ENV_TOKEN: &str = "62094817350271";
/// A login that must fail.
const WRONG_PASSWORD: &str = "mgdWrongPw-47c9b1e3";
const SECRETS: [&str; 5] = [
    PASSWORD,
    URL_PASSWORD,
    ENV_TOKEN,
    NUMERIC_ENV_TOKEN,
    WRONG_PASSWORD,
];

/// The target under which the supervisor forwards the child's output.
const FORWARDED: &str = "rustok_iggy_remote::server";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_serve_child_shows_no_secret_in_its_output_or_ours() {
    let logs = LogCapture::install().expect("no other subscriber in this test binary");
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    let config = TransportConfig::from_toml(&format!(
        r#"
        backend = "remote"
        stream = "app"
        [routing]
        partitions = 2
        [consumer]
        heartbeat_ms = 50
        poll_wait_ms = 20
        [plugins.remote]
        url = "iggy+tcp://app:{URL_PASSWORD}@{address}"
        password = "{PASSWORD}"
        reconnect_interval_ms = 100
        [plugins.remote.spawn]
        executable = {executable}
        args = ["serve"]
        root_password = "{PASSWORD}"
        env = {{ RUST_LOG = "trace", APP_TOKEN = "{ENV_TOKEN}", APP_PIN = "{NUMERIC_ENV_TOKEN}" }}
        data_dir = {data}
        ready_timeout_ms = 120000
        stop_timeout_ms = 60000
        "#,
        executable = toml_str(std::path::Path::new(env!("CARGO_BIN_EXE_rustok-iggy"))),
        data = toml_str(&dir.path().join("data")),
    ))
    .unwrap();
    tracing::trace!(?config, "transport config");
    let remote: RemoteConfig = config.plugin("remote").parse().unwrap();
    tracing::trace!(?remote, "remote config");

    // Connect (the child starts), publish, consume in a group.
    let transport = Arc::new(Transport::from_config(&config).await.unwrap());
    tracing::trace!(?transport, "transport");
    let (subscription, handled) = outage::record_handled(&transport, "billing", "events").await;
    let events: Vec<_> = (0..20)
        .map(|i| order_placed_envelope(tenant(i % 3), i as u64))
        .collect();
    transport.publish_batch(&events).await.unwrap();
    outage::wait_until_handled(&handled, &events.iter().map(|e| e.id).collect()).await;
    let report = transport.health().await;
    tracing::trace!(?report, "health");
    tracing::trace!(health = ?transport.backend().health().await, "backend health");

    // A wrong password against the same child: refused, nothing repeated.
    let mut wrong = RemoteConfig::new(format!("iggy+tcp://app:{WRONG_PASSWORD}@{address}"));
    wrong.reconnect_retries = Some(0);
    tracing::trace!(?wrong, "wrong config");
    let err = RemoteBackend::connect(wrong).await.unwrap_err();
    tracing::trace!(%err, ?err, "wrong password error");
    assert!(err.message().contains("Invalid credentials"), "{err}");

    assert!(subscription.shutdown().await.unwrap().is_clean());
    transport.shutdown().await.unwrap();

    let captured = logs.contents();
    // The child's own output reached the capture: its stdout line and its
    // logs (stderr), down to DEBUG, including the refused login.
    let forwarded: Vec<&str> = captured.lines().filter(|l| l.contains(FORWARDED)).collect();
    assert!(
        forwarded.iter().any(|l| l.contains("listening on")),
        "the child's stdout was forwarded:\n{}",
        forwarded.join("\n")
    );
    for expected in ["DEBUG rustok_iggy_server", "failed login"] {
        assert!(
            forwarded.iter().any(|l| l.contains(expected)),
            "the child logged `{expected}`:\n{}",
            forwarded.join("\n")
        );
    }
    eprintln!(
        "{} lines captured, {} of them forwarded from the child",
        captured.lines().count(),
        forwarded.len()
    );
    let leaked = logs.find(&SECRETS);
    assert!(
        leaked.is_empty(),
        "{leaked:?} shown:\n{}",
        captured
            .lines()
            .filter(|l| leaked.iter().any(|s| l.contains(s)))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
