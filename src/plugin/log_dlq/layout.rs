//! How a dead letter and a mark are laid out as messages of the DLQ's two
//! topics. The layout is what other Iggy tools see, so it is documented on
//! [`LogDlqStore`](super::LogDlqStore) and must only ever be extended.

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::{
    DeadLetter, Error, ErrorKind, Headers, HeadersBuilder, Message, Record, Result, TopicRef,
};

const PREFIX: &str = "rustok-dlq.";
const ESCAPED: &str = "rustok-dlq.h.";
/// Longest header value Apache Iggy accepts; the error text header is cut to it.
const MAX_HEADER_VALUE: usize = 255;

mod key {
    pub const ID: &str = "rustok-dlq.id";
    pub const STREAM: &str = "rustok-dlq.stream";
    pub const TOPIC: &str = "rustok-dlq.topic";
    pub const PARTITION: &str = "rustok-dlq.partition";
    pub const OFFSET: &str = "rustok-dlq.offset";
    pub const GROUP: &str = "rustok-dlq.group";
    pub const ATTEMPTS: &str = "rustok-dlq.attempts";
    pub const FIRST: &str = "rustok-dlq.first-failure";
    pub const LAST: &str = "rustok-dlq.last-failure";
    pub const ERROR: &str = "rustok-dlq.error";
    pub const ORIGIN: &str = "rustok-dlq.origin-timestamp";
    pub const MARK: &str = "rustok-dlq.mark";
    pub const ENTRY: &str = "rustok-dlq.entry";
    pub const AT: &str = "rustok-dlq.at";
}

/// A change of an entry, recorded in the marks topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    /// Republished to its source topic at this time.
    Redriven(DateTime<Utc>),
    /// Deleted (Iggy cannot delete single messages: a tombstone).
    Deleted,
}

fn corrupt(topic: &str, offset: u64, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!("DLQ {topic} record at offset {offset} is malformed: {what}"),
    )
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

struct Reader<'a> {
    headers: &'a Headers,
    topic: &'static str,
    offset: u64,
}

impl Reader<'_> {
    fn str(&self, k: &str) -> Result<&str> {
        Ok(self
            .headers
            .get_str(k)
            .map_err(|e| corrupt(self.topic, self.offset, e))?
            .unwrap_or_default())
    }

    fn parse<T: std::str::FromStr>(&self, k: &str) -> Result<T> {
        self.str(k)?
            .parse()
            .map_err(|_| corrupt(self.topic, self.offset, format!("header `{k}`")))
    }

    fn time(&self, k: &str) -> Result<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.str(k)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt(self.topic, self.offset, format!("header `{k}`")))
    }
}

/// Iggy refuses empty header values: an empty field is left out, and read
/// back as empty.
fn push_nonempty(h: &mut HeadersBuilder, k: &str, v: &str) {
    if !v.is_empty() {
        h.push(k, v.as_bytes());
    }
}

/// A nonzero random message id: the same message may be dead-lettered again
/// after a redrive, and a server that deduplicates by id would drop it.
fn fresh_id() -> u128 {
    rand::random::<u128>() | 1
}

/// The `entries` message of `letter`.
///
/// # Errors
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if a header
/// of the message, escaped, is too long to keep.
pub(super) fn encode_letter(letter: &DeadLetter) -> Result<Message> {
    let mut headers = HeadersBuilder::with_capacity(letter.message.headers.packed().len() + 512);
    for (k, v) in letter.message.headers.iter() {
        if k.starts_with(PREFIX) {
            headers.push(&format!("{ESCAPED}{k}"), v);
        } else {
            headers.push(k, v);
        }
    }
    headers.push(key::ID, letter.message.id.to_string().as_bytes());
    push_nonempty(&mut headers, key::STREAM, &letter.topic.stream);
    push_nonempty(&mut headers, key::TOPIC, &letter.topic.topic);
    headers.push(key::PARTITION, letter.partition.to_string().as_bytes());
    // A header, not the entry's own field: an Iggy server stamps every
    // entry, which would give an origin to a message that had none.
    if let Some(origin) = letter.message.origin_timestamp_micros {
        headers.push(key::ORIGIN, origin.to_string().as_bytes());
    }
    headers.push(key::OFFSET, letter.offset.to_string().as_bytes());
    push_nonempty(&mut headers, key::GROUP, &letter.group);
    headers.push(key::ATTEMPTS, letter.attempts.to_string().as_bytes());
    headers.push(key::FIRST, time(letter.first_failure).as_bytes());
    headers.push(key::LAST, time(letter.last_failure).as_bytes());
    let mut cut = letter.error.len().min(MAX_HEADER_VALUE);
    while !letter.error.is_char_boundary(cut) {
        cut -= 1;
    }
    push_nonempty(&mut headers, key::ERROR, &letter.error[..cut]);
    // The full text goes in the payload: the header is for Iggy tools.
    let error = letter.error.as_bytes();
    let error = &error[..error.len().min(u32::MAX as usize)];
    let mut payload = BytesMut::with_capacity(4 + error.len() + letter.message.payload.len());
    payload.put_u32_le(error.len() as u32);
    payload.put_slice(error);
    payload.put_slice(&letter.message.payload);
    Ok(Message {
        id: fresh_id(),
        origin_timestamp_micros: None,
        headers: headers.build()?,
        payload: payload.freeze(),
    })
}

/// The dead letter an `entries` record holds.
pub(super) fn decode_letter(record: &Record) -> Result<DeadLetter> {
    let offset = record.offset;
    let r = Reader {
        headers: &record.message.headers,
        topic: "entries",
        offset,
    };
    let payload = &record.message.payload;
    let len: [u8; 4] = payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(r.topic, offset, "payload shorter than its error length"))?;
    let error_end = 4 + u32::from_le_bytes(len) as usize;
    let error = payload
        .get(4..error_end)
        .ok_or_else(|| corrupt(r.topic, offset, "error text cut short"))?;
    let error = String::from_utf8(error.to_vec()).map_err(|e| corrupt(r.topic, offset, e))?;
    let mut headers = HeadersBuilder::with_capacity(r.headers.packed().len());
    for (k, v) in r.headers.iter() {
        if let Some(original) = k.strip_prefix(ESCAPED) {
            headers.push(original, v);
        } else if !k.starts_with(PREFIX) {
            headers.push(k, v);
        }
    }
    // Shorter keys than the stored ones: they fit.
    let headers = headers.build()?;
    Ok(DeadLetter {
        message: Message {
            id: r.parse(key::ID)?,
            origin_timestamp_micros: match r.str(key::ORIGIN)? {
                "" => None,
                _ => Some(r.parse(key::ORIGIN)?),
            },
            headers,
            payload: payload.slice(error_end..),
        },
        topic: TopicRef::new(r.str(key::STREAM)?, r.str(key::TOPIC)?),
        partition: r.parse(key::PARTITION)?,
        offset: r.parse(key::OFFSET)?,
        group: r.str(key::GROUP)?.to_owned(),
        error,
        attempts: r.parse(key::ATTEMPTS)?,
        first_failure: r.time(key::FIRST)?,
        last_failure: r.time(key::LAST)?,
    })
}

/// The `marks` message recording `mark` of the entry at `entry_offset`.
pub(super) fn encode_mark(entry_offset: u64, mark: Mark) -> Result<Message> {
    let (kind, at) = match mark {
        Mark::Redriven(at) => ("redriven", at),
        Mark::Deleted => ("deleted", Utc::now()),
    };
    let mut headers = HeadersBuilder::with_capacity(128);
    headers
        .push(key::AT, time(at).as_bytes())
        .push(key::ENTRY, entry_offset.to_string().as_bytes())
        .push(key::MARK, kind.as_bytes());
    Ok(Message {
        origin_timestamp_micros: None,
        id: fresh_id(),
        headers: headers.build()?,
        payload: Bytes::from_static(b"mark"),
    })
}

/// The entry offset and mark a `marks` record holds; `None` for a mark kind
/// this version does not know (a newer writer's), which is skipped.
pub(super) fn decode_mark(record: &Record) -> Result<Option<(u64, Mark)>> {
    let r = Reader {
        headers: &record.message.headers,
        topic: "marks",
        offset: record.offset,
    };
    let entry = r.parse(key::ENTRY)?;
    match r.str(key::MARK)? {
        "deleted" => Ok(Some((entry, Mark::Deleted))),
        "redriven" => Ok(Some((entry, Mark::Redriven(r.time(key::AT)?)))),
        other => {
            tracing::warn!(
                mark = other,
                offset = record.offset,
                "unknown DLQ mark skipped"
            );
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: u64, message: Message) -> Record {
        Record {
            offset,
            timestamp_micros: 0,
            message,
        }
    }

    #[test]
    fn letters_round_trip_and_keep_colliding_headers() {
        let headers = Headers::from_pairs([
            ("event-type", "order.placed"),
            ("rustok-dlq.id", "collides"),
        ])
        .unwrap();
        let letter = DeadLetter {
            message: Message {
                origin_timestamp_micros: Some(1_700_000_000_000_001),
                id: 99,
                headers,
                payload: Bytes::from_static(b"{}"),
            },
            topic: TopicRef::new("app", "orders"),
            partition: 3,
            offset: 17,
            group: "billing".into(),
            error: "é".repeat(300),
            attempts: 5,
            first_failure: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
            last_failure: DateTime::from_timestamp(1_700_000_100, 1).unwrap(),
        };
        let message = encode_letter(&letter).unwrap();
        assert!(message.headers.get(key::ERROR).unwrap().len() <= MAX_HEADER_VALUE);
        assert_eq!(decode_letter(&record(4, message)).unwrap(), letter);
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let letter = encode_letter(&DeadLetter {
            message: Message {
                origin_timestamp_micros: None,
                id: 1,
                headers: Headers::new(),
                payload: Bytes::from_static(b"x"),
            },
            topic: TopicRef::new("app", "orders"),
            partition: 0,
            offset: 0,
            group: "g".into(),
            error: "boom".into(),
            attempts: 1,
            first_failure: Utc::now(),
            last_failure: Utc::now(),
        })
        .unwrap();
        for cut in 0..8 {
            let mut torn = letter.clone();
            torn.payload = letter.payload.slice(..cut);
            let err = decode_letter(&record(1, torn)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Backend, "cut at {cut}");
        }
        let mut bare = letter.clone();
        bare.headers = Headers::new();
        assert!(decode_letter(&record(1, bare)).is_err());
        let mut mark = encode_mark(3, Mark::Deleted).unwrap();
        mark.headers.remove(key::ENTRY);
        assert!(decode_mark(&record(0, mark)).is_err());
    }

    #[test]
    fn marks_round_trip_and_unknown_kinds_are_skipped() {
        let at = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        let redriven = encode_mark(7, Mark::Redriven(at)).unwrap();
        assert_eq!(
            decode_mark(&record(0, redriven)).unwrap(),
            Some((7, Mark::Redriven(at)))
        );
        let deleted = encode_mark(8, Mark::Deleted).unwrap();
        assert_eq!(
            decode_mark(&record(1, deleted)).unwrap(),
            Some((8, Mark::Deleted))
        );
        let mut future = encode_mark(9, Mark::Deleted).unwrap();
        future.headers.insert(key::MARK, "archived").unwrap();
        assert_eq!(decode_mark(&record(2, future)).unwrap(), None);
    }
}
