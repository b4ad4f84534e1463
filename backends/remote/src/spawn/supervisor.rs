//! [`ManagedServer`]: the task that owns the server process, restarts it by
//! the [`RestartPolicy`] and stops it on request.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use rustok_iggy::{Error, ErrorKind, Result};
use tokio::{sync::watch, task::JoinHandle};

use super::{
    child::ServerProcess,
    config::Plan,
    pid_file,
    policy::{Decision, RestartPolicy},
    ready::{self, NotReady},
    stopped,
};
use crate::{config::Settings, NAME};

/// Where the managed server is, as health and requests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Up and answering (as of its last start).
    Running { pid: u32 },
    /// Died; a restart is pending or under way.
    Restarting { reason: String },
    /// Died once too often: no more restarts.
    GaveUp { reason: String },
    /// Stopped by `shutdown`.
    Stopped,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A server started by the backend and supervised by a task of its own.
/// Dropping it aborts the task, which kills the process (`kill_on_drop`).
pub(crate) struct ManagedServer {
    state: Arc<Mutex<ServerState>>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ManagedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedServer")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl ManagedServer {
    /// Starts the server, waits until it answers, and hands it to the
    /// supervising task. On error no process is left behind.
    pub(crate) async fn start(plan: Plan, settings: &Settings) -> Result<Self> {
        let (stop, mut stop_rx) = watch::channel(false);
        let process = match ready::start(&plan, settings, &mut stop_rx).await {
            Ok(process) => process,
            Err(NotReady::Failed(e)) => return Err(e),
            Err(NotReady::Stopped) => return Err(crate::error::closed("connect")),
        };
        if let Some(path) = &plan.pid_file {
            if let Err(e) = pid_file::write(path, process.pid()) {
                process.stop(plan.stop_timeout).await;
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("cannot write the pid file `{}`", path.display()),
                )
                .with_context("key", "plugins.remote.spawn.pid_file")
                .with_source(e));
            }
        }
        let state = Arc::new(Mutex::new(ServerState::Running { pid: process.pid() }));
        let task = tokio::spawn(supervise(
            process,
            plan,
            settings.clone(),
            state.clone(),
            stop_rx,
        ));
        Ok(Self {
            state,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Where the server is now.
    pub(crate) fn state(&self) -> ServerState {
        lock(&self.state).clone()
    }

    /// Stops the server (SIGTERM, SIGKILL after `stop_timeout_ms`) and
    /// returns once it was reaped. Idempotent.
    pub(crate) async fn stop(&self) {
        // Fails only when the task already ended (gave up): nothing to stop.
        let _ = self.stop.send(true);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "the managed server's supervisor failed");
            }
        }
    }
}

impl Drop for ManagedServer {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

fn set(state: &Mutex<ServerState>, now: ServerState) {
    *lock(state) = now;
}

/// Owns the process: waits for it to exit or for a stop; restarts it by the
/// policy.
async fn supervise(
    mut process: ServerProcess,
    plan: Plan,
    settings: Settings,
    state: Arc<Mutex<ServerState>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut policy = RestartPolicy::new(plan.restart_max, plan.restart_window);
    loop {
        let exited = tokio::select! {
            status = process.wait() => Some(status),
            () = stopped(&mut stop) => None,
        };
        let Some(status) = exited else {
            process.stop(plan.stop_timeout).await;
            finish(&plan, &state, ServerState::Stopped);
            return;
        };
        let mut reason = format!(
            "managed Iggy server exited: {}",
            process.describe_exit(status).await
        );
        drop(process);
        tracing::error!(target: "rustok_iggy_remote::server", "{reason}");
        set(
            &state,
            ServerState::Restarting {
                reason: reason.clone(),
            },
        );
        process = loop {
            let pause = match policy.on_exit(Instant::now()) {
                Decision::RestartAfter(pause) => pause,
                Decision::GiveUp => {
                    let reason = format!(
                        "managed Iggy server: restart limit reached ({} restarts within {} ms); {reason}",
                        plan.restart_max,
                        plan.restart_window.as_millis()
                    );
                    tracing::error!(target: "rustok_iggy_remote::server", "{reason}");
                    finish(&plan, &state, ServerState::GaveUp { reason });
                    return;
                }
            };
            tracing::warn!(target: "rustok_iggy_remote::server", pause_ms = pause.as_millis() as u64, "restarting the managed Iggy server");
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stopped(&mut stop) => {
                    finish(&plan, &state, ServerState::Stopped);
                    return;
                }
            }
            match ready::start(&plan, &settings, &mut stop).await {
                Ok(process) => break process,
                Err(NotReady::Stopped) => {
                    finish(&plan, &state, ServerState::Stopped);
                    return;
                }
                Err(NotReady::Failed(e)) => {
                    reason = format!("managed Iggy server restart failed: {e}");
                    tracing::error!(target: "rustok_iggy_remote::server", "{reason}");
                    set(
                        &state,
                        ServerState::Restarting {
                            reason: reason.clone(),
                        },
                    );
                }
            }
        };
        if let Some(path) = &plan.pid_file {
            if let Err(e) = pid_file::write(path, process.pid()) {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the managed server's pid file");
            }
        }
        tracing::info!(target: "rustok_iggy_remote::server", pid = process.pid(), "managed Iggy server restarted");
        set(&state, ServerState::Running { pid: process.pid() });
    }
}

/// The server is gone for good: record why, then drop its pid file (in
/// that order, so whoever sees the file gone sees the final state).
fn finish(plan: &Plan, state: &Mutex<ServerState>, now: ServerState) {
    set(state, now);
    if let Some(path) = &plan.pid_file {
        pid_file::remove(path);
    }
}

/// The error a request gets once the backend gave up on its server.
pub(crate) fn gave_up(operation: &'static str, reason: &str) -> Error {
    Error::new(ErrorKind::Unavailable, reason.to_owned())
        .with_context("backend", NAME)
        .with_context("operation", operation)
}
