//! A state file (the catalog, the users): read at start, replaced atomically
//! after every change.
//!
//! Everything here blocks (file I/O and fsync); [`Durable`](super::Durable)
//! calls it on tokio's blocking pool, never on an async worker.
//!
//! A rename is durable only once the directory holding it is fsynced: without
//! that, a crash after the server acknowledged a change can bring back the
//! old file. So the file is written to a temp file, fsynced, renamed over the
//! old one, and then the directory is fsynced; a directory the catalog had to
//! create is fsynced into its parent the same way.

use std::{
    fs::File,
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Result, ServerError};

/// Reads the JSON state at `path`; a missing file is `T::default()`. `what`
/// names the state in errors ("catalog", "users").
pub(super) fn load<T: DeserializeOwned + Default>(path: &Path, what: &str) -> Result<T> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_str(&text).map_err(|e| {
        ServerError::Config(format!("{what} file {} is not valid: {e}", path.display()))
    })
}

/// Replaces the file at `path` with `data` as JSON: temp file, fsync,
/// rename, fsync of the directory (created first if missing).
pub(super) fn write_atomically<T: Serialize>(path: &Path, data: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(data)
        .map_err(|e| ServerError::Config(format!("cannot serialize {}: {e}", path.display())))?;
    let dir = parent(path);
    create_dir_durably(&dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    #[cfg(test)]
    trace::record(trace::Step::Renamed(path.to_owned()));
    sync_dir(&dir)?;
    Ok(())
}

/// The directory an entry at `path` lives in (`.` for a bare file name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Creates `dir` and its missing ancestors, fsyncing each new one into its
/// parent, so that the directory survives a crash along with the file.
fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    create_dir_durably(&parent(dir))?;
    match std::fs::create_dir(dir) {
        Ok(()) => sync_dir(&parent(dir)),
        // Created meanwhile by someone else: their entry, their fsync.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes the entries of `dir` (creations, renames) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()?;
    #[cfg(test)]
    trace::record(trace::Step::SyncedDir(dir.to_owned()));
    Ok(())
}

/// What the file functions did and on which thread, recorded in test builds
/// only, so that unit tests can check the order of the steps and that they
/// ran off the async worker.
#[cfg(test)]
pub(crate) mod trace {
    use std::{
        path::PathBuf,
        sync::Mutex,
        thread::{self, ThreadId},
    };

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Step {
        Renamed(PathBuf),
        SyncedDir(PathBuf),
    }

    static STEPS: Mutex<Vec<(Step, ThreadId)>> = Mutex::new(Vec::new());

    pub(crate) fn record(step: Step) {
        STEPS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((step, thread::current().id()));
    }

    /// The steps recorded so far whose path lies under `under`.
    pub(crate) fn steps_under(under: &std::path::Path) -> Vec<(Step, ThreadId)> {
        STEPS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(step, _)| match step {
                Step::Renamed(p) | Step::SyncedDir(p) => p.starts_with(under),
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_dir_syncs_a_directory_and_fails_on_a_missing_one() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_owned();
        sync_dir(&dir).unwrap();
        assert!(trace::steps_under(&dir)
            .iter()
            .any(|(s, _)| *s == trace::Step::SyncedDir(dir.clone())));
        let missing = dir.join("missing");
        assert_eq!(
            sync_dir(&missing).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_write_renames_then_syncs_every_directory_it_touched() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().to_owned();
        let path = root.join("a/b/state.json");
        write_atomically(&path, &vec![7u32]).unwrap();
        let steps: Vec<_> = trace::steps_under(&root)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        use trace::Step::{Renamed, SyncedDir};
        assert_eq!(
            steps,
            [
                // `a` created in `root`, `b` in `a`
                SyncedDir(root.clone()),
                SyncedDir(root.join("a")),
                Renamed(path.clone()),
                SyncedDir(root.join("a/b")),
            ]
        );
        assert_eq!(load::<Vec<u32>>(&path, "test").unwrap(), [7]);
        assert!(load::<Vec<u32>>(&root.join("missing.json"), "test")
            .unwrap()
            .is_empty());
        assert!(!path.with_extension("tmp").exists());
    }
}
