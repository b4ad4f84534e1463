//! State the server keeps in a small JSON file and serves from memory: the
//! id ↔ name catalog and the users. One mechanism for both, so that every
//! such state is crash-safe the same way.
//!
//! Requests read an in-memory snapshot and never wait for the disk. A change
//! is made on a copy, written to the file on tokio's blocking pool (see
//! [`file`] for the temp-file, fsync, rename, directory-fsync sequence), and
//! only then published as the new snapshot and acknowledged: what a client
//! was told happened is on disk, and no async worker thread blocks on a
//! write or an fsync. Changes are serialized by an async lock, held until
//! the write is done and published even if the request that made the change
//! is dropped meanwhile. Without a path the state lives in memory only.

mod file;

#[cfg(test)]
pub(crate) use file::trace;

use std::{
    io,
    path::PathBuf,
    sync::{Arc, RwLock},
};

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Result, ServerError};

/// A state of type `T`, optionally persisted at a path.
#[derive(Debug)]
pub(crate) struct Durable<T> {
    /// What readers see; replaced, never changed in place, and only after
    /// the change is in the file. The lock is held just to clone the `Arc`.
    snapshot: Arc<RwLock<Arc<T>>>,
    /// Serializes changes, from the copy to the publication (async: a
    /// waiting change parks its task, not a worker thread).
    writer: Arc<tokio::sync::Mutex<()>>,
    path: Option<PathBuf>,
}

impl<T> Durable<T>
where
    T: Clone + Default + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Loads the file at `path` if there is one (a missing file is
    /// `T::default()`), lets `init` adjust what was loaded, and writes it
    /// back if `init` says it changed. `what` names the state in errors.
    /// Blocks on the file: call it where blocking is allowed.
    pub(crate) fn open(
        path: Option<PathBuf>,
        what: &str,
        init: impl FnOnce(&mut T) -> Result<bool>,
    ) -> Result<Self> {
        let mut data = match &path {
            Some(path) => file::load(path, what)?,
            None => T::default(),
        };
        if let (Some(path), true) = (&path, init(&mut data)?) {
            file::write_atomically(path, &data)?;
        }
        Ok(Self {
            snapshot: Arc::new(RwLock::new(Arc::new(data))),
            writer: Arc::new(tokio::sync::Mutex::new(())),
            path,
        })
    }

    /// `data`, in memory only.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn in_memory(data: T) -> Self {
        Self {
            snapshot: Arc::new(RwLock::new(Arc::new(data))),
            writer: Arc::new(tokio::sync::Mutex::new(())),
            path: None,
        }
    }

    /// The current snapshot.
    pub(crate) fn read(&self) -> Arc<T> {
        // Only whole `Arc`s are ever stored: a poisoned lock holds a valid one.
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies `change` to a copy of the state; if it changed anything
    /// (its second value), writes the copy (on the blocking pool) and
    /// publishes it. Returns the change's answer once it is durable.
    pub(crate) async fn change<A: Send + 'static>(
        &self,
        change: impl FnOnce(&mut T) -> (A, bool),
    ) -> Result<A> {
        let writing = self.writer.clone().lock_owned().await;
        let mut data = T::clone(&self.read());
        let (answer, changed) = change(&mut data);
        if !changed {
            return Ok(answer);
        }
        let snapshot = self.snapshot.clone();
        let path = self.path.clone();
        let write_and_publish = move || {
            let _writing = writing;
            if let Some(path) = path {
                file::write_atomically(&path, &data)?;
            }
            *snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(data);
            Ok(answer)
        };
        if self.path.is_none() {
            return write_and_publish();
        }
        tokio::task::spawn_blocking(write_and_publish)
            .await
            .map_err(|e| {
                ServerError::Io(io::Error::other(format!(
                    "the state write did not finish: {e}"
                )))
            })?
    }
}
