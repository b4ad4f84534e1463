//! What backends store: messages with an id, headers and an opaque payload.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::{Error, ErrorKind, Result};

/// Message headers: string keys, byte values (Iggy's user headers).
///
/// Ordered, so the same headers always encode the same way.
///
/// ```
/// use rustok_iggy::Headers;
///
/// let mut headers = Headers::new();
/// headers.insert_str("codec", "json");
/// assert_eq!(headers.get_str("codec").unwrap(), Some("json"));
/// assert_eq!(headers.get_str("missing").unwrap(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(BTreeMap<String, Bytes>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to raw bytes, replacing any previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Bytes>) {
        self.0.insert(key.into(), value.into());
    }

    /// Sets `key` to a UTF-8 string.
    pub fn insert_str(&mut self, key: impl Into<String>, value: impl AsRef<str>) {
        self.insert(key, Bytes::copy_from_slice(value.as_ref().as_bytes()));
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.0.get(key)
    }

    /// The value of `key` as UTF-8; an error if it is present but not UTF-8.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes).map(Some).map_err(|e| {
                Error::new(
                    ErrorKind::Codec,
                    format!("header `{key}` is not valid UTF-8"),
                )
                .with_source(e)
            }),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Bytes> {
        self.0.remove(key)
    }

    /// Iterates in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Bytes the keys and values take, a size estimate for limits and metrics.
    pub fn encoded_len(&self) -> usize {
        self.0.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

impl FromIterator<(String, Bytes)> for Headers {
    fn from_iter<T: IntoIterator<Item = (String, Bytes)>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// A message to append: what a producer hands a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Message id; the event id as `u128`. Iggy deduplicates on it.
    pub id: u128,
    /// User headers: the envelope metadata plus `codec` and `traceparent`.
    pub headers: Headers,
    /// The codec's bytes of the event.
    pub payload: Bytes,
}

/// A message as stored in a partition, with the place and time the backend gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position in the partition, dense from the partition's first offset.
    pub offset: u64,
    /// When the backend appended it, in microseconds since the Unix epoch.
    pub timestamp_micros: u64,
    /// The message as it was appended.
    pub message: Message,
}
