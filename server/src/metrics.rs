//! Metrics of the traffic the server carries, recorded once per request at
//! the dispatch point (`connection::answer`) and once per connection, so no
//! command handler has to remember them. Names are the core's
//! (`rustok_iggy::metrics::SERVER_*`, listed in `docs/metrics.md`); without
//! an installed recorder they cost next to nothing.

use std::time::Duration;

use iggy_binary_protocol::{
    codes::{command_name, POLL_MESSAGES_CODE, SEND_MESSAGES_CODE},
    requests::messages::SendMessagesHeader,
    responses::messages::PollMessagesResponseHeader,
    WireDecode,
};
use metrics::{counter, gauge, histogram};
use rustok_iggy::metrics::{
    SERVER_CONNECTIONS, SERVER_CONNECTIONS_OPENED, SERVER_MESSAGES_POLLED, SERVER_MESSAGES_SENT,
    SERVER_REQUESTS, SERVER_REQUEST_DURATION,
};

use crate::commands::Reply;

/// Records one answered request: its count and latency by command, and the
/// messages it appended or returned.
pub(crate) fn request(code: Option<u32>, body: &[u8], reply: &Reply, took: Duration) {
    let command = code.and_then(|c| command_name(c).ok()).unwrap_or("unknown");
    let result = if reply.is_ok() { "ok" } else { "error" };
    counter!(SERVER_REQUESTS, "command" => command, "result" => result).increment(1);
    histogram!(SERVER_REQUEST_DURATION, "command" => command).record(took.as_secs_f64());
    let Ok(payload) = reply else { return };
    match code {
        Some(SEND_MESSAGES_CODE) => {
            if let Some(count) = sent_count(body) {
                counter!(SERVER_MESSAGES_SENT).increment(u64::from(count));
            }
        }
        Some(POLL_MESSAGES_CODE) => {
            if let Ok((header, _)) = PollMessagesResponseHeader::decode(&payload[..]) {
                counter!(SERVER_MESSAGES_POLLED).increment(u64::from(header.messages_count));
            }
        }
        _ => {}
    }
}

/// The message count of a `SendMessages` body the server accepted: its
/// metadata, after the 4-byte metadata length.
fn sent_count(body: &[u8]) -> Option<u32> {
    let metadata = body.get(4..)?;
    SendMessagesHeader::decode(metadata)
        .ok()
        .map(|(header, _)| header.messages_count)
}

/// An open client connection: counted while it lives.
pub(crate) struct OpenConnection {
    transport: &'static str,
}

impl OpenConnection {
    /// Counts a connection over `transport` (`tcp`, `quic`).
    pub(crate) fn new(transport: &'static str) -> Self {
        counter!(SERVER_CONNECTIONS_OPENED, "transport" => transport).increment(1);
        gauge!(SERVER_CONNECTIONS, "transport" => transport).increment(1.0);
        Self { transport }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        gauge!(SERVER_CONNECTIONS, "transport" => self.transport).decrement(1.0);
    }
}
