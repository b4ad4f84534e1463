//! The `pid_file` of a managed server: written at every (re)start, removed
//! when the server stops for good.

use std::{io, path::Path};

/// Writes `pid` to `path` through a temporary file and a rename, so a reader
/// never sees a half-written number.
pub(crate) fn write(path: &Path, pid: u32) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    std::fs::write(&temp, format!("{pid}\n"))?;
    std::fs::rename(&temp, path)
}

/// Removes the file; a file that is already gone is fine.
pub(crate) fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the managed server's pid file")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.pid");
        write(&path, 41).unwrap();
        write(&path, 42).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "42\n");
        remove(&path);
        assert!(!path.exists());
        remove(&path);
        assert!(write(&dir.path().join("missing/server.pid"), 1).is_err());
    }
}
