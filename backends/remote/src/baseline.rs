//! The raw-SDK baseline of throughput benchmarks: the same messages sent
//! with the `iggy` SDK's own `send_messages` and read back with
//! `poll_messages`, with none of this crate's or the core's work (no codec,
//! routing, resend policy, offset lookup or consumer runtime).
//!
//! It lives here because the SDK stays out of every crate but this one: the
//! `transport_vs_sdk` cargo bench and `rustok-iggy bench --backend remote`
//! both measure against it, so their "ratio to raw SDK" means the same thing.
//! Only compiled with this crate's `baseline` feature.
//!
//! Messages are converted to the SDK's form up front ([`SdkBatch::new`]), so a
//! timed loop measures only the SDK's send, as an application holding
//! `IggyMessage`s would see it.
//!
//! ```no_run
//! # async fn run() -> rustok_iggy::Result<()> {
//! use rustok_iggy::{Headers, Message, TopicRef};
//! use rustok_iggy_remote::{baseline::{RawSdk, SdkBatch}, RemoteConfig};
//!
//! let sdk = RawSdk::connect(&RemoteConfig::new("iggy+tcp://iggy:iggy@127.0.0.1:8090")).await?;
//! let topic = TopicRef::new("bench", "raw"); // created beforehand, e.g. with `Backend::ensure_topic`
//! let message = Message { id: 1, origin_timestamp_micros: None, headers: Headers::new(), payload: "hello".into() };
//! let mut batch = SdkBatch::new(&[message])?;
//! sdk.send(&topic, 0, &mut batch).await?;
//! assert_eq!(sdk.poll(&topic, 0, 0, 100).await?, 1);
//! sdk.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use iggy::prelude::{
    Consumer, HeaderKey, HeaderKind, HeaderValue, IggyMessage, MessageClient, Partitioning,
    PollingStrategy,
};
use rustok_iggy::{Error, ErrorKind, Message, Result, TopicRef};

use crate::{client::Connection, log::ident, RemoteConfig};

/// Consumer name of the baseline's polls (a standalone consumer; it never
/// commits).
const CONSUMER: &str = "rustok-baseline";

/// Messages in the SDK's own form, built before a timed loop.
#[derive(Debug)]
pub struct SdkBatch {
    messages: Vec<IggyMessage>,
}

impl SdkBatch {
    /// The SDK messages for `messages`: same ids and payload bytes; headers
    /// as the SDK's typed user headers (UTF-8 values as `string`, others as
    /// `raw`), built with the SDK's own builder as an application would.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for what Iggy refuses: an empty payload, an empty or
    /// over-long header key or value.
    pub fn new(messages: &[Message]) -> Result<Self> {
        let invalid = |what: String| {
            Error::new(ErrorKind::InvalidInput, what).with_context("backend", crate::NAME)
        };
        let messages = messages
            .iter()
            .map(|m| {
                let mut headers = BTreeMap::new();
                for (key, value) in m.headers.iter() {
                    let kind = if std::str::from_utf8(value).is_ok() {
                        HeaderKind::String
                    } else {
                        HeaderKind::Raw
                    };
                    let key = HeaderKey::try_from(key)
                        .map_err(|e| invalid(format!("header key `{key}`: {e}")))?;
                    let value = HeaderValue::from_raw(kind, value)
                        .map_err(|e| invalid(format!("header value: {e}")))?;
                    headers.insert(key, value);
                }
                IggyMessage::builder()
                    .id(m.id)
                    .payload(m.payload.clone())
                    .user_headers(headers)
                    .build()
                    .map_err(|e| invalid(format!("message {}: {e}", m.id)))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { messages })
    }

    /// How many messages the batch holds.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// SDK connections (same addresses, credentials and TLS settings as the
/// backend's), used the way an application using the SDK directly would:
/// as many as the backend's `send_connections`, partition *p* sent over
/// connection *p* mod their number as the backend sends it, so the
/// baseline sends as much at once as the backend does; polls use the
/// first.
#[derive(Debug)]
pub struct RawSdk {
    connections: Vec<Connection>,
    consumer: Consumer,
}

impl RawSdk {
    /// Connects and logs in with the settings of `config`, once per send
    /// connection.
    ///
    /// # Errors
    ///
    /// `Config` for an invalid config or refused credentials; `Unavailable`
    /// or `Timeout` when no address answers.
    pub async fn connect(config: &RemoteConfig) -> Result<Self> {
        let settings = config.settings()?;
        let mut connections = Vec::new();
        for _ in 0..config.send_connections.max(1) {
            connections.push(Connection::open(&settings).await?);
        }
        Ok(Self {
            connections,
            consumer: Consumer::new(ident(CONSUMER)?),
        })
    }

    /// The connection sends to `partition` go over.
    fn connection(&self, partition: u32) -> &Connection {
        let slot = partition as usize % self.connections.len();
        &self.connections[slot]
    }

    /// `send_messages` of the whole batch to one partition (numbered from 0).
    /// The topic must exist.
    ///
    /// # Errors
    ///
    /// The SDK's error, mapped; nothing is resent.
    pub async fn send(&self, topic: &TopicRef, partition: u32, batch: &mut SdkBatch) -> Result<()> {
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        let partitioning = Partitioning::partition_id(partition);
        let connection = self.connection(partition);
        connection
            .call(
                "send_messages",
                connection
                    .client()
                    .send_messages(&s, &t, &partitioning, &mut batch.messages),
            )
            .await
            .map(|_| ())
    }

    /// `poll_messages` of up to `count` messages from `offset`; how many came.
    ///
    /// # Errors
    ///
    /// The SDK's error, mapped.
    pub async fn poll(
        &self,
        topic: &TopicRef,
        partition: u32,
        offset: u64,
        count: u32,
    ) -> Result<usize> {
        let (s, t) = (ident(&topic.stream)?, ident(&topic.topic)?);
        let connection = self.connection(0);
        let polled = connection
            .call(
                "poll_messages",
                connection.client().poll_messages(
                    &s,
                    &t,
                    Some(partition),
                    &self.consumer,
                    &PollingStrategy::offset(offset),
                    count.max(1),
                    false,
                ),
            )
            .await?;
        Ok(polled.messages.len())
    }

    /// Closes the connections.
    pub async fn shutdown(&self) {
        for connection in &self.connections {
            connection.shutdown().await;
        }
    }
}
