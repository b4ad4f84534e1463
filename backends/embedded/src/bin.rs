//! Bounds-checked little-endian reading and writing, shared by the record
//! frame and the old DLQ letter encoding (read once, to migrate it).
//!
//! Every read checks the remaining length first and returns `None` when the
//! input is too short, so a corrupt length field can never make a decoder
//! panic or allocate more than the bytes it was given.

/// A read position in a byte slice.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Reading `buf` from its start.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not consumed yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes, or `None` if fewer remain.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|a| a[0])
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }
    pub(crate) fn u128(&mut self) -> Option<u128> {
        self.array().map(u128::from_le_bytes)
    }

    /// A `u32`-length-prefixed UTF-8 string.
    pub(crate) fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.u32()?).ok()?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }
}

/// Appends a `u32`-length-prefixed string; `None` if it is longer than `u32::MAX`.
#[cfg(test)]
pub(crate) fn put_string(buf: &mut Vec<u8>, s: &str) -> Option<()> {
    let len = u32::try_from(s.len()).ok()?;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_none_not_a_panic() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.u32(), None);
        assert_eq!(c.u8(), Some(1));
        assert_eq!(c.take(usize::MAX), None);
        assert_eq!(c.remaining(), 2);
        // A length prefix far larger than the input.
        let mut c = Cursor::new(&[0xff, 0xff, 0xff, 0xff, b'a']);
        assert_eq!(c.string(), None);
    }

    #[test]
    fn strings_round_trip() {
        let mut buf = Vec::new();
        put_string(&mut buf, "снег").unwrap();
        let mut c = Cursor::new(&buf);
        assert_eq!(c.string().as_deref(), Some("снег"));
        assert_eq!(c.remaining(), 0);
        assert_eq!(c.position(), buf.len());
    }
}
