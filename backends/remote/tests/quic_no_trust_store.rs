//! Over QUIC with validation on, the SDK trusts only the platform store; when
//! it holds no CA certificate at all, connecting is a `Config` error naming
//! `tls_validate_certificate` and saying where the store is read from.
//!
//! A binary of its own: it points `SSL_CERT_FILE` (process-wide) at an empty
//! file before any QUIC client exists.

mod common;

use rustok_iggy::ErrorKind;
use rustok_iggy_remote::RemoteBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_platform_trust_store_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-roots.pem");
    std::fs::write(&empty, "").unwrap();
    std::env::set_var("SSL_CERT_FILE", &empty);
    std::env::remove_var("SSL_CERT_DIR");

    // A server with a certificate (made in the tempdir, not trusted).
    let pki = rustok_iggy_server::test_support::TestPki::generate(dir.path()).unwrap();
    let server = rustok_iggy_server::Server::builder(std::sync::Arc::new(
        rustok_iggy_testkit::MemoryBackend::new(),
    ))
    .bind("127.0.0.1:0".parse().unwrap())
    .tls(pki.tls_config())
    .quic("127.0.0.1:0".parse().unwrap())
    .start()
    .await
    .unwrap();
    let mut config = common::config(server.quic_addr().unwrap());
    config.url = format!("iggy+quic://iggy:iggy@{}", server.quic_addr().unwrap());
    config.reconnect_retries = Some(0);
    let err = RemoteBackend::connect(config)
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(
        err.context("key"),
        Some("plugins.remote.tls_validate_certificate")
    );
    assert!(err.to_string().contains("SSL_CERT_FILE"), "{err}");
    server.shutdown().await.unwrap();
}
