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

    /// The message to append again: same id, headers and payload.
    pub fn message(&self) -> Result<Message> {
        let mut headers = HeadersBuilder::default();
        for (key, value) in &self.headers {
            headers.push(key, &value.decode()?);
        }
        Ok(Message {
            origin_timestamp_micros: None,
            id: self.event_id.as_u128(),
            headers: headers.build()?,
            payload: self.payload.decode()?,
        })
    }

    /// The topic name without its stream.
    pub fn topic_name(&self) -> &str {
        self.topic.rsplit_once('/').map_or(&self.topic, |(_, t)| t)
    }
}
