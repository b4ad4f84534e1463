//! Starting a server and waiting until it answers a ping.

use std::time::Duration;

use rustok_iggy::{Error, ErrorKind};
use tokio::{net::TcpStream, sync::watch, time::Instant};

use super::{child::ServerProcess, config::Plan, stopped};
use crate::{client::Connection, config::Settings, NAME};

/// Pause between two probes of a server that is not up yet.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// Longest wait for one probe's TCP connect (a listening port answers at
/// once; this only bounds a black-holed address).
const PORT_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a start did not produce a ready server. Either way no process is
/// left: it was stopped and reaped.
#[derive(Debug)]
pub(crate) enum NotReady {
    /// It could not be started, exited before answering, refused the
    /// credentials, or did not answer within `ready_timeout_ms`.
    Failed(Error),
    /// The backend is shutting down.
    Stopped,
}

enum Step {
    Exited(std::io::Result<std::process::ExitStatus>),
    Stop,
    Probed(rustok_iggy::Result<()>),
    OutOfTime,
}

/// Starts the server of `plan` and waits until it answers a ping on
/// `plan.address` with the backend's credentials.
pub(crate) async fn start(
    plan: &Plan,
    settings: &Settings,
    stop: &mut watch::Receiver<bool>,
) -> Result<ServerProcess, NotReady> {
    let mut process = ServerProcess::start(plan).map_err(NotReady::Failed)?;
    let deadline = Instant::now() + plan.ready_timeout;
    let mut last_probe: Option<Error> = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let step = tokio::select! {
            status = process.wait() => Step::Exited(status),
            () = stopped(stop) => Step::Stop,
            probed = tokio::time::timeout(remaining, probe(settings, &plan.address, remaining)) => {
                match probed {
                    Ok(result) => Step::Probed(result),
                    Err(_) => Step::OutOfTime,
                }
            }
        };
        let pid = process.pid();
        match step {
            Step::Probed(Ok(())) => {
                tracing::info!(pid, address = %plan.address, "managed Iggy server is ready");
                return Ok(process);
            }
            Step::Exited(status) => {
                let exit = process.describe_exit(status).await;
                return Err(NotReady::Failed(
                    Error::new(
                        ErrorKind::Unavailable,
                        format!("the managed Iggy server exited before it answered: {exit}"),
                    )
                    .with_context("backend", NAME)
                    .with_context("pid", pid),
                ));
            }
            Step::Stop => {
                process.stop(plan.stop_timeout).await;
                return Err(NotReady::Stopped);
            }
            Step::Probed(Err(e)) if e.kind() == ErrorKind::Config => {
                // Refused credentials: waiting longer will not help.
                process.stop(plan.stop_timeout).await;
                return Err(NotReady::Failed(e.with_context("pid", pid)));
            }
            Step::Probed(Err(e)) => {
                last_probe = Some(e);
                tokio::select! {
                    () = tokio::time::sleep(PROBE_INTERVAL.min(remaining)) => {}
                    () = stopped(stop) => {
                        process.stop(plan.stop_timeout).await;
                        return Err(NotReady::Stopped);
                    }
                }
            }
            Step::OutOfTime => {}
        }
        if Instant::now() >= deadline {
            let last = last_probe
                .map(|e| format!("; last attempt: {e}"))
                .unwrap_or_default();
            tracing::warn!(pid, address = %plan.address, "managed Iggy server did not answer in time; stopping it");
            process.stop(plan.stop_timeout).await;
            return Err(NotReady::Failed(
                Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the managed Iggy server `{}` (pid {pid}) did not answer a ping on {} within {} ms and was stopped{last}",
                        plan.executable,
                        plan.address,
                        plan.ready_timeout.as_millis()
                    ),
                )
                .with_context("backend", NAME)
                .with_context("pid", pid),
            ));
        }
    }
}

/// One readiness check: is the port open, and does the server log us in and
/// answer a ping? The port check first keeps a server that is still starting
/// from filling the log with failed logins.
async fn probe(settings: &Settings, address: &str, remaining: Duration) -> rustok_iggy::Result<()> {
    let unavailable = |message: String| Error::new(ErrorKind::Unavailable, message);
    match tokio::time::timeout(
        PORT_CHECK_TIMEOUT.min(remaining),
        TcpStream::connect(address),
    )
    .await
    {
        Ok(Ok(_stream)) => {}
        Ok(Err(e)) => return Err(unavailable(format!("{address}: {e}"))),
        Err(_) => return Err(unavailable(format!("{address}: no TCP answer"))),
    }
    let mut once = settings.clone();
    once.addresses = vec![address.to_owned()];
    // One attempt: the loop around this retries, not the SDK.
    once.config.reconnect_retries = Some(0);
    let bound = u64::try_from(remaining.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    once.config.connect_timeout_ms = once.config.connect_timeout_ms.min(bound);
    once.config.request_timeout_ms = once.config.request_timeout_ms.min(bound);
    let connection = Connection::open(&once).await?;
    let pinged = connection.ping().await;
    connection.shutdown().await;
    pinged.map(|_| ())
}
