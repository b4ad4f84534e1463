//! # rustok-iggy-testkit
//!
//! Everything needed to test code built on [`rustok_iggy`] without a broker,
//! and to check that a plugin keeps the core's contracts.
//!
//! - [`MemoryBackend`]: a complete in-memory [`Backend`](rustok_iggy::Backend)
//!   (dense offsets, timestamps, timestamp polls, long polls, in-process
//!   consumer groups) with its own [`MemoryOffsetStore`] and
//!   [`MemoryDlqStore`], re-exported from the `rustok-iggy-memory` crate. It
//!   is also registered under the name `"memory"` for config-driven
//!   composition (call [`link()`] from the binary).
//! - [`mocks`]: the core's mockall mocks ([`MockBackend`], [`MockCodec`],
//!   [`MockOffsetStore`], [`MockDlqStore`]) for tests that script one exact
//!   interaction.
//! - [`conformance`]: one suite per plugin trait, run with
//!   [`backend_conformance!`], [`offsets_conformance!`],
//!   [`dlq_conformance!`] and [`codec_conformance!`]; every backend, store
//!   and codec runs it.
//! - [`FaultyBackend`], [`FaultyOffsetStore`], [`FaultyDlqStore`]: wrap any
//!   backend or store and make chosen appends, polls, offset commits and
//!   loads, and dead-letter puts fail (retryably) or wait, by a deterministic
//!   [`FaultPlan`].
//! - [`LogCapture`]: a TRACE-level `tracing` subscriber that keeps every log
//!   line in memory, to assert that no secret is ever logged.
//! - [`fixtures`]: sample events, valid envelopes (with per-key sequence
//!   numbers), messages and dead letters.
//! - [`outbox`]: idempotent publish scenarios (the same events published
//!   again, a relay killed mid-batch) for every backend that deduplicates
//!   appends by message id.
//! - [`eventually()`] and [`eventually_some()`]: the tests' one waiter, polling a
//!   condition until it holds, with a generous hang guard.
//!
//! ## Example: a transport on the memory backend
//!
//! A transport needs a codec; the codecs crate provides `json` and
//! `postcard`. Here a ten-line JSON codec stands in for it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> rustok_iggy::Result<()> {
//! use std::sync::Arc;
//! use rustok_iggy::{Backend, Codec, CodecCapabilities, DecodeSink, Error, ErrorKind, Result, Transport};
//! use rustok_iggy_testkit::{fixtures, MemoryBackend};
//!
//! struct Json;
//! impl Codec for Json {
//!     fn name(&self) -> &str { "json" }
//!     fn capabilities(&self) -> CodecCapabilities { CodecCapabilities::new(true) }
//!     fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
//!         serde_json::to_vec(value).map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))
//!     }
//!     fn decode(&self, bytes: &[u8], sink: &mut dyn DecodeSink) -> Result<()> {
//!         let mut de = serde_json::Deserializer::from_slice(bytes);
//!         sink.deserialize(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
//!             .map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))?;
//!         de.end().map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))
//!     }
//! }
//!
//! let backend = Arc::new(MemoryBackend::new());
//! // No stores named: the memory backend brings its own.
//! let transport = Transport::builder(backend.clone(), Arc::new(Json)).build().await?;
//!
//! let receipt = transport
//!     .publish(&fixtures::order_placed_envelope(fixtures::tenant(1), 42))
//!     .await?;
//! let stored = backend.records(&receipt.topic, receipt.partition)?;
//! assert_eq!(stored.len(), 1);
//! assert_eq!(stored[0].offset, receipt.offset);
//! # Ok(()) }
//! ```
//!
//! ## Example: running the conformance suites
//!
//! In a plugin crate's `tests/conformance.rs`:
//!
//! ```
//! use std::sync::Arc;
//! use rustok_iggy::Backend;
//! # struct TempDir;
//! # async fn open_temporary() -> rustok_iggy::Result<(rustok_iggy_testkit::MemoryBackend, TempDir)> {
//! #     Ok((rustok_iggy_testkit::MemoryBackend::new(), TempDir))
//! # }
//!
//! // Evaluated once per case. A `(backend, guard)` pair keeps the guard (here
//! // a temporary directory) alive until the case ends.
//! rustok_iggy_testkit::backend_conformance!(my_backend, async {
//!     let (backend, dir) = open_temporary().await.unwrap();
//!     (Arc::new(backend) as Arc<dyn Backend>, dir)
//! });
//! # fn main() {}
//! ```

#![warn(missing_docs)]

pub mod alloc;
pub mod conformance;
mod eventually;
pub mod faults;
pub mod fixtures;
mod json;
mod log_capture;
pub mod outage;
pub mod outbox;
pub mod rustok;

pub use eventually::{eventually, eventually_some};
pub use faults::{FaultPlan, FaultStats, FaultyBackend, FaultyDlqStore, FaultyOffsetStore};
pub use json::TestJson;
pub use log_capture::LogCapture;
pub use mocks::{MockBackend, MockCodec, MockDlqStore, MockOffsetStore};
/// The memory backend (crate `rustok-iggy-memory`), the testkit's default;
/// [`link()`] registers it as `backend = "memory"`.
pub use rustok_iggy_memory::{link, MemoryBackend, MemoryDlqStore, MemoryOffsetStore};

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the data if a holder panicked: the testkit's
/// counters and captured lines stay usable after a failed assertion.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The core's mockall mocks of the plugin traits, and mockall itself (for
/// `predicate`, `Sequence`, ...).
///
/// Mock methods take the same arguments as the trait's (async methods are
/// mocked through `async-trait`, so an expectation returns the plain value):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use rustok_iggy::{AppendAck, Backend, ErrorKind, Error, TopicRef};
/// use rustok_iggy_testkit::{fixtures::test_message, mocks::{predicate, MockBackend}};
///
/// let mut mock = MockBackend::new();
/// mock.expect_append()
///     .with(predicate::always(), predicate::eq(3), predicate::always())
///     .times(1)
///     .returning(|_, _, messages| Ok(AppendAck::new(10, messages.len() as u32)));
/// mock.expect_partition_info()
///     .returning(|_, _| Err(Error::new(ErrorKind::Unavailable, "scripted outage")));
///
/// let backend: Arc<dyn Backend> = Arc::new(mock);
/// let topic = TopicRef::new("app", "orders");
/// let ack = backend.append(&topic, 3, vec![test_message(1)]).await.unwrap();
/// assert_eq!(ack.first_offset, 10);
/// assert!(backend.partition_info(&topic, 3).await.unwrap_err().is_retryable());
/// # }
/// ```
///
/// An expectation checked inside a spawned task panics in that task: await
/// its `JoinHandle` and re-raise the panic, or the test cannot fail.
pub mod mocks {
    pub use mockall::{self, predicate, Sequence};
    pub use rustok_iggy::mocks::*;
}

#[doc(hidden)]
pub mod __private {
    pub use rustok_iggy;
    pub use tokio;
}
