//! The backend, offsets and DLQ conformance suites against a real Iggy server at
//! `RUSTOK_IGGY_TEST_URL` (for example `iggy+tcp://iggy:iggy@127.0.0.1:8090`).
//! Without it every case prints that it skipped and passes. Cases work in
//! streams and DLQ streams of their own, so a shared server is fine.

mod common;

use std::sync::Arc;

use rustok_iggy::{Backend, DlqStore, OffsetStore};
use rustok_iggy_remote::{RemoteBackend, RemoteConfig, RemoteDlqStore};

async fn backend(url: &str) -> Arc<dyn Backend> {
    Arc::new(
        RemoteBackend::connect(RemoteConfig::new(url))
            .await
            .unwrap(),
    )
}

async fn dlq(url: &str) -> Arc<dyn DlqStore> {
    let mut config = RemoteConfig::new(url);
    // A DLQ stream per case: the suite expects an empty store.
    config.dlq_stream = format!("rustok-dlq-test-{}", uuid::Uuid::now_v7().simple());
    Arc::new(RemoteDlqStore::new(config).unwrap())
}

async fn offsets(url: &str) -> Arc<dyn OffsetStore> {
    common::ensuring_topics(RemoteConfig::new(url)).await
}

macro_rules! real_server_cases {
    ($suite:ident, $factory:ident; $($case:ident),* $(,)?) => {
        mod $suite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(url) = common::real_server_url(concat!(stringify!($suite), "::", stringify!($case))) else {
                        return;
                    };
                    rustok_iggy_testkit::conformance::$suite::$case($factory(&url).await).await;
                }
            )*
        }
    };
}

rustok_iggy_testkit::backend_cases!([real_server_cases](backend, backend));
rustok_iggy_testkit::offsets_cases!([real_server_cases](offsets, offsets));
rustok_iggy_testkit::dlq_cases!([real_server_cases](dlq, dlq));
