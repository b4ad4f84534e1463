//! Over QUIC with validation on, the SDK trusts only the platform store; when
//! it holds no CA certificate at all, connecting is a `Config` error naming
//! `tls_validate_certificate` and saying where the store is read from.
//!
//! The store is emptied for a child process only: `SSL_CERT_FILE` names an
//! empty file in the child's environment (this process's is never changed).

mod common;

use rustok_iggy::ErrorKind;
use rustok_iggy_remote::RemoteBackend;
use rustok_iggy_server::test_support;

#[test]
fn runs_in_a_child_with_an_empty_trust_store() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-roots.pem");
    std::fs::write(&empty, "").unwrap();
    let passed = test_support::run_ignored_in_child(
        "an_empty_platform_trust_store",
        &[("SSL_CERT_FILE", empty.as_os_str())],
        &["SSL_CERT_DIR"],
    )
    .unwrap();
    assert_eq!(passed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an empty SSL_CERT_FILE: run by runs_in_a_child_with_an_empty_trust_store"]
async fn an_empty_platform_trust_store_is_a_config_error_naming_the_key() {
    // A server with a certificate (made in the tempdir, not trusted).
    let dir = tempfile::tempdir().unwrap();
    let pki = test_support::TestPki::generate(dir.path()).unwrap();
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
