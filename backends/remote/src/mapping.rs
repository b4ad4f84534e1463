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

use std::collections::BTreeMap;

use bytes::Bytes;
use iggy::prelude::{HeaderKey, HeaderKind, HeaderValue, IggyMessage};
use rustok_iggy::{Error, ErrorKind, Headers, Message, Record, Result};

/// Longest header key or value Iggy accepts.
pub(crate) const MAX_HEADER_FIELD: usize = 255;

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput, message).with_context("backend", crate::NAME)
}

/// The SDK message for a core message.
pub(crate) fn to_iggy(message: &Message) -> Result<IggyMessage> {
    if message.payload.is_empty() {
        return Err(invalid("Iggy refuses an empty payload".to_owned()));
    }
    let headers = if message.headers.is_empty() {
        None
    } else {
        let mut map = BTreeMap::new();
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
            let k = HeaderKey::try_from(key)
                .map_err(|e| invalid(format!("header key `{key}`: {e}")))?;
            let kind = if std::str::from_utf8(value).is_ok() {
                HeaderKind::String
            } else {
                HeaderKind::Raw
            };
            let v = HeaderValue::from_raw(kind, value)
                .map_err(|e| invalid(format!("header `{key}`: {e}")))?;
            map.insert(k, v);
        }
        Some(map)
    };
    IggyMessage::builder()
        .id(message.id)
        .payload(message.payload.clone())
        .maybe_user_headers(headers)
        .build()
        .map_err(|e| crate::error::map(e, "append"))
}

/// The core record for a polled SDK message.
pub(crate) fn from_iggy(message: IggyMessage) -> Result<Record> {
    let map = message
        .user_headers_map()
        .map_err(|e| crate::error::map(e, "poll"))?;
    let mut headers = Headers::new();
    for (key, value) in map.into_iter().flatten() {
        let key = match key.as_str() {
            Ok(k) => k.to_owned(),
            Err(_) => key.to_string_value(),
        };
        let bytes = match value.kind() {
            HeaderKind::String | HeaderKind::Raw => Bytes::copy_from_slice(value.as_bytes()),
            _ => Bytes::from(value.to_string_value()),
        };
        headers.insert(key, bytes);
    }
    Ok(Record {
        offset: message.header.offset,
        timestamp_micros: message.header.timestamp,
        message: Message {
            id: message.header.id,
            headers,
            payload: message.payload,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_as_string_or_raw() {
        let mut headers = Headers::new();
        headers.insert_str("event-type", "a.b");
        headers.insert("bin", Bytes::from_static(&[0xff, 0]));
        let message = Message {
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
    fn what_iggy_cannot_store_is_invalid_input() {
        let mut m = Message {
            id: 1,
            headers: Headers::new(),
            payload: Bytes::new(),
        };
        assert_eq!(to_iggy(&m).unwrap_err().kind(), ErrorKind::InvalidInput);
        m.payload = Bytes::from_static(b"x");
        m.headers.insert_str("k", "");
        assert_eq!(to_iggy(&m).unwrap_err().kind(), ErrorKind::InvalidInput);
        m.headers = Headers::new();
        m.headers.insert_str("k", "v".repeat(256));
        assert_eq!(to_iggy(&m).unwrap_err().kind(), ErrorKind::InvalidInput);
    }
}
