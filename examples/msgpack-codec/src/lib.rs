//! # Adding a codec from a downstream crate
//!
//! This crate adds a MessagePack codec to rustok-iggy without touching the
//! core, the same way the built-in `json` and `postcard` codecs are added. After
//! the binary calls [`link`], `codec = "msgpack"` in a
//! [`TransportConfig`](rustok_iggy::TransportConfig) selects it.
//!
//! A downstream crate follows five steps:
//!
//! 1. **Depend on** `rustok-iggy`, `erased-serde` (the codec trait is object-safe
//!    through it), `serde`, and the format crate (here `rmp-serde`); this one
//!    also uses `rustok-iggy-codecs` for its nesting limit.
//! 2. **Implement [`Codec`]**: a stable [`name`](Codec::name) (it is written in
//!    every message's `codec` header, so never change it once data exists), the
//!    [`capabilities`](Codec::capabilities), `encode` of an
//!    `&dyn erased_serde::Serialize`, and `decode` that hands the format's
//!    deserializer to the [`DecodeSink`] through `erased_serde`. Decoding must
//!    reject trailing bytes, and must return an error, never panic, on any
//!    input: map every format error to an [`Error`] of kind
//!    [`ErrorKind::Codec`], and bound how deep values may nest so crafted input
//!    cannot overflow the stack ([`DepthGuard`] does that for any format).
//! 3. **Write a factory** `fn(&PluginConfig) -> Result<Arc<dyn Codec>>` that
//!    parses the codec's `[plugins.<name>]` section with
//!    [`PluginConfig::parse`] into a `#[serde(default, deny_unknown_fields)]`
//!    struct, so a misspelt option is a config error naming it.
//! 4. **Register it** at link time with
//!    [`register_plugin!`](rustok_iggy::register_plugin)`(Plugin::codec("msgpack", build))`.
//! 5. **Export `pub fn link() {}`** and have the binary call it once: a crate
//!    nothing references is not linked, and its registrations vanish with it.
//!
//! ```
//! use rustok_iggy::{config::PluginConfig, CodecExt, PluginKind, Registry};
//!
//! rustok_iggy_example_msgpack::link();
//! let registry = Registry::from_inventory();
//! assert!(registry.names(PluginKind::Codec).contains(&"msgpack"));
//!
//! let codec = registry.build_codec("msgpack", &PluginConfig::empty("plugins.msgpack"))?;
//! let bytes = codec.encode_value(&vec!["a", "b"])?;
//! assert_eq!(codec.decode_value::<Vec<String>>(&bytes)?, vec!["a", "b"]);
//! # Ok::<(), rustok_iggy::Error>(())
//! ```
//!
//! [`Codec`]: rustok_iggy::Codec
//! [`Codec::name`]: rustok_iggy::Codec::name
//! [`Codec::capabilities`]: rustok_iggy::Codec::capabilities
//! [`DecodeSink`]: rustok_iggy::DecodeSink
//! [`Error`]: rustok_iggy::Error
//! [`ErrorKind::Codec`]: rustok_iggy::ErrorKind::Codec
//! [`PluginConfig::parse`]: rustok_iggy::config::PluginConfig::parse
//! [`DepthGuard`]: rustok_iggy_codecs::depth::DepthGuard

#![warn(missing_docs)]

use std::sync::Arc;

use rustok_iggy::{
    config::PluginConfig, Codec, CodecCapabilities, DecodeSink, Error, ErrorKind, Plugin, Result,
};
use rustok_iggy_codecs::depth::DepthGuard;
use serde::Deserialize;

/// MessagePack through `rmp-serde`, with structs written as maps of field
/// names, so the bytes are self-describing and, like JSON, tolerate added
/// fields; they are just smaller.
///
/// Decoding rejects trailing bytes and fails (never panics) on any input;
/// values may nest at most [`MsgpackCodec::MAX_DEPTH`] levels deep.
///
/// ```
/// use rustok_iggy::{Codec, CodecExt};
/// use rustok_iggy_example_msgpack::MsgpackCodec;
///
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct OrderPlaced { order: u32 }
///
/// let codec = MsgpackCodec::new();
/// assert_eq!(codec.name(), "msgpack");
/// let bytes = codec.encode_value(&OrderPlaced { order: 7 })?;
/// // A one-entry map: "order" => 7.
/// assert_eq!(&bytes[..], b"\x81\xa5order\x07");
/// assert_eq!(codec.decode_value::<OrderPlaced>(&bytes)?, OrderPlaced { order: 7 });
/// assert!(codec.decode_value::<OrderPlaced>(b"\x81\xa5order\x07\x00").is_err());
/// # Ok::<(), rustok_iggy::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MsgpackCodec;

impl MsgpackCodec {
    /// The name written in each message's `codec` header.
    pub const NAME: &'static str = "msgpack";

    /// How deeply decoded values may nest. `rmp-serde`'s own limit (1024)
    /// does not count enums and is more than a small thread stack survives
    /// through `erased-serde`, so a [`DepthGuard`] enforces this one.
    ///
    /// [`DepthGuard`]: rustok_iggy_codecs::depth::DepthGuard
    pub const MAX_DEPTH: usize = 128;

    /// A MessagePack codec.
    pub fn new() -> Self {
        Self
    }
}

fn error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Codec, message).with_context("codec", MsgpackCodec::NAME)
}

impl Codec for MsgpackCodec {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn capabilities(&self) -> CodecCapabilities {
        CodecCapabilities::new(true)
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
        rmp_serde::to_vec_named(value).map_err(|e| error("cannot encode value").with_source(e))
    }

    fn decode(&self, bytes: &[u8], sink: &mut dyn DecodeSink) -> Result<()> {
        // Reading from a `&[u8]` advances it, so what is left afterwards is
        // exactly the bytes after the value.
        let mut de = rmp_serde::Deserializer::new(bytes);
        let guard = DepthGuard::new(Self::MAX_DEPTH);
        sink.deserialize(&mut <dyn erased_serde::Deserializer>::erase(
            guard.limit(&mut de),
        ))
        .map_err(|e| {
            let message = if guard.exceeded() {
                guard.message()
            } else {
                "cannot decode payload".to_owned()
            };
            error(message).with_source(e)
        })?;
        match de.into_inner().len() {
            0 => Ok(()),
            rest => Err(error(format!("{rest} unexpected bytes after the value"))),
        }
    }
}

/// `[plugins.msgpack]`: the codec has no options yet, so any key is a typo.
/// Options a codec does take go here as fields with defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct MsgpackConfig {}

fn build(config: &PluginConfig) -> Result<Arc<dyn Codec>> {
    let MsgpackConfig {} = config.parse()?;
    Ok(Arc::new(MsgpackCodec::new()))
}

rustok_iggy::register_plugin!(Plugin::codec(MsgpackCodec::NAME, build));

/// Keeps this crate, and with it the `msgpack` registration, in the final
/// binary.
///
/// The linker drops a crate that nothing references, and its link-time
/// registrations vanish with it: `Registry::from_inventory()` would not know
/// `"msgpack"` and a transport configured with it would fail with "unknown
/// codec". Call this once from the binary (typically at the top of `main`). It
/// does nothing else.
///
/// ```
/// rustok_iggy_example_msgpack::link();
/// ```
pub fn link() {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rustok_iggy::{CodecExt, PluginKind, Registry, TransportConfig};
    use serde::Serialize;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Status {
        Open,
        Held(String),
        Moved { from: u16, to: u16 },
        Nested(Box<Status>),
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct OrderPlaced {
        order: u64,
        customer: String,
        note: Option<String>,
        lines: Vec<(String, u32)>,
        blob: Vec<u8>,
        attrs: BTreeMap<String, i64>,
        status: Status,
        history: Vec<Status>,
    }

    fn sample() -> OrderPlaced {
        OrderPlaced {
            order: u64::MAX,
            customer: "Ада ✓".into(),
            note: None,
            lines: vec![("sku-1".into(), 2), ("sku-2".into(), 0)],
            blob: vec![0, 255, 7],
            attrs: [("a".to_owned(), i64::MIN)].into(),
            status: Status::Moved { from: 1, to: 2 },
            history: vec![
                Status::Open,
                Status::Held("stock".into()),
                Status::Nested(Box::new(Status::Open)),
            ],
        }
    }

    #[test]
    fn round_trips() {
        let codec = MsgpackCodec::new();
        let event = sample();
        let bytes = codec.encode_value(&event).unwrap();
        assert_eq!(codec.decode_value::<OrderPlaced>(&bytes).unwrap(), event);
        for value in [0_u64, 1, 127, 128, u64::MAX] {
            let bytes = codec.encode_value(&value).unwrap();
            assert_eq!(codec.decode_value::<u64>(&bytes).unwrap(), value);
        }
    }

    #[test]
    fn structs_are_written_with_field_names() {
        let bytes = MsgpackCodec::new().encode_value(&sample()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("customer") && text.contains("history"),
            "{text}"
        );
    }

    #[test]
    fn readers_ignore_fields_they_do_not_know() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct OldOrderPlaced {
            order: u64,
            customer: String,
        }
        let codec = MsgpackCodec::new();
        let bytes = codec.encode_value(&sample()).unwrap();
        let old: OldOrderPlaced = codec.decode_value(&bytes).unwrap();
        assert_eq!(old.customer, "Ада ✓");
    }

    #[test]
    fn garbage_is_an_error() {
        let codec = MsgpackCodec::new();
        let inputs: [&[u8]; 7] = [
            b"",
            b"\xc1",                     // the one never-used marker
            b"\xdb\xff\xff\xff\xff",     // str32 claiming 4 GiB
            b"\xdd\xff\xff\xff\xff",     // array32 claiming 4G elements
            b"\x81\xa5order",            // map cut off before the value
            b"\x81\xa5order\x07\x00",    // trailing byte
            b"\x92\x01\x02\x03\x04\x05", // trailing bytes
        ];
        for bytes in inputs {
            let err = codec.decode_value::<OrderPlaced>(bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Codec, "{err}");
            assert_eq!(err.context("codec"), Some("msgpack"), "{err}");
        }

        // Every prefix and every single-byte corruption of a valid payload.
        let valid = codec.encode_value(&sample()).unwrap();
        for end in 0..valid.len() {
            assert!(codec.decode_value::<OrderPlaced>(&valid[..end]).is_err());
        }
        for at in 0..valid.len() {
            for byte in [0x00, 0x7f, 0xc0, 0xc1, 0xdc, 0xff] {
                let mut bytes = valid.clone();
                bytes[at] = byte;
                let _ = codec.decode_value::<OrderPlaced>(&bytes);
                let _ = codec.decode_value::<String>(&bytes);
            }
        }

        // A pseudo-random byte soup into several types: Ok or Err, no panic.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2_000 {
            let len = (state % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = codec.decode_value::<OrderPlaced>(&bytes);
            let _ = codec.decode_value::<Status>(&bytes);
            let _ = codec.decode_value::<Vec<u8>>(&bytes);
            let _ = codec.decode_value::<String>(&bytes);
            let _ = codec.decode_value::<u64>(&bytes);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // A megabyte of one-element arrays.
        let bytes = vec![0x91_u8; 1 << 20];
        let err = MsgpackCodec::new()
            .decode_value::<Vec<Vec<Vec<u8>>>>(&bytes)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec, "{err}");
        // `Nested(Nested(...))`: one-entry maps of variant name to value.
        // rmp-serde does not count these; the guard does.
        let bytes = b"\x81\xa6Nested".repeat(1 << 16);
        let err = MsgpackCodec::new()
            .decode_value::<Status>(&bytes)
            .unwrap_err();
        assert!(err.message().contains("nests deeper than 128"), "{err}");

        // Within the limit, nesting decodes.
        let mut status = Status::Open;
        for _ in 0..100 {
            status = Status::Nested(Box::new(status));
        }
        let codec = MsgpackCodec::new();
        let bytes = codec.encode_value(&status).unwrap();
        assert_eq!(codec.decode_value::<Status>(&bytes).unwrap(), status);
    }

    #[test]
    fn registry_lists_msgpack_after_link() {
        link();
        let registry = Registry::from_inventory();
        assert!(registry.names(PluginKind::Codec).contains(&"msgpack"));
        let codec = registry
            .build_codec("msgpack", &PluginConfig::empty("plugins.msgpack"))
            .unwrap();
        assert_eq!(codec.name(), "msgpack");
        assert!(codec.capabilities().self_describing);
    }

    #[test]
    fn a_typo_in_the_section_is_a_config_error_naming_the_key() {
        let config =
            TransportConfig::from_toml("codec = \"msgpack\"\n[plugins.msgpack]\ncompact = true\n")
                .unwrap();
        let err = build(&config.plugin("msgpack")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert_eq!(err.context("key"), Some("plugins.msgpack.compact"), "{err}");
    }
}
