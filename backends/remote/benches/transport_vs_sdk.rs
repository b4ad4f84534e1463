//! Publish and consume throughput through `rustok_iggy::Transport` on the
//! remote backend versus the raw `iggy` SDK (`send_messages` /
//! `poll_messages`), against the same `rustok_iggy_server::Server` (over a
//! memory backend) in the same run, with the same batch sizes, headers and
//! payload bytes. Baseline: the raw SDK; printed as a ratio (target ≥ 0.9).
//!
//! `cargo bench -p rustok-iggy-remote --bench transport_vs_sdk`
//! (`BENCH_EVENTS`, `BENCH_BATCH` override the sizes).

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use iggy::prelude::{
    Client, Consumer, HeaderKey, HeaderKind, HeaderValue, Identifier, IggyClient, IggyMessage,
    MessageClient, Partitioning, PollingStrategy, StreamClient, TopicClient, TopicCreateOptions,
};
use rustok_iggy::{
    handler_fn, ConsumerConfig, EventEnvelope, HandlerError, Message, PollFrom, PollRequest,
    RoutingConfig, TopicRef, Transport,
};
use rustok_iggy_remote::{RemoteBackend, RemoteConfig};
use rustok_iggy_server::Server;
use rustok_iggy_testkit::{
    fixtures::{order_placed_envelope, tenant, OrderPlaced},
    MemoryBackend,
};

const ROUNDS: usize = 3;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn to_raw(m: &Message, id: u128) -> IggyMessage {
    let headers: BTreeMap<HeaderKey, HeaderValue> = m
        .headers
        .iter()
        .map(|(k, v)| {
            (
                HeaderKey::try_from(k).unwrap(),
                HeaderValue::from_raw(HeaderKind::String, v).unwrap(),
            )
        })
        .collect();
    IggyMessage::builder()
        .id(id)
        .payload(m.payload.clone())
        .user_headers(headers)
        .build()
        .unwrap()
}

async fn transport(url: &str, stream: &str) -> Transport {
    let backend = RemoteBackend::connect(RemoteConfig::new(url))
        .await
        .unwrap();
    Transport::builder(
        Arc::new(backend),
        Arc::new(rustok_iggy_codecs::JsonCodec::new()),
    )
    .stream(stream)
    .routing(RoutingConfig {
        partitions: 1,
        ..RoutingConfig::default()
    })
    .consumer(ConsumerConfig {
        poll_batch: 1_000,
        poll_wait_ms: 1,
        heartbeat_ms: 50,
        ..ConsumerConfig::default()
    })
    .build()
    .await
    .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events_n = env("BENCH_EVENTS", 20_000);
    let batch = env("BENCH_BATCH", 100);
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let url = format!("iggy+tcp://iggy:iggy@{}", server.local_addr());
    let raw = IggyClient::from_connection_string(&format!(
        "iggy://iggy:iggy@{}?nodelay=true",
        server.local_addr()
    ))
    .unwrap();
    raw.connect().await.unwrap();

    // The messages the transport writes for these events: the raw SDK sends
    // the same headers and payload bytes.
    let events: Vec<EventEnvelope<OrderPlaced>> = (0..events_n)
        .map(|i| order_placed_envelope(tenant((i % 31) as u128), i as u64))
        .collect();
    let probe = transport(&url, "probe").await;
    probe.publish_batch(&events[..batch]).await.unwrap();
    let templates: Vec<Message> = probe
        .backend()
        .poll(PollRequest {
            topic: probe.topic("events"),
            partition: 0,
            from: PollFrom::Offset(0),
            max_records: batch as u32,
            max_wait: Duration::ZERO,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.message)
        .collect();
    probe.shutdown().await.unwrap();
    let payload = templates[0].payload.len();

    let mut publish = (Vec::new(), Vec::new());
    let mut consume = (Vec::new(), Vec::new());
    let mut append = Vec::new();
    let mut poll = Vec::new();
    let next_id = AtomicU64::new(1);
    for round in 0..ROUNDS {
        // Raw SDK publish.
        let stream = format!("raw-{round}");
        raw.create_stream(&stream).await.unwrap();
        let s = Identifier::named(&stream).unwrap();
        let t = Identifier::named("events").unwrap();
        raw.create_topic(
            &s,
            "events",
            &TopicCreateOptions {
                partitions_count: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let start = Instant::now();
        for chunk in 0..events_n / batch {
            let mut messages: Vec<IggyMessage> = (0..batch)
                .map(|i| {
                    let id = u128::from(next_id.fetch_add(1, Ordering::Relaxed));
                    to_raw(&templates[(chunk * batch + i) % templates.len()], id)
                })
                .collect();
            raw.send_messages(&s, &t, &Partitioning::partition_id(0), &mut messages)
                .await
                .unwrap();
        }
        publish
            .0
            .push(events_n as f64 / start.elapsed().as_secs_f64());

        // Raw SDK consume: poll by offset, batch by batch.
        let consumer = Consumer::new(Identifier::named("bench").unwrap());
        let start = Instant::now();
        let mut offset = 0u64;
        while offset < (events_n / batch * batch) as u64 {
            let polled = raw
                .poll_messages(
                    &s,
                    &t,
                    Some(0),
                    &consumer,
                    &PollingStrategy::offset(offset),
                    batch as u32,
                    false,
                )
                .await
                .unwrap();
            offset += polled.messages.len() as u64;
        }
        consume
            .0
            .push(offset as f64 / start.elapsed().as_secs_f64());

        // Transport publish of the same batches.
        let stream = format!("transport-{round}");
        let transport = transport(&url, &stream).await;

        // Diagnostic: the remote backend's append alone (no codec, no routing).
        let topic = TopicRef::new(format!("append-{round}"), "events");
        transport.backend().ensure_topic(&topic, 1).await.unwrap();
        // Messages built before the clock starts, as the raw SDK's templates are.
        let batches: Vec<Vec<Message>> = (0..events_n / batch)
            .map(|chunk| {
                (0..batch)
                    .map(|i| {
                        let mut m = templates[(chunk * batch + i) % templates.len()].clone();
                        m.id = u128::from(next_id.fetch_add(1, Ordering::Relaxed));
                        m
                    })
                    .collect()
            })
            .collect();
        let start = Instant::now();
        for messages in batches {
            transport
                .backend()
                .append(&topic, 0, messages)
                .await
                .unwrap();
        }
        append.push(events_n as f64 / start.elapsed().as_secs_f64());
        let start = Instant::now();
        let mut offset = 0u64;
        while offset < (events_n / batch * batch) as u64 {
            let records = transport
                .backend()
                .poll(PollRequest {
                    topic: topic.clone(),
                    partition: 0,
                    from: PollFrom::Offset(offset),
                    max_records: batch as u32,
                    max_wait: Duration::ZERO,
                })
                .await
                .unwrap();
            offset += records.len() as u64;
        }
        poll.push(offset as f64 / start.elapsed().as_secs_f64());

        let start = Instant::now();
        for chunk in events.chunks(batch) {
            transport.publish_batch(chunk).await.unwrap();
        }
        publish
            .1
            .push(events_n as f64 / start.elapsed().as_secs_f64());

        // Transport consume: a group handles every event (and commits).
        let handled = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let subscription = {
            let handled = handled.clone();
            transport
                .subscribe(
                    "bench",
                    &["events"],
                    handler_fn(move |_event: EventEnvelope<OrderPlaced>| {
                        let handled = handled.clone();
                        async move {
                            handled.fetch_add(1, Ordering::Relaxed);
                            Ok::<(), HandlerError>(())
                        }
                    }),
                )
                .await
                .unwrap()
        };
        while handled.load(Ordering::Relaxed) < events_n as u64 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        consume
            .1
            .push(events_n as f64 / start.elapsed().as_secs_f64());
        subscription.shutdown().await.unwrap();
        transport.shutdown().await.unwrap();
    }

    println!(
        "transport vs raw iggy SDK over TCP, same server, {events_n} events of {payload} B payload, batches of {batch}, median of {ROUNDS} rounds"
    );
    for (what, (raw, ours)) in [("publish", publish), ("consume", consume)] {
        let (raw, ours) = (median(raw), median(ours));
        println!(
            "  {what:8} raw SDK {raw:>10.0} msg/s   transport {ours:>10.0} msg/s   ratio {:.2}x",
            ours / raw
        );
    }
    println!(
        "  (diagnostic: remote backend alone, no codec or consumer runtime: append {:>10.0} msg/s, poll {:>10.0} msg/s)",
        median(append),
        median(poll)
    );
    server.shutdown().await.unwrap();
}
