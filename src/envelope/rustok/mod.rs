//! RusToK's header-less messages, for consumers reading topics RusToK's own
//! Iggy transport wrote (`consumer.legacy_format`).
//!
//! RusToK writes its whole envelope as the payload, in JSON or in
//! MessagePack with named fields, and no headers. This module reads such a
//! payload into this crate's [`EventEnvelope`] and checks it as any envelope
//! is checked, so a handler cannot tell a RusToK event from one this
//! transport published. `fields` holds RusToK's field layout.

mod fields;

use serde::de::DeserializeOwned;

use self::fields::RusTokEnvelope;
use crate::depth::DepthGuard;
use crate::{Error, ErrorKind, EventEnvelope, LegacyFormat, Result};

/// How deeply a MessagePack payload may nest, the envelope itself included:
/// `serde_json`'s limit, so both formats accept the same events.
const MAX_DEPTH: usize = 128;

/// The format a header-less payload is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Msgpack,
}

impl Format {
    /// The format `setting` reads `payload` in; `None` when header-less
    /// messages are not read at all.
    pub(crate) fn of(setting: LegacyFormat, payload: &[u8]) -> Option<Self> {
        match setting {
            LegacyFormat::None => None,
            LegacyFormat::RustokJson => Some(Self::Json),
            LegacyFormat::RustokMsgpack => Some(Self::Msgpack),
            // A JSON envelope is an object, so its first byte after any
            // whitespace is `{`. In MessagePack that byte and the whitespace
            // bytes are small integers, never the map a RusToK envelope is,
            // so this never sends a valid envelope of one format to the
            // other's reader.
            LegacyFormat::RustokAuto => Some(
                match payload
                    .iter()
                    .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                {
                    Some(b'{') => Self::Json,
                    _ => Self::Msgpack,
                },
            ),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Json => "JSON",
            Self::Msgpack => "MessagePack",
        }
    }
}

/// The envelope RusToK wrote as `payload` in `format`, its event decoded as
/// `E`; [`ErrorKind::Codec`] naming the field at fault when the payload is
/// not a RusToK envelope, its event is not an `E`, or the envelope fails
/// [`EventEnvelope::validate`].
pub(crate) fn decode<E: DeserializeOwned>(
    payload: &[u8],
    format: Format,
) -> Result<EventEnvelope<E>> {
    let envelope = match format {
        Format::Json => json(payload)?,
        Format::Msgpack => msgpack(payload)?,
    }
    .into_envelope();
    envelope.validate().map_err(|e| {
        Error::new(
            ErrorKind::Codec,
            format!(
                "payload carries an invalid RusToK envelope: {}",
                e.message()
            ),
        )
        .with_context("event_id", envelope.id)
    })?;
    Ok(envelope)
}

fn json<E: DeserializeOwned>(payload: &[u8]) -> Result<RusTokEnvelope<E>> {
    // `serde_json` bounds nesting itself (128 levels).
    let mut de = serde_json::Deserializer::from_slice(payload);
    let envelope = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| not_an_envelope(Format::Json).with_source(e))?;
    de.end()
        .map_err(|e| not_an_envelope(Format::Json).with_source(e))?;
    Ok(envelope)
}

fn msgpack<E: DeserializeOwned>(payload: &[u8]) -> Result<RusTokEnvelope<E>> {
    // `rmp-serde` does not count enums towards its own nesting limit: a
    // recursive event type could nest until the stack overflows.
    let guard = DepthGuard::new(MAX_DEPTH);
    // Reading from a `&[u8]` advances it, so what is left afterwards is
    // exactly the bytes after the envelope.
    let mut de = rmp_serde::Deserializer::new(payload);
    let envelope = serde_path_to_error::deserialize(guard.limit(&mut de))
        .map_err(|e| not_an_envelope(Format::Msgpack).with_source(e))?;
    match de.into_inner().len() {
        0 => Ok(envelope),
        rest => Err(not_an_envelope(Format::Msgpack)
            .with_source(format!("{rest} unexpected bytes after the envelope"))),
    }
}

fn not_an_envelope(format: Format) -> Error {
    Error::new(
        ErrorKind::Codec,
        format!("payload is not a RusToK envelope in {}", format.name()),
    )
}

#[cfg(test)]
mod tests;
