//! Core [`Message`]/[`Record`] ↔ SDK `IggyMessage`.
//!
//! - id: the core's `u128` as the Iggy message id (`0` lets the server
//!   assign one, as Iggy does).
//! - headers: each core header becomes an Iggy user header with a string
//!   key; a UTF-8 value is sent as a `string` header, any other value as
//!   `raw`. Read back, `string` and `raw` values are their bytes; values of
//!   other Iggy kinds (written by other tools) become their text.
//! - Iggy refuses an empty payload and header keys or values that are empty
//!   or longer than 255 bytes: such messages are an `InvalidInput` error,
//!   never silently altered.
//! - timestamp: the server's append time in microseconds.
//! - origin timestamp: a message's `origin_timestamp_micros` is sent as its
//!   Iggy origin timestamp (without one, the SDK stamps the time the message
//!   was built), and a polled message's comes back in that field. A batch
//!   whose origins span more than a `u32` of microseconds (about 71
//!   minutes), which the SDK cannot encode, is refused as `InvalidInput`.

use bytes::{BufMut, BytesMut};
use iggy::prelude::{HeaderKind, HeaderValue, IggyMessage};
use iggy_binary_protocol::{batch::MAX_TIMESTAMP_DELTA_MICROS, WireUserHeaders};
use rustok_iggy::{Error, ErrorKind, HeadersBuilder, Message, Record, Result};

/// Longest header key or value Iggy accepts.
pub(crate) const MAX_HEADER_FIELD: usize = 255;

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput, message).with_context("backend", crate::NAME)
}

/// Iggy's header kind codes for the two kinds this backend writes.
const KIND_RAW: u8 = 1;
const KIND_STRING: u8 = 2;

/// The SDK message for a core message. Headers are encoded straight into
/// Iggy's TLV wire form (kind, u32 LE length, bytes; key then value).
pub(crate) fn to_iggy(message: &Message) -> Result<IggyMessage> {
    if message.payload.is_empty() {
        return Err(invalid("Iggy refuses an empty payload".to_owned()));
    }
    let mut wire = BytesMut::with_capacity(
        message
            .headers
            .iter()
            .map(|(k, v)| 10 + k.len() + v.len())
            .sum(),
    );
    for (key, value) in message.headers.iter() {
        if key.is_empty() || key.len() > MAX_HEADER_FIELD {
            return Err(invalid(format!(
                "header key `{key}`: Iggy needs 1 to {MAX_HEADER_FIELD} bytes"
            )));
        }
        if value.is_empty() || value.len() > MAX_HEADER_FIELD {
            return Err(invalid(format!(
                "header `{key}`: Iggy needs a value of 1 to {MAX_HEADER_FIELD} bytes, got {}",
                value.len()
            )));
        }
        // ASCII first: every header the transport writes is, and the check
        // is far cheaper than full UTF-8 validation.
        let kind = if value.is_ascii() || std::str::from_utf8(value).is_ok() {
            KIND_STRING
        } else {
            KIND_RAW
        };
        // Lengths are at most 255 (checked above).
        wire.put_u8(KIND_STRING);
        wire.put_u32_le(key.len() as u32);
        wire.put_slice(key.as_bytes());
        wire.put_u8(kind);
        wire.put_u32_le(value.len() as u32);
        wire.put_slice(value);
    }
    let mut out = IggyMessage::builder()
        .id(message.id)
        .payload(message.payload.clone())
        .build()
        .map_err(|e| crate::error::map(e, "append"))?;
    // A message without one keeps the SDK's stamp: the time it was built.
    if let Some(origin) = message.origin_timestamp_micros {
        out.header.origin_timestamp = origin;
    }
    if !wire.is_empty() {
        let length =
            u32::try_from(wire.len()).map_err(|_| invalid("headers above 4 GiB".to_owned()))?;
        out.header.user_headers_length = length;
        out.user_headers = Some(wire.freeze());
    }
    Ok(out)
}

/// Refuses a batch whose origin timestamps span more than one Iggy batch
/// can say (each is a `u32` of microseconds after the earliest, about 71
/// minutes): the SDK would refuse to encode it. Messages stamped far apart
/// (say, records of hours ago sent again) go in separate appends.
pub(crate) fn check_origin_span(batch: &[IggyMessage]) -> Result<()> {
    let origins = batch.iter().map(|m| m.header.origin_timestamp);
    let (Some(first), Some(last)) = (origins.clone().min(), origins.max()) else {
        return Ok(());
    };
    if last - first > MAX_TIMESTAMP_DELTA_MICROS {
        return Err(invalid(format!(
            "origin timestamps {first} to {last} µs span more than one Iggy batch \
             allows ({MAX_TIMESTAMP_DELTA_MICROS} µs): append them in separate batches"
        )));
    }
    Ok(())
}

/// The core record for a polled SDK message: its headers packed into one
/// buffer, the payload a slice of the polled one.
pub(crate) fn from_iggy(message: IggyMessage) -> Result<Record> {
    let mut headers = HeadersBuilder::with_capacity(message.header.user_headers_length as usize);
    if let Some(raw) = &message.user_headers {
        let wire = WireUserHeaders::from_bytes(raw.clone()).map_err(|e| {
            Error::new(ErrorKind::Backend, format!("malformed user headers: {e:?}"))
                .with_context("backend", crate::NAME)
        })?;
        for entry in wire.iter() {
            // Borrowed when UTF-8, as every key this backend writes is.
            let key = String::from_utf8_lossy(entry.key);
            match entry.value_kind.0 {
                KIND_RAW | KIND_STRING => headers.push(&key, entry.value),
                code => {
                    let kind =
                        HeaderKind::from_code(code).map_err(|e| crate::error::map(e, "poll"))?;
                    let value = HeaderValue::from_raw(kind, entry.value)
                        .map_err(|e| crate::error::map(e, "poll"))?;
                    headers.push(&key, value.to_string_value().as_bytes())
                }
            };
        }
    }
    // Other tools write headers in any order: the builder sorts them.
    let headers = headers
        .build()
        .map_err(|e| e.with_context("backend", crate::NAME))?;
    Ok(Record {
        offset: message.header.offset,
        timestamp_micros: message.header.timestamp,
        message: Message {
            id: message.header.id,
            origin_timestamp_micros: Some(message.header.origin_timestamp),
            headers,
            payload: message.payload,
        },
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rustok_iggy::Headers;

    use super::*;

    #[test]
    fn headers_round_trip_as_string_or_raw() {
        let mut headers = Headers::new();
        headers.insert("event-type", "a.b").unwrap();
        headers.insert("bin", [0xff, 0]).unwrap();
        let message = Message {
            origin_timestamp_micros: Some(1_700_000_000_000_001),
            id: 7,
            headers: headers.clone(),
            payload: Bytes::from_static(b"x"),
        };
        let iggy = to_iggy(&message).unwrap();
        let map = iggy.user_headers_map().unwrap().unwrap();
        let kinds: Vec<HeaderKind> = map.values().map(|v| v.kind()).collect();
        assert_eq!(kinds, vec![HeaderKind::Raw, HeaderKind::String]);
        let record = from_iggy(iggy).unwrap();
        assert_eq!(record.message, message);
    }

    #[test]
    fn typed_headers_from_other_tools_read_as_text() {
        use iggy::prelude::HeaderKey;
        let mut map = std::collections::BTreeMap::new();
        map.insert(HeaderKey::try_from("n").unwrap(), HeaderValue::from(42u32));
        let iggy = IggyMessage::builder()
            .id(1)
            .payload(Bytes::from_static(b"x"))
            .user_headers(map)
            .build()
            .unwrap();
        let record = from_iggy(iggy).unwrap();
        assert_eq!(record.message.headers.get_str("n").unwrap(), Some("42"));
    }

    #[test]
    fn origins_further_apart_than_one_batch_allows_are_invalid_input() {
        let at = |origin| {
            to_iggy(&Message {
                id: 1,
                origin_timestamp_micros: Some(origin),
                headers: Headers::new(),
                payload: Bytes::from_static(b"x"),
            })
            .unwrap()
        };
        let first = 1_700_000_000_000_000;
        let fits = [at(first + MAX_TIMESTAMP_DELTA_MICROS), at(first)];
        check_origin_span(&fits).unwrap();
        let apart = [at(first), at(first + MAX_TIMESTAMP_DELTA_MICROS + 1)];
        let err = check_origin_span(&apart).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("separate batches"), "{err}");
    }

    #[test]
    fn what_iggy_cannot_store_is_invalid_input() {
        let mut m = Message {
            origin_timestamp_micros: None,
            id: 1,
            headers: Headers::new(),
            payload: Bytes::new(),
        };
        assert_eq!(to_iggy(&m).unwrap_err().kind(), ErrorKind::InvalidInput);
        m.payload = Bytes::from_static(b"x");
        m.headers.insert("k", "").unwrap();
        assert_eq!(to_iggy(&m).unwrap_err().kind(), ErrorKind::InvalidInput);
        m.headers = Headers::new();
        m.headers.insert("k", "v".repeat(256)).unwrap();
        assert_eq!(to_iggy(&m).unwrap_err().kind(), ErrorKind::InvalidInput);
    }
}
