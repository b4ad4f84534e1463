//! The backend and DLQ conformance suites against a real Iggy server at
//! `RUSTOK_IGGY_TEST_URL` (for example `iggy+tcp://iggy:iggy@127.0.0.1:8090`).
//! Without it every case prints that it skipped and passes. Cases work in
//! streams and DLQ streams of their own, so a shared server is fine.

mod common;

use std::sync::Arc;

use rustok_iggy::{Backend, DlqStore};
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

real_server_cases!(backend, backend;
    ensure_topic_is_idempotent,
    ensure_topic_rejects_another_partition_count,
    topic_info_and_list_topics,
    unknown_topics_and_partitions_are_not_found,
    append_returns_dense_offsets,
    poll_from_offset,
    poll_beyond_end_is_empty,
    poll_below_first_offset_starts_at_first,
    poll_respects_max_records,
    records_keep_id_headers_and_payload,
    partitions_are_independent,
    partition_info_tracks_first_and_next,
    timestamps_are_microseconds_and_non_decreasing,
    poll_by_timestamp,
    long_poll_wakes_on_append,
    concurrent_appends_get_dense_unique_offsets,
    group_members_share_partitions,
    group_leave_hands_partitions_over,
    sync_of_unknown_member_is_not_found,
    shutdown_closes,
);

real_server_cases!(dlq, dlq;
    describes_itself,
    put_returns_ascending_ids,
    get_returns_the_letter_unchanged,
    get_of_unknown_id_is_none,
    list_pages_with_after_limit_and_next_after,
    list_filters_by_topic_group_and_event_type,
    list_filters_by_time,
    mark_redriven_hides_entries_by_default,
    mark_redriven_of_unknown_id_is_not_found,
    delete_removes,
    count_matches_filters,
);
