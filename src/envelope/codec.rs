//! [`EnvelopeCodec`]: an envelope to a log message and back, in one place.
//! The publisher encodes with it, the consumer and replay decode with it.

use std::{collections::HashMap, sync::Arc};

use bytes::{Bytes, BytesMut};
use serde::{de::DeserializeOwned, Serialize};

use super::{rustok, trace, wire};
use crate::{
    Codec, CodecExt, Error, ErrorKind, EventEnvelope, HeadersBuilder, LegacyFormat, Message, Result,
};

/// Writes envelopes with one codec and reads them with any codec it knows,
/// chosen by the `codec` header each message carries.
pub(crate) struct EnvelopeCodec {
    writer: Arc<dyn Codec>,
    readers: HashMap<String, Arc<dyn Codec>>,
}

impl EnvelopeCodec {
    /// Writes with `writer`; reads with `readers` and `writer`.
    pub(crate) fn new(writer: Arc<dyn Codec>, readers: Vec<Arc<dyn Codec>>) -> Self {
        let mut by_name: HashMap<String, Arc<dyn Codec>> = readers
            .into_iter()
            .map(|c| (c.name().to_owned(), c))
            .collect();
        by_name.insert(writer.name().to_owned(), writer.clone());
        Self {
            writer,
            readers: by_name,
        }
    }

    /// The codec new messages are written with.
    pub(crate) fn writer(&self) -> &Arc<dyn Codec> {
        &self.writer
    }

    /// The message of a valid `envelope`: metadata in headers (plus a
    /// `traceparent` when its trace id is a W3C one), the event encoded by
    /// the writer as the payload, the event id as the message id. Payload and
    /// headers are cut from `buffers`.
    pub(crate) fn encode<E: Serialize>(
        &self,
        envelope: &EventEnvelope<E>,
        buffers: &mut EncodeBuffers,
    ) -> Result<Message> {
        envelope.validate()?;
        self.writer
            .encode_value_into(&envelope.event, &mut buffers.payloads)
            .map_err(|e| e.with_context("event_id", envelope.id))?;
        let payload = buffers.cut_payload();
        let traceparent = trace::traceparent(envelope);
        let traceparent = traceparent.as_ref().map(|t| t.as_str());
        let codec = self.writer.name();
        if buffers.single {
            buffers.headers =
                HeadersBuilder::with_capacity(wire::packed_len(envelope, codec, traceparent));
        }
        wire::push_headers(&mut buffers.headers, envelope, codec, traceparent);
        Ok(Message {
            origin_timestamp_micros: None,
            id: envelope.id.as_u128(),
            headers: buffers.cut_headers()?,
            payload,
        })
    }

    /// The envelope in `message`, its event decoded with the codec its
    /// header names; [`ErrorKind::Codec`] for missing or invalid metadata, a
    /// codec this transport does not read, or a payload that does not decode.
    ///
    /// A message with none of this transport's headers is read as `legacy`
    /// says: as a whole RusToK envelope, or not at all (an error saying how
    /// to read it).
    pub(crate) fn decode<E: DeserializeOwned>(
        &self,
        message: &Message,
        legacy: LegacyFormat,
    ) -> Result<EventEnvelope<E>> {
        if !wire::carries_envelope_headers(&message.headers) {
            return match rustok::Format::of(legacy, &message.payload) {
                Some(format) => rustok::decode(&message.payload, format),
                None => Err(Error::new(
                    ErrorKind::Codec,
                    "message carries none of this transport's headers; \
                     set `consumer.legacy_format` to read RusToK's header-less messages",
                )),
            };
        }
        let metadata = wire::envelope_metadata(message)?;
        let name = wire::codec_name(&message.headers)?;
        let codec = self.readers.get(name).ok_or_else(|| {
            let mut known: Vec<&str> = self.readers.keys().map(String::as_str).collect();
            known.sort_unstable();
            Error::new(
                ErrorKind::Codec,
                format!(
                    "unknown codec `{name}`; this transport reads {}",
                    known.join(", ")
                ),
            )
        })?;
        let event: E = codec.decode_value(&message.payload)?;
        Ok(metadata.map(|()| event))
    }
}

/// The buffers a batch of envelopes is encoded into: each message's payload
/// and headers are slices of them, so a batch costs an allocation per chunk
/// rather than several per event.
///
/// A chunk is sized for the batch (up to 64 KiB), because a message keeps
/// its whole chunk alive: a backend that holds messages (the memory backend)
/// must not hold 64 KiB for a batch of two.
pub(crate) struct EncodeBuffers {
    payloads: BytesMut,
    headers: HeadersBuilder,
    /// One message only: its buffers are handed over whole, not split.
    single: bool,
}

impl EncodeBuffers {
    /// The largest chunk.
    const MAX_CHUNK: usize = 64 * 1024;
    /// A chunk's first guess per event: a small event's payload, and the
    /// packed headers of an envelope with every optional field set.
    const PAYLOAD_PER_EVENT: usize = 256;
    const HEADERS_PER_EVENT: usize = 512;

    /// Buffers for `events` envelopes. A chunk that fills up is followed by
    /// another of about the same size (`BytesMut` keeps its first capacity,
    /// rounded down to a power of two, as the least it allocates).
    pub(crate) fn new(events: usize) -> Self {
        let single = events <= 1;
        let chunk = |per_event: usize| (events * per_event).min(Self::MAX_CHUNK);
        let (payloads, headers) = if single {
            (128, 0)
        } else {
            (
                chunk(Self::PAYLOAD_PER_EVENT),
                chunk(Self::HEADERS_PER_EVENT),
            )
        };
        Self {
            payloads: BytesMut::with_capacity(payloads),
            headers: HeadersBuilder::with_capacity(headers),
            single,
        }
    }

    fn cut_payload(&mut self) -> Bytes {
        if self.single {
            std::mem::take(&mut self.payloads).freeze()
        } else {
            self.payloads.split().freeze()
        }
    }

    fn cut_headers(&mut self) -> Result<crate::Headers> {
        if self.single {
            std::mem::take(&mut self.headers).build()
        } else {
            self.headers.split()
        }
    }
}
