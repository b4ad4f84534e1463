//! Conformance suites: one per plugin trait, run by every implementation.
//!
//! Each case is a plain `pub async fn` (or `fn` for codecs) taking the plugin
//! under test, so the logic lives once; the `*_conformance!` macros expand
//! into a module with one test per case, so each case passes or fails on its
//! own and shows up by name:
//!
//! ```
//! // In a test file such as `tests/conformance.rs`:
//! use std::sync::Arc;
//! use rustok_iggy::{Backend, Codec, DlqStore, OffsetStore};
//! use rustok_iggy_testkit::{MemoryBackend, MemoryDlqStore, MemoryOffsetStore};
//!
//! rustok_iggy_testkit::backend_conformance!(memory_backend, async {
//!     Arc::new(MemoryBackend::new()) as Arc<dyn Backend>
//! });
//! rustok_iggy_testkit::offsets_conformance!(memory_offsets, async {
//!     Arc::new(MemoryOffsetStore::new()) as Arc<dyn OffsetStore>
//! });
//! rustok_iggy_testkit::dlq_conformance!(memory_dlq, async {
//!     Arc::new(MemoryDlqStore::new()) as Arc<dyn DlqStore>
//! });
//! # struct JsonCodec;
//! # impl Codec for JsonCodec {
//! #     fn name(&self) -> &str { "json" }
//! #     fn capabilities(&self) -> rustok_iggy::CodecCapabilities { Default::default() }
//! #     fn encode(&self, _: &dyn erased_serde::Serialize) -> rustok_iggy::Result<Vec<u8>> { unimplemented!() }
//! #     fn decode(&self, _: &[u8], _: &mut dyn rustok_iggy::DecodeSink) -> rustok_iggy::Result<()> { unimplemented!() }
//! # }
//! rustok_iggy_testkit::codec_conformance!(json, || Arc::new(JsonCodec) as Arc<dyn Codec>);
//! # fn main() {}
//! ```
//!
//! The factory expression is evaluated once per case, so every case gets a
//! fresh plugin. It may also produce `(plugin, guard)`: the guard (a temporary
//! directory, a server handle) is kept alive until the case ends; see
//! [`Fixture`]. Names used in the expression must be in scope where the macro is
//! invoked (the generated module imports `super::*`).
//!
//! The suites are driven by capabilities: a case about something a plugin
//! does not claim (timestamp polls, long polls, cooperative rebalancing)
//! returns early and passes. Cases create their streams, topics, groups and
//! DLQ topics under fresh unique names, so they also run against a shared,
//! persistent server or store. Persistence across a reopen is out of scope
//! here: each persistent plugin tests that itself.
//!
//! The async macros generate `#[tokio::test]`s on a multi-threaded runtime
//! through this crate's own tokio, so the calling crate needs no tokio
//! dependency, but it must depend on this crate under its own name,
//! `rustok_iggy_testkit` (not renamed).

pub mod backend;
pub mod codec;
pub mod dlq;
pub mod offsets;
pub mod receiver;

use std::sync::Arc;

/// What a conformance factory produces: the plugin under test, possibly with
/// something that must live as long as the case.
///
/// Implemented for `Arc<T>` and for `(Arc<T>, G)` with any guard `G`.
pub trait Fixture<T: ?Sized> {
    /// The plugin under test.
    fn subject(&self) -> Arc<T>;
}

impl<T: ?Sized> Fixture<T> for Arc<T> {
    fn subject(&self) -> Arc<T> {
        self.clone()
    }
}

impl<T: ?Sized, G> Fixture<T> for (Arc<T>, G) {
    fn subject(&self) -> Arc<T> {
        self.0.clone()
    }
}

/// `prefix-<fresh v7 uuid>`: a name no other case (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Prints why a case was skipped (visible with `--nocapture`).
fn skip(case: &str, why: &str) {
    eprintln!("conformance case `{case}` skipped: {why}");
}

/// Runs the [`Backend`](rustok_iggy::Backend) conformance suite
/// ([`conformance::backend`](crate::conformance::backend)) as one test per case.
///
/// `$name` names the generated module; `$factory` is an expression producing a
/// future of `Arc<dyn Backend>` (or of `(Arc<dyn Backend>, guard)`), evaluated
/// afresh for every case.
/// Attributes before `$name` go on every generated test (the three suite
/// macros take them alike), e.g. `#[ignore = "why"]` for cases another test
/// runs in a child process.
///
/// ```
/// use std::sync::Arc;
/// use rustok_iggy::Backend;
/// use rustok_iggy_testkit::MemoryBackend;
///
/// rustok_iggy_testkit::backend_conformance!(memory, async {
///     Arc::new(MemoryBackend::new()) as Arc<dyn Backend>
/// });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! backend_conformance {
    ($(#[$attr:meta])* $name:ident, $factory:expr $(,)?) => {
        $crate::backend_cases!([$crate::__conformance_module]([$(#[$attr])*] $name, backend, $factory));
    };
}

/// Runs the [`OffsetStore`](rustok_iggy::OffsetStore) conformance suite
/// ([`conformance::offsets`](crate::conformance::offsets)) as one test per case.
///
/// `$factory` produces a future of `Arc<dyn OffsetStore>` (or of
/// `(Arc<dyn OffsetStore>, guard)`).
#[macro_export]
macro_rules! offsets_conformance {
    ($(#[$attr:meta])* $name:ident, $factory:expr $(,)?) => {
        $crate::offsets_cases!([$crate::__conformance_module]([$(#[$attr])*] $name, offsets, $factory));
    };
}

/// Runs the [`DlqStore`](rustok_iggy::DlqStore) conformance suite
/// ([`conformance::dlq`](crate::conformance::dlq)) as one test per case.
///
/// `$factory` produces a future of `Arc<dyn DlqStore>` (or of
/// `(Arc<dyn DlqStore>, guard)`).
#[macro_export]
macro_rules! dlq_conformance {
    ($(#[$attr:meta])* $name:ident, $factory:expr $(,)?) => {
        $crate::dlq_cases!([$crate::__conformance_module]([$(#[$attr])*] $name, dlq, $factory));
    };
}

/// Runs the pull-consumer suite ([`conformance::receiver`](crate::conformance::receiver))
/// over a backend, as one test per case.
///
/// `$factory` produces a future of `Arc<dyn Backend>` (or of
/// `(Arc<dyn Backend>, guard)`), like [`backend_conformance!`]; each case
/// builds its transport on it.
#[macro_export]
macro_rules! receiver_conformance {
    ($(#[$attr:meta])* $name:ident, $factory:expr $(,)?) => {
        $crate::receiver_cases!([$crate::__conformance_module]([$(#[$attr])*] $name, receiver, $factory));
    };
}

/// Expands `callback!(args; case, case, …)` with every case of the receiver
/// suite ([`conformance::receiver`](crate::conformance::receiver)); see
/// [`backend_cases!`](crate::backend_cases). The case list lives only here.
#[macro_export]
macro_rules! receiver_cases {
    ([$($callback:tt)*] ($($args:tt)*)) => {
        $($callback)*!($($args)*;
            acks_out_of_order_commit_the_settled_prefix_only,
            a_nack_redelivers_as_the_next_attempt_and_holds_back_its_key,
            exhausted_and_rejected_messages_go_to_the_dlq_with_the_reason,
            undecodable_messages_go_to_the_dlq_not_to_the_application,
            unsettled_deliveries_are_delivered_again_after_a_restart,
            a_rebalance_hands_unsettled_deliveries_to_the_new_owner,
            shutdown_waits_for_deliveries_out_and_commits_them,
            transport_shutdown_waits_for_receivers_deliveries_out,
        );
    };
}

/// Runs the [`Codec`](rustok_iggy::Codec) conformance suite
/// ([`conformance::codec`](crate::conformance::codec)) as one `#[test]` per case.
///
/// `$factory` is a closure returning `Arc<dyn Codec>`, called once per case.
///
/// ```ignore
/// // With the codecs crate:
/// use std::sync::Arc;
/// use rustok_iggy::Codec;
///
/// rustok_iggy_testkit::codec_conformance!(json, || {
///     Arc::new(rustok_iggy_codecs::JsonCodec::new()) as Arc<dyn Codec>
/// });
/// ```
#[macro_export]
macro_rules! codec_conformance {
    ($name:ident, $factory:expr $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $crate::__codec_cases!(
                $factory;
                name_is_stable_and_header_safe,
                round_trips_sample_events,
                round_trips_an_envelope,
                encoding_is_deterministic,
                encoding_into_a_buffer_appends_the_same_bytes,
                rejects_garbage,
                never_panics_on_random_input,
                rejects_truncated_input,
                rejects_trailing_bytes,
            );
        }
    };
}

/// Expands `callback!(args; case, case, …)` with every case of the backend
/// suite ([`conformance::backend`](crate::conformance::backend)), so a custom
/// harness (one that skips without a server, say) runs exactly the list the
/// `backend_conformance!` macro runs. The case list lives only here.
///
/// ```ignore
/// rustok_iggy_testkit::backend_cases!([my_harness] (backend, my_factory));
/// // expands to: my_harness!(backend, my_factory; <every case>,);
/// ```
#[macro_export]
macro_rules! backend_cases {
    ([$($callback:tt)*] ($($args:tt)*)) => {
        $($callback)*!($($args)*;
            ensure_topic_is_idempotent,
            ensure_topic_rejects_another_partition_count,
            topic_info_and_list_topics,
            unknown_topics_and_partitions_are_not_found,
            delete_topic_removes_it_and_polls_fail_not_found,
            delete_unknown_topic_is_not_found,
            add_partitions_appends_empty_partitions_and_keeps_existing_data,
            add_partitions_rejects_zero_and_too_many,
            delete_partitions_removes_the_last_and_keeps_the_rest,
            delete_partitions_rejects_zero_and_all,
            purge_topic_empties_every_partition_and_offsets_restart,
            delete_segments_keeps_the_active_segment,
            topic_retention_reads_back_as_set,
            append_returns_dense_offsets,
            poll_from_offset,
            poll_beyond_end_is_empty,
            poll_below_first_offset_starts_at_first,
            poll_respects_max_records,
            records_keep_id_headers_and_payload,
            partitions_are_independent,
            partition_info_tracks_first_and_next,
            flush_keeps_records_and_checks_the_partition,
            timestamps_are_microseconds_and_non_decreasing,
            poll_by_timestamp,
            long_poll_wakes_on_append,
            concurrent_appends_get_dense_unique_offsets,
            group_members_share_partitions,
            group_leave_hands_partitions_over,
            commits_are_fenced_to_the_partition_owner,
            sync_of_unknown_member_is_not_found,
            shutdown_closes,
        );
    };
}

/// Expands `callback!(args; case, case, …)` with every case of the offsets
/// suite ([`conformance::offsets`](crate::conformance::offsets)), so a custom
/// harness (one that skips without a server, say) runs exactly the list the
/// `offsets_conformance!` macro runs. The case list lives only here.
///
/// ```ignore
/// rustok_iggy_testkit::offsets_cases!([my_harness] (offsets, my_factory));
/// // expands to: my_harness!(offsets, my_factory; <every case>,);
/// ```
#[macro_export]
macro_rules! offsets_cases {
    ([$($callback:tt)*] ($($args:tt)*)) => {
        $($callback)*!($($args)*;
            describes_itself,
            load_of_unknown_position_is_none,
            commit_then_load,
            commit_can_move_backwards,
            commit_is_idempotent,
            delete_forgets,
            delete_of_unknown_position_is_ok,
            positions_are_independent,
        );
    };
}

/// Expands `callback!(args; case, case, …)` with every case of the dlq
/// suite ([`conformance::dlq`](crate::conformance::dlq)), so a custom
/// harness (one that skips without a server, say) runs exactly the list the
/// `dlq_conformance!` macro runs. The case list lives only here.
///
/// ```ignore
/// rustok_iggy_testkit::dlq_cases!([my_harness] (dlq, my_factory));
/// // expands to: my_harness!(dlq, my_factory; <every case>,);
/// ```
#[macro_export]
macro_rules! dlq_cases {
    ([$($callback:tt)*] ($($args:tt)*)) => {
        $($callback)*!($($args)*;
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
            put_is_idempotent_per_source,
            count_matches_filters,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_module {
    ([$($attr:tt)*] $name:ident, $suite:ident, $factory:expr; $($case:ident),* $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $crate::__conformance_cases!([$($attr)*] $suite, $factory; $($case),*);
        }
    };
}

/// One test per case, one case at a time (the attributes repeat per case,
/// which a single macro repetition cannot express).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ([$($attr:tt)*] $suite:ident, $factory:expr;) => {};
    ([$($attr:tt)*] $suite:ident, $factory:expr; $case:ident $(, $rest:ident)*) => {
        #[$crate::__private::tokio::test(
            flavor = "multi_thread",
            worker_threads = 2,
            crate = "rustok_iggy_testkit::__private::tokio"
        )]
        $($attr)*
        async fn $case() {
            let fixture = $factory.await;
            let subject = $crate::conformance::Fixture::subject(&fixture);
            $crate::conformance::$suite::$case(subject).await;
            drop(fixture);
        }

        $crate::__conformance_cases!([$($attr)*] $suite, $factory; $($rest),*);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __codec_cases {
    ($factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let codec: ::std::sync::Arc<dyn $crate::__private::rustok_iggy::Codec> = ($factory)();
                $crate::conformance::codec::$case(codec);
            }
        )*
    };
}
