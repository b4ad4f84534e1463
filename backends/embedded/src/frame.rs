//! The on-disk record frame.
//!
//! ```text
//! u32 body_len | u32 crc32c(body) | body
//! body = u64 offset | u64 timestamp_micros | u128 message_id
//!      | u32 headers_len [| u64 origin_timestamp_micros]
//!      | headers | payload (the rest of the body)
//! header = u16 key_len | key (UTF-8) | u32 value_len | value
//! ```
//!
//! All integers are little-endian. The offset is stored in every record (not
//! only implied by its position) so recovery can check that offsets are dense
//! and a stale frame left past the end of the log is never mistaken for data.
//!
//! The top bit of `headers_len` ([`HAS_ORIGIN`]) says that the message's
//! origin timestamp follows it. A message without one (every message the
//! transport publishes) is framed as before the field existed, so logs
//! written earlier read unchanged; a log holding a record with the field
//! cannot be opened by a version before it (it would take the record for
//! damage).
//!
//! The headers are [`Headers`]' packed layout, sorted by key: a record's
//! headers are written with one copy and read back as one slice.

use bytes::Bytes;
use rustok_iggy::{Headers, Message, Record};

use crate::bin::Cursor;

/// Bytes before the body: length and checksum.
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// Fixed part of the body: offset, timestamp, id, headers length.
const BODY_FIXED_LEN: usize = 8 + 8 + 16 + 4;
/// Largest body accepted, so a corrupt length is rejected before anything is
/// read or allocated for it.
pub(crate) const MAX_BODY_LEN: usize = 64 << 20;
/// Set in `headers_len`: the origin timestamp follows. Far above any
/// headers length a body can hold ([`MAX_BODY_LEN`]).
const HAS_ORIGIN: u32 = 1 << 31;
/// Bytes of the origin timestamp, when there is one.
const ORIGIN_LEN: usize = 8;

/// The encoded size of `message` as one frame.
pub(crate) fn frame_len(message: &Message) -> usize {
    let origin = if message.origin_timestamp_micros.is_some() {
        ORIGIN_LEN
    } else {
        0
    };
    FRAME_HEADER_LEN
        + BODY_FIXED_LEN
        + origin
        + message.headers.packed().len()
        + message.payload.len()
}

/// The message's frame length, or why it cannot be framed.
pub(crate) fn check(message: &Message) -> Result<usize, String> {
    let len = frame_len(message);
    let body = len - FRAME_HEADER_LEN;
    if body > MAX_BODY_LEN {
        return Err(format!(
            "a record of {body} bytes is larger than the limit of {MAX_BODY_LEN}"
        ));
    }
    Ok(len)
}

/// Appends one frame to `buf`. The message must have passed [`check`].
pub(crate) fn encode(buf: &mut Vec<u8>, offset: u64, timestamp: u64, message: &Message) {
    let start = buf.len();
    let headers = message.headers.packed();
    let body_len = frame_len(message) - FRAME_HEADER_LEN;
    buf.reserve(FRAME_HEADER_LEN + body_len);
    // `check` bounds the body to MAX_BODY_LEN, far below u32::MAX, and so
    // the headers length below HAS_ORIGIN.
    buf.extend_from_slice(&(body_len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&timestamp.to_le_bytes());
    buf.extend_from_slice(&message.id.to_le_bytes());
    match message.origin_timestamp_micros {
        Some(origin) => {
            buf.extend_from_slice(&(headers.len() as u32 | HAS_ORIGIN).to_le_bytes());
            buf.extend_from_slice(&origin.to_le_bytes());
        }
        None => buf.extend_from_slice(&(headers.len() as u32).to_le_bytes()),
    }
    buf.extend_from_slice(headers);
    buf.extend_from_slice(&message.payload);
    let crc = crate::checksum::crc32c(&buf[start + FRAME_HEADER_LEN..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What [`decode`] found at a position.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A valid record taking `len` bytes.
    Record { record: Record, len: usize },
    /// The buffer ends inside the frame; it needs `needed` bytes from the
    /// frame's start (at most [`FRAME_HEADER_LEN`] + [`MAX_BODY_LEN`]).
    Incomplete { needed: usize },
    /// Not a valid frame.
    Invalid(&'static str),
}

/// Decodes the frame at `pos` of `buf`. Header values and the payload are
/// slices of `buf`, not copies.
pub(crate) fn decode(buf: &Bytes, pos: usize) -> Decoded {
    let Some(rest) = buf.get(pos..) else {
        return Decoded::Incomplete {
            needed: FRAME_HEADER_LEN,
        };
    };
    let mut head = Cursor::new(rest);
    let (Some(body_len), Some(crc)) = (head.u32(), head.u32()) else {
        return Decoded::Incomplete {
            needed: FRAME_HEADER_LEN,
        };
    };
    let body_len = body_len as usize;
    if body_len < BODY_FIXED_LEN {
        return Decoded::Invalid(if body_len == 0 {
            "zero length (a zero-filled or torn tail)"
        } else {
            "length below the fixed record size"
        });
    }
    if body_len > MAX_BODY_LEN {
        return Decoded::Invalid("length above the record size limit");
    }
    let total = FRAME_HEADER_LEN + body_len;
    let Some(body) = rest.get(FRAME_HEADER_LEN..total) else {
        return Decoded::Incomplete { needed: total };
    };
    if crate::checksum::crc32c(body) != crc {
        return Decoded::Invalid("checksum mismatch");
    }
    let body_start = pos + FRAME_HEADER_LEN;
    match decode_body(buf, body_start, body) {
        Some(record) => Decoded::Record { record, len: total },
        None => Decoded::Invalid("malformed record body"),
    }
}

fn decode_body(buf: &Bytes, body_start: usize, body: &[u8]) -> Option<Record> {
    let mut c = Cursor::new(body);
    let offset = c.u64()?;
    let timestamp_micros = c.u64()?;
    let id = c.u128()?;
    let headers_field = c.u32()?;
    let origin_timestamp_micros = if headers_field & HAS_ORIGIN != 0 {
        Some(c.u64()?)
    } else {
        None
    };
    let headers_len = usize::try_from(headers_field & !HAS_ORIGIN).ok()?;
    let headers_end = c.position().checked_add(headers_len)?;
    if headers_end > body.len() {
        return None;
    }
    let headers_start = body_start + c.position();
    let headers =
        Headers::from_packed(buf.slice(headers_start..headers_start + headers_len)).ok()?;
    let payload = buf.slice(body_start + headers_end..body_start + body.len());
    Some(Record {
        offset,
        timestamp_micros,
        message: Message {
            id,
            origin_timestamp_micros,
            headers,
            payload,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u128, payload: &'static [u8]) -> Message {
        let mut headers = Headers::new();
        headers.insert("codec", "json").unwrap();
        headers.insert("raw", [0xff, 0]).unwrap();
        Message {
            origin_timestamp_micros: None,
            id,
            headers,
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        let a = message(u128::MAX, b"hello");
        let b = Message {
            origin_timestamp_micros: None,
            id: 1,
            headers: Headers::new(),
            payload: Bytes::new(),
        };
        encode(&mut buf, 7, 99, &a);
        encode(&mut buf, 8, 100, &b);
        assert_eq!(buf.len(), frame_len(&a) + frame_len(&b));
        let buf = Bytes::from(buf);
        let Decoded::Record { record, len } = decode(&buf, 0) else {
            panic!("first frame")
        };
        assert_eq!((record.offset, record.timestamp_micros), (7, 99));
        assert_eq!(record.message, a);
        let Decoded::Record { record, .. } = decode(&buf, len) else {
            panic!("second frame")
        };
        assert_eq!(record.message, b);
        assert!(matches!(
            decode(&buf, buf.len()),
            Decoded::Incomplete { .. }
        ));
    }

    #[test]
    fn an_origin_timestamp_round_trips_and_costs_its_eight_bytes() {
        let plain = message(3, b"hello");
        let stamped = Message {
            origin_timestamp_micros: Some(1_700_000_000_123_456),
            ..plain.clone()
        };
        assert_eq!(frame_len(&stamped), frame_len(&plain) + ORIGIN_LEN);
        let mut buf = Vec::new();
        encode(&mut buf, 0, 1, &stamped);
        encode(&mut buf, 1, 1, &plain);
        let buf = Bytes::from(buf);
        let Decoded::Record { record, len } = decode(&buf, 0) else {
            panic!("first frame")
        };
        assert_eq!(len, frame_len(&stamped));
        assert_eq!(record.message, stamped);
        let Decoded::Record { record, .. } = decode(&buf, len) else {
            panic!("second frame")
        };
        assert_eq!(record.message.origin_timestamp_micros, None);
    }

    #[test]
    fn a_frame_written_before_the_origin_field_reads_unchanged() {
        // The bytes of a frame as the log wrote them before the field: no
        // flag, headers right after their length.
        let plain = message(9, b"old");
        let headers = plain.headers.packed();
        let mut body = Vec::new();
        body.extend_from_slice(&4u64.to_le_bytes());
        body.extend_from_slice(&5u64.to_le_bytes());
        body.extend_from_slice(&9u128.to_le_bytes());
        body.extend_from_slice(&(headers.len() as u32).to_le_bytes());
        body.extend_from_slice(headers);
        body.extend_from_slice(b"old");
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&crate::checksum::crc32c(&body).to_le_bytes());
        frame.extend_from_slice(&body);
        let mut encoded = Vec::new();
        encode(&mut encoded, 4, 5, &plain);
        assert_eq!(
            encoded, frame,
            "a message without an origin is framed as before"
        );
        let Decoded::Record { record, .. } = decode(&Bytes::from(frame), 0) else {
            panic!("old frame")
        };
        assert_eq!(record.message, plain);
    }

    #[test]
    fn damage_is_detected_never_a_panic() {
        let stamped = Message {
            origin_timestamp_micros: Some(77),
            ..message(6, b"payload")
        };
        for m in [message(5, b"payload"), stamped] {
            damage_is_detected_in(&m);
        }
        // A valid checksum over a body whose flag promises an origin
        // timestamp it is too short to hold.
        let mut body = vec![0u8; 8 + 8 + 16];
        body.extend_from_slice(&HAS_ORIGIN.to_le_bytes());
        body.extend_from_slice(&[1, 2, 3]);
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&crate::checksum::crc32c(&body).to_le_bytes());
        frame.extend_from_slice(&body);
        assert!(matches!(
            decode(&Bytes::from(frame), 0),
            Decoded::Invalid("malformed record body")
        ));
        let zeros = Bytes::from(vec![0u8; 64]);
        assert!(matches!(decode(&zeros, 0), Decoded::Invalid(_)));
        let huge = Bytes::from(vec![0xffu8; 16]);
        assert!(matches!(decode(&huge, 0), Decoded::Invalid(_)));
    }

    fn damage_is_detected_in(message: &Message) {
        let mut buf = Vec::new();
        encode(&mut buf, 0, 1, message);
        for cut in 0..buf.len() {
            let torn = Bytes::copy_from_slice(&buf[..cut]);
            assert!(
                matches!(decode(&torn, 0), Decoded::Incomplete { .. }),
                "cut at {cut}"
            );
        }
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut flipped = buf.clone();
                flipped[byte] ^= 1 << bit;
                let flipped = Bytes::from(flipped);
                assert!(
                    !matches!(decode(&flipped, 0), Decoded::Record { .. }),
                    "bit {bit} of byte {byte} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn random_input_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut valid = Vec::new();
        encode(&mut valid, 3, 4, &message(9, b"some payload"));
        for _ in 0..20_000 {
            let mut buf: Vec<u8> = if rng.random_bool(0.5) {
                (0..rng.random_range(0..256))
                    .map(|_| rng.random())
                    .collect()
            } else {
                // A valid frame with a few random bytes overwritten.
                let mut b = valid.clone();
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
                b
            };
            if rng.random_bool(0.1) {
                buf.truncate(rng.random_range(0..=buf.len()));
            }
            let buf = Bytes::from(buf);
            let at = rng.random_range(0..=buf.len());
            if let Decoded::Incomplete { needed } = decode(&buf, at) {
                assert!(needed <= FRAME_HEADER_LEN + MAX_BODY_LEN);
            }
        }
    }

    #[test]
    fn oversized_messages_are_rejected_before_encoding() {
        let big = Message {
            origin_timestamp_micros: None,
            id: 1,
            headers: Headers::new(),
            payload: Bytes::from(vec![0u8; MAX_BODY_LEN]),
        };
        assert!(check(&big).is_err());
        assert!(check(&message(1, b"ok")).is_ok());
    }
}
