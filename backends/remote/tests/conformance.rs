//! The testkit conformance suites against a `rustok_iggy_server::Server`
//! (over a memory backend) started by each case on a free loopback port.
//!
//! The offsets suite runs through the testkit's `EnsuringTopics` (Iggy keeps
//! offsets only for existing partitions), and the remote store declares
//! `zero_forgets` (Iggy stores the last consumed offset, so "nothing consumed"
//! has no value of its own); see the `RemoteOffsetStore` docs.

mod common;

rustok_iggy_testkit::backend_conformance!(remote_backend, common::backend());
rustok_iggy_testkit::dlq_conformance!(remote_dlq, common::dlq());
rustok_iggy_testkit::offsets_conformance!(remote_offsets, common::offsets());
