//! What `rustok-iggy serve` understands beyond Apache Iggy's protocol, for
//! the remote backend. Both sides depend on this crate and not on each other,
//! so their agreement lives here.
//!
//! The one extension is a **waiting poll**: a `PollMessages` the server may
//! hold until records arrive or the wait the client names passes, instead of
//! answering an empty partition at once. A consumer then sees an event as
//! soon as it is stored, without polling an idle partition again and again.
//! Apache Iggy refuses the command code, which tells a client to poll the
//! standard way.
//!
//! ```
//! use std::time::Duration;
//! use rustok_iggy::iggy_extension::{decode_waiting_poll, encode_waiting_poll};
//!
//! let poll_body = [1u8, 2, 3]; // an Iggy `PollMessages` request body
//! let body = encode_waiting_poll(Duration::from_millis(100), &poll_body);
//! let (wait, poll) = decode_waiting_poll(&body).unwrap();
//! assert_eq!(wait, Duration::from_millis(100));
//! assert_eq!(poll, &poll_body);
//! ```

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

/// Command code of a waiting poll: outside the codes Apache Iggy assigns
/// (theirs are below 1,000). The body is the wait in milliseconds (`u32`,
/// little endian) followed by a `PollMessages` request body; the reply is a
/// `PollMessages` reply.
pub const POLL_MESSAGES_WAITING_CODE: u32 = 0x7275_0064;

/// The longest wait a server grants; a longer one is cut to this. A server
/// stops between requests, so this also bounds how long a held poll can
/// delay its shutdown.
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(1);

/// The body of a waiting poll of `wait` (at most [`MAX_POLL_WAIT`]) around
/// a `PollMessages` request body.
pub fn encode_waiting_poll(wait: Duration, poll_body: &[u8]) -> Bytes {
    let millis = wait.min(MAX_POLL_WAIT).as_millis() as u32;
    let mut body = BytesMut::with_capacity(4 + poll_body.len());
    body.put_u32_le(millis);
    body.put_slice(poll_body);
    body.freeze()
}

/// The wait (at most [`MAX_POLL_WAIT`]) and the `PollMessages` body of a
/// waiting poll; `None` if it is too short to hold a wait.
pub fn decode_waiting_poll(body: &[u8]) -> Option<(Duration, &[u8])> {
    let (millis, poll) = body.split_first_chunk::<4>()?;
    let wait = Duration::from_millis(u64::from(u32::from_le_bytes(*millis)));
    Some((wait.min(MAX_POLL_WAIT), poll))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_longer_than_the_cap_is_cut_both_ways() {
        let body = encode_waiting_poll(Duration::from_secs(3600), b"p");
        assert_eq!(decode_waiting_poll(&body), Some((MAX_POLL_WAIT, &b"p"[..])));
        let mut raw = u32::MAX.to_le_bytes().to_vec();
        raw.push(7);
        assert_eq!(decode_waiting_poll(&raw), Some((MAX_POLL_WAIT, &[7u8][..])));
    }

    #[test]
    fn a_body_shorter_than_a_wait_is_refused() {
        assert_eq!(decode_waiting_poll(&[1, 2, 3]), None);
    }
}
