//! # rustok-iggy-memory
//!
//! The memory backend of rustok-iggy: [`MemoryBackend`], a complete
//! in-memory, Iggy-shaped log (dense offsets, timestamps, timestamp polls,
//! long polls, in-process consumer groups) with its own
//! [`MemoryOffsetStore`] and [`MemoryDlqStore`]. Nothing survives the
//! process: it is the reference implementation of the backend contract, the
//! testkit's default, and the backend of `rustok-iggy demo --backend memory`.
//!
//! Registered as the family `"memory"` (`backend = "memory"`, configured by
//! an empty `[plugins.memory]` section); call [`link()`] from the binary.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> rustok_iggy::Result<()> {
//! use rustok_iggy::{Backend, TopicRef};
//! use rustok_iggy_memory::MemoryBackend;
//!
//! let backend = MemoryBackend::new();
//! let topic = TopicRef::new("app", "orders");
//! backend.ensure_topic(&topic, 2).await?;
//! assert_eq!(backend.topic_info(&topic).await?.partitions, 2);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod backend;
mod dlq;
mod offsets;
mod plugin;

pub use backend::MemoryBackend;
pub use dlq::MemoryDlqStore;
pub use offsets::MemoryOffsetStore;
pub use plugin::{link, MemoryConfig, PLUGIN};

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the data if a holder panicked: every update in
/// this crate leaves the data consistent before anything can panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
