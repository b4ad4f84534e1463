//! The `json` codec.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use rustok_iggy::{
    config::PluginConfig, Codec, CodecCapabilities, DecodeSink, Error, ErrorKind, Plugin, Result,
};
use serde::Deserialize;

/// JSON through `serde_json`: self-describing, readable by any tool, tolerant of
/// added fields. The default codec of a transport.
///
/// Decoding rejects anything after the value except whitespace, and fails (never
/// panics) on any input; values may nest at most 128 levels deep
/// (`serde_json`'s recursion limit).
///
/// ```
/// use rustok_iggy::{Codec, CodecExt};
/// use rustok_iggy_codecs::JsonCodec;
///
/// let codec = JsonCodec::new();
/// assert_eq!(codec.name(), "json");
/// assert!(codec.capabilities().self_describing);
///
/// let bytes = codec.encode_value(&("order", 42))?;
/// assert_eq!(&bytes[..], br#"["order",42]"#);
/// assert_eq!(codec.decode_value::<(String, u32)>(&bytes)?, ("order".to_owned(), 42));
///
/// // Anything after the value is an error.
/// assert!(codec.decode_value::<(String, u32)>(br#"["order",42] 7"#).is_err());
/// # Ok::<(), rustok_iggy::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JsonCodec;

impl JsonCodec {
    /// The name written in each message's `codec` header.
    pub const NAME: &'static str = "json";

    /// The registration of this codec, for [`Registry::register`] on targets
    /// where link-time registration does not run.
    ///
    /// [`Registry::register`]: rustok_iggy::Registry::register
    pub const PLUGIN: Plugin = Plugin::codec(Self::NAME, build);

    /// A JSON codec.
    pub fn new() -> Self {
        Self
    }
}

fn error(message: &str, source: serde_json::Error) -> Error {
    Error::new(ErrorKind::Codec, message)
        .with_context("codec", JsonCodec::NAME)
        .with_source(source)
}

impl Codec for JsonCodec {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn capabilities(&self) -> CodecCapabilities {
        CodecCapabilities::new(true)
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| error("cannot encode value", e))
    }

    fn encode_into(&self, value: &dyn erased_serde::Serialize, out: &mut BytesMut) -> Result<()> {
        serde_json::to_writer(out.writer(), value).map_err(|e| error("cannot encode value", e))
    }

    fn decode(&self, bytes: &[u8], sink: &mut dyn DecodeSink) -> Result<()> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        sink.deserialize(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
            .map_err(|e| {
                Error::new(ErrorKind::Codec, "cannot decode payload")
                    .with_context("codec", Self::NAME)
                    .with_source(e)
            })?;
        de.end()
            .map_err(|e| error("unexpected bytes after the value", e))
    }
}

/// `[plugins.json]`: the codec has no options, so any key is a typo.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct JsonConfig {}

fn build(config: &PluginConfig) -> Result<Arc<dyn Codec>> {
    let JsonConfig {} = config.parse()?;
    Ok(Arc::new(JsonCodec::new()))
}

rustok_iggy::register_plugin!(JsonCodec::PLUGIN);

#[cfg(test)]
mod tests {
    use rustok_iggy::CodecExt;

    use super::*;

    #[test]
    fn trailing_whitespace_is_allowed_but_nothing_else() {
        let codec = JsonCodec::new();
        assert_eq!(codec.decode_value::<u64>(b"7 \n").ok(), Some(7));
        let err = codec.decode_value::<u64>(b"7 8").err();
        let err = err.as_ref().map(|e| (e.kind(), e.context("codec")));
        assert_eq!(err, Some((ErrorKind::Codec, Some("json"))));
    }

    #[test]
    fn builds_from_an_empty_section() {
        let codec = build(&PluginConfig::empty("plugins.json"));
        assert_eq!(codec.ok().map(|c| c.name().to_owned()), Some("json".into()));
    }
}
