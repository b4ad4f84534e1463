//! [`TestJson`]: a small JSON codec, so suites and tests that need a
//! transport build one without the codecs crate (which depends on this one).

use rustok_iggy::{Codec, CodecCapabilities, DecodeSink, Error, ErrorKind, Result};

/// JSON through `serde_json`, named `json`.
///
/// ```
/// use std::sync::Arc;
/// use rustok_iggy::Transport;
/// use rustok_iggy_testkit::{MemoryBackend, TestJson};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// let transport = Transport::builder(Arc::new(MemoryBackend::new()), Arc::new(TestJson))
///     .build()
///     .await?;
/// assert_eq!(transport.codec().name(), "json");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
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
