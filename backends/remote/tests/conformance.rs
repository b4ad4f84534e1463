//! The testkit conformance suites against a `rustok_iggy_server::Server`
//! (over a memory backend) started by each case on a free loopback port.
//!
//! The offset-store suite is not run here: it commits to topics that do not
//! exist and expects a committed `0` to read back as `Some(0)`, and Iggy's
//! server-side offsets can do neither (see `tests/offsets.rs` and the
//! `RemoteOffsetStore` docs).

mod common;

rustok_iggy_testkit::backend_conformance!(remote_backend, common::backend());
rustok_iggy_testkit::dlq_conformance!(remote_dlq, common::dlq());
