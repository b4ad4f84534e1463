//! The testkit conformance suites against a `rustok_iggy_server::Server`
//! (over a memory backend) started by each case on a free loopback port.
//!
//! The offsets suite runs through the testkit's `EnsuringTopics` (Iggy keeps
//! offsets only for existing partitions), and the remote store declares
//! `zero_forgets` (Iggy stores the last consumed offset, so "nothing consumed"
//! has no value of its own); see the `RemoteOffsetStore` docs.
//!
//! The same suites run three times: over plain TCP, over TLS (CA file,
//! `tls_domain`, validation on) and over QUIC (validation on), each case
//! with a server that serves that transport.

mod common;

rustok_iggy_testkit::backend_conformance!(remote_backend, common::backend());
rustok_iggy_testkit::dlq_conformance!(remote_dlq, common::dlq());
rustok_iggy_testkit::offsets_conformance!(remote_offsets, common::offsets());

/// `iggy+tcp://` with `tls = true`.
mod tls {
    use super::common::{self, Wire};

    rustok_iggy_testkit::backend_conformance!(remote_backend, common::backend_over(Wire::Tls));
    rustok_iggy_testkit::dlq_conformance!(remote_dlq, common::dlq_over(Wire::Tls));
    rustok_iggy_testkit::offsets_conformance!(remote_offsets, common::offsets_over(Wire::Tls));
}

/// `iggy+quic://`. The SDK's QUIC client trusts only the platform verifier,
/// which reads `SSL_CERT_FILE`: these cases are `#[ignore]`d here and run by
/// `quic_suites_run_in_a_child_trusting_the_test_ca` in a child process
/// whose environment names the test CA.
mod quic {
    use super::common::{self, Wire};

    rustok_iggy_testkit::backend_conformance!(
        #[ignore = "needs SSL_CERT_FILE: run by quic_suites_run_in_a_child_trusting_the_test_ca"]
        remote_backend,
        common::backend_over(Wire::Quic)
    );
    rustok_iggy_testkit::dlq_conformance!(
        #[ignore = "needs SSL_CERT_FILE: run by quic_suites_run_in_a_child_trusting_the_test_ca"]
        remote_dlq,
        common::dlq_over(Wire::Quic)
    );
    rustok_iggy_testkit::offsets_conformance!(
        #[ignore = "needs SSL_CERT_FILE: run by quic_suites_run_in_a_child_trusting_the_test_ca"]
        remote_offsets,
        common::offsets_over(Wire::Quic)
    );
}

#[test]
fn quic_suites_run_in_a_child_trusting_the_test_ca() {
    let passed = common::run_trusting_in_child("quic::").unwrap();
    assert!(passed > 20, "the QUIC suites ran: {passed} cases");
}
