//! The QUIC listener, with the official SDK's QUIC client, certificate
//! validation on.
//!
//! The SDK's QUIC client validates only through the platform verifier (it
//! has no CA-file option); on Linux that verifier reads `SSL_CERT_FILE`. The
//! tests with an SDK QUIC client are `#[ignore]`d and run by
//! `sdk_quic_tests_run_in_a_child_trusting_the_test_ca` in a child process
//! whose environment names this binary's CA
//! ([`test_support::run_trusting_in_child`]): no test changes the
//! environment of this process.

mod common;

use std::{path::Path, sync::Arc};

use iggy::prelude::*;
use rustok_iggy::{Backend, TopicRef};
use rustok_iggy_server::{
    test_support::{self, TestPki},
    RunningServer, Server,
};
use rustok_iggy_testkit::MemoryBackend;

fn trusted() -> &'static TestPki {
    test_support::process_pki(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-quic-pki"))
        .unwrap()
}

#[test]
fn sdk_quic_tests_run_in_a_child_trusting_the_test_ca() {
    let passed = test_support::run_trusting_in_child("", trusted()).unwrap();
    assert_eq!(passed, 3, "every SDK QUIC test ran");
}

async fn quic_server(backend: Arc<dyn Backend>, pki: &TestPki) -> RunningServer {
    Server::builder(backend)
        .bind("127.0.0.1:0".parse().unwrap())
        .tls(pki.tls_config())
        .quic("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SSL_CERT_FILE: run by sdk_quic_tests_run_in_a_child_trusting_the_test_ca"]
async fn the_sdk_logs_in_creates_sends_and_polls_over_quic() {
    let pki = trusted();
    let backend = Arc::new(MemoryBackend::new());
    let server = quic_server(backend.clone(), pki).await;
    let quic_addr = server.quic_addr().unwrap();
    assert_ne!(quic_addr.port(), 0);
    for name in ["localhost", "127.0.0.1"] {
        let client = common::quic_client(quic_addr, name);
        client.connect().await.unwrap();
        common::round_trip(&client, &format!("app-{name}")).await;
        let me = client.get_me().await.unwrap();
        assert!(
            me.transport.to_lowercase().contains("quic"),
            "{}",
            me.transport
        );
        client.shutdown().await.unwrap();
    }
    // The messages landed in the backend, as over TCP.
    assert_eq!(
        backend
            .records(&TopicRef::new("app-localhost", "orders"), 1)
            .unwrap()
            .len(),
        2
    );
    // The TCP listener (TLS) serves next to it.
    let tcp = common::tls_client(server.local_addr(), Some(&pki.ca_file), "localhost");
    tcp.connect().await.unwrap();
    tcp.ping().await.unwrap();
    tcp.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SSL_CERT_FILE: run by sdk_quic_tests_run_in_a_child_trusting_the_test_ca"]
async fn validation_is_on_a_misnamed_or_untrusted_certificate_is_refused() {
    let pki = trusted();
    let server = quic_server(Arc::new(MemoryBackend::new()), pki).await;
    let quic_addr = server.quic_addr().unwrap();
    let client = common::quic_client(quic_addr, "wrong.example");
    let refused = match client.connect().await {
        Err(_) => true,
        Ok(()) => client.ping().await.is_err(),
    };
    assert!(refused, "a certificate without the name was accepted");
    let _ = client.shutdown().await;

    // A server whose certificate another CA signed: not trusted.
    let dir = tempfile::tempdir().unwrap();
    let stranger = TestPki::generate(dir.path()).unwrap();
    let other = quic_server(Arc::new(MemoryBackend::new()), &stranger).await;
    let client = common::quic_client(other.quic_addr().unwrap(), "localhost");
    let refused = match client.connect().await {
        Err(_) => true,
        Ok(()) => client.ping().await.is_err(),
    };
    assert!(refused, "a certificate from an untrusted CA was accepted");
    let _ = client.shutdown().await;
    other.shutdown().await.unwrap();

    // The refused handshake did not stop the first server.
    let client = common::quic_client(quic_addr, "localhost");
    client.connect().await.unwrap();
    client.ping().await.unwrap();
    client.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SSL_CERT_FILE: run by sdk_quic_tests_run_in_a_child_trusting_the_test_ca"]
async fn a_quic_member_holds_partitions_and_shutdown_closes_its_connection() {
    let pki = trusted();
    let backend = Arc::new(MemoryBackend::new());
    let server = quic_server(backend.clone(), pki).await;
    let client = common::quic_client(server.quic_addr().unwrap(), "localhost");
    client.connect().await.unwrap();
    client.create_stream("app").await.unwrap();
    let (stream, topic, group) = (
        Identifier::named("app").unwrap(),
        Identifier::named("orders").unwrap(),
        Identifier::named("billing").unwrap(),
    );
    client
        .create_topic(
            &stream,
            "orders",
            &TopicCreateOptions {
                partitions_count: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    client
        .create_consumer_group(&stream, &topic, "billing")
        .await
        .unwrap();
    client
        .join_consumer_group(&stream, &topic, &group)
        .await
        .unwrap();
    let me = client.get_me().await.unwrap();
    assert_eq!(me.consumer_groups_count, 1);
    let details = client
        .get_consumer_group(&stream, &topic, &group)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(details.members_count, 1);

    // Shutdown completes with the QUIC connection open; its member left.
    server.shutdown().await.unwrap();
    let joined = backend
        .join_group(&TopicRef::new("app", "orders"), "billing")
        .await
        .unwrap();
    let assignment = backend
        .sync_group(
            &TopicRef::new("app", "orders"),
            "billing",
            joined,
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(assignment.partitions.len(), 2, "{assignment:?}");
    let _ = client.shutdown().await;
}

/// A bare QUIC client (quinn, trusting the test CA) that sends `frames`,
/// each on a stream of its own as the SDK does, and returns each reply
/// (empty when the stream ended without one).
async fn raw_quic(addr: std::net::SocketAddr, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&trusted().ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let crypto = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(crypto).unwrap(),
    )));
    let connection = endpoint.connect(addr, "localhost").unwrap().await.unwrap();
    let mut replies = Vec::new();
    for frame in frames {
        let Ok((mut send, mut recv)) = connection.open_bi().await else {
            replies.push(Vec::new());
            continue;
        };
        let _ = send.write_all(frame).await;
        let _ = send.finish();
        replies.push(recv.read_to_end(1 << 20).await.unwrap_or_default());
    }
    endpoint.close(0u32.into(), b"done");
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_requests_have_the_tcp_frame_limits() {
    use iggy_binary_protocol::codes::{PING_CODE, SEND_MESSAGES_CODE};
    use rustok_iggy_server::fuzzing::{reply_status, request};

    let pki = trusted();
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .tls(pki.tls_config())
        .quic("127.0.0.1:0".parse().unwrap())
        .max_frame_bytes(64 * 1024)
        .start()
        .await
        .unwrap();
    let addr = server.quic_addr().unwrap();

    // Before login: a ping is served, a 20 KiB body is refused (40,
    // unauthenticated) and the connection closed: nothing after it is served.
    let ping = request(PING_CODE, &[]);
    let replies = raw_quic(
        addr,
        &[
            ping.clone(),
            request(SEND_MESSAGES_CODE, &[0u8; 20 * 1024]),
            ping.clone(),
        ],
    )
    .await;
    assert_eq!(reply_status(&replies[0]), Some(0));
    assert_eq!(reply_status(&replies[1]), Some(40));
    assert!(replies[2].is_empty(), "served after the refusal");

    // Above max_frame_bytes: refused (3, invalid command), then closed.
    let replies = raw_quic(
        addr,
        &[request(SEND_MESSAGES_CODE, &[0u8; 65 * 1024]), ping.clone()],
    )
    .await;
    assert_eq!(reply_status(&replies[0]), Some(3));
    assert!(replies[1].is_empty(), "served after the refusal");

    // The server serves the next connection.
    let replies = raw_quic(addr, &[ping]).await;
    assert_eq!(reply_status(&replies[0]), Some(0));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_public_quic_address_needs_credentials_like_a_public_tcp_one() {
    let err = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .tls(trusted().tls_config())
        .quic("0.0.0.0:0".parse().unwrap())
        .start()
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("0.0.0.0:0 is not a loopback address"),
        "{err}"
    );
}
