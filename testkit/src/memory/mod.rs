//! In-memory implementations of the core plugin traits.
//!
//! Nothing here survives the process: these are reference implementations for
//! tests, examples and demos, kept simple enough to be obviously correct.

mod backend;
mod dlq;
mod offsets;

pub use backend::MemoryBackend;
pub use dlq::MemoryDlqStore;
pub use offsets::MemoryOffsetStore;

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the data if a holder panicked: every update in
/// this module leaves the data consistent before anything can panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
