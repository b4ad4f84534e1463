//! Bytes shown to people and scripts without loss: as text when they are
//! UTF-8 (JSON payloads, most headers), else as base64, with the encoding
//! named next to the data so a reader never has to guess.

use base64::{engine::general_purpose::STANDARD, Engine};
use bytes::Bytes;
use rustok_iggy::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// Bytes with their encoding: `{"encoding": "utf8", "data": "…"}` or
/// `{"encoding": "base64", "data": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "encoding", content = "data", rename_all = "snake_case")]
pub enum Encoded {
    /// The bytes are this UTF-8 text.
    Utf8(String),
    /// The bytes, base64 (standard alphabet, padded).
    Base64(String),
}

impl Encoded {
    /// Text when `bytes` are UTF-8, base64 otherwise.
    pub fn of(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::Utf8(text.to_owned()),
            Err(_) => Self::Base64(STANDARD.encode(bytes)),
        }
    }

    /// The bytes back; `InvalidInput` when the base64 is not.
    pub fn decode(&self) -> Result<Bytes> {
        match self {
            Self::Utf8(text) => Ok(Bytes::copy_from_slice(text.as_bytes())),
            Self::Base64(data) => STANDARD.decode(data).map(Bytes::from).map_err(|e| {
                Error::new(ErrorKind::InvalidInput, "invalid base64 data").with_source(e)
            }),
        }
    }

    /// For a one-line text view: the text, or `base64:…`.
    pub fn display(&self) -> String {
        match self {
            Self::Utf8(text) => text.clone(),
            Self::Base64(data) => format!("base64:{data}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_stays_text_and_binary_round_trips() {
        assert_eq!(Encoded::of(b"{\"a\":1}"), Encoded::Utf8("{\"a\":1}".into()));
        let binary = [0u8, 159, 146, 150, 255];
        let encoded = Encoded::of(&binary);
        assert!(matches!(encoded, Encoded::Base64(_)));
        assert_eq!(encoded.decode().unwrap().as_ref(), binary);
        let json = serde_json::to_string(&encoded).unwrap();
        assert!(json.contains("\"encoding\":\"base64\""), "{json}");
    }
}
