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
rustok_iggy_testkit::receiver_conformance!(remote_receiver, common::backend());

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

/// Reading a server's DLQ creates nothing on it (an operator's `dlq list`
/// or `health` leaves no trace); the first put creates its topics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_dlq_creates_nothing_until_the_first_put() {
    use rustok_iggy::{Backend, DlqFilter, DlqStore, ErrorKind};

    let memory = std::sync::Arc::new(rustok_iggy_testkit::MemoryBackend::new());
    let server = rustok_iggy_server::Server::builder(memory.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let store = rustok_iggy_remote::dlq_store(common::config(server.local_addr())).unwrap();
    let stream = "__rustok_dlq";
    assert!(store
        .list(DlqFilter::default(), None, 10)
        .await
        .unwrap()
        .entries
        .is_empty());
    assert_eq!(store.count(DlqFilter::default()).await.unwrap(), 0);
    assert_eq!(store.get(1).await.unwrap(), None);
    assert!(!store.delete(1).await.unwrap());
    let missing = store
        .mark_redriven(1, chrono::Utc::now())
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    let topics = memory.list_topics(stream).await.unwrap_or_default();
    assert!(topics.is_empty(), "reads created {topics:?}");

    let id = store
        .put(rustok_iggy_testkit::fixtures::test_dead_letter(1))
        .await
        .unwrap();
    assert_eq!(store.get(id).await.unwrap().map(|e| e.id), Some(id));
    assert_eq!(memory.list_topics(stream).await.unwrap().len(), 2);
    server.shutdown().await.unwrap();
}
