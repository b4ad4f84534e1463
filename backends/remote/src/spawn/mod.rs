//! Managed mode (`[plugins.remote.spawn]`): the backend starts the Iggy
//! server, waits until it answers, restarts it when it dies and stops it on
//! shutdown. The reference is the crate's `docs/managed-mode.md`.
//!
//! - [`config`]: the section and its checked, resolved form.
//! - [`child`]: one process (start, output to `tracing`, stop).
//! - [`ready`]: start and wait for the first ping.
//! - [`policy`]: the restart policy, a pure state machine.
//! - [`supervisor`]: the task that owns the process.
//! - [`pid_file`]: the optional pid file.

mod child;
pub(crate) mod config;
mod pid_file;
mod policy;
mod ready;
mod supervisor;

pub use config::SpawnConfig;
pub(crate) use supervisor::{gave_up, ManagedServer, ServerState};

use tokio::sync::watch;

/// Resolves once a stop was requested (or its sender is gone: the backend
/// was dropped).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}
