//! What backends store: messages with an id, headers and an opaque payload.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Error, ErrorKind, Result};

/// Message headers: string keys, byte values (Iggy's user headers), sorted
/// by key, each key at most once.
///
/// Kept **packed** in one buffer, in the layout the embedded log stores:
///
/// ```text
/// entry = u16 key_len | key (UTF-8) | u32 value_len | value    (little-endian)
/// ```
///
/// one entry after another in ascending key order. Every published and every
/// polled message carries about a dozen headers; packed, a message's headers
/// are one allocation to build, one reference count to clone or drop, one
/// copy to store, and a slice of the read buffer when read back, where a
/// collection of separate entries cost a dozen of each.
///
/// Lookups walk the entries; with a dozen short keys that is as fast as a
/// search. Changing a header rebuilds the buffer: build headers at once with
/// [`HeadersBuilder`] or [`Headers::from_pairs`] where there are many.
///
/// ```
/// use rustok_iggy::Headers;
///
/// let mut headers = Headers::new();
/// headers.insert("codec", "json")?;
/// assert_eq!(headers.get_str("codec")?, Some("json"));
/// assert_eq!(headers.get("missing"), None);
/// # Ok::<(), rustok_iggy::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// The entries, packed (see above). Sorted and unique by key, so equal
    /// headers have equal bytes.
    packed: Bytes,
    /// How many entries `packed` holds.
    len: usize,
}

/// Bytes an entry takes besides its key and value: the two lengths.
const ENTRY_OVERHEAD: usize = 2 + 4;

impl Headers {
    /// The longest key, in bytes (the packed layout's `u16` length).
    pub const MAX_KEY_LEN: usize = u16::MAX as usize;
    /// The longest value, in bytes (the packed layout's `u32` length).
    pub const MAX_VALUE_LEN: usize = u32::MAX as usize;

    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Headers from `(key, value)` pairs in any order; a repeated key keeps
    /// its last value.
    ///
    /// ```
    /// use rustok_iggy::Headers;
    ///
    /// let headers = Headers::from_pairs([("b", "2"), ("a", "1"), ("b", "3")])?;
    /// let pairs: Vec<_> = headers.iter().collect();
    /// assert_eq!(pairs, [("a", &b"1"[..]), ("b", &b"3"[..])]);
    /// # Ok::<(), rustok_iggy::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a key over [`Self::MAX_KEY_LEN`] or a
    /// value over [`Self::MAX_VALUE_LEN`] bytes.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut builder = HeadersBuilder::default();
        for (key, value) in pairs {
            builder.push(key.as_ref(), value.as_ref());
        }
        builder.build()
    }

    /// Headers from their packed layout (see the type's documentation), as
    /// [`packed`](Self::packed) gave it: the entries are checked, not copied.
    ///
    /// # Errors
    /// [`ErrorKind::Codec`] if a length runs past the end, a key is not
    /// UTF-8, or the keys are not in strictly ascending order.
    pub fn from_packed(packed: Bytes) -> Result<Self> {
        let mut len = 0;
        let mut previous: Option<&[u8]> = None;
        for entry in Entries::new(&packed) {
            let (key, _) = entry.map_err(malformed)?;
            if std::str::from_utf8(key).is_err() {
                return Err(malformed("a key is not UTF-8"));
            }
            if previous.is_some_and(|previous| previous >= key) {
                return Err(malformed("keys out of order or repeated"));
            }
            previous = Some(key);
            len += 1;
        }
        Ok(Self { packed, len })
    }

    /// The packed layout (see the type's documentation): what a backend
    /// stores, and gives back to [`from_packed`](Self::from_packed).
    pub fn packed(&self) -> &Bytes {
        &self.packed
    }

    /// Sets `key` to `value`, replacing any previous value.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a key over [`Self::MAX_KEY_LEN`] or a
    /// value over [`Self::MAX_VALUE_LEN`] bytes; the headers are unchanged.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        check_entry(key, value)?;
        let mut builder = HeadersBuilder::with_capacity(
            self.packed.len() + ENTRY_OVERHEAD + key.len() + value.len(),
        );
        let mut pending = Some((key, value));
        for (k, v) in self.iter() {
            match pending {
                Some((key, value)) if key <= k => {
                    builder.push(key, value);
                    pending = None;
                    if key == k {
                        continue;
                    }
                }
                _ => {}
            }
            builder.push(k, v);
        }
        if let Some((key, value)) = pending {
            builder.push(key, value);
        }
        *self = builder.build()?;
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Bytes> {
        let removed = self.get_bytes(key)?;
        let mut builder = HeadersBuilder::with_capacity(self.packed.len());
        for (k, v) in self.iter().filter(|(k, _)| *k != key) {
            builder.push(k, v);
        }
        // The entries were valid already and stay in order.
        if let Ok(rest) = builder.build() {
            *self = rest;
        }
        Some(removed)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.entries()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// The value of `key` as a slice of the headers' buffer (no copy).
    pub fn get_bytes(&self, key: &str) -> Option<Bytes> {
        self.get(key).map(|value| self.packed.slice_ref(value))
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
                .with_context("header", key)
                .with_source(e)
            }),
        }
    }

    /// Iterates in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        // Keys were checked to be UTF-8 when the headers were made.
        self.entries()
            .filter_map(|(k, v)| std::str::from_utf8(k).ok().map(|k| (k, v)))
    }

    /// Iterates in key order, keys as bytes: for scans that compare keys
    /// with known names and need not look at them as text.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        // Checked when made: no entry is malformed.
        Entries::new(&self.packed).map_while(std::result::Result::ok)
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the keys and values take, a size estimate for limits and metrics.
    pub fn encoded_len(&self) -> usize {
        self.packed.len() - ENTRY_OVERHEAD * self.len
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Value<'a>(&'a [u8]);
        impl fmt::Debug for Value<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "b\"{}\"", self.0.escape_ascii())
            }
        }
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k, Value(v))))
            .finish()
    }
}

/// Builds [`Headers`] in one buffer: entries pushed in ascending key order
/// are written as they come; out of order, [`build`](Self::build) sorts them
/// (a repeated key keeps its last value).
///
/// ```
/// use rustok_iggy::HeadersBuilder;
///
/// let mut builder = HeadersBuilder::with_capacity(64);
/// builder.push("codec", b"json").push("event-type", b"order.placed");
/// let headers = builder.build()?;
/// assert_eq!(headers.get_str("event-type")?, Some("order.placed"));
/// # Ok::<(), rustok_iggy::Error>(())
/// ```
#[derive(Debug)]
pub struct HeadersBuilder {
    buf: BytesMut,
    len: usize,
    /// Where the last key pushed starts and ends in `buf`.
    last_key: (usize, usize),
    /// Whether every key so far was above the one before.
    ascending: bool,
    /// The first entry that cannot be packed.
    error: Option<Error>,
}

impl Default for HeadersBuilder {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl HeadersBuilder {
    /// A builder with room for `bytes` of packed entries (each takes its key,
    /// its value and 6 bytes).
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(bytes),
            len: 0,
            last_key: (0, 0),
            ascending: true,
            error: None,
        }
    }

    /// Adds an entry. A key or value too long to pack makes
    /// [`build`](Self::build) fail; the entry is not added.
    pub fn push(&mut self, key: &str, value: &[u8]) -> &mut Self {
        if self.len > 0 && &self.buf[self.last_key.0..self.last_key.1] >= key.as_bytes() {
            self.ascending = false;
        }
        self.append(key, value)
    }

    /// [`push`](Self::push) for a caller that knows `key` sorts after
    /// every key pushed before (the transport's own names, in order): no
    /// comparison.
    pub(crate) fn push_in_order(&mut self, key: &'static str, value: &[u8]) -> &mut Self {
        debug_assert!(
            self.len == 0 || &self.buf[self.last_key.0..self.last_key.1] < key.as_bytes()
        );
        self.append(key, value)
    }

    /// Packs the entry after the others, unless it is too long.
    fn append(&mut self, key: &str, value: &[u8]) -> &mut Self {
        if let Err(e) = check_entry(key, value) {
            self.error.get_or_insert(e);
            return self;
        }
        self.buf.reserve(ENTRY_OVERHEAD + key.len() + value.len());
        // `check_entry` bounds both lengths to their fields.
        self.buf.put_u16_le(key.len() as u16);
        let start = self.buf.len();
        self.buf.extend_from_slice(key.as_bytes());
        self.last_key = (start, self.buf.len());
        self.buf.put_u32_le(value.len() as u32);
        self.buf.extend_from_slice(value);
        self.len += 1;
        self
    }

    /// The headers.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the first key or value that was
    /// too long to pack.
    pub fn build(mut self) -> Result<Headers> {
        if self.ascending && self.error.is_none() {
            // Frozen whole: no split, so no shared buffer to set up.
            return Ok(Headers {
                packed: self.buf.freeze(),
                len: self.len,
            });
        }
        self.split()
    }

    /// The headers pushed so far; the builder starts over with the capacity
    /// left. Headers split off one builder share its buffer: a batch of
    /// messages gets its headers from one allocation.
    ///
    /// ```
    /// use rustok_iggy::HeadersBuilder;
    ///
    /// let mut batch = HeadersBuilder::with_capacity(1024);
    /// let first = batch.push("n", b"1").split()?;
    /// let second = batch.push("n", b"2").split()?;
    /// assert_eq!((first.get_str("n")?, second.get_str("n")?), (Some("1"), Some("2")));
    /// # Ok::<(), rustok_iggy::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`build`](Self::build); the builder starts over all the same.
    pub fn split(&mut self) -> Result<Headers> {
        let packed = self.buf.split().freeze();
        let (len, ascending, error) = (self.len, self.ascending, self.error.take());
        self.len = 0;
        self.ascending = true;
        if let Some(e) = error {
            return Err(e);
        }
        if ascending {
            return Ok(Headers { packed, len });
        }
        let mut entries: Vec<(&[u8], &[u8])> = Entries::new(&packed)
            .map_while(std::result::Result::ok)
            .collect();
        // Stable: of equal keys, the last one pushed stays last.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut sorted = Self::with_capacity(packed.len());
        for (i, (key, value)) in entries.iter().enumerate() {
            if entries.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            // The keys came in as `&str`.
            if let Ok(key) = std::str::from_utf8(key) {
                sorted.push(key, value);
            }
        }
        Ok(Headers {
            packed: sorted.buf.freeze(),
            len: sorted.len,
        })
    }
}

/// Whether the entry fits the packed layout's lengths; the error is built
/// apart, off the path every header takes.
#[inline]
fn check_entry(key: &str, value: &[u8]) -> Result<()> {
    if key.len() > Headers::MAX_KEY_LEN || value.len() > Headers::MAX_VALUE_LEN {
        return Err(too_long(key, value));
    }
    Ok(())
}

#[cold]
fn too_long(key: &str, value: &[u8]) -> Error {
    if key.len() > Headers::MAX_KEY_LEN {
        let shown: String = key.chars().take(64).collect();
        return Error::new(
            ErrorKind::InvalidInput,
            format!(
                "header key `{shown}...` of {} bytes is longer than {} bytes",
                key.len(),
                Headers::MAX_KEY_LEN
            ),
        );
    }
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "header `{key}` of {} bytes is longer than {} bytes",
            value.len(),
            Headers::MAX_VALUE_LEN
        ),
    )
    .with_context("header", key)
}

fn malformed(why: &'static str) -> Error {
    Error::new(ErrorKind::Codec, format!("malformed packed headers: {why}"))
}

/// Walks packed entries: `(key, value)`, or why the next one is malformed
/// (then the walk ends).
struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Entries<'a> {
    fn new(packed: &'a [u8]) -> Self {
        Self { rest: packed }
    }

    fn next_entry(&mut self) -> std::result::Result<(&'a [u8], &'a [u8]), &'static str> {
        let rest = self.rest;
        let key_len = rest
            .first_chunk::<2>()
            .map(|n| usize::from(u16::from_le_bytes(*n)))
            .ok_or("truncated key length")?;
        let rest = &rest[2..];
        let (key, rest) = rest.split_at_checked(key_len).ok_or("truncated key")?;
        let value_len = rest
            .first_chunk::<4>()
            .map(|n| u32::from_le_bytes(*n) as usize)
            .ok_or("truncated value length")?;
        let rest = &rest[4..];
        let (value, rest) = rest.split_at_checked(value_len).ok_or("truncated value")?;
        self.rest = rest;
        Ok((key, value))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = std::result::Result<(&'a [u8], &'a [u8]), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let entry = self.next_entry();
        if entry.is_err() {
            self.rest = &[];
        }
        Some(entry)
    }
}

/// A message to append: what a producer hands a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Message id; the event id as `u128`. Iggy deduplicates on it.
    pub id: u128,
    /// When its producer created it, in microseconds since the Unix epoch,
    /// if the producer said: an Iggy message's origin timestamp. Backends
    /// store it as given and return it with the record; `None` for the
    /// messages the transport publishes (the envelope's `timestamp` header
    /// says when its event happened).
    pub origin_timestamp_micros: Option<u64>,
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
            h.insert(key, key).unwrap();
        }
        h.insert("a", b"replaced").unwrap();
        let keys: Vec<&str> = h.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "m", "q", "z", "zz"]);
        assert_eq!(h.get("a"), Some(&b"replaced"[..]));
        assert_eq!(h.get("zz"), Some(&b"zz"[..]));
        assert_eq!(h.remove("m").unwrap().as_ref(), b"m");
        assert_eq!(h.get("m"), None);
        assert_eq!(h.remove("m"), None);
        assert_eq!(h.len(), 5);
        assert_eq!(h.encoded_len(), 1 + 8 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 2);
        // The same headers, however made, are the same bytes.
        let same = Headers::from_pairs([
            ("zz", "zz"),
            ("a", "replaced"),
            ("q", "q"),
            ("b", "b"),
            ("z", "z"),
        ])
        .unwrap();
        assert_eq!(same, h);
        assert_eq!(Headers::from_packed(h.packed().clone()).unwrap(), h);
    }

    #[test]
    fn building_sorts_and_keeps_the_last_of_a_repeated_key() {
        let h = Headers::from_pairs([("z", [1u8]), ("a", [2]), ("m", [3]), ("a", [4])]).unwrap();
        let pairs: Vec<(&str, u8)> = h.iter().map(|(k, v)| (k, v[0])).collect();
        assert_eq!(pairs, [("a", 4), ("m", 3), ("z", 1)]);
        // Many keys in reverse order: sorted in O(n log n), all kept.
        let many =
            Headers::from_pairs((0..20_000u32).rev().map(|i| (format!("k{i:05}"), []))).unwrap();
        assert_eq!(many.len(), 20_000);
        assert_eq!(many.iter().next().map(|(k, _)| k), Some("k00000"));
    }

    #[test]
    fn packed_headers_are_checked_when_read_back() {
        let h = Headers::from_pairs([("codec", "json"), ("event-type", "x")]).unwrap();
        let packed = h.packed();
        // The first entry ("codec" = "json") ends at 15: a whole entry.
        let first = Headers::from_packed(packed.slice(..15)).unwrap();
        assert_eq!(first, Headers::from_pairs([("codec", "json")]).unwrap());
        for cut in (1..packed.len()).filter(|cut| *cut != 15) {
            let err = Headers::from_packed(packed.slice(..cut)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Codec, "cut at {cut}");
        }
        let swapped = Headers::from_pairs([("event-type", "x")]).unwrap();
        let mut out_of_order = swapped.packed().to_vec();
        out_of_order.extend_from_slice(&packed[..2 + 5 + 4 + 4]);
        assert!(Headers::from_packed(Bytes::from(out_of_order))
            .unwrap_err()
            .message()
            .contains("order"));
        let mut not_utf8 = packed.to_vec();
        not_utf8[2] = 0xff;
        assert!(Headers::from_packed(Bytes::from(not_utf8))
            .unwrap_err()
            .message()
            .contains("UTF-8"));
        assert_eq!(Headers::from_packed(Bytes::new()).unwrap(), Headers::new());
    }

    #[test]
    fn an_unpackable_key_is_an_error_and_changes_nothing() {
        let mut h = Headers::from_pairs([("a", "1")]).unwrap();
        let long = "k".repeat(Headers::MAX_KEY_LEN + 1);
        let err = h.insert(&long, "v").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("65535"), "{err}");
        assert_eq!(h, Headers::from_pairs([("a", "1")]).unwrap());
        let mut builder = HeadersBuilder::default();
        builder.push("b", b"2").push(&long, b"v");
        assert!(builder.build().is_err());
    }

    #[test]
    fn debug_shows_values_as_escaped_bytes() {
        let h = Headers::from_pairs([("a", &b"x\xff"[..])]).unwrap();
        assert_eq!(format!("{h:?}"), r#"{"a": b"x\xff"}"#);
    }
}
