//! The JSON-lines format `replay --json` writes and `import` reads: one
//! record per line with every header and the payload, losslessly, and a
//! closing summary line.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rustok_iggy::{wire::header, HeadersBuilder, Message, Record, Result, TopicRef};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::encoded::Encoded;

/// One record. `event_type` repeats its header for readers (`jq`); `import`
/// uses `headers`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecordLine {
    /// `stream/topic`, as `topology` prints it.
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub appended_at: Option<DateTime<Utc>>,
    /// The message's origin timestamp (microseconds since the Unix epoch),
    /// when it has one: what an Iggy producer stamped it with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_timestamp_micros: Option<u64>,
    pub event_id: Uuid,
    #[serde(default, skip_deserializing)]
    pub event_type: Option<String>,
    /// Every header the record carries (codec, schema version, correlation,
    /// causation, partition key, trace context, ...).
    pub headers: BTreeMap<String, Encoded>,
    pub payload: Encoded,
}

/// The last line of `replay --json`: how many records were printed, and
/// whether the limit cut the replay short.
#[derive(Debug, Serialize)]
pub struct SummaryLine {
    pub summary: Summary,
}

/// What a replay printed.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub records: u64,
    /// Records in the range that the limit left out (0 when complete).
    pub not_printed: u64,
    pub truncated: bool,
    /// The `--limit` in force (0: none).
    pub limit: u64,
}

impl RecordLine {
    /// The line of `record`, read from partition `partition` of `topic`.
    pub fn of(topic: &TopicRef, partition: u32, record: &Record) -> Self {
        let h = &record.message.headers;
        Self {
            topic: topic.to_string(),
            partition,
            offset: record.offset,
            appended_at: DateTime::from_timestamp_micros(
                i64::try_from(record.timestamp_micros).unwrap_or(i64::MAX),
            ),
            origin_timestamp_micros: record.message.origin_timestamp_micros,
            event_id: Uuid::from_u128(record.message.id),
            event_type: h
                .get_str(header::EVENT_TYPE)
                .ok()
                .flatten()
                .map(str::to_owned),
            headers: h
                .iter()
                .map(|(k, v)| (k.to_owned(), Encoded::of(v)))
                .collect(),
            payload: Encoded::of(&record.message.payload),
        }
    }

    /// The message to append again: same id, origin timestamp, headers and
    /// payload.
    pub fn message(&self) -> Result<Message> {
        let mut headers = HeadersBuilder::default();
        for (key, value) in &self.headers {
            headers.push(key, &value.decode()?);
        }
        Ok(Message {
            id: self.event_id.as_u128(),
            origin_timestamp_micros: self.origin_timestamp_micros,
            headers: headers.build()?,
            payload: self.payload.decode()?,
        })
    }

    /// The topic name without its stream.
    pub fn topic_name(&self) -> &str {
        self.topic.rsplit_once('/').map_or(&self.topic, |(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rustok_iggy::Headers;

    use super::*;

    fn record(origin: Option<u64>) -> Record {
        let mut headers = Headers::new();
        headers.insert("codec", "json").unwrap();
        headers.insert("bin", [0xff, 0]).unwrap();
        Record {
            offset: 4,
            timestamp_micros: 1_700_000_000_000_000,
            message: Message {
                id: 7,
                origin_timestamp_micros: origin,
                headers,
                payload: Bytes::from_static(b"{}"),
            },
        }
    }

    #[test]
    fn a_line_gives_the_message_back_origin_timestamp_included() {
        let topic = TopicRef::new("app", "orders");
        for origin in [Some(1_699_999_999_000_001), None] {
            let record = record(origin);
            let text = serde_json::to_string(&RecordLine::of(&topic, 1, &record)).unwrap();
            assert_eq!(text.contains("origin_timestamp_micros"), origin.is_some());
            let line: RecordLine = serde_json::from_str(&text).unwrap();
            assert_eq!(line.message().unwrap(), record.message);
        }
    }
}
