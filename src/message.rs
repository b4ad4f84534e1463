//! What backends store: messages with an id, headers and an opaque payload.

use std::{borrow::Cow, fmt};

use bytes::Bytes;
use smallvec::SmallVec;

use crate::{wire::header, Error, ErrorKind, Result};

/// A header name. The names the transport writes on every message
/// ([`wire::header`](crate::wire::header)), and the one the Iggy-protocol
/// server writes on every message an Iggy client sends
/// ([`IGGY_META`](crate::wire::header::IGGY_META)), are interned: making one
/// from a `&str` or a `String` allocates nothing for them, which matters
/// because every published and every polled message carries them.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeaderName(Cow<'static, str>);

impl HeaderName {
    /// A name known at compile time, taken as is: no lookup, no allocation.
    ///
    /// ```
    /// use rustok_iggy::HeaderName;
    ///
    /// const REGION: HeaderName = HeaderName::from_static("x-region");
    /// assert_eq!(REGION.as_str(), "x-region");
    /// assert_eq!(REGION, HeaderName::from("x-region"));
    /// ```
    pub const fn from_static(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The static name equal to `name`, if it is one of the interned.
    fn interned(name: &str) -> Option<&'static str> {
        header::ALL
            .iter()
            .chain(&[header::IGGY_META])
            .copied()
            .find(|known| *known == name)
    }
}

impl From<&str> for HeaderName {
    fn from(name: &str) -> Self {
        match Self::interned(name) {
            Some(known) => Self(Cow::Borrowed(known)),
            None => Self(Cow::Owned(name.to_owned())),
        }
    }
}

impl From<String> for HeaderName {
    fn from(name: String) -> Self {
        match Self::interned(&name) {
            Some(known) => Self(Cow::Borrowed(known)),
            None => Self(Cow::Owned(name)),
        }
    }
}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Message headers: string keys, byte values (Iggy's user headers).
///
/// Ordered by key, so the same headers always encode the same way. Kept as a
/// sorted vector rather than a map: messages carry about ten headers, which a
/// binary search finds as fast as a tree does, without a node allocation each.
///
/// ```
/// use rustok_iggy::Headers;
///
/// let mut headers = Headers::new();
/// headers.insert_str("codec", "json");
/// assert_eq!(headers.get_str("codec").unwrap(), Some("json"));
/// assert_eq!(headers.get_str("missing").unwrap(), None);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Entries);

/// Sorted by name. One entry inline: a message with a single header (the
/// Iggy-protocol server's metadata on a message sent without user headers)
/// allocates nothing for it, written or read.
type Entries = SmallVec<[(HeaderName, Bytes); 1]>;

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// No headers, with room for `n` without reallocating.
    pub fn with_capacity(n: usize) -> Self {
        Self(Entries::with_capacity(n))
    }

    fn position(&self, key: &str) -> std::result::Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Sets `key` to raw bytes, replacing any previous value.
    ///
    /// Keys arriving in order (a decoded message, the transport's own
    /// headers) are appended after one comparison.
    pub fn insert(&mut self, key: impl Into<HeaderName>, value: impl Into<Bytes>) {
        let key = key.into();
        let value = value.into();
        if self.0.last().is_none_or(|(last, _)| last < &key) {
            self.0.push((key, value));
            return;
        }
        match self.position(key.as_str()) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// Sets `key` to a UTF-8 string.
    pub fn insert_str(&mut self, key: impl Into<HeaderName>, value: impl AsRef<str>) {
        self.insert(key, Bytes::copy_from_slice(value.as_ref().as_bytes()));
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    /// The value of `key` as UTF-8; an error if it is present but not UTF-8.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
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
        self.position(key).ok().map(|i| self.0.remove(i).1)
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
        self.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Collects in any order in O(n log n): decoders use it for headers a peer
/// sent, where inserting one by one into the sorted vector would cost O(n²)
/// for a message with many headers out of order. A repeated key keeps its
/// last value, as with [`Headers::insert`].
impl<K: Into<HeaderName>> FromIterator<(K, Bytes)> for Headers {
    fn from_iter<T: IntoIterator<Item = (K, Bytes)>>(iter: T) -> Self {
        let mut entries: Entries = iter.into_iter().map(|(k, v)| (k.into(), v)).collect();
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable: of equal keys, the last one collected stays last.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut unique = Entries::with_capacity(entries.len());
            for entry in entries {
                match unique.last_mut() {
                    Some(last) if last.0 == entry.0 => *last = entry,
                    _ => unique.push(entry),
                }
            }
            entries = unique;
        }
        Self(entries)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_stay_sorted_and_unique_whatever_the_insert_order() {
        let mut h = Headers::new();
        for key in ["m", "z", "a", "q", "m", "b", "z", "zz"] {
            h.insert(key, Bytes::copy_from_slice(key.as_bytes()));
        }
        h.insert("a", Bytes::from_static(b"replaced"));
        let keys: Vec<&str> = h.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "m", "q", "z", "zz"]);
        assert_eq!(h.get("a").unwrap().as_ref(), b"replaced");
        assert_eq!(h.get("zz").unwrap().as_ref(), b"zz");
        assert_eq!(h.remove("m").unwrap().as_ref(), b"m");
        assert_eq!(h.get("m"), None);
        assert_eq!(h.len(), 5);
    }

    #[test]
    fn collecting_sorts_and_keeps_the_last_of_a_repeated_key() {
        let h: Headers = [("z", 1u8), ("a", 2), ("m", 3), ("a", 4)]
            .into_iter()
            .map(|(k, v)| (k, Bytes::from(vec![v])))
            .collect();
        let pairs: Vec<(&str, u8)> = h.iter().map(|(k, v)| (k, v[0])).collect();
        assert_eq!(pairs, [("a", 4), ("m", 3), ("z", 1)]);
        // Many keys in reverse order: sorted in O(n log n), all kept.
        let many: Headers = (0..20_000u32)
            .rev()
            .map(|i| (format!("k{i:05}"), Bytes::new()))
            .collect();
        assert_eq!(many.len(), 20_000);
        assert_eq!(many.iter().next().map(|(k, _)| k), Some("k00000"));
    }

    #[test]
    fn the_transports_header_names_are_interned() {
        for name in crate::wire::header::ALL {
            let from_owned = HeaderName::from(name.to_owned());
            assert!(matches!(from_owned.0, Cow::Borrowed(_)), "{name}");
        }
        assert!(matches!(HeaderName::from("custom").0, Cow::Owned(_)));
    }
}
