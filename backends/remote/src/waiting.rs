//! Waiting polls: on a server that holds a poll until records arrive
//! (`rustok-iggy serve`, see [`rustok_iggy::iggy_extension`]), a poll that
//! may wait is sent as one, so a consumer sees an event as soon as it is
//! stored instead of finding it on its next poll.
//!
//! Each partition waits on a connection of its own: an SDK connection carries
//! one request at a time, and a poll held on the shared one would hold up
//! every send, commit and other partition's poll behind it. The connections
//! open on a partition's first waiting poll and close with the backend.
//!
//! Whether the server understands the command is learnt from its first
//! answer: Apache Iggy refuses the code, and from then on every poll goes the
//! standard way (the consumer pauses between empty polls instead).

use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use iggy_binary_protocol::{
    primitives::{consumer::WireConsumer, polling_strategy::WirePollingStrategy},
    requests::messages::PollMessagesRequest,
    WireEncode,
};
use iggy_common::PolledMessages;
use rustok_iggy::{
    iggy_extension::{encode_waiting_poll, POLL_MESSAGES_WAITING_CODE},
    Error, ErrorKind, PollFrom, PollRequest, Result, TopicRef,
};

use crate::{
    backend::wire,
    client::{Connections, Link},
    log::READER,
};

const SUPPORTED: u8 = 1;
const REFUSED: u8 = 2;

/// The waiting polls of one backend.
#[derive(Debug, Default)]
pub(crate) struct WaitingPolls {
    /// What the server said to the command: 0 until it answers, then
    /// `SUPPORTED` or `REFUSED`.
    support: AtomicU8,
    connections: Connections<(TopicRef, u32)>,
}

impl WaitingPolls {
    /// The server's reply to `request` sent as a waiting poll, or `None`
    /// when the request does not wait, the server does not hold polls or
    /// `waiting_polls` is off (the caller polls the standard way).
    pub(crate) async fn poll(
        &self,
        link: &Link,
        request: &PollRequest,
    ) -> Result<Option<PolledMessages>> {
        if !link.settings().config.waiting_polls
            || request.max_wait.is_zero()
            || self.support.load(Ordering::Relaxed) == REFUSED
        {
            return Ok(None);
        }
        let body = encode_waiting_poll(request.max_wait, &poll_body(request)?);
        let key = (request.topic.clone(), request.partition);
        let conn = self.connections.get(link, &key, "poll").await?;
        let reply = conn
            .call_within(
                "poll",
                request.max_wait,
                conn.client()
                    .send_binary_request(POLL_MESSAGES_WAITING_CODE, body),
            )
            .await;
        match reply.and_then(decode) {
            Ok(polled) => {
                self.support.store(SUPPORTED, Ordering::Relaxed);
                Ok(Some(polled))
            }
            Err(e) if self.refused(&e) => {
                if self.support.swap(REFUSED, Ordering::Relaxed) != REFUSED {
                    tracing::info!(
                        error = %e,
                        "the Iggy server does not hold polls; polling the standard way"
                    );
                    self.close().await;
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `e`, the answer to a waiting poll, says the server does not
    /// know the command: only unless a waiting poll succeeded (polls sent
    /// together all get the refusal, not only the first), and only an error
    /// that is neither about the request (a missing topic, a refused login)
    /// nor passing (a lost connection).
    fn refused(&self, e: &Error) -> bool {
        self.support.load(Ordering::Relaxed) != SUPPORTED
            && !e.is_retryable()
            && matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::Backend)
    }

    /// How many waiting-poll connections are reconnecting.
    pub(crate) async fn reconnecting(&self) -> usize {
        self.connections.reconnecting().await
    }

    /// Closes every waiting-poll connection.
    pub(crate) async fn close(&self) {
        self.connections.close().await;
    }
}

/// The `PollMessages` body of `request`, read as the backend's reader
/// without auto-commit, as the standard poll.
fn poll_body(request: &PollRequest) -> Result<Bytes> {
    let strategy = match request.from {
        PollFrom::Offset(offset) => WirePollingStrategy::offset(offset),
        PollFrom::Timestamp(micros) => WirePollingStrategy::timestamp(micros),
    };
    Ok(PollMessagesRequest {
        consumer: WireConsumer::consumer(wire(READER)?),
        stream_id: wire(&request.topic.stream)?,
        topic_id: wire(&request.topic.topic)?,
        partition_id: Some(request.partition),
        strategy,
        count: request.max_records.max(1),
        auto_commit: false,
    }
    .to_bytes())
}

fn decode(reply: Bytes) -> Result<PolledMessages> {
    PolledMessages::from_bytes(reply).map_err(|e| {
        Error::new(ErrorKind::Backend, format!("malformed poll reply: {e}"))
            .with_context("backend", crate::NAME)
    })
}
