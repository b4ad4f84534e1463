//! Managed mode of the remote backend (`[plugins.remote.spawn]`) with this
//! crate's own `rustok-iggy serve` as the server executable, through
//! `Transport::from_config`: ready, publish/consume in a group, the server
//! SIGKILLed mid-stream and restarted by the supervisor on the same data
//! with nothing acknowledged lost, shutdown leaving no process; and the
//! failures of `connect` (bad executable, a child that exits at once, one
//! that never answers), each without a leftover process.
//!
//! Processes are looked at with `ps` and signalled with `kill`, so this
//! runs on unix only.
#![cfg(unix)]

use std::{
    path::Path,
    process::{Command, Stdio},
    sync::Arc,
};

mod common;

use common::{free_address, toml_str};
use rustok_iggy::{Backend, Error, ErrorKind, HealthStatus, Transport, TransportConfig};
use rustok_iggy_testkit::{
    eventually,
    outage::{self, Producer},
};

/// The process's state letter from `ps` (`Z` for a zombie), `None` when no
/// such process exists at all (exited and reaped).
fn process_state(pid: u32) -> Option<String> {
    let out = Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!state.is_empty()).then_some(state)
}

fn running(pid: u32) -> bool {
    process_state(pid).is_some_and(|s| !s.starts_with('Z'))
}

fn sigkill(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -KILL {pid}");
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The server executable managed mode starts, and its arguments: this
/// crate's `rustok-iggy serve`, or the Apache Iggy server named by
/// `RUSTOK_IGGY_MANAGED_SERVER` (`scripts/real-iggy.sh` sets it, with the
/// server's own `IGGY_*` settings in the environment the child inherits).
fn server_command() -> (String, &'static str) {
    match std::env::var("RUSTOK_IGGY_MANAGED_SERVER") {
        Ok(path) if !path.is_empty() => (toml_str(Path::new(&path)), "[]"),
        _ => (
            toml_str(Path::new(env!("CARGO_BIN_EXE_rustok-iggy"))),
            r#"["serve"]"#,
        ),
    }
}

/// The config of a transport whose remote backend manages the server of
/// [`server_command`] on `address`, data and pid file in `dir`.
fn serve_config(dir: &Path, address: &str, restart_max: u32) -> TransportConfig {
    let (executable, args) = server_command();
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    TransportConfig::from_toml(&format!(
        r#"
        backend = "remote"
        stream = "app"
        [routing]
        partitions = 3
        [consumer]
        heartbeat_ms = 50
        poll_wait_ms = 20
        [plugins.remote]
        url = "iggy+tcp://ops:s3cret-pass@{address}"
        reconnect_interval_ms = 100
        reconnect_retries = 1000
        request_timeout_ms = 2000
        send_backoff_ms = 50
        send_backoff_max_ms = 200
        send_retries = 3
        [plugins.remote.spawn]
        executable = {executable}
        args = {args}
        env = {{ RUST_LOG = "warn" }}
        data_dir = {data}
        pid_file = {pid_file}
        ready_timeout_ms = 120000
        restart_max = {restart_max}
        stop_timeout_ms = 60000
        "#,
        data = toml_str(&dir.join("data")),
        pid_file = toml_str(&dir.join("server.pid")),
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_restarted_and_no_acknowledged_event_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("server.pid");
    let config = serve_config(dir.path(), &free_address(), 10);
    let started = std::time::Instant::now();
    let transport = Arc::new(Transport::from_config(&config).await.unwrap());
    // Printed for the record, never asserted on.
    let to_ready = started.elapsed();
    let first = read_pid(&pid_file).expect("pid file written once ready");
    assert!(running(first), "the managed server {first} runs");
    assert_eq!(transport.backend().health().await, HealthStatus::Healthy);

    let (subscription, handled) = outage::record_handled(&transport, "billing", "events").await;
    let producer = Producer::spawn(transport.clone());
    eventually("100 events acknowledged", || async {
        producer.acknowledged() >= 100
    })
    .await;

    sigkill(first);
    let killed = std::time::Instant::now();
    let before_restart = producer.acknowledged();
    eventually("the supervisor to start a new server", || async {
        read_pid(&pid_file).is_some_and(|pid| pid != first)
    })
    .await;
    let to_restarted = killed.elapsed();
    let second = read_pid(&pid_file).unwrap();
    assert!(running(second), "the restarted server {second} runs");
    assert_eq!(
        process_state(first),
        None,
        "the killed server was reaped by the supervisor"
    );
    eventually("100 more events acknowledged after the restart", || async {
        producer.acknowledged() >= before_restart + 100
    })
    .await;
    let (acknowledged, failures) = producer.stop().await;
    eprintln!(
        "{} events acknowledged, {before_restart} before the SIGKILL, {failures} publishes retried; \
         from_config to ready {} ms, SIGKILL to restarted and answering {} ms",
        acknowledged.len(),
        to_ready.as_millis(),
        to_restarted.as_millis()
    );

    eventually("every acknowledged event consumed", || async {
        acknowledged.is_subset(&handled.lock().unwrap())
    })
    .await;
    assert!(subscription.shutdown().await.unwrap().is_clean());
    // The group's positions on the restarted server reach every partition's end.
    outage::assert_committed_to_end(&transport, "billing", "events", 3).await;
    // A connection the kill cut and nothing has used since (a waiting poll
    // of the subscription that just shut down) counts as reconnecting until
    // the SDK's heartbeat redials it.
    let t0 = std::time::Instant::now();
    let first_health = transport.backend().health().await;
    eventually("healthy once every connection is back", || async {
        transport.backend().health().await == HealthStatus::Healthy
    })
    .await;
    eprintln!(
        "HEALTH first {first_health:?} healthy after {:?}",
        t0.elapsed()
    );

    transport.shutdown().await.unwrap();
    assert_eq!(
        process_state(second),
        None,
        "shutdown stopped and reaped the server"
    );
    assert!(!pid_file.exists(), "pid file removed on shutdown");
}

/// `restart_max = 0`: a dead server stays dead; health says why and
/// requests fail `Unavailable` at once instead of waiting for timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_restart_limit_health_is_unhealthy_and_requests_fail() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("server.pid");
    let transport = Transport::from_config(&serve_config(dir.path(), &free_address(), 0))
        .await
        .unwrap();
    let topic = transport.topic("events");
    transport.backend().ensure_topic(&topic, 3).await.unwrap();
    let pid = read_pid(&pid_file).unwrap();
    sigkill(pid);
    eventually("the pid file to be removed", || async {
        !pid_file.exists()
    })
    .await;
    match transport.backend().health().await {
        HealthStatus::Unhealthy(reasons) => {
            assert!(
                reasons.iter().any(|r| r.contains("restart limit reached")),
                "{reasons:?}"
            )
        }
        other => panic!("expected unhealthy, got {other:?}"),
    }
    let err = transport
        .backend()
        .partition_info(&topic, 0)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("restart limit reached"), "{err}");
    assert_eq!(process_state(pid), None, "reaped");
    transport.shutdown().await.unwrap();
}

/// A transport dropped without `shutdown` still takes its server with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_transport_kills_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("server.pid");
    let transport = Transport::from_config(&serve_config(dir.path(), &free_address(), 5))
        .await
        .unwrap();
    let pid = read_pid(&pid_file).unwrap();
    assert!(running(pid));
    drop(transport);
    eventually("the dropped backend's server to die", || async {
        !running(pid)
    })
    .await;
}

/// Without a transport: `RemoteBackend::managed_server_pid` is the pid in the
/// pid file while the server runs, and `None` after shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_reports_its_server_pid() {
    let dir = tempfile::tempdir().unwrap();
    let config = serve_config(dir.path(), &free_address(), 5);
    let remote: rustok_iggy_remote::RemoteConfig = config.plugin("remote").parse().unwrap();
    let backend = rustok_iggy_remote::RemoteBackend::connect(remote)
        .await
        .unwrap();
    let pid = backend.managed_server_pid().expect("running");
    assert_eq!(read_pid(&dir.path().join("server.pid")), Some(pid));
    assert!(running(pid));
    backend.shutdown().await.unwrap();
    assert_eq!(backend.managed_server_pid(), None);
    assert_eq!(process_state(pid), None, "stopped and reaped");
}

/// `connect` through the transport with a `spawn` section running
/// `executable args…`.
async fn connect_with(
    executable: &str,
    args: &[&str],
    ready_timeout_ms: u64,
    stop_timeout_ms: u64,
) -> Error {
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    let config = TransportConfig::from_toml(&format!(
        r#"
        backend = "remote"
        [plugins.remote]
        url = "iggy+tcp://iggy:iggy@{address}"
        [plugins.remote.spawn]
        executable = "{executable}"
        args = {args}
        ready_timeout_ms = {ready_timeout_ms}
        stop_timeout_ms = {stop_timeout_ms}
        "#,
        address = free_address(),
        args = toml::Value::Array(args.iter().map(|a| toml::Value::from(*a)).collect()),
    ))
    .unwrap();
    match Transport::from_config(&config).await {
        Ok(_) => panic!("`{executable}` should not have made a working backend"),
        Err(e) => e,
    }
}

fn pid_of(err: &Error) -> u32 {
    err.context("pid")
        .unwrap_or_else(|| panic!("no pid in {err}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_executable_is_a_config_error_naming_it() {
    let err = connect_with("/nonexistent/no-such-iggy-server", &[], 5_000, 60_000).await;
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(
        err.to_string().contains("/nonexistent/no-such-iggy-server"),
        "{err}"
    );
    assert_eq!(err.context("key"), Some("plugins.remote.spawn.executable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_exits_at_once_fails_with_its_status_and_stderr() {
    let err = connect_with("sh", &["-c", "echo boom >&2; exit 3"], 120_000, 60_000).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let text = err.to_string();
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(text.contains("boom"), "{text}");
    assert_eq!(process_state(pid_of(&err)), None, "reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out_and_is_stopped() {
    let err = connect_with("sleep", &["600"], 500, 60_000).await;
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert_eq!(process_state(pid_of(&err)), None, "stopped and reaped");
}

/// A server that ignores SIGTERM, as does a process it started, is killed
/// with its whole process group once `stop_timeout_ms` has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_ignoring_sigterm_is_killed_with_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let grandchild_file = dir.path().join("grandchild.pid");
    let script = format!(
        "trap '' TERM; sleep 600 & echo $! > '{}'; wait",
        grandchild_file.display()
    );
    let err = connect_with("sh", &["-c", &script], 3_000, 200).await;
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(process_state(pid_of(&err)), None, "killed and reaped");
    let grandchild = read_pid(&grandchild_file).expect("the script wrote its child's pid");
    // Reaped by init or left a zombie by it: either way not running.
    eventually("the server's own child to die", || async {
        !running(grandchild)
    })
    .await;
}
