//! One server process: starting it, forwarding its output to `tracing`,
//! remembering its last stderr lines, and stopping it.

use std::{
    collections::VecDeque,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use rustok_iggy::{Error, ErrorKind, Result};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    task::JoinHandle,
};

use super::config::Plan;

/// How many stderr lines are kept for an error report.
const TAIL_LINES: usize = 20;
/// Longest stderr line kept (in bytes, cut at a character boundary).
const TAIL_LINE_MAX: usize = 512;
/// How long an exit report waits for the output readers to reach the end of
/// the pipes (a grandchild may keep them open).
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// A running (or just exited) server process.
pub(crate) struct ServerProcess {
    child: Child,
    pid: u32,
    executable: String,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerProcess")
            .field("pid", &self.pid)
            .field("executable", &self.executable)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ServerProcess {
    /// Starts the server of `plan`: its data directory created, its output
    /// piped to `tracing`, killed if this value is dropped.
    ///
    /// On unix it gets a process group of its own: a Ctrl-C meant for the
    /// application does not reach it, so the backend can close its
    /// connections before stopping it, and a stop reaches whatever it started.
    pub(crate) fn start(plan: &Plan) -> Result<Self> {
        if let Some(dir) = &plan.data_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "cannot create the managed server's data directory `{}`",
                        dir.display()
                    ),
                )
                .with_context("key", "plugins.remote.spawn.data_dir")
                .with_source(e)
            })?;
        }
        let mut command = Command::new(&plan.executable);
        command
            .args(&plan.args)
            .envs(plan.env.iter().map(|(k, v)| (k, v.expose())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    ErrorKind::Config
                }
                _ => ErrorKind::Unavailable,
            };
            Error::new(
                kind,
                format!(
                    "cannot start the managed Iggy server `{}`: {e}",
                    plan.executable
                ),
            )
            .with_context("key", "plugins.remote.spawn.executable")
            .with_source(e)
        })?;
        // A child that has not been waited for always has its id.
        let pid = child.id().unwrap_or(0);
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(forward(out, pid, false, None)));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(forward(
                err,
                pid,
                true,
                Some(stderr_tail.clone()),
            )));
        }
        tracing::info!(pid, executable = %plan.executable, address = %plan.address, "managed Iggy server started");
        Ok(Self {
            child,
            pid,
            executable: plan.executable.clone(),
            stderr_tail,
            readers,
        })
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until it exits (and reaps it).
    pub(crate) async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// What its exit looked like: status and last stderr lines, after its
    /// output was read to the end (or [`DRAIN_WAIT`] passed).
    pub(crate) async fn describe_exit(&mut self, status: std::io::Result<ExitStatus>) -> String {
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(DRAIN_WAIT, reader).await;
        }
        let status = match status {
            Ok(status) => status.to_string(),
            Err(e) => format!("unknown exit status ({e})"),
        };
        let tail = lock(&self.stderr_tail);
        if tail.is_empty() {
            format!("`{}` (pid {}) {status}", self.executable, self.pid)
        } else {
            let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
            format!(
                "`{}` (pid {}) {status}; last stderr lines: {}",
                self.executable,
                self.pid,
                lines.join(" | ")
            )
        }
    }

    /// Stops it: SIGTERM to its process group, SIGKILL after `grace`, then
    /// reaps it. Elsewhere than unix there is no polite signal: it is
    /// killed (`TerminateProcess`) at once.
    pub(crate) async fn stop(mut self, grace: Duration) {
        if let Ok(Some(status)) = self.child.try_wait() {
            tracing::info!(pid = self.pid, %status, "managed Iggy server had already exited");
            return;
        }
        #[cfg(unix)]
        {
            signal_group(self.pid, libc::SIGTERM);
            match tokio::time::timeout(grace, self.child.wait()).await {
                Ok(status) => {
                    let status = status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|e| e.to_string());
                    tracing::info!(pid = self.pid, %status, "managed Iggy server stopped");
                    // Its group is not signalled again: once it is reaped,
                    // its id may be reused.
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        pid = self.pid,
                        grace_ms = grace.as_millis() as u64,
                        "managed Iggy server ignored SIGTERM; killing it"
                    );
                    signal_group(self.pid, libc::SIGKILL);
                }
            }
        }
        #[cfg(not(unix))]
        let _ = grace;
        if let Err(e) = self.child.kill().await {
            tracing::warn!(pid = self.pid, error = %e, "cannot kill the managed Iggy server");
        }
    }
}

/// Sends `signal` to the process group led by `pid` (the child was started
/// as its leader). Called only before the child is reaped, so the id cannot
/// have been reused.
#[cfg(unix)]
fn signal_group(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 0 {
        return;
    }
    // SAFETY: `kill` has no memory-safety preconditions; a negative pid
    // names a process group.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Reads `pipe` line by line into `tracing` (target
/// `rustok_iggy_remote::server`); stderr lines also go to `tail`.
async fn forward(
    pipe: impl AsyncRead + Unpin,
    pid: u32,
    stderr: bool,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    // Split on bytes, not `lines()`: a line that is not UTF-8 must not stop
    // the reading, or the pipe fills and the server blocks on its output.
    let mut lines = BufReader::new(pipe).split(b'\n');
    loop {
        let line = match lines.next_segment().await {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).trim_end().to_owned(),
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(target: "rustok_iggy_remote::server", pid, error = %e, "stopped reading the managed server's output");
                return;
            }
        };
        if stderr {
            tracing::warn!(target: "rustok_iggy_remote::server", pid, "{line}");
        } else {
            tracing::info!(target: "rustok_iggy_remote::server", pid, "{line}");
        }
        if let Some(tail) = &tail {
            let mut kept = line;
            if kept.len() > TAIL_LINE_MAX {
                let mut cut = TAIL_LINE_MAX;
                while !kept.is_char_boundary(cut) {
                    cut -= 1;
                }
                kept.truncate(cut);
            }
            let mut tail = lock(tail);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(kept);
        }
    }
}
