//! Progress bars for long work, on stderr, only when a person watches it
//! and the bar cannot tangle with the output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Redraws per second at most: a bar redrawn per item writes megabytes of
/// escape codes on a long run.
const REDRAWS_PER_SECOND: u8 = 4;

/// A bar for work that prints its results only at the end: drawn on
/// stderr when stderr is a terminal.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    drawn(total, what)
}

/// A bar for work that prints as it goes: drawn only when stdout is not a
/// terminal (it goes to a file or a pipe), so the bar never has to step
/// aside for output lines.
pub fn bar_beside_output(total: u64, what: &str) -> ProgressBar {
    if std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    bar(total, what)
}

fn drawn(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total),
        ProgressDrawTarget::stderr_with_hz(REDRAWS_PER_SECOND),
    );
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({rate}, eta {eta})")
    {
        bar.set_style(
            style
                .with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                )
                .progress_chars("=> "),
        );
    }
    bar.set_message(what.to_owned());
    bar
}
