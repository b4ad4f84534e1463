//! Codecs turn events into payload bytes and back.
//!
//! A codec is object-safe through `erased-serde`: one `Arc<dyn Codec>` serves
//! every event type. Its [`Codec::name`] travels in each message's `codec`
//! header, so a consumer decodes every message with the codec that wrote it and
//! a topic can move from one codec to another without downtime.

use bytes::BytesMut;
use serde::{de::DeserializeOwned, Serialize};

use crate::{Error, ErrorKind, Result};

/// What a codec can do, so generic code and the conformance suite know what to
/// expect of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CodecCapabilities {
    /// The bytes describe their own structure (JSON does, postcard does not), so
    /// they can be shown to an operator without knowing the event type.
    pub self_describing: bool,
}

impl CodecCapabilities {
    /// Capabilities with `self_describing` set as given.
    pub fn new(self_describing: bool) -> Self {
        Self { self_describing }
    }
}

/// Receives the deserializer a codec builds over some bytes. The core implements
/// it for each concrete event type; codecs only call it.
pub trait DecodeSink {
    /// Deserializes one value from `deserializer` and keeps it.
    fn deserialize(
        &mut self,
        deserializer: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<(), erased_serde::Error>;
}

/// A serialization format for event payloads.
///
/// Implement the two erased methods; callers use the typed [`CodecExt`] methods.
///
/// ```
/// use rustok_iggy::{Codec, CodecCapabilities, CodecExt, DecodeSink, Error, ErrorKind, Result};
///
/// /// JSON through serde_json: a complete codec in a dozen lines.
/// struct MyJson;
///
/// impl Codec for MyJson {
///     fn name(&self) -> &str { "my-json" }
///     fn capabilities(&self) -> CodecCapabilities { CodecCapabilities::new(true) }
///     fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
///         serde_json::to_vec(value).map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))
///     }
///     fn decode(&self, bytes: &[u8], sink: &mut dyn DecodeSink) -> Result<()> {
///         let mut de = serde_json::Deserializer::from_slice(bytes);
///         sink.deserialize(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
///             .map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))?;
///         de.end().map_err(|e| Error::new(ErrorKind::Codec, e.to_string()))
///     }
/// }
///
/// let bytes = MyJson.encode_value(&vec![1, 2, 3]).unwrap();
/// assert_eq!(&bytes[..], b"[1,2,3]");
/// let back: Vec<u32> = MyJson.decode_value(&bytes).unwrap();
/// assert_eq!(back, vec![1, 2, 3]);
/// ```
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Codec: Send + Sync {
    /// The stable name written in the `codec` header (`"json"`, `"postcard"`).
    fn name(&self) -> &str;

    /// What this codec can do.
    fn capabilities(&self) -> CodecCapabilities;

    /// Serializes `value`.
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>>;

    /// Serializes `value` at the end of `out`. The transport encodes a batch
    /// of events into one buffer and hands each message a slice of it, so a
    /// codec that writes into `out` directly saves an allocation and a copy
    /// per event; this default calls [`encode`](Self::encode) and copies.
    ///
    /// On error `out` may hold part of an encoding after what it held
    /// before; the caller cuts it off.
    fn encode_into(&self, value: &dyn erased_serde::Serialize, out: &mut BytesMut) -> Result<()> {
        out.extend_from_slice(&self.encode(value)?);
        Ok(())
    }

    /// Deserializes `bytes` into `sink`. Must reject trailing bytes, and must
    /// return an error (never panic) on any input.
    fn decode(&self, bytes: &[u8], sink: &mut dyn DecodeSink) -> Result<()>;
}

/// Typed conveniences over any [`Codec`].
pub trait CodecExt: Codec {
    /// Encodes `value` with this codec.
    fn encode_value<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>> {
        self.encode(&value as &dyn erased_serde::Serialize)
            .map_err(|e| with_codec(e, self.name()))
    }

    /// Encodes `value` at the end of `out` with this codec; on error `out` is
    /// as it was.
    fn encode_value_into<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut BytesMut,
    ) -> Result<()> {
        let before = out.len();
        self.encode_into(&value as &dyn erased_serde::Serialize, out)
            .map_err(|e| {
                out.truncate(before);
                with_codec(e, self.name())
            })
    }

    /// Decodes a `T` from `bytes` with this codec.
    fn decode_value<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let mut slot = Slot::<T>(None);
        self.decode(bytes, &mut slot)
            .map_err(|e| with_codec(e, self.name()))?;
        slot.0.ok_or_else(|| {
            Error::new(
                ErrorKind::Codec,
                format!("codec `{}` returned without decoding a value", self.name()),
            )
        })
    }
}

impl<C: Codec + ?Sized> CodecExt for C {}

/// Names the codec in the error's context unless the codec already did.
fn with_codec(error: Error, name: &str) -> Error {
    if error.context("codec").is_some() {
        error
    } else {
        error.with_context("codec", name)
    }
}

struct Slot<T>(Option<T>);

impl<T: DeserializeOwned> DecodeSink for Slot<T> {
    fn deserialize(
        &mut self,
        deserializer: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<(), erased_serde::Error> {
        self.0 = Some(erased_serde::deserialize(deserializer)?);
        Ok(())
    }
}

impl std::fmt::Debug for dyn Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Codec({})", self.name())
    }
}
