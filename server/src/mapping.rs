//! Core [`Message`]s ↔ Iggy message batches.
//!
//! - id: the Iggy message id is the core `Message::id` (`u128`), both ways.
//! - payload: byte for byte.
//! - headers: see [`iggy_meta`](crate::iggy_meta); a message sent through
//!   this server is polled back with the kinds it was sent with.
//! - timestamps: a polled message's `timestamp` is the record's append time;
//!   its `origin_timestamp` is the one it was sent with (the core message's
//!   `origin_timestamp_micros`, or, in a log written before that field, the
//!   meta header's), or the append time for a record a core producer
//!   appended.
use bytes::{BufMut, Bytes, BytesMut};
use iggy_binary_protocol::{
    batch::{
        calculate_batch_checksum, decode_batch_slice, BatchHeader, BATCH_HEADER_SIZE,
        BATCH_MESSAGE_HEADER_SIZE,
    },
    codec::{read_u32_le, WireDecode, WireEncode},
    requests::messages::SendMessagesHeader,
    responses::messages::PollMessagesResponseHeader,
    validate_user_headers, WireUserHeaderIterator,
};
use rustok_iggy::{Headers, HeadersBuilder, Message, Record};

use crate::{
    error::Status,
    iggy_meta::{put_wire_headers, read_meta, to_core_headers, Meta, WireHeader},
};

/// A decoded `SendMessages` body.
#[derive(Debug)]
pub(crate) struct SendBatch {
    pub(crate) header: SendMessagesHeader,
    pub(crate) messages: Vec<Message>,
}

/// The routing metadata of a `SendMessages` body (stream, topic,
/// partitioning, count), without the batch; also what the permission check
/// reads.
pub(crate) fn send_header(body: &[u8]) -> Result<SendMessagesHeader, Status> {
    Ok(split_send(body)?.0)
}

/// A `SendMessages` body's routing metadata and the bytes after it.
fn split_send(body: &[u8]) -> Result<(SendMessagesHeader, &[u8]), Status> {
    let metadata_len = read_u32_le(body, 0)? as usize;
    let metadata_end = 4usize
        .checked_add(metadata_len)
        .ok_or(Status::INVALID_FORMAT)?;
    let metadata = body.get(4..metadata_end).ok_or(Status::INVALID_FORMAT)?;
    let (header, consumed) = SendMessagesHeader::decode(metadata)?;
    if consumed != metadata_len {
        return Err(Status::INVALID_FORMAT);
    }
    let rest = body.get(metadata_end..).ok_or(Status::INVALID_FORMAT)?;
    Ok((header, rest))
}

/// Decodes a `SendMessages` body: routing metadata, then one canonical batch
/// whose checksums are verified.
///
/// The messages' payloads are slices of `body`, not copies, and the headers
/// of those that have any share one buffer. A backend that keeps messages
/// in memory (the memory backend) so keeps a request's body as long as any
/// of its messages; the embedded log frames them and drops them before the
/// append returns.
pub(crate) fn decode_send(body: &Bytes, max_messages: u32) -> Result<SendBatch, Status> {
    let (header, batch_bytes) = split_send(body)?;
    if header.messages_count == 0 || header.messages_count > max_messages {
        return Err(Status::INVALID_MESSAGES_COUNT);
    }
    let batch = decode_batch_slice(batch_bytes).map_err(|error| match error {
        iggy_binary_protocol::WireError::InvalidBatchChecksum { .. }
        | iggy_binary_protocol::WireError::InvalidMessageChecksum { .. } => {
            Status::INVALID_MESSAGE_CHECKSUM
        }
        _ => Status::INVALID_FORMAT,
    })?;
    if u64::try_from(batch_bytes.len()).ok() != Some(batch.header.batch_length)
        || batch.message_count() != header.messages_count
    {
        return Err(Status::INVALID_MESSAGES_COUNT);
    }
    let count = header.messages_count as usize;
    let mut messages = Vec::with_capacity(count);
    // Allocates only once a message has user headers; grows as it goes
    // (what was split off stays).
    let mut headers = HeadersBuilder::default();
    let origin = batch.header.origin_timestamp;
    for view in batch.iter() {
        messages.push(Message {
            id: view.header.id,
            origin_timestamp_micros: Some(
                origin.saturating_add(u64::from(view.header.timestamp_delta)),
            ),
            headers: headers_from_wire(view.user_headers, &mut headers)?,
            // A view's payload lies within `body` (the batch was decoded
            // from a slice of it), as `slice_ref` requires.
            payload: body.slice_ref(view.payload),
        });
    }
    if messages.len() != count {
        return Err(Status::INVALID_MESSAGES_COUNT);
    }
    Ok(SendBatch { header, messages })
}

/// Iggy typed user headers → core headers, split off `out` (see
/// [`to_core_headers`]); none for a message without user headers, the
/// common case, which skips the mapping.
pub(crate) fn headers_from_wire(raw: &[u8], out: &mut HeadersBuilder) -> Result<Headers, Status> {
    if raw.is_empty() {
        return Ok(Headers::new());
    }
    validate_user_headers(raw)?;
    to_core_headers(
        WireUserHeaderIterator::new(raw).map(|entry| WireHeader {
            key_kind: entry.key_kind.0,
            key: Bytes::copy_from_slice(entry.key),
            value_kind: entry.value_kind.0,
            value: Bytes::copy_from_slice(entry.value),
        }),
        out,
    )
}

/// Encodes a `PollMessages` reply: the 16-byte header, then one batch
/// per run of records that share an append timestamp (the batch's base
/// timestamp) and whose origin timestamps lie within a `u32` of
/// microseconds at or after the run's first (each message's origin is a
/// delta from the batch's).
///
/// Every message is framed in place in one buffer sized for the reply up
/// front: its payload is copied once, from the record (a slice of the
/// log's read buffer) to the reply.
pub(crate) fn encode_poll(partition_id: u32, current_offset: u64, records: &[Record]) -> Bytes {
    let framed: Vec<Framed<'_>> = records.iter().map(Framed::new).collect();
    let payloads: usize = records.iter().map(|r| r.message.payload.len()).sum();
    let mut out = BytesMut::with_capacity(
        POLL_HEADER_SIZE + BATCH_HEADER_SIZE + records.len() * BATCH_MESSAGE_HEADER_SIZE + payloads,
    );
    PollMessagesResponseHeader {
        partition_id,
        current_offset,
        messages_count: u32::try_from(records.len()).unwrap_or(u32::MAX),
    }
    .encode(&mut out);
    let mut start = 0;
    while start < framed.len() {
        let first = &framed[start];
        let mut end = start + 1;
        while end < framed.len() && continues(first, &framed[end], end - start) {
            end += 1;
        }
        encode_batch(&mut out, partition_id, &framed[start..end]);
        start = end;
    }
    out.freeze()
}

/// Size of the `PollMessages` reply header before the first batch.
const POLL_HEADER_SIZE: usize = 16;

/// A record about to be encoded, with its meta header read once.
struct Framed<'a> {
    record: &'a Record,
    meta: Option<Meta<'a>>,
    origin: u64,
}

impl<'a> Framed<'a> {
    fn new(record: &'a Record) -> Self {
        let meta = read_meta(&record.message.headers);
        let origin = record
            .message
            .origin_timestamp_micros
            .or_else(|| meta.as_ref().and_then(|m| m.origin_timestamp))
            .unwrap_or(record.timestamp_micros);
        Self {
            record,
            meta,
            origin,
        }
    }
}

/// Whether `next`, `delta` records after `first`, belongs in `first`'s batch.
fn continues(first: &Framed<'_>, next: &Framed<'_>, delta: usize) -> bool {
    next.record.timestamp_micros == first.record.timestamp_micros
        && u64::try_from(delta)
            .is_ok_and(|d| next.record.offset == first.record.offset.wrapping_add(d))
        && u32::try_from(delta).is_ok()
        && next
            .origin
            .checked_sub(first.origin)
            .is_some_and(|d| u32::try_from(d).is_ok())
}

/// Appends one batch of `run` to `out`: its header's room first, then each
/// message framed in place (checksummed once its headers are written), then
/// the header, whose checksum covers the messages'.
fn encode_batch(out: &mut BytesMut, partition_id: u32, run: &[Framed<'_>]) {
    let Some(first) = run.first() else {
        return;
    };
    let at = out.len();
    out.put_bytes(0, BATCH_HEADER_SIZE);
    for (delta, framed) in run.iter().enumerate() {
        let message = &framed.record.message;
        let payload = &message.payload;
        let start = out.len();
        // The frame's header in one write. Layout: checksum 0..8, id 8..24,
        // offset delta 24..28, origin timestamp delta 28..32, user-headers
        // length 32..36, payload length 36..40, reserved 40..48 (zero).
        // Checksum and user-headers length are filled in below.
        let mut head = [0u8; BATCH_MESSAGE_HEADER_SIZE];
        head[8..24].copy_from_slice(&message.id.to_le_bytes());
        head[24..28].copy_from_slice(&u32::try_from(delta).unwrap_or(u32::MAX).to_le_bytes());
        let origin_delta = framed.origin.saturating_sub(first.origin);
        head[28..32].copy_from_slice(
            &u32::try_from(origin_delta)
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        let payload_len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        head[36..40].copy_from_slice(&payload_len.to_le_bytes());
        out.put_slice(&head);
        out.put_slice(payload);
        let headers_at = out.len();
        put_wire_headers(&message.headers, framed.meta.as_ref(), out);
        let headers_len = u32::try_from(out.len() - headers_at).unwrap_or(u32::MAX);
        let frame = &mut out[start..];
        frame[32..36].copy_from_slice(&headers_len.to_le_bytes());
        let checksum = message_checksum(&frame[8..]);
        frame[..8].copy_from_slice(&checksum.to_le_bytes());
    }
    let (head, blob) = out[at..].split_at_mut(BATCH_HEADER_SIZE);
    debug_assert!(blob.len() >= run.len() * BATCH_MESSAGE_HEADER_SIZE);
    let mut header = BatchHeader::new(
        u64::from(partition_id),
        first.origin,
        (BATCH_HEADER_SIZE + blob.len()) as u64,
        u32::try_from(run.len()).unwrap_or(u32::MAX),
    );
    header.base_offset = first.record.offset;
    header.base_timestamp = first.record.timestamp_micros;
    header.batch_checksum = calculate_batch_checksum(&header, blob);
    header.encode_into(head);
}

/// A message frame's checksum, as Iggy's protocol defines it: XXH3-64
/// (seed 0) over the frame after the checksum field. Computed by
/// `twox-hash`, the protocol crate's own hasher, which picks AVX2 at run
/// time (`xxhash-rust` builds for the compile-time target, SSE2 here).
fn message_checksum(covered: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(covered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iggy_binary_protocol::{
        encode_user_headers,
        requests::messages::{RawMessage, SendMessagesEncoder},
        responses::messages::PollMessagesResponse,
        WireIdentifier, WirePartitioning,
    };

    fn record(offset: u64, ts: u64, id: u128) -> Record {
        let mut headers = Headers::new();
        headers.insert("codec", "json").unwrap();
        headers.insert("bin", [0xff, 0x00]).unwrap();
        headers.insert("empty", "").unwrap();
        Record {
            offset,
            timestamp_micros: ts,
            message: Message {
                origin_timestamp_micros: None,
                id,
                headers,
                payload: Bytes::from(format!("payload-{offset}")),
            },
        }
    }

    fn wire_headers(raw: &[u8]) -> Headers {
        headers_from_wire(raw, &mut HeadersBuilder::default()).unwrap()
    }

    /// Bytes of `len` for the checksum vectors.
    fn vector(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Pinned XXH3-64 values (computed with `twox-hash`'s
    /// `XxHash3_64::oneshot`), one per length class XXH3 treats apart.
    #[test]
    fn message_checksum_is_xxh3_64_seed_zero() {
        for (len, expected) in [
            (0usize, 0x2D06_8005_38D3_94C2_u64),
            (3, 0x3698_B801_91E6_25F9),
            (8, 0x60E1_BAA9_1347_A1F2),
            (16, 0x8626_370B_70D8_AC70),
            (100, 0x1EFB_AA65_2AF7_DFB7),
            (200, 0xC063_67D4_05BD_C71D),
            (1000, 0x404E_1417_800E_B486),
        ] {
            assert_eq!(message_checksum(&vector(len)), expected, "{len} bytes");
        }
    }

    /// The protocol crate recomputes the checksums of every message the
    /// server encodes, payloads of every XXH3 length class included.
    #[test]
    fn encoded_batches_pass_the_protocol_crates_checksum_verification() {
        for len in [0usize, 3, 60, 150, 1000] {
            let mut first = record(9, 100, 4);
            first.message.payload = Bytes::from(vector(len));
            let mut second = first.clone();
            second.offset = 10;
            let out = encode_poll(2, 10, &[first, second]);
            let batch = decode_batch_slice(&out[POLL_HEADER_SIZE..])
                .unwrap_or_else(|e| panic!("payload of {len} bytes: {e}"));
            assert_eq!(batch.message_count(), 2);
        }
    }

    #[test]
    fn polled_batches_decode_with_the_protocol_crate() {
        let records = vec![record(5, 100, 1), record(6, 100, 2), record(7, 200, 3)];
        let bytes = encode_poll(3, 7, &records);
        let response = PollMessagesResponse::decode(&bytes).unwrap();
        assert_eq!(response.header.partition_id, 3);
        assert_eq!(response.header.messages_count, 3);
        let views: Vec<_> = response.messages.map(Result::unwrap).collect();
        assert_eq!(
            views.iter().map(|v| v.offset).collect::<Vec<_>>(),
            vec![5, 6, 7]
        );
        assert_eq!(views[2].timestamp, 200);
        assert_eq!(views[1].id, 2);
        assert_eq!(views[0].payload, b"payload-5");
        let headers = wire_headers(views[0].user_headers);
        assert_eq!(headers.get_str("codec").unwrap(), Some("json"));
        assert_eq!(headers.get("bin"), Some(&[0xff, 0x00][..]));
        // Iggy cannot carry an empty value.
        assert!(headers.get("empty").is_none());
        // A core producer's record: its origin is its append time.
        assert_eq!(views[0].origin_timestamp, 100);
        assert_eq!(views[2].origin_timestamp, 200);
    }

    /// A record of a log written before the origin timestamp was a field of
    /// the message keeps it in a version-1 meta header: it comes back from
    /// there.
    #[test]
    fn an_origin_in_a_version_1_meta_header_comes_back() {
        let mut r = record(3, 7_000, 1);
        let mut meta = vec![1u8];
        meta.extend_from_slice(&1_234u64.to_le_bytes());
        r.message
            .headers
            .insert(crate::iggy_meta::META_HEADER, meta)
            .unwrap();
        let bytes = encode_poll(0, 3, &[r]);
        let response = PollMessagesResponse::decode(&bytes).unwrap();
        let views: Vec<_> = response.messages.map(Result::unwrap).collect();
        assert_eq!(views[0].origin_timestamp, 1_234);
        assert_eq!(views[0].timestamp, 7_000);
        let headers = wire_headers(views[0].user_headers);
        assert!(headers.get(crate::iggy_meta::META_HEADER).is_none());
    }

    /// Origin timestamps come back as sent; a batch breaks where one would
    /// fall before the batch's or more than a `u32` of microseconds after.
    #[test]
    fn origin_timestamps_come_back_whatever_their_spread() {
        let origins = [1_000, 1_500, 900, 900 + u64::from(u32::MAX) + 1, 5];
        let records: Vec<Record> = origins
            .iter()
            .zip(0u64..)
            .map(|(&origin, i)| {
                let mut r = record(20 + i, 7_000, u128::from(i));
                r.message.origin_timestamp_micros = Some(origin);
                r
            })
            .collect();
        let bytes = encode_poll(0, 24, &records);
        let response = PollMessagesResponse::decode(&bytes).unwrap();
        let views: Vec<_> = response.messages.map(Result::unwrap).collect();
        assert_eq!(
            views.iter().map(|v| v.origin_timestamp).collect::<Vec<_>>(),
            origins
        );
        assert!(views.iter().all(|v| v.timestamp == 7_000));
        assert_eq!(
            views.iter().map(|v| v.offset).collect::<Vec<_>>(),
            [20, 21, 22, 23, 24]
        );
    }

    #[test]
    fn send_bodies_decode_and_checksums_are_verified() {
        const KIND_STRING: u8 = 2;
        let mut typed = BytesMut::new();
        encode_user_headers(
            &[
                (KIND_STRING, b"n", 12, &42u64.to_le_bytes()),
                (KIND_STRING, b"ok", 3, &[1]),
            ],
            &mut typed,
        );
        let messages = [RawMessage {
            id: 77,
            origin_timestamp: 1,
            headers: Some(&typed),
            payload: b"hello",
        }];
        let (s, t, p) = (
            WireIdentifier::numeric(0),
            WireIdentifier::named("orders").unwrap(),
            WirePartitioning::PartitionId(1),
        );
        let mut body = BytesMut::new();
        SendMessagesEncoder::encode(&mut body, &s, &t, &p, &messages).unwrap();
        let batch = decode_send(&body.clone().freeze(), 100).unwrap();
        assert_eq!(batch.messages[0].id, 77);
        assert_eq!(batch.messages[0].origin_timestamp_micros, Some(1));
        assert_eq!(batch.messages[0].payload.as_ref(), b"hello");
        assert_eq!(batch.messages[0].headers.get_str("n").unwrap(), Some("42"));
        assert_eq!(
            batch.messages[0].headers.get_str("ok").unwrap(),
            Some("true")
        );
        assert_eq!(
            decode_send(&body.clone().freeze(), 0).unwrap_err(),
            Status::INVALID_MESSAGES_COUNT
        );

        let last = body.len() - 1;
        body[last] ^= 0xff;
        assert_eq!(
            decode_send(&body.clone().freeze(), 100).unwrap_err(),
            Status::INVALID_MESSAGE_CHECKSUM
        );
        for cut in [0, 3, 10, body.len() - 1] {
            assert!(decode_send(&Bytes::copy_from_slice(&body[..cut]), 100).is_err());
        }
    }
}
