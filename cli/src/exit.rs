//! Exit codes, one table for every command (README, "Exit codes"):
//! scripts and container probes tell "the thing is broken" from "the command
//! was called wrongly" by the code alone.

use std::process::ExitCode;

use rustok_iggy::{Error, ErrorKind};

/// The command did what it was asked; `health`: healthy.
pub const OK: u8 = 0;
/// The command failed (the backend refused, data is missing, ...);
/// `health`: degraded.
pub const FAILED: u8 = 1;
/// `health` only: unhealthy (the backend cannot be opened or reached, or says
/// it does not work).
pub const UNHEALTHY: u8 = 2;
/// Usage, config or input error: a bad flag, a misspelt config key, an
/// argument that does not parse (`EX_USAGE` of sysexits.h). Distinct from
/// every `health` status, so a probe never reads a typo as "degraded".
pub const USAGE: u8 = 64;

/// The code for a command that failed with `error`.
pub fn for_error(error: &Error) -> ExitCode {
    ExitCode::from(if is_usage(error) { USAGE } else { FAILED })
}

/// Whether `error` is the caller's (config or input), not the system's.
pub fn is_usage(error: &Error) -> bool {
    matches!(error.kind(), ErrorKind::Config | ErrorKind::InvalidInput)
}
