//! Publish and consume throughput through `rustok_iggy::Transport` on the
//! remote backend versus the raw `iggy` SDK (`send_messages` /
//! `poll_messages`), against the same `rustok_iggy_server::Server` (over a
//! memory backend) in the same run, with the same batch sizes, headers and
//! payload bytes. Baseline: the raw SDK ([`rustok_iggy_remote::baseline`],
//! shared with `rustok-iggy bench --backend remote`); printed as a ratio
//! (target ≥ 0.9). Two publish baselines: messages built before the clock
//! starts (the SDK's ceiling), and messages encoded inside the clock the way
//! an application using the SDK directly would (JSON payload, metadata
//! headers, the SDK's builder), which is the work the transport replaces.
//!
//! `cargo bench -p rustok-iggy-remote --bench transport_vs_sdk`
//! (`BENCH_EVENTS`, `BENCH_BATCH` override the sizes).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use rustok_iggy::{
    handler_fn, wire, Backend, ConsumerConfig, EventEnvelope, HandlerError, Message, PollFrom,
    PollRequest, RoutingConfig, TopicRef, Transport,
};
use rustok_iggy_remote::{
    baseline::{RawSdk, SdkBatch},
    RemoteBackend, RemoteConfig,
};
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

async fn transport(url: &str, stream: &str, batch: usize) -> Transport {
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
        // The raw loop's batch size: the same requests, the same sizes.
        poll_batch: batch as u32,
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
    // The baseline shared with `rustok-iggy bench --backend remote`.
    let raw = RawSdk::connect(&RemoteConfig::new(url.as_str()))
        .await
        .unwrap();
    // Topics of the raw rounds are created through the backend (not timed).
    let admin = RemoteBackend::connect(RemoteConfig::new(url.as_str()))
        .await
        .unwrap();

    // The messages the transport writes for these events: the raw SDK sends
    // the same headers and payload bytes.
    let events: Vec<EventEnvelope<OrderPlaced>> = (0..events_n)
        .map(|i| order_placed_envelope(tenant((i % 31) as u128), i as u64))
        .collect();
    let probe = transport(&url, "probe", batch).await;
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
    let mut publish_encoded = Vec::new();
    let mut consume = (Vec::new(), Vec::new());
    let mut append = Vec::new();
    let mut poll = Vec::new();
    let mut group_start = Vec::new();
    let next_id = AtomicU64::new(1);
    for round in 0..ROUNDS {
        // Raw SDK publish: messages converted to the SDK's form before the clock starts.
        let topic = TopicRef::new(format!("raw-{round}"), "events");
        admin.ensure_topic(&topic, 1).await.unwrap();
        let mut batches: Vec<SdkBatch> = (0..events_n / batch)
            .map(|chunk| {
                let messages: Vec<Message> = (0..batch)
                    .map(|i| {
                        let mut m = templates[(chunk * batch + i) % templates.len()].clone();
                        m.id = u128::from(next_id.fetch_add(1, Ordering::Relaxed));
                        m
                    })
                    .collect();
                SdkBatch::new(&messages).unwrap()
            })
            .collect();
        let start = Instant::now();
        for messages in &mut batches {
            raw.send(&topic, 0, messages).await.unwrap();
        }
        publish
            .0
            .push(events_n as f64 / start.elapsed().as_secs_f64());

        // Raw SDK with the encoding an application does itself inside the
        // clock: JSON payload, the same metadata headers, SDK messages built
        // with the SDK's builder. The transport does this work too, so this
        // ratio is the transport's own overhead.
        let encoded_topic = TopicRef::new(format!("raw-encoded-{round}"), "events");
        admin.ensure_topic(&encoded_topic, 1).await.unwrap();
        let start = Instant::now();
        for chunk in events.chunks(batch) {
            let messages: Vec<Message> = chunk
                .iter()
                .map(|e| {
                    let payload = serde_json::to_vec(&e.event).unwrap();
                    wire::envelope_message(e, "json", payload.into()).unwrap()
                })
                .collect();
            let mut sdk = SdkBatch::new(&messages).unwrap();
            raw.send(&encoded_topic, 0, &mut sdk).await.unwrap();
        }
        publish_encoded.push(events_n as f64 / start.elapsed().as_secs_f64());

        // Raw SDK consume: poll by offset, batch by batch.
        let start = Instant::now();
        let mut offset = 0u64;
        while offset < (events_n / batch * batch) as u64 {
            offset += raw.poll(&topic, 0, offset, batch as u32).await.unwrap() as u64;
        }
        consume
            .0
            .push(offset as f64 / start.elapsed().as_secs_f64());

        // Transport publish of the same batches.
        let stream = format!("transport-{round}");
        let transport = transport(&url, &stream, batch).await;

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
        // Throughput is steady state, from the first handled event to the
        // last, as the raw loop's is (its connection is already open); the
        // group's start (join, assignment, first poll) is reported apart.
        let handled = Arc::new(AtomicU64::new(0));
        let first_handled = Arc::new(std::sync::OnceLock::new());
        let subscribed = Instant::now();
        let subscription = {
            let (handled, first_handled) = (handled.clone(), first_handled.clone());
            transport
                .subscribe(
                    "bench",
                    &["events"],
                    handler_fn(move |_event: EventEnvelope<OrderPlaced>| {
                        first_handled.get_or_init(Instant::now);
                        handled.fetch_add(1, Ordering::Relaxed);
                        async { Ok::<(), HandlerError>(()) }
                    }),
                )
                .await
                .unwrap()
        };
        while handled.load(Ordering::Relaxed) < events_n as u64 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let done = Instant::now();
        let first = *first_handled.get().unwrap();
        consume
            .1
            .push((events_n - 1) as f64 / (done - first).as_secs_f64());
        group_start.push(first - subscribed);
        subscription.shutdown().await.unwrap();
        transport.shutdown().await.unwrap();
    }

    println!(
        "transport vs raw iggy SDK over TCP, same server, {events_n} events of {payload} B payload, batches of {batch}, median of {ROUNDS} rounds"
    );
    let encoded_ratio = (median(publish_encoded), median(publish.1.clone()));
    for (what, (raw, ours)) in [("publish", publish), ("consume", consume)] {
        let (raw, ours) = (median(raw), median(ours));
        println!(
            "  {what:8} raw SDK {raw:>10.0} msg/s   transport {ours:>10.0} msg/s   ratio {:.2}x",
            ours / raw
        );
    }
    let (encoded, ours) = encoded_ratio;
    println!(
        "  publish  raw SDK with the application's own encoding {encoded:>10.0} msg/s   transport {ours:>10.0} msg/s   ratio {:.2}x",
        ours / encoded
    );
    println!(
        "  (diagnostic: remote backend alone, no codec or consumer runtime: append {:>10.0} msg/s, poll {:>10.0} msg/s)",
        median(append),
        median(poll)
    );
    group_start.sort();
    println!(
        "  (consumer group start, subscribe to first handled event: median {:?})",
        group_start[group_start.len() / 2]
    );
    raw.shutdown().await;
    admin.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}
