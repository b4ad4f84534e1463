//! What an Iggy message's headers carry that core [`Headers`] cannot say:
//! the *kinds* of its user headers (a `u64` value, an `i32` key, a `raw`
//! value that happens to be text). Kept in one reserved core header,
//! [`META_HEADER`], so a message sent through `serve` is polled back exactly
//! as it was sent, while core readers of the same log still see every
//! header by its name with a readable value. A message whose headers all
//! read back as sent by default (text keys with text or raw values, the
//! common case) and a message without headers get no meta header. The
//! origin timestamp is the core message's own field
//! ([`Message::origin_timestamp_micros`](rustok_iggy::Message)).
//!
//! - Iggy → core: a header's key and value become text for the typed kinds
//!   (`true`/`false`; integers and floats in decimal, floats in Rust's
//!   shortest round-trip form), their bytes for `string` and `raw`. Where
//!   that text or those bytes would not give the same key and value back
//!   (any kind but `string`/`raw` as they would be guessed, a key that is not
//!   UTF-8 or is [`META_HEADER`] itself (both kept under their hex form), a
//!   typed field of the wrong size, a float whose text does not
//!   round-trip such as a NaN payload), the meta header records the kinds,
//!   and the original bytes when text cannot carry them.
//! - Core → Iggy: a header the meta header names gets its kinds (and
//!   original bytes) back; any other keeps the default of a core header: key
//!   kind `string`, value kind `string` when UTF-8, `raw` otherwise.
//!
//! Layout of the meta header's value: `version: u8 = 2`, then per recorded
//! header `key_kind: u8`, `value_kind: u8`, `key_len: u8`, the core key,
//! and, when the kind byte has [`VERBATIM`] set, `len: u8` (key) or
//! `len: u8` (value) and the original bytes (key first). Version 1, which
//! logs written before the origin timestamp had a field of its own hold,
//! has `origin_timestamp: u64` (little-endian) after the version byte; it is
//! read, never written.

use bytes::{BufMut, Bytes, BytesMut};
use rustok_iggy::{Headers, HeadersBuilder};

use crate::error::Status;

/// The reserved core header. A client's own header of this name is kept
/// under its hex form, as a key that is not text (it would otherwise be
/// read back as metadata), and polled back under its name.
pub(crate) const META_HEADER: &str = rustok_iggy::wire::header::IGGY_META;

const VERSION: u8 = 2;
/// The earlier layout, with the origin timestamp after the version.
const VERSION_WITH_ORIGIN: u8 = 1;
const KIND_RAW: u8 = 1;
const KIND_STRING: u8 = 2;
const KIND_BOOL: u8 = 3;
/// Set on a kind byte: the original bytes follow, as text cannot carry them.
const VERBATIM: u8 = 0x80;

/// One user header as the Iggy wire carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireHeader {
    pub(crate) key_kind: u8,
    pub(crate) key: Bytes,
    pub(crate) value_kind: u8,
    pub(crate) value: Bytes,
}

/// A field (key or value) as core text or bytes, and whether that form
/// gives the original back.
struct CoreField {
    bytes: Bytes,
    exact: bool,
}

/// The core form of an Iggy field of `kind` (see the module docs).
fn to_core(kind: u8, raw: &[u8]) -> CoreField {
    fn text<T: ToString>(value: T, exact: bool) -> CoreField {
        CoreField {
            bytes: Bytes::from(value.to_string()),
            exact,
        }
    }
    macro_rules! int {
        ($t:ty) => {
            <[u8; std::mem::size_of::<$t>()]>::try_from(raw)
                .ok()
                .map(|b| text(<$t>::from_le_bytes(b), true))
        };
    }
    macro_rules! float {
        ($t:ty) => {
            <[u8; std::mem::size_of::<$t>()]>::try_from(raw)
                .ok()
                .map(|b| {
                    let value = <$t>::from_le_bytes(b);
                    let back = value.to_string().parse::<$t>().map(<$t>::to_bits);
                    text(value, back == Ok(value.to_bits()))
                })
        };
    }
    let typed = match kind {
        KIND_BOOL => match raw {
            [0] => Some(text(false, true)),
            [1] => Some(text(true, true)),
            _ => None,
        },
        4 => int!(i8),
        5 => int!(i16),
        6 => int!(i32),
        7 => int!(i64),
        8 => int!(i128),
        9 => int!(u8),
        10 => int!(u16),
        11 => int!(u32),
        12 => int!(u64),
        13 => int!(u128),
        14 => float!(f32),
        15 => float!(f64),
        _ => None,
    };
    typed.unwrap_or_else(|| CoreField {
        bytes: Bytes::copy_from_slice(raw),
        exact: matches!(kind, KIND_RAW | KIND_STRING),
    })
}

/// The Iggy bytes of a core field of `kind` (not verbatim); `None` when the
/// text does not parse as that kind (a core writer changed it).
fn from_core(kind: u8, core: &[u8]) -> Option<Bytes> {
    let text = || std::str::from_utf8(core).ok();
    macro_rules! parse {
        ($t:ty) => {
            text()?
                .parse::<$t>()
                .ok()
                .map(|v| Bytes::copy_from_slice(&v.to_le_bytes()))
        };
    }
    match kind {
        KIND_RAW | KIND_STRING => Some(Bytes::copy_from_slice(core)),
        KIND_BOOL => match text()? {
            "false" => Some(Bytes::from_static(&[0])),
            "true" => Some(Bytes::from_static(&[1])),
            _ => None,
        },
        4 => parse!(i8),
        5 => parse!(i16),
        6 => parse!(i32),
        7 => parse!(i64),
        8 => parse!(i128),
        9 => parse!(u8),
        10 => parse!(u16),
        11 => parse!(u32),
        12 => parse!(u64),
        13 => parse!(u128),
        14 => parse!(f32),
        15 => parse!(f64),
        _ => None,
    }
}

/// The value kind a core value gets when no meta names it.
fn default_value_kind(value: &[u8]) -> u8 {
    if std::str::from_utf8(value).is_ok() {
        KIND_STRING
    } else {
        KIND_RAW
    }
}

/// Lower-case hex, the core key of an Iggy key whose bytes are not text (or
/// are the reserved name).
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::from("0x"), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// An Iggy message's headers → core headers, with the meta header when a
/// header's kinds must be recorded. Of a key sent twice the last value is
/// kept.
///
/// The headers are split off `out`, so that a caller decoding a batch packs
/// the headers of all its messages into one buffer: one allocation per
/// batch, not one per message.
pub(crate) fn to_core_headers(
    headers: impl IntoIterator<Item = WireHeader>,
    out: &mut HeadersBuilder,
) -> Result<Headers, Status> {
    let mut meta = vec![VERSION];
    let mut fields: Vec<(String, Bytes, Option<Bytes>)> = Vec::new();
    for header in headers {
        let key = to_core(header.key_kind, &header.key);
        let (core_key, key_verbatim) = match String::from_utf8(key.bytes.to_vec()) {
            // The reserved name is kept as a key that is not text is: under
            // its hex form, its bytes recorded, so it is polled back as sent.
            Ok(text) if text != META_HEADER => (text, !key.exact),
            _ => (hex(&header.key), true),
        };
        let value = to_core(header.value_kind, &header.value);
        let guessed = header.key_kind == KIND_STRING
            && !key_verbatim
            && value.exact
            && header.value_kind == default_value_kind(&value.bytes);
        let mut entry = None;
        if !guessed {
            let key_kind = header.key_kind | if key_verbatim { VERBATIM } else { 0 };
            let value_kind = header.value_kind | if value.exact { 0 } else { VERBATIM };
            let mut e = BytesMut::new();
            e.extend_from_slice(&[key_kind, value_kind]);
            put_short(&mut e, core_key.as_bytes())?;
            if key_verbatim {
                put_short(&mut e, &header.key)?;
            }
            if !value.exact {
                put_short(&mut e, &header.value)?;
            }
            entry = Some(e.freeze());
        }
        fields.retain(|(k, _, _)| *k != core_key);
        fields.push((core_key, value.bytes, entry));
    }
    for (_, _, entry) in &fields {
        if let Some(entry) = entry {
            meta.extend_from_slice(entry);
        }
    }
    // In key order, the meta header (if anything is recorded) in its place:
    // packed as pushed.
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    let mut meta = (meta.len() > 1).then_some(meta);
    for (key, value, _) in &fields {
        if key.as_str() > META_HEADER {
            if let Some(meta) = meta.take() {
                out.push(META_HEADER, &meta);
            }
        }
        out.push(key, value);
    }
    if let Some(meta) = meta {
        out.push(META_HEADER, &meta);
    }
    // Iggy's keys are at most 255 bytes: nothing is too long to pack.
    out.split().map_err(|_| Status::INVALID_FORMAT)
}

/// Appends `bytes` with a one-byte length (Iggy fields are 1..=255 bytes).
fn put_short(out: &mut BytesMut, bytes: &[u8]) -> Result<(), Status> {
    let len = u8::try_from(bytes.len()).map_err(|_| Status::INVALID_FORMAT)?;
    out.extend_from_slice(&[len]);
    out.extend_from_slice(bytes);
    Ok(())
}

/// How one recorded header goes back on the wire.
struct Recorded<'a> {
    key_kind: u8,
    value_kind: u8,
    core_key: &'a [u8],
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

/// The meta header of a record, parsed: read once per polled record, for
/// its headers' kinds (and, in a version-1 header, its origin timestamp).
pub(crate) struct Meta<'a> {
    /// The origin timestamp a version-1 meta header holds.
    pub(crate) origin_timestamp: Option<u64>,
    recorded: Vec<Recorded<'a>>,
}

fn parse_meta(value: &[u8]) -> Option<Meta<'_>> {
    /// Takes a one-byte-length field off the front of `rest`.
    fn short<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (&len, tail) = rest.split_first()?;
        let (field, tail) = tail.split_at_checked(usize::from(len))?;
        *rest = tail;
        Some(field)
    }
    let (&version, mut rest) = value.split_first()?;
    let origin_timestamp = match version {
        VERSION => None,
        VERSION_WITH_ORIGIN => {
            let (origin, tail) = rest.split_at_checked(8)?;
            rest = tail;
            Some(u64::from_le_bytes(origin.try_into().ok()?))
        }
        _ => return None,
    };
    let mut recorded = Vec::new();
    while let [key_kind, value_kind, tail @ ..] = rest {
        let (key_kind, value_kind) = (*key_kind, *value_kind);
        rest = tail;
        let core_key = short(&mut rest)?;
        let key = (key_kind & VERBATIM != 0)
            .then(|| short(&mut rest))
            .flatten();
        let value = (value_kind & VERBATIM != 0)
            .then(|| short(&mut rest))
            .flatten();
        recorded.push(Recorded {
            key_kind: key_kind & !VERBATIM,
            value_kind: value_kind & !VERBATIM,
            core_key,
            key,
            value,
        });
    }
    Some(Meta {
        origin_timestamp,
        recorded,
    })
}

/// A record's meta header, parsed; `None` when absent or not one this
/// server wrote (its headers get the default kinds).
pub(crate) fn read_meta(headers: &Headers) -> Option<Meta<'_>> {
    headers.get(META_HEADER).and_then(parse_meta)
}

/// Appends core headers to `out` as Iggy typed user headers, in the wire
/// layout (`key_kind: u8`, `key_len: u32`, key, `value_kind: u8`,
/// `value_len: u32`, value). Headers Iggy cannot carry (an empty or
/// over-long key or value, which only a core writer can store) are left
/// out. Allocates only for a typed field it has to convert back from text.
/// `meta` is [`read_meta`] of `headers`.
pub(crate) fn put_wire_headers(headers: &Headers, meta: Option<&Meta<'_>>, out: &mut BytesMut) {
    for (key, value) in headers.iter().filter(|(k, _)| *k != META_HEADER) {
        let recorded = meta.and_then(|m| m.recorded.iter().find(|r| r.core_key == key.as_bytes()));
        let typed = recorded.and_then(|r| {
            let wire_key = match r.key {
                Some(original) => Bytes::copy_from_slice(original),
                None => from_core(r.key_kind, key.as_bytes())?,
            };
            let wire_value = match r.value {
                Some(original) => Bytes::copy_from_slice(original),
                None => from_core(r.value_kind, value)?,
            };
            Some((r.key_kind, wire_key, r.value_kind, wire_value))
        });
        match &typed {
            Some((key_kind, key, value_kind, value)) => {
                put_header(out, *key_kind, key, *value_kind, value);
            }
            None => put_header(
                out,
                KIND_STRING,
                key.as_bytes(),
                default_value_kind(value),
                value,
            ),
        }
    }
}

/// One header in the wire layout, unless Iggy cannot carry it.
fn put_header(out: &mut BytesMut, key_kind: u8, key: &[u8], value_kind: u8, value: &[u8]) {
    let (Ok(key_len), Ok(value_len)) = (u8::try_from(key.len()), u8::try_from(value.len())) else {
        return;
    };
    if key_len == 0 || value_len == 0 {
        return;
    }
    out.put_u8(key_kind);
    out.put_u32_le(u32::from(key_len));
    out.put_slice(key);
    out.put_u8(value_kind);
    out.put_u32_le(u32::from(value_len));
    out.put_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(key_kind: u8, key: &[u8], value_kind: u8, value: &[u8]) -> WireHeader {
        WireHeader {
            key_kind,
            key: Bytes::copy_from_slice(key),
            value_kind,
            value: Bytes::copy_from_slice(value),
        }
    }

    /// What [`put_wire_headers`] writes, decoded by the protocol crate.
    fn to_wire_headers(core: &Headers) -> Vec<WireHeader> {
        let mut out = BytesMut::new();
        put_wire_headers(core, read_meta(core).as_ref(), &mut out);
        iggy_binary_protocol::validate_user_headers(&out).unwrap();
        iggy_binary_protocol::WireUserHeaderIterator::new(&out)
            .map(|e| wire(e.key_kind.0, e.key, e.value_kind.0, e.value))
            .collect()
    }

    fn core_headers(sent: impl IntoIterator<Item = WireHeader>) -> Result<Headers, Status> {
        to_core_headers(sent, &mut HeadersBuilder::default())
    }

    fn round_trip(sent: Vec<WireHeader>) -> (Headers, Vec<WireHeader>) {
        let core = core_headers(sent).unwrap();
        let back = to_wire_headers(&core);
        (core, back)
    }

    fn sorted(mut headers: Vec<WireHeader>) -> Vec<WireHeader> {
        headers.sort_by(|a, b| a.key.cmp(&b.key));
        headers
    }

    #[test]
    fn every_kind_comes_back_as_sent_and_reads_as_text_in_the_core() {
        let sent = vec![
            wire(KIND_STRING, b"s", KIND_STRING, b"text"),
            wire(KIND_STRING, b"r", KIND_RAW, b"looks like text"),
            wire(KIND_STRING, b"b", KIND_RAW, &[0xff, 0]),
            wire(KIND_STRING, b"t", KIND_BOOL, &[1]),
            wire(KIND_STRING, b"i8", 4, &(-5i8).to_le_bytes()),
            wire(KIND_STRING, b"i16", 5, &(-300i16).to_le_bytes()),
            wire(KIND_STRING, b"i32", 6, &i32::MIN.to_le_bytes()),
            wire(KIND_STRING, b"i64", 7, &(-7i64).to_le_bytes()),
            wire(KIND_STRING, b"i128", 8, &i128::MAX.to_le_bytes()),
            wire(KIND_STRING, b"u8", 9, &[200]),
            wire(KIND_STRING, b"u16", 10, &65_000u16.to_le_bytes()),
            wire(KIND_STRING, b"u32", 11, &7u32.to_le_bytes()),
            wire(KIND_STRING, b"u64", 12, &7u64.to_le_bytes()),
            wire(KIND_STRING, b"u128", 13, &u128::MAX.to_le_bytes()),
            wire(KIND_STRING, b"f32", 14, &0.1f32.to_le_bytes()),
            wire(KIND_STRING, b"f64", 15, &(-2.5e-300f64).to_le_bytes()),
            wire(11, &42u32.to_le_bytes(), KIND_STRING, b"an integer key"),
            wire(KIND_RAW, b"raw-key", KIND_STRING, b"v"),
            wire(KIND_RAW, &[0xfe, 0x01], KIND_STRING, b"binary key"),
        ];
        let (core, back) = round_trip(sent.clone());
        assert_eq!(sorted(back), sorted(sent));
        assert_eq!(core.get_str("u64").unwrap(), Some("7"));
        assert_eq!(core.get_str("t").unwrap(), Some("true"));
        assert_eq!(core.get_str("f32").unwrap(), Some("0.1"));
        assert_eq!(core.get_str("42").unwrap(), Some("an integer key"));
        assert_eq!(core.get_str("0xfe01").unwrap(), Some("binary key"));
    }

    #[test]
    fn what_text_cannot_carry_is_kept_verbatim() {
        let nan = f32::from_bits(0x7fc0_0001);
        let sent = vec![
            wire(KIND_STRING, b"nan", 14, &nan.to_le_bytes()),
            wire(KIND_STRING, b"short", 12, &[1, 2, 3]),
            wire(KIND_STRING, b"two", KIND_BOOL, &[2]),
        ];
        let (_, back) = round_trip(sent.clone());
        assert_eq!(sorted(back), sorted(sent));
    }

    #[test]
    fn the_last_of_a_repeated_key_wins() {
        let (core, back) = round_trip(vec![
            wire(KIND_STRING, b"k", 12, &1u64.to_le_bytes()),
            wire(KIND_STRING, b"k", KIND_STRING, b"second"),
        ]);
        assert_eq!(core.get_str("k").unwrap(), Some("second"));
        assert_eq!(back, vec![wire(KIND_STRING, b"k", KIND_STRING, b"second")]);
    }

    #[test]
    fn a_header_named_as_the_reserved_one_comes_back_as_sent() {
        // Apache Iggy takes any key; the meta header's own name is stored
        // under its hex form, as a key that is not text.
        let sent = vec![
            wire(KIND_STRING, META_HEADER.as_bytes(), KIND_STRING, b"user's"),
            wire(KIND_RAW, META_HEADER.as_bytes(), KIND_RAW, b"raw key"),
        ];
        let (core, back) = round_trip(sent.clone());
        assert_eq!(
            sorted(back),
            sorted(sent[1..].to_vec()),
            "one key, the last wins"
        );
        assert_eq!(
            core.get_str("0x696767792e6d657461").unwrap(),
            Some("raw key")
        );
        assert!(read_meta(&core).is_some(), "the key's bytes are recorded");
    }

    #[test]
    fn headers_that_read_back_by_default_get_no_meta_header() {
        let sent = vec![
            wire(KIND_STRING, b"codec", KIND_STRING, b"json"),
            wire(KIND_STRING, b"bin", KIND_RAW, &[0xff, 0]),
        ];
        let (core, back) = round_trip(sent.clone());
        assert_eq!(sorted(back), sorted(sent));
        assert_eq!(core.get(META_HEADER), None);
        assert_eq!(core.len(), 2);
    }

    #[test]
    fn a_version_1_meta_header_of_an_older_log_still_reads() {
        // Written before the origin timestamp was a field of the message:
        // version 1, the origin, then a recorded `u64` value.
        let mut value = vec![VERSION_WITH_ORIGIN];
        value.extend_from_slice(&1_700_000_000_123_456u64.to_le_bytes());
        value.extend_from_slice(&[KIND_STRING, 12, 1, b'n']);
        let mut core = Headers::new();
        core.insert(META_HEADER, value).unwrap();
        core.insert("n", "7").unwrap();
        let meta = read_meta(&core).unwrap();
        assert_eq!(meta.origin_timestamp, Some(1_700_000_000_123_456));
        assert_eq!(
            to_wire_headers(&core),
            vec![wire(KIND_STRING, b"n", 12, &7u64.to_le_bytes())]
        );
    }

    #[test]
    fn core_headers_without_meta_get_the_default_kinds() {
        let mut core = Headers::new();
        core.insert("codec", "json").unwrap();
        core.insert("bin", [0xff]).unwrap();
        core.insert("empty", "").unwrap();
        assert!(read_meta(&core).is_none());
        assert_eq!(
            sorted(to_wire_headers(&core)),
            vec![
                wire(KIND_STRING, b"bin", KIND_RAW, &[0xff]),
                wire(KIND_STRING, b"codec", KIND_STRING, b"json"),
            ]
        );
    }

    #[test]
    fn a_typed_value_a_core_writer_changed_falls_back_to_its_text() {
        let mut core = core_headers([wire(KIND_STRING, b"n", 12, &7u64.to_le_bytes())]).unwrap();
        assert_eq!(read_meta(&core).unwrap().origin_timestamp, None);
        core.insert("n", "not a number").unwrap();
        assert_eq!(
            to_wire_headers(&core),
            vec![wire(KIND_STRING, b"n", KIND_STRING, b"not a number")]
        );
        // Damaged metadata is ignored, never trusted.
        core.insert("iggy.meta", [1, 2]).unwrap();
        assert!(read_meta(&core).is_none());
        core.insert("n", "7").unwrap();
        assert_eq!(
            to_wire_headers(&core),
            vec![wire(KIND_STRING, b"n", KIND_STRING, b"7")]
        );
    }
}
