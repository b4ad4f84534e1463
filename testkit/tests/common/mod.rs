//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::sync::Arc;

use rustok_iggy::{
    config::PluginConfig, Codec, CodecCapabilities, DecodeSink, Error, ErrorKind, Plugin, Result,
};

/// A small JSON codec, standing in for the codecs crate.
pub struct TestJson;

impl Codec for TestJson {
    fn name(&self) -> &str {
        "json"
    }

    fn capabilities(&self) -> CodecCapabilities {
        CodecCapabilities::new(true)
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))
    }

    fn decode(&self, bytes: &[u8], sink: &mut dyn DecodeSink) -> Result<()> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        sink.deserialize(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
            .map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))?;
        de.end()
            .map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))
    }
}

fn build_json(_: &PluginConfig) -> Result<Arc<dyn Codec>> {
    Ok(Arc::new(TestJson))
}

/// [`TestJson`] as a registrable plugin named `json`.
pub const JSON_PLUGIN: Plugin = Plugin::codec("json", build_json);
