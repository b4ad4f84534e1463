//! SDK producer throughput against the server versus the same workload
//! published in-process through the transport, on one memory backend.
//!
//! Baseline: `Transport::publish_batch` in the same process (no network, no
//! protocol). Measured: the official SDK's `IggyProducer` over TCP (loopback)
//! to `rustok-iggy-server`. Both write the same number of messages, with the
//! same envelope headers (`codec`, `event-type`, ...), the same JSON payload
//! size and the same batch size. Prints messages/s and MiB/s of payload for
//! each, and the ratio SDK / in-process.
//!
//! `cargo bench -p rustok-iggy-server --bench sdk_vs_inprocess`
//! (`BENCH_MESSAGES`, `BENCH_BATCH` and `BENCH_PAYLOAD` override the sizes).

use std::{sync::Arc, time::Instant};

use iggy::prelude::*;
use rustok_iggy::{wire, Codec, CodecExt, EventEnvelope, RoutingConfig, Transport};
use rustok_iggy_codecs::JsonCodec;
use rustok_iggy_server::Server;
use rustok_iggy_testkit::MemoryBackend;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    order: u64,
    note: String,
}

const PARTITIONS: u32 = 8;
const ROUNDS: usize = 3;

fn median(mut rounds: Vec<Figures>) -> Figures {
    rounds.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    rounds.swap_remove(rounds.len() / 2)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn envelopes(count: usize, payload: usize) -> Vec<EventEnvelope<Event>> {
    let note = "x".repeat(payload);
    (0..count)
        .map(|i| {
            EventEnvelope::builder(
                "order.placed",
                Uuid::from_u128(i as u128 % 64 + 1),
                Event {
                    order: i as u64,
                    note: note.clone(),
                },
            )
            .build()
            .expect("a valid envelope")
        })
        .collect()
}

fn sdk_message(envelope: &EventEnvelope<Event>, codec: &dyn Codec) -> IggyMessage {
    let payload = codec.encode_value(&envelope.event).expect("encodes");
    let headers = wire::envelope_headers(envelope, codec.name())
        .expect("headers")
        .iter()
        .map(|(k, v)| {
            (
                HeaderKey::try_from(k).expect("key"),
                HeaderValue::try_from(std::str::from_utf8(v).expect("utf-8")).expect("value"),
            )
        })
        .collect();
    IggyMessage::builder()
        .id(envelope.id.as_u128())
        .payload(payload.into())
        .user_headers(headers)
        .build()
        .expect("a valid message")
}

struct Figures {
    messages: usize,
    payload_bytes: usize,
    seconds: f64,
}

impl Figures {
    fn per_second(&self) -> f64 {
        self.messages as f64 / self.seconds
    }
    fn mib_per_second(&self) -> f64 {
        self.payload_bytes as f64 / self.seconds / (1024.0 * 1024.0)
    }
}

async fn in_process(
    backend: Arc<MemoryBackend>,
    envelopes: &[EventEnvelope<Event>],
    batch: usize,
) -> Figures {
    let transport = Transport::builder(backend, Arc::new(JsonCodec::new()))
        .stream("bench")
        .routing(RoutingConfig {
            default_topic: "in-process".into(),
            partitions: PARTITIONS,
            rules: Vec::new(),
        })
        .build()
        .await
        .expect("transport");
    let payload_bytes = envelopes.len() * payload_len(&envelopes[0]);
    let started = Instant::now();
    for chunk in envelopes.chunks(batch) {
        transport.publish_batch(chunk).await.expect("publish");
    }
    Figures {
        messages: envelopes.len(),
        payload_bytes,
        seconds: started.elapsed().as_secs_f64(),
    }
}

async fn over_sdk(
    backend: Arc<MemoryBackend>,
    envelopes: &[EventEnvelope<Event>],
    batch: usize,
    topic: &str,
    options: &str,
) -> Figures {
    let server = Server::builder(backend)
        .bind("127.0.0.1:0".parse().expect("address"))
        .start()
        .await
        .expect("server");
    let client = IggyClient::from_connection_string(&format!(
        "iggy://iggy:iggy@{}{options}",
        server.local_addr()
    ))
    .expect("client");
    client.connect().await.expect("connect");
    let producer = client
        .producer("bench", topic)
        .expect("producer")
        .partitioning(Partitioning::balanced())
        .create_stream_if_not_exists()
        .create_topic_if_not_exists(
            PARTITIONS,
            IggyExpiry::NeverExpire,
            MaxTopicSize::ServerDefault,
        )
        .build();
    producer.init().await.expect("producer init");
    let codec = JsonCodec::new();
    // Messages are built outside the timed loop, as envelopes are above
    // (the transport's encoding is inside its timing, the SDK's here too).
    let payload_bytes = envelopes.len() * payload_len(&envelopes[0]);
    let started = Instant::now();
    for chunk in envelopes.chunks(batch) {
        let messages = chunk.iter().map(|e| sdk_message(e, &codec)).collect();
        producer.send(messages).await.expect("send");
    }
    let figures = Figures {
        messages: envelopes.len(),
        payload_bytes,
        seconds: started.elapsed().as_secs_f64(),
    };
    producer.shutdown().await;
    server.shutdown().await.expect("shutdown");
    figures
}

fn payload_len(envelope: &EventEnvelope<Event>) -> usize {
    JsonCodec::new()
        .encode_value(&envelope.event)
        .map(|v| v.len())
        .unwrap_or(0)
}

fn main() {
    let messages = env("BENCH_MESSAGES", 50_000);
    let batch = env("BENCH_BATCH", 100).max(1);
    let payload = env("BENCH_PAYLOAD", 200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let envelopes = envelopes(messages, payload);
        // Each path runs `ROUNDS` times on a fresh backend; the median round
        // is reported (the machine is shared, single rounds are noisy).
        let (mut baseline, mut sdk, mut sdk_nodelay) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let backend = Arc::new(MemoryBackend::new());
            baseline.push(in_process(backend.clone(), &envelopes, batch).await);
            sdk.push(over_sdk(backend.clone(), &envelopes, batch, "sdk", "").await);
            sdk_nodelay.push(
                over_sdk(backend, &envelopes, batch, "sdk-nodelay", "?nodelay=true").await,
            );
        }
        let (baseline, sdk, sdk_nodelay) = (median(baseline), median(sdk), median(sdk_nodelay));
        println!(
            "workload: {messages} messages, {batch} per batch, {} B JSON payload, envelope headers, memory backend, {PARTITIONS} partitions, median of {ROUNDS} rounds",
            payload_len(&envelopes[0])
        );
        println!(
            "{:<36} {:>12} {:>10} {:>9}",
            "path", "messages/s", "MiB/s", "seconds"
        );
        for (name, f) in [
            ("in-process Transport::publish_batch", &baseline),
            ("SDK IggyProducer over TCP", &sdk),
            ("  same, client nodelay=true", &sdk_nodelay),
        ] {
            println!(
                "{:<36} {:>12.0} {:>10.1} {:>9.3}",
                name,
                f.per_second(),
                f.mib_per_second(),
                f.seconds
            );
        }
        println!(
            "ratio SDK / in-process: {:.3} (throughput); with nodelay: {:.3}",
            sdk.per_second() / baseline.per_second(),
            sdk_nodelay.per_second() / baseline.per_second()
        );
    });
}
