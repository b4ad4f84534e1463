//! [`LogCapture`]: a process-wide `tracing` subscriber that keeps every event
//! and span field, at every level down to TRACE, in memory, so a test can
//! assert what was (or was never) logged: a password, say.
//!
//! It is a plain [`tracing::Subscriber`] written against `tracing` alone, so
//! crates that use it need no `tracing-subscriber`.
//!
//! ```
//! use rustok_iggy_testkit::LogCapture;
//!
//! let logs = LogCapture::install().expect("no other global subscriber");
//! let span = tracing::trace_span!("login", user = "app");
//! span.in_scope(|| tracing::trace!(attempt = 1, "trying"));
//! let text = logs.contents();
//! assert!(text.contains("user=\"app\""), "{text}");
//! assert!(text.contains("trying"), "{text}");
//! assert!(logs.find(&["hunter2"]).is_empty());
//! ```

use std::{
    fmt::{self, Write as _},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, OnceLock,
    },
};

use tracing::{
    field::{Field, Visit},
    level_filters::LevelFilter,
    span, Event, Metadata, Subscriber,
};

use crate::lock;

/// Everything logged in this process since [`LogCapture::install`] (or the
/// last [`LogCapture::clear`]), as text: one line per event (`LEVEL target:
/// fields`) and per span creation or field update (`span name: fields`).
/// Field values are written with their `Debug` form, which is what any real
/// subscriber would print too.
pub struct LogCapture {
    text: Mutex<String>,
}

impl fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogCapture")
            .field("bytes", &lock(&self.text).len())
            .finish()
    }
}

static CAPTURE: OnceLock<Option<&'static LogCapture>> = OnceLock::new();

impl LogCapture {
    /// Installs the capture as the process's global default subscriber, at
    /// TRACE level, and returns it. Later calls return the same capture.
    /// `None` if another global subscriber was installed first (then nothing
    /// can be captured in this process).
    pub fn install() -> Option<&'static LogCapture> {
        *CAPTURE.get_or_init(|| {
            let capture: &'static LogCapture = Box::leak(Box::new(LogCapture {
                text: Mutex::new(String::new()),
            }));
            let subscriber = CaptureSubscriber {
                capture,
                next_id: AtomicU64::new(1),
            };
            tracing::subscriber::set_global_default(subscriber)
                .ok()
                .map(|()| capture)
        })
    }

    /// Everything captured so far.
    pub fn contents(&self) -> String {
        lock(&self.text).clone()
    }

    /// Forgets everything captured so far.
    pub fn clear(&self) {
        lock(&self.text).clear();
    }

    /// The `needles` that occur in what was captured.
    pub fn find<'a>(&self, needles: &[&'a str]) -> Vec<&'a str> {
        let text = lock(&self.text);
        needles
            .iter()
            .copied()
            .filter(|n| text.contains(n))
            .collect()
    }

    fn push(&self, line: String) {
        let mut text = lock(&self.text);
        text.push_str(&line);
        text.push('\n');
    }
}

struct CaptureSubscriber {
    capture: &'static LogCapture,
    next_id: AtomicU64,
}

/// Writes fields as `name=value` pairs.
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Writing into a String cannot fail.
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for CaptureSubscriber {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn new_span(&self, attributes: &span::Attributes<'_>) -> span::Id {
        let mut fields = Fields(format!("span {}:", attributes.metadata().name()));
        attributes.record(&mut fields);
        self.capture.push(fields.0);
        span::Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        let mut fields = Fields(format!("span #{}:", span.into_u64()));
        values.record(&mut fields);
        self.capture.push(fields.0);
    }

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut fields = Fields(format!("{} {}:", meta.level(), meta.target()));
        event.record(&mut fields);
        self.capture.push(fields.0);
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}
