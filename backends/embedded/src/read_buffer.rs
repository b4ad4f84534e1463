//! The buffer segment reads go into, reused from one read to the next.
//!
//! A read hands out its records as slices of the buffer it read into, so
//! the buffer cannot be reused while any of them lives; once they are all
//! dropped (a poll answered, a page of records handled), the next read can
//! fill the same memory again instead of allocating and zeroing a new buffer
//! (5% of `serve`'s time under a 1 KB pinned consumer was that zeroing).
//! One buffer is kept per process, so the memory it holds is bounded by
//! [`MAX_KEPT`] whatever the number of partitions.

use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

use crate::partition::lock;

/// The largest buffer kept (a read of up to a thousand 4 KB records).
const MAX_KEPT: usize = 4 << 20;

/// The last buffer read into, unless a larger one was kept before it.
static SPARE: Mutex<Option<Bytes>> = Mutex::new(None);

/// `len` bytes to read into: the kept buffer when no record holds a slice
/// of it any more and it is large enough (its old bytes are all overwritten
/// by the read), else a new zeroed one.
pub(crate) fn take(len: usize) -> BytesMut {
    let spare = lock(&SPARE).take().and_then(|b| b.try_into_mut().ok());
    match spare {
        Some(mut buf) if buf.len() >= len => {
            buf.truncate(len);
            buf
        }
        _ => BytesMut::zeroed(len),
    }
}

/// Keeps `buf`, a buffer just read into, for a later [`take`]; a smaller
/// buffer does not replace a larger one.
pub(crate) fn keep(buf: &Bytes) {
    if buf.len() > MAX_KEPT {
        return;
    }
    let mut spare = lock(&SPARE);
    if spare.as_ref().is_none_or(|kept| kept.len() <= buf.len()) {
        *spare = Some(buf.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever other tests of this process keep meanwhile (the buffer is
    /// process-wide), a buffer comes back only once no slice of it lives.
    #[test]
    fn a_buffer_a_record_still_holds_is_never_handed_out_again() {
        for _ in 0..100 {
            let mut read = take(64);
            read.copy_from_slice(&[7; 64]);
            let read = read.freeze();
            keep(&read);
            let record = read.slice(8..16);
            drop(read);
            let mut next = take(64);
            assert_eq!(next.len(), 64);
            next.copy_from_slice(&[0xaa; 64]);
            keep(&next.freeze());
            assert_eq!(&record[..], &[7; 8]);
        }
    }
}
