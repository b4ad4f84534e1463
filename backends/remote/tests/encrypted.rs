//! TLS and QUIC options of the remote backend reach the SDK: certificate
//! validation is on by default (an untrusted or misnamed certificate is
//! refused), and `tls_validate_certificate = false` really turns it off.
//! Against a `rustok_iggy_server::Server` with a certificate made by the
//! test.

mod common;

use common::Wire;
use rustok_iggy::{Backend, ErrorKind, HealthStatus};
use rustok_iggy_remote::{RemoteBackend, RemoteConfig};

/// `config`, failing fast: one dial, no redials.
fn once(mut config: RemoteConfig) -> RemoteConfig {
    config.reconnect_retries = Some(0);
    config.connect_timeout_ms = 3_000;
    config
}

async fn refused(config: RemoteConfig, case: &str) {
    let err = RemoteBackend::connect(once(config))
        .await
        .map(|_| ())
        .expect_err(case);
    assert_ne!(err.kind(), ErrorKind::Config, "{case}: {err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(":iggy@"), "{case}: {shown}");
}

async fn accepted(config: RemoteConfig, case: &str) {
    let backend = RemoteBackend::connect(once(config)).await.expect(case);
    assert_eq!(backend.health().await, HealthStatus::Healthy, "{case}");
    backend.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_validates_by_default_and_the_options_reach_the_sdk() {
    let server = common::server_over(Wire::Tls).await;
    let good = common::config_over(Wire::Tls, &server);
    accepted(good.clone(), "CA file and domain").await;

    let mut no_ca = good.clone();
    no_ca.tls_ca_file = None;
    refused(no_ca.clone(), "no CA file: only public roots are trusted").await;

    let mut wrong_name = good.clone();
    wrong_name.tls_domain = Some("wrong.example".to_owned());
    refused(wrong_name, "a name the certificate lacks").await;

    let mut other_ca = good.clone();
    other_ca.tls_ca_file = Some(common::pki().other_ca_file.display().to_string());
    refused(other_ca, "another CA").await;

    let mut plain = good.clone();
    plain.tls = false;
    plain.tls_ca_file = None;
    plain.tls_domain = None;
    refused(plain, "plain TCP against the TLS port").await;

    // Off: the untrusted certificate is accepted (a throwaway-server knob).
    no_ca.tls_validate_certificate = false;
    accepted(no_ca, "validation off").await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SSL_CERT_FILE: run by quic_tests_run_in_a_child_trusting_the_test_ca"]
async fn quic_validates_by_default_and_the_options_reach_the_sdk() {
    let server = common::server_over(Wire::Quic).await;
    let good = common::config_over(Wire::Quic, &server);
    accepted(good.clone(), "trusted CA and domain").await;

    // Without `tls_domain` the name is the dialled host, 127.0.0.1, which
    // the certificate carries too.
    let mut by_address = good.clone();
    by_address.tls_domain = None;
    accepted(by_address, "the address as the name").await;

    let mut wrong_name = good.clone();
    wrong_name.tls_domain = Some("wrong.example".to_owned());
    refused(wrong_name.clone(), "a name the certificate lacks").await;

    wrong_name.tls_validate_certificate = false;
    accepted(wrong_name, "validation off").await;

    // The TCP port of the same server is not a QUIC endpoint.
    let mut tcp_port = good.clone();
    tcp_port.url = format!("iggy+quic://iggy:iggy@{}", server.local_addr());
    refused(tcp_port, "nothing speaks QUIC there").await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SSL_CERT_FILE: run by quic_tests_run_in_a_child_trusting_the_test_ca"]
async fn quic_health_follows_the_connection() {
    let server = common::server_over(Wire::Quic).await;
    let mut config = common::config_over(Wire::Quic, &server);
    config.request_timeout_ms = 2_000;
    config.reconnect_retries = Some(0);
    let backend = RemoteBackend::connect(config).await.unwrap();
    assert_eq!(backend.health().await, HealthStatus::Healthy);
    server.shutdown().await.unwrap();
    let health = backend.health().await;
    assert!(matches!(health, HealthStatus::Unhealthy(_)), "{health:?}");
    backend.shutdown().await.unwrap();
}

/// The SDK's QUIC client trusts only the platform verifier (`SSL_CERT_FILE`):
/// the QUIC tests run in a child process whose environment names the test CA.
#[test]
fn quic_tests_run_in_a_child_trusting_the_test_ca() {
    let passed = common::run_trusting_in_child("quic_").unwrap();
    assert_eq!(passed, 2);
}
