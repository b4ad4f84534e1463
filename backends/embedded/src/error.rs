//! Mapping I/O failures into the core's [`Error`] at this crate's boundary.

use std::{io, path::Path};

use rustok_iggy::{Error, ErrorKind};

/// The backend name used in error context.
pub(crate) const NAME: &str = "embedded";

/// An error about `path` during `operation`, with a kind chosen from the I/O
/// error: a full disk or quota is `Unavailable` (freeing space helps), a
/// missing file `NotFound`, anything else `Backend`.
pub(crate) fn io_error(operation: &'static str, path: &Path, err: io::Error) -> Error {
    let kind = match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => ErrorKind::Unavailable,
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        _ => ErrorKind::Backend,
    };
    let what = match kind {
        ErrorKind::Unavailable => "the disk is full",
        _ => "I/O failed",
    };
    Error::new(kind, format!("{what} at {}", path.display()))
        .with_context("backend", NAME)
        .with_context("operation", operation)
        .with_source(err)
}

/// A `Backend` error about damaged data in `path` at byte `position`.
pub(crate) fn corrupt(path: &Path, position: u64, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!(
            "corrupt data in {} at byte {position}: {why}",
            path.display()
        ),
    )
    .with_context("backend", NAME)
}

/// The error of any call after shutdown.
pub(crate) fn closed(operation: &'static str) -> Error {
    Error::new(ErrorKind::Closed, "the embedded backend was shut down")
        .with_context("backend", NAME)
        .with_context("operation", operation)
}

/// A blocking task that panicked or was cancelled (a bug, never an I/O outcome).
pub(crate) fn join_error(operation: &'static str, err: tokio::task::JoinError) -> Error {
    Error::new(ErrorKind::Backend, "a blocking I/O task failed")
        .with_context("backend", NAME)
        .with_context("operation", operation)
        .with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_unavailable_and_names_the_path() {
        let err = io_error(
            "append",
            Path::new("/data/x.log"),
            io::Error::from(io::ErrorKind::StorageFull),
        );
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.to_string().contains("/data/x.log"), "{err}");
        assert!(err.to_string().contains("disk is full"), "{err}");
        let err = io_error("read", Path::new("/a"), io::Error::other("boom"));
        assert_eq!(err.kind(), ErrorKind::Backend);
    }
}
