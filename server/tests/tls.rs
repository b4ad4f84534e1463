//! TLS on the TCP listener, with the official SDK's TCP client: a CA and a
//! server certificate made by the test, validation on.

mod common;

use std::sync::Arc;

use iggy::prelude::*;
use rustok_iggy_server::{test_support::TestPki, RunningServer, Server, ServerError, TlsConfig};
use rustok_iggy_testkit::MemoryBackend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn tls_server(pki: &TestPki) -> RunningServer {
    Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .tls(pki.tls_config())
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_logs_in_creates_sends_and_polls_over_tls_with_a_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let server = tls_server(&pki).await;
    assert!(server.is_tls());
    for domain in ["localhost", "127.0.0.1", ""] {
        // "": the SDK's default, the host of the address (127.0.0.1).
        let client = common::tls_client(server.local_addr(), Some(&pki.ca_file), domain);
        client.connect().await.unwrap();
        common::round_trip(&client, &format!("app-{domain}")).await;
        client.shutdown().await.unwrap();
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_is_on_an_untrusted_or_misnamed_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let server = tls_server(&pki).await;
    let addr = server.local_addr();
    for (ca, domain, case) in [
        (
            None,
            "localhost",
            "no CA file: only public roots are trusted",
        ),
        (Some(&pki.other_ca_file), "localhost", "another CA"),
        (
            Some(&pki.ca_file),
            "wrong.example",
            "a name the certificate lacks",
        ),
    ] {
        let client = common::tls_client(addr, ca.map(|p| p.as_path()), domain);
        let refused = match client.connect().await {
            Err(_) => true,
            Ok(()) => client.ping().await.is_err(),
        };
        assert!(refused, "{case}: the connection was accepted");
        let _ = client.shutdown().await;
    }
    // The failed handshakes cost the server nothing.
    let client = common::tls_client(addr, Some(&pki.ca_file), "localhost");
    client.connect().await.unwrap();
    client.ping().await.unwrap();
    client.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_tcp_client_is_dropped_and_the_server_serves_the_next_tls_client() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let server = tls_server(&pki).await;
    let addr = server.local_addr();

    // Raw bytes: an Iggy ping frame where a ClientHello belongs. The
    // connection is closed without an Iggy reply (at most a TLS alert).
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let frame = rustok_iggy_server::fuzzing::request(iggy_binary_protocol::codes::PING_CODE, &[]);
    socket.write_all(&frame).await.unwrap();
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    assert!(
        answer.len() < rustok_iggy_server::fuzzing::HEADER_SIZE,
        "got {} bytes, an Iggy reply?",
        answer.len()
    );

    // The SDK's plain TCP client fails to log in.
    let plain = IggyClient::new(ClientWrapper::Tcp(
        TcpClient::create(Arc::new(TcpClientConfig {
            server_address: addr.to_string(),
            auto_login: AutoLogin::Enabled(Credentials::UsernamePassword(
                "iggy".to_owned(),
                "iggy".to_owned().into(),
            )),
            reconnection: TcpClientReconnectionConfig {
                enabled: false,
                ..TcpClientReconnectionConfig::default()
            },
            ..TcpClientConfig::default()
        }))
        .unwrap(),
    ));
    let refused = match plain.connect().await {
        Err(_) => true,
        Ok(()) => plain.get_me().await.is_err(),
    };
    assert!(refused, "a plain TCP client was served on the TLS port");
    let _ = plain.shutdown().await;

    let client = common::tls_client(addr, Some(&pki.ca_file), "localhost");
    client.connect().await.unwrap();
    common::round_trip(&client, "after").await;
    client.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn unusable_certificate_settings_fail_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = TestPki::generate(&other_dir).unwrap();
    let start = |tls: Option<TlsConfig>, quic: bool| {
        let mut builder =
            Server::builder(Arc::new(MemoryBackend::new())).bind("127.0.0.1:0".parse().unwrap());
        if let Some(tls) = tls {
            builder = builder.tls(tls);
        }
        if quic {
            builder = builder.quic("127.0.0.1:0".parse().unwrap());
        }
        async move { builder.start().await.err().unwrap() }
    };
    let missing = dir.path().join("missing.pem");
    for (tls, quic, needle) in [
        (
            Some(TlsConfig::new(&missing, &pki.key_file)),
            false,
            "cert_file",
        ),
        (
            Some(TlsConfig::new(&pki.cert_file, &missing)),
            false,
            "key_file",
        ),
        // A key file where the certificate belongs: no certificate in it.
        (
            Some(TlsConfig::new(&pki.key_file, &pki.key_file)),
            false,
            "cert_file",
        ),
        // Another server's key.
        (
            Some(TlsConfig::new(&pki.cert_file, &other.key_file)),
            false,
            "certificate and key",
        ),
        (None, true, "quic needs a certificate"),
    ] {
        let err = start(tls, quic).await;
        assert!(matches!(err, ServerError::Config(_)), "{err}");
        let shown = err.to_string();
        assert!(shown.contains(needle), "{needle}: {shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}
