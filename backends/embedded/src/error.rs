//! Mapping I/O failures into the core's [`Error`] at this crate's boundary.

use std::{io, path::Path};

use rustok_iggy::{Error, ErrorKind};

/// The backend name used in error context.
pub(crate) const NAME: &str = "embedded";

/// An error about `path` during `operation`, with a kind chosen from the I/O
/// error: a full disk, a quota or a file size limit (`EFBIG`, e.g. from
/// `RLIMIT_FSIZE`) is `Unavailable` (freeing space or raising the limit
/// helps, and the write can be retried), a missing file `NotFound`,
/// anything else `Backend`.
pub(crate) fn io_error(operation: &'static str, path: &Path, err: io::Error) -> Error {
    let (kind, what) = match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            (ErrorKind::Unavailable, "the disk is full")
        }
        io::ErrorKind::FileTooLarge => (ErrorKind::Unavailable, "the file size limit is reached"),
        io::ErrorKind::NotFound => (ErrorKind::NotFound, "I/O failed"),
        _ => (ErrorKind::Backend, "I/O failed"),
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
        // EFBIG, what a write past RLIMIT_FSIZE gets.
        let err = io_error(
            "append",
            Path::new("/data/y.log"),
            io::Error::from_raw_os_error(27),
        );
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.to_string().contains("file size limit"), "{err}");
        assert!(err.to_string().contains("/data/y.log"), "{err}");
        let err = io_error("read", Path::new("/a"), io::Error::other("boom"));
        assert_eq!(err.kind(), ErrorKind::Backend);
    }
}
