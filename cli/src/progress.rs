//! Progress bars for long work; hidden when stderr is not a terminal, so
//! scripts and CI logs stay clean.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` steps labelled `what`.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}
