//! The `postcard` codec.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use rustok_iggy::{
    config::PluginConfig, Codec, CodecCapabilities, DecodeSink, Error, ErrorKind, Plugin, Result,
};
use serde::Deserialize;

use rustok_iggy::depth::DepthGuard;

/// postcard: compact and fast, but **not self-describing**.
///
/// The bytes are the event's fields in declaration order with no names or
/// types, so a reader must use exactly the schema the writer used: adding,
/// removing or reordering a field breaks readers of the other version. Evolve
/// such events by bumping the envelope's `schema_version` and decoding each
/// version into its own type. Serde attributes that change what is written from
/// value to value (`skip_serializing_if`, `flatten`, untagged enums) do not
/// round-trip through postcard.
///
/// Decoding rejects trailing bytes and fails (never panics, never overflows the
/// stack) on any input: values may nest at most [`PostcardCodec::MAX_DEPTH`]
/// levels deep, counting every option, sequence, map, enum and struct.
///
/// ```
/// use rustok_iggy::{Codec, CodecExt};
/// use rustok_iggy_codecs::PostcardCodec;
///
/// let codec = PostcardCodec::new();
/// assert_eq!(codec.name(), "postcard");
/// assert!(!codec.capabilities().self_describing);
///
/// let bytes = codec.encode_value(&("order", 42_u32))?;
/// assert_eq!(&bytes[..], b"\x05order\x2a");
/// assert_eq!(codec.decode_value::<(String, u32)>(&bytes)?, ("order".to_owned(), 42));
///
/// // Anything after the value is an error.
/// assert!(codec.decode_value::<(String, u32)>(b"\x05order\x2a\x00").is_err());
/// # Ok::<(), rustok_iggy::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostcardCodec;

impl PostcardCodec {
    /// The name written in each message's `codec` header.
    pub const NAME: &'static str = "postcard";

    /// The registration of this codec, for [`Registry::register`] on targets
    /// where link-time registration does not run.
    ///
    /// [`Registry::register`]: rustok_iggy::Registry::register
    pub const PLUGIN: Plugin = Plugin::codec(Self::NAME, build);

    /// How deeply decoded values may nest (the same limit `serde_json` applies).
    pub const MAX_DEPTH: usize = 128;

    /// A postcard codec.
    pub fn new() -> Self {
        Self
    }
}

fn error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Codec, message).with_context("codec", PostcardCodec::NAME)
}

impl Codec for PostcardCodec {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn capabilities(&self) -> CodecCapabilities {
        CodecCapabilities::new(false)
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
        postcard::to_stdvec(value).map_err(|e| error("cannot encode value").with_source(e))
    }

    fn encode_into(&self, value: &dyn erased_serde::Serialize, out: &mut BytesMut) -> Result<()> {
        postcard::to_io(value, out.writer())
            .map(drop)
            .map_err(|e| error("cannot encode value").with_source(e))
    }

    fn decode(&self, bytes: &[u8], sink: &mut dyn DecodeSink) -> Result<()> {
        let mut de = postcard::Deserializer::from_bytes(bytes);
        let guard = DepthGuard::new(Self::MAX_DEPTH);
        sink.deserialize(&mut <dyn erased_serde::Deserializer>::erase(
            guard.limit(&mut de),
        ))
        .map_err(|e| {
            // postcard drops the text of custom errors; say what happened.
            let message = if guard.exceeded() {
                guard.message()
            } else {
                "cannot decode payload".to_owned()
            };
            error(message).with_source(e)
        })?;
        let rest = de
            .finalize()
            .map_err(|e| error("cannot decode payload").with_source(e))?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(error(format!(
                "{} unexpected bytes after the value",
                rest.len()
            )))
        }
    }
}

/// `[plugins.postcard]`: the codec has no options, so any key is a typo.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PostcardConfig {}

fn build(config: &PluginConfig) -> Result<Arc<dyn Codec>> {
    let PostcardConfig {} = config.parse()?;
    Ok(Arc::new(PostcardCodec::new()))
}

rustok_iggy::register_plugin!(PostcardCodec::PLUGIN);

#[cfg(test)]
mod tests {
    use rustok_iggy::CodecExt;

    use super::*;

    #[test]
    fn trailing_bytes_name_their_count() {
        let err = PostcardCodec::new().decode_value::<u8>(&[1, 2, 3]).err();
        let err = err.as_ref().map(|e| (e.kind(), e.message()));
        assert_eq!(
            err,
            Some((ErrorKind::Codec, "2 unexpected bytes after the value"))
        );
    }

    #[test]
    fn builds_from_an_empty_section() {
        let codec = build(&PluginConfig::empty("plugins.postcard"));
        assert_eq!(
            codec.ok().map(|c| c.name().to_owned()),
            Some("postcard".into())
        );
    }
}
