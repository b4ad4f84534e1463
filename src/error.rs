//! The one error type of the core, which every plugin maps its own errors into.
//!
//! An [`Error`] carries a [`ErrorKind`] (what went wrong, and so whether trying
//! again can help), a message, the context it happened in (operation, backend,
//! topic, partition...) and the underlying source. Plugins map their errors at
//! their boundary, so application code matches on kinds, never on a backend's
//! private error types.

use std::fmt;

/// What went wrong, coarsely enough to decide what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Configuration is malformed or names something that does not exist.
    Config,
    /// A stream, topic, partition, group or entry does not exist.
    NotFound,
    /// Something that must be unique exists already.
    AlreadyExists,
    /// The caller passed a value that can never work (an invalid envelope, say).
    InvalidInput,
    /// A payload could not be encoded or decoded.
    Codec,
    /// The backend failed in a way that trying again will not fix.
    Backend,
    /// The backend is unreachable or overloaded for now; trying again may work.
    Unavailable,
    /// An operation took longer than it was allowed to.
    Timeout,
    /// The transport, subscription or backend was shut down, or the
    /// partition a pull delivery came from moved to another member.
    Closed,
    /// The plugin does not support the requested operation.
    Unsupported,
    /// A consumer-group member's offset commit was refused because the member
    /// no longer owns the partition: a rebalance gave it to another member,
    /// or the member left, was evicted, or the backend restarted. Trying again
    /// cannot help; the partition's new owner delivers again from the last
    /// committed offset.
    Fenced,
}

impl ErrorKind {
    /// A short stable name, used in logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Codec => "codec",
            ErrorKind::Backend => "backend",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Fenced => "fenced",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every fallible operation in rustok-iggy.
///
/// ```
/// use rustok_iggy::{Error, ErrorKind};
///
/// let err = Error::new(ErrorKind::Unavailable, "connection refused")
///     .with_context("operation", "append")
///     .with_context("topic", "orders");
/// assert!(err.is_retryable());
/// assert_eq!(err.kind(), ErrorKind::Unavailable);
/// assert_eq!(err.to_string(), "unavailable: connection refused (operation=append, topic=orders)");
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    context: Vec<(&'static str, String)>,
    source: Option<Source>,
}

/// `Result` with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a human-readable message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            context: Vec::new(),
            source: None,
        }
    }

    /// Shorthand for a [`ErrorKind::Config`] error about config key `key`
    /// (shown as `key=...` in the message's context).
    pub fn config(key: impl fmt::Display, message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Config, message.to_string()).with_context("key", key)
    }

    /// Adds a `key=value` pair telling where the error happened.
    pub fn with_context(mut self, key: &'static str, value: impl fmt::Display) -> Self {
        self.context.push((key, value.to_string()));
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without kind or context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The value recorded for a context key, if any.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the same operation may succeed if tried again later.
    ///
    /// Only [`ErrorKind::Unavailable`] and [`ErrorKind::Timeout`] are: everything
    /// else will fail the same way until something (config, input, data) changes.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if !self.context.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str(")")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if !self.context.is_empty() {
            d.field("context", &self.context);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_kinds_are_retryable() {
        for kind in [ErrorKind::Unavailable, ErrorKind::Timeout] {
            assert!(Error::new(kind, "x").is_retryable(), "{kind}");
        }
        for kind in [
            ErrorKind::Config,
            ErrorKind::NotFound,
            ErrorKind::Codec,
            ErrorKind::Backend,
            ErrorKind::Closed,
            ErrorKind::InvalidInput,
            ErrorKind::Fenced,
        ] {
            assert!(!Error::new(kind, "x").is_retryable(), "{kind}");
        }
    }

    #[test]
    fn display_includes_context_and_source() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::new(ErrorKind::Backend, "append failed")
            .with_context("partition", 3)
            .with_source(io);
        assert_eq!(
            err.to_string(),
            "backend: append failed (partition=3): disk on fire"
        );
        assert_eq!(err.context("partition"), Some("3"));
        assert!(std::error::Error::source(&err).is_some());
    }
}
