//! Two-slot files: a small piece of state replaced atomically by writing in
//! place, without a rename per update.
//!
//! The state lives in `<base>.a` and `<base>.b`, each framed as
//! `magic | crc32c | u64 sequence | u32 length | body`. An update overwrites
//! the slot that does *not* hold the newest valid copy, then fdatasyncs it (if
//! durable); reading picks the valid slot with the highest sequence. A crash
//! during an update can only damage the slot being written, so the previous
//! state survives. Each slot file is created once through a temporary file,
//! fsync, rename and directory fsync, so a half-created slot never exists.
//!
//! Measured on this project's machine for a 600-byte state: temporary file +
//! fsync + rename + directory fsync takes about 12 ms per update, this takes
//! about 0.07 ms (and without fsync, 0.09 ms with a p99 of 4 ms against a
//! few microseconds).

use std::{
    fs::{self, OpenOptions},
    io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use rustok_iggy::Result;

use crate::{bin::Cursor, error::corrupt, error::io_error, fsutil::write_atomic};

const MAGIC: &[u8; 4] = b"RKSL";
const HEADER_LEN: usize = 4 + 4 + 8 + 4;
const NAMES: [&str; 2] = ["a", "b"];

/// The two slots of one piece of state.
#[derive(Debug)]
pub(crate) struct SlotFile {
    base: PathBuf,
    /// Sequence of the newest valid copy (0: none yet).
    sequence: u64,
    /// Which slot holds it.
    current: Option<usize>,
    /// Which slot files exist.
    exists: [bool; 2],
}

impl SlotFile {
    /// The path of slot `i` of `base`.
    fn path(base: &Path, i: usize) -> PathBuf {
        let mut name = base.file_name().unwrap_or_default().to_os_string();
        name.push(".");
        name.push(NAMES[i]);
        base.with_file_name(name)
    }

    /// Whether `path` is a slot file, and its base if so.
    pub(crate) fn base_of(path: &Path) -> Option<PathBuf> {
        let ext = path.extension()?;
        NAMES
            .iter()
            .any(|n| ext == *n)
            .then(|| path.with_extension(""))
    }

    /// Reads the newest valid copy under `base`; `None` if no slot exists.
    /// Slots that exist but none valid is corruption: an error naming them.
    pub(crate) fn load(base: &Path) -> Result<(Self, Option<Vec<u8>>)> {
        let mut slots = Self {
            base: base.to_path_buf(),
            sequence: 0,
            current: None,
            exists: [false; 2],
        };
        let mut newest: Option<Vec<u8>> = None;
        for i in 0..2 {
            let path = Self::path(base, i);
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("read state", &path, e)),
            };
            slots.exists[i] = true;
            if let Some((sequence, body)) = decode(&bytes) {
                if sequence > slots.sequence {
                    slots.sequence = sequence;
                    slots.current = Some(i);
                    newest = Some(body.to_vec());
                }
            }
        }
        if newest.is_none() && slots.exists.iter().any(|e| *e) {
            return Err(corrupt(
                &Self::path(base, 0),
                0,
                format!(
                    "no valid copy in {} or {}",
                    Self::path(base, 0).display(),
                    Self::path(base, 1).display()
                ),
            ));
        }
        Ok((slots, newest))
    }

    /// Replaces the state with `body` (see the module docs).
    pub(crate) fn store(&mut self, body: &[u8], durable: bool) -> io::Result<()> {
        let target = match self.current {
            Some(0) => 1,
            _ => 0,
        };
        let sequence = self.sequence + 1;
        let bytes = encode(sequence, body)?;
        let path = Self::path(&self.base, target);
        if self.exists[target] {
            let file = OpenOptions::new().write(true).open(&path)?;
            file.write_all_at(&bytes, 0)?;
            if durable {
                file.sync_data()?;
            }
        } else {
            write_atomic(&path, &bytes, durable)?;
            self.exists[target] = true;
        }
        self.sequence = sequence;
        self.current = Some(target);
        Ok(())
    }

    /// A state with no slot files yet.
    pub(crate) fn new(base: PathBuf) -> Self {
        Self {
            base,
            sequence: 0,
            current: None,
            exists: [false; 2],
        }
    }
}

fn encode(sequence: u64, body: &[u8]) -> io::Result<Vec<u8>> {
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("state larger than 4 GiB"))?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&sequence.to_le_bytes());
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(body);
    let crc = crate::checksum::crc32c(&bytes[8..]);
    bytes[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(bytes)
}

/// The sequence and body of a valid slot. Bytes past the body (left from a
/// longer earlier copy) are ignored.
fn decode(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut c = Cursor::new(bytes);
    if c.take(4)? != MAGIC {
        return None;
    }
    let crc = c.u32()?;
    let sequence = c.u64()?;
    let len = usize::try_from(c.u32()?).ok()?;
    let body = c.take(len)?;
    let covered = bytes.get(8..HEADER_LEN + len)?;
    (crate::checksum::crc32c(covered) == crc && sequence > 0).then_some((sequence, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_alternate_and_the_newest_valid_copy_wins() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("g");
        let (mut slots, none) = SlotFile::load(&base).unwrap();
        assert!(none.is_none());
        slots.store(b"first, a longer state", true).unwrap();
        slots.store(b"second", false).unwrap();
        slots.store(b"third", true).unwrap();
        let (_, newest) = SlotFile::load(&base).unwrap();
        assert_eq!(newest.as_deref(), Some(&b"third"[..]));
        assert_eq!(
            SlotFile::base_of(&SlotFile::path(&base, 1)),
            Some(base.clone())
        );

        // A torn update of one slot leaves the other, previous copy.
        let a = SlotFile::path(&base, 0);
        let mut bytes = fs::read(&a).unwrap();
        // Inside the body ("third"); bytes past it are a stale tail, ignored.
        bytes[HEADER_LEN + 2] ^= 0xff;
        fs::write(&a, &bytes).unwrap();
        let (mut slots, newest) = SlotFile::load(&base).unwrap();
        assert_eq!(newest.as_deref(), Some(&b"second"[..]));
        // The next update overwrites the damaged slot, never the good one.
        slots.store(b"fourth", true).unwrap();
        let (_, newest) = SlotFile::load(&base).unwrap();
        assert_eq!(newest.as_deref(), Some(&b"fourth"[..]));

        // Both damaged: an error naming the files.
        fs::write(SlotFile::path(&base, 0), b"junk").unwrap();
        fs::write(SlotFile::path(&base, 1), b"junk").unwrap();
        let err = SlotFile::load(&base).unwrap_err();
        assert!(err.to_string().contains("g.a"), "{err}");
    }
}
