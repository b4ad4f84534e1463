//! The codec workload: encode and decode each event with the transport's
//! codec (through its type-erased `Codec` interface), against bare
//! `serde_json` or `postcard` on the same values.

use std::{hint::black_box, time::Instant};

use rustok_iggy::{Codec, CodecExt, Error, ErrorKind, Result};

use super::{
    measure::Figure,
    workload::{BenchEvent, Received},
};

/// A bare serializer the codec's figure is compared with.
#[derive(Debug, Clone, Copy)]
pub enum Bare {
    /// `serde_json::to_vec` / `from_slice`.
    Json,
    /// `postcard::to_stdvec` / `from_bytes`.
    Postcard,
}

impl Bare {
    /// The bare serializer of a codec, when it is one of the built-in two.
    pub fn of(codec: &str) -> Option<Self> {
        match codec {
            "json" => Some(Self::Json),
            "postcard" => Some(Self::Postcard),
            _ => None,
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "bare serde_json",
            Self::Postcard => "bare postcard",
        }
    }

    fn round_trip(self, event: &BenchEvent<'_>) -> Result<(usize, Received)> {
        let codec_error = |e: String| Error::new(ErrorKind::Codec, e);
        match self {
            Self::Json => {
                let bytes = serde_json::to_vec(event).map_err(|e| codec_error(e.to_string()))?;
                let back =
                    serde_json::from_slice(&bytes).map_err(|e| codec_error(e.to_string()))?;
                Ok((bytes.len(), back))
            }
            Self::Postcard => {
                let bytes = postcard::to_stdvec(event).map_err(|e| codec_error(e.to_string()))?;
                let back = postcard::from_bytes(&bytes).map_err(|e| codec_error(e.to_string()))?;
                Ok((bytes.len(), back))
            }
        }
    }
}

/// Encodes and decodes `events` events of `body` with `codec`: one figure
/// event is one round trip; bytes are the encoded bytes.
pub fn with_codec(codec: &dyn Codec, events: u64, body: &str) -> Result<Figure> {
    measure(events, body, |event| {
        let bytes = codec.encode_value(event)?;
        let back: Received = codec.decode_value(&bytes)?;
        Ok((bytes.len(), back))
    })
}

/// The same with the bare serializer.
pub fn with_bare(bare: Bare, events: u64, body: &str) -> Result<Figure> {
    measure(events, body, |event| bare.round_trip(event))
}

fn measure(
    events: u64,
    body: &str,
    round_trip: impl Fn(&BenchEvent<'_>) -> Result<(usize, Received)>,
) -> Result<Figure> {
    let started = Instant::now();
    let mut bytes = 0_u64;
    for seq in 0..events {
        let event = BenchEvent {
            sent_nanos: seq,
            body,
        };
        let (len, back) = round_trip(black_box(&event))?;
        if back.sent_nanos != seq || back.body.len() != body.len() {
            return Err(Error::new(
                ErrorKind::Codec,
                format!("event {seq} did not survive an encode and decode"),
            ));
        }
        bytes += len as u64;
        black_box(back);
    }
    Ok(Figure {
        events,
        bytes,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_and_bare_round_trips_count_the_same_bytes() {
        let body = "x".repeat(50);
        for (name, codec) in [
            (
                "json",
                std::sync::Arc::new(rustok_iggy_codecs::JsonCodec::new())
                    as std::sync::Arc<dyn Codec>,
            ),
            (
                "postcard",
                std::sync::Arc::new(rustok_iggy_codecs::PostcardCodec::new()),
            ),
        ] {
            let ours = with_codec(codec.as_ref(), 10, &body).unwrap();
            let bare = with_bare(Bare::of(name).unwrap(), 10, &body).unwrap();
            assert_eq!(ours.events, 10);
            assert_eq!(ours.bytes, bare.bytes, "{name}");
        }
        assert!(Bare::of("msgpack").is_none());
    }
}
