//! `rustok-iggy serve` as a subprocess: the official SDK produces to it, SIGTERM
//! stops it gracefully, and what was acknowledged is on disk afterwards.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    str::FromStr,
};

use iggy::prelude::*;
use rustok_iggy::{Backend, PollFrom, PollRequest, TopicRef};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_sdk_messages_and_syncs_them_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
        .arg("serve")
        .env("IGGY_TCP_ADDRESS", "127.0.0.1:0")
        .env("IGGY_SYSTEM_PATH", &data)
        .env("IGGY_ROOT_USERNAME", "ops")
        .env("IGGY_ROOT_PASSWORD", "s3cret-pass")
        .env("RUSTOK_IGGY_HTTP_ADDRESS", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let address = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let second = lines.next().unwrap().unwrap();
    let http = second
        .strip_prefix("http on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{second}"))
        .to_owned();
    let (status, health) = get(&http, "/health");
    assert_eq!(status, 200, "{health}");
    assert!(health.contains("\"status\":\"healthy\""), "{health}");
    let (status, metrics) = get(&http, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("rustok_iggy_published_total"), "{metrics}");
    assert_eq!(get(&http, "/nope").0, 404);

    let client =
        IggyClient::from_connection_string(&format!("iggy://ops:s3cret-pass@{address}")).unwrap();
    client.connect().await.unwrap();
    client.ping().await.unwrap();
    let stream = Identifier::named("rustok").unwrap();
    let topic = Identifier::named("sdk-orders").unwrap();
    client
        .create_topic(
            &stream,
            "sdk-orders",
            &TopicCreateOptions {
                partitions_count: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut messages: Vec<IggyMessage> = (0..50)
        .map(|i| IggyMessage::from_str(&format!("order {i}")).unwrap())
        .collect();
    client
        .send_messages(
            &stream,
            &topic,
            &Partitioning::partition_id(1),
            &mut messages,
        )
        .await
        .unwrap();
    // Consumers see what the interval fsync synced: poll until it is there.
    let mut polled = Vec::new();
    for _ in 0..1_000 {
        polled = client
            .poll_messages(
                &stream,
                &topic,
                Some(1),
                &Consumer::default(),
                &PollingStrategy::offset(0),
                100,
                false,
            )
            .await
            .unwrap()
            .messages;
        if !polled.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(polled.len(), 50);
    drop(client);

    // The traffic it carried is in its metrics (issue 19, item 5).
    let (_, metrics) = get(&http, "/metrics");
    for line in [
        "rustok_iggy_server_messages_sent_total 50",
        "rustok_iggy_server_messages_polled_total 50",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    for series in [
        "rustok_iggy_server_requests_total{command=\"message.send\",result=\"ok\"} 1",
        "rustok_iggy_server_requests_total{command=\"message.poll\",result=\"ok\"}",
        "rustok_iggy_server_connections_opened_total{transport=\"tcp\"}",
        "rustok_iggy_server_request_duration_seconds_count{command=\"message.send\"} 1",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    assert!(
        metrics
            .contains("rustok_iggy_server_requests_total{command=\"topic.create\",result=\"ok\"}"),
        "{metrics}"
    );

    // SIGTERM: graceful stop, data synced, lock released.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(exit.success(), "{exit:?} {rest:?}");
    assert!(rest.iter().any(|l| l.contains("data synced")), "{rest:?}");

    let backend = EmbeddedBackend::open(EmbeddedConfig::new(&data))
        .await
        .unwrap();
    let records = backend
        .poll(PollRequest {
            topic: TopicRef::new("rustok", "sdk-orders"),
            partition: 1,
            from: PollFrom::Offset(0),
            max_records: 100,
            max_wait: std::time::Duration::ZERO,
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 50);
    assert_eq!(&records[49].message.payload[..], b"order 49");
    backend.shutdown().await.unwrap();
}

/// A plain HTTP/1.1 GET: (status, body).
fn get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[test]
fn serve_refuses_a_public_address_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
        .arg("serve")
        .env("IGGY_TCP_ADDRESS", "0.0.0.0:0")
        .env("IGGY_SYSTEM_PATH", dir.path().join("data"))
        .env_remove("IGGY_ROOT_USERNAME")
        .env_remove("IGGY_ROOT_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot start the listener"), "{err}");
}

/// `--tls-cert-file`/`--tls-key-file` (here by their variables) make the TCP
/// address speak TLS, `--quic-address` adds QUIC with the same certificate;
/// the SDK's clients validate it (TLS against the CA file, QUIC against
/// `SSL_CERT_FILE`, which names the same CA in the environment of the child
/// process `tls_and_quic_run_in_a_child_trusting_the_test_ca` runs this in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SSL_CERT_FILE: run by tls_and_quic_run_in_a_child_trusting_the_test_ca"]
async fn serve_speaks_tls_and_quic_with_the_given_certificate() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
        .arg("serve")
        .env("IGGY_TCP_ADDRESS", "127.0.0.1:0")
        .env("IGGY_SYSTEM_PATH", dir.path().join("data"))
        .env("RUSTOK_IGGY_TLS_CERT_FILE", &pki.cert_file)
        .env("RUSTOK_IGGY_TLS_KEY_FILE", &pki.key_file)
        .env("RUSTOK_IGGY_QUIC_ADDRESS", "127.0.0.1:0")
        .env_remove("IGGY_ROOT_USERNAME")
        .env_remove("IGGY_ROOT_PASSWORD")
        .env_remove("RUSTOK_IGGY_HTTP_ADDRESS")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let tcp = first
        .strip_prefix("listening on ")
        .and_then(|rest| rest.strip_suffix(" (TLS)"))
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let second = lines.next().unwrap().unwrap();
    let quic = second
        .strip_prefix("quic on ")
        .unwrap_or_else(|| panic!("{second}"))
        .to_owned();

    let root = || {
        AutoLogin::Enabled(Credentials::UsernamePassword(
            "iggy".to_owned(),
            "iggy".to_owned().into(),
        ))
    };
    let tls = IggyClient::new(ClientWrapper::Tcp(
        TcpClient::create(std::sync::Arc::new(TcpClientConfig {
            server_address: tcp,
            tls_enabled: true,
            tls_domain: "localhost".to_owned(),
            tls_ca_file: Some(pki.ca_file.display().to_string()),
            tls_validate_certificate: true,
            auto_login: root(),
            ..TcpClientConfig::default()
        }))
        .unwrap(),
    ));
    tls.connect().await.unwrap();
    tls.create_stream("over-tls").await.unwrap();
    let quic = IggyClient::new(ClientWrapper::Quic(
        QuicClient::create(std::sync::Arc::new(QuicClientConfig {
            server_address: quic,
            server_name: "localhost".to_owned(),
            validate_certificate: true,
            auto_login: root(),
            ..QuicClientConfig::default()
        }))
        .unwrap(),
    ));
    quic.connect().await.unwrap();
    // The stream made over TLS, seen over QUIC: one server.
    assert!(quic
        .get_stream(&Identifier::named("over-tls").unwrap())
        .await
        .unwrap()
        .is_some());
    tls.shutdown().await.unwrap();
    quic.shutdown().await.unwrap();

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(exit.success(), "{exit:?} {rest:?}");
}

#[test]
fn serve_refuses_incomplete_tls_and_quic_flags_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, needle) in [
        (vec!["--quic-address", "127.0.0.1:0"], "--quic-address"),
        (vec!["--tls-cert-file", "/some/cert.pem"], "--tls-key-file"),
        (vec!["--tls-key-file", "/some/key.pem"], "--tls-cert-file"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
            .arg("serve")
            .args(&flags)
            .env("IGGY_TCP_ADDRESS", "127.0.0.1:0")
            .env("IGGY_SYSTEM_PATH", dir.path().join("data"))
            .env_remove("RUSTOK_IGGY_TLS_CERT_FILE")
            .env_remove("RUSTOK_IGGY_TLS_KEY_FILE")
            .env_remove("RUSTOK_IGGY_QUIC_ADDRESS")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{flags:?}: {err}");
    }
}

/// This binary's test certificates (the parent's, in the child process).
fn pki() -> &'static rustok_iggy_server::test_support::TestPki {
    rustok_iggy_server::test_support::process_pki(
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-serve-pki"),
    )
    .unwrap()
}

/// The SDK's QUIC client trusts only the platform verifier (`SSL_CERT_FILE`):
/// the TLS and QUIC test runs in a child process whose environment names the
/// test CA.
#[test]
fn tls_and_quic_run_in_a_child_trusting_the_test_ca() {
    let passed =
        rustok_iggy_server::test_support::run_trusting_in_child("serve_speaks_tls_and_quic", pki())
            .unwrap();
    assert_eq!(passed, 1);
}

#[test]
fn serve_takes_host_names_and_json_and_checks_the_http_port_first() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
            .arg("serve")
            .args(args)
            .env("IGGY_SYSTEM_PATH", dir.path().join("data"))
            .env_remove("IGGY_TCP_ADDRESS")
            .env_remove("RUSTOK_IGGY_HTTP_ADDRESS")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // A taken HTTP port fails the start before anything is announced.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http = taken.local_addr().unwrap().to_string();
    let out = serve(&["--address", "localhost:0", "--http-address", &http])
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&http));

    // A host name, and JSON lines from start to stop.
    let mut child = serve(&["--json", "--address", "localhost:0"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let address = first["address"].as_str().unwrap();
    assert!(
        address.starts_with("127.0.0.1:") || address.starts_with("[::1]:"),
        "{first}"
    );
    assert_eq!(first["backend"], "embedded");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let last: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(last["stopped"], true);
}
