//! Throughput, latency and memory of the embedded backend, printed as figures
//! (`cargo bench -p rustok-iggy-embedded`). Not a test: nothing here asserts.
//!
//! Baseline: writing the same encoded bytes, in the same batch sizes, to a
//! plain file with `write_all` (and one final fsync in durable mode), in the
//! same run, just before and just after (a); the faster of the two is the
//! reference. Every throughput is also printed as a ratio to it.
//!
//! `(a')` reads (a) back with `Backend::poll`, 1,000 records per poll: the
//! backend's part of consuming, without the consumer runtime of (c).
//!
//! Modes: `page cache` (`fsync = "never"`, no final sync) and `durable`
//! (`fsync = "never"` while writing, then one final fsync: `flush_all()`).
//!
//! Environment: `RUSTOK_BENCH_EVENTS` (default 1,000,000) events per
//! workload, `RUSTOK_BENCH_LATENCY_SECS` (default 5) for the latency run,
//! `RUSTOK_BENCH_ONLY` = `raw`, `transport` or `latency` to run one workload
//! (for profiling).
//!
//! Each workload's files are deleted before the next one starts, so the
//! kernel's writeback of one does not slow the next down.

use std::{
    fs::File,
    io::Write,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use rustok_iggy::{
    handler_fn, Backend, ConsumerConfig, EventEnvelope, HandlerError, Headers, Message,
    RoutingConfig, Transport,
};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use serde::{Deserialize, Serialize};

const BATCH: usize = 1_000;
/// Record framing overhead with no headers (length, CRC, offset, timestamp,
/// id, headers length): what the baseline writes per record besides the payload.
const FRAME_OVERHEAD: usize = 8 + 8 + 8 + 16 + 4;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    PageCache,
    Durable,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::PageCache => "page cache",
            Mode::Durable => "durable",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BenchEvent {
    /// Nanoseconds since the run started, when it was published.
    sent_nanos: u64,
    body: String,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resets the peak-RSS counter (VmHWM) of this process.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size (VmHWM) in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

struct Figure {
    events: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Figure {
    fn per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

fn print(label: &str, figure: &Figure, baseline: Option<&Figure>) {
    let ratio = baseline.map_or(String::from("-"), |b| {
        format!("{:.2}x", figure.per_sec() / b.per_sec())
    });
    println!(
        "  {label:<44} {:>12.0} events/s {:>9.1} MB/s  vs baseline {ratio:>6}  peak RSS {:>6.1} MiB",
        figure.per_sec(),
        figure.mb_per_sec(),
        peak_rss_mib()
    );
}

fn config(dir: &Path) -> EmbeddedConfig {
    EmbeddedConfig {
        segment_bytes: 256 << 20,
        ..EmbeddedConfig::new(dir).fsync(FsyncPolicy::Never)
    }
}

/// (d) The same bytes, same batch sizes, to a plain file.
fn baseline(dir: &Path, mode: Mode, payload: usize, records: usize) -> Figure {
    let record = vec![0xabu8; FRAME_OVERHEAD + payload];
    let batch: Vec<u8> = record.repeat(BATCH);
    let path = dir.join(format!("baseline-{payload}.bin"));
    let started = Instant::now();
    let mut file = File::create(&path).unwrap();
    for _ in 0..records / BATCH {
        file.write_all(&batch).unwrap();
    }
    if mode == Mode::Durable {
        file.sync_data().unwrap();
    }
    let elapsed = started.elapsed();
    drop(file);
    // Unlinked, its dirty pages are dropped instead of written back.
    let _ = std::fs::remove_file(&path);
    Figure {
        events: (records / BATCH * BATCH) as u64,
        bytes: (records / BATCH * batch.len()) as u64,
        elapsed,
    }
}

/// (a) Raw `Backend::append` of pre-encoded records, 1,000 per batch.
/// Returns the append figure and the figure of polling it all back.
async fn raw_append(dir: &Path, mode: Mode, payload: usize, records: usize) -> (Figure, Figure) {
    let backend = EmbeddedBackend::open(config(dir)).await.unwrap();
    let topic = rustok_iggy::TopicRef::new("bench", format!("raw{payload}"));
    backend.ensure_topic(&topic, 1).await.unwrap();
    let body = Bytes::from(vec![0xabu8; payload]);
    let batch: Vec<Message> = (0..BATCH as u128)
        .map(|id| Message {
            origin_timestamp_micros: None,
            id: id + 1,
            headers: Headers::new(),
            payload: body.clone(),
        })
        .collect();
    let started = Instant::now();
    for _ in 0..records / BATCH {
        backend.append(&topic, 0, batch.clone()).await.unwrap();
    }
    if mode == Mode::Durable {
        backend.flush_all().await.unwrap();
    }
    let elapsed = started.elapsed();
    // Read it all back with `Backend::poll`: the backend's share of (c).
    let started = Instant::now();
    let mut next = 0;
    loop {
        let page = backend
            .poll(rustok_iggy::PollRequest {
                topic: topic.clone(),
                partition: 0,
                from: rustok_iggy::PollFrom::Offset(next),
                max_records: BATCH as u32,
                max_wait: Duration::ZERO,
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        next = last.offset + 1;
    }
    let polled = started.elapsed();
    backend.shutdown().await.unwrap();
    let bytes = dir_bytes(&dir.join("streams"));
    let _ = std::fs::remove_dir_all(dir);
    let events = (records / BATCH * BATCH) as u64;
    (
        Figure {
            events,
            bytes,
            elapsed,
        },
        Figure {
            events: next,
            bytes,
            elapsed: polled,
        },
    )
}

async fn transport(backend: Arc<EmbeddedBackend>) -> Transport {
    Transport::builder(backend, Arc::new(rustok_iggy_codecs::PostcardCodec::new()))
        .stream("bench")
        .routing(RoutingConfig {
            partitions: 8,
            ..RoutingConfig::default()
        })
        .consumer(ConsumerConfig {
            poll_batch: 1_000,
            heartbeat_ms: 50,
            ..ConsumerConfig::default()
        })
        .build()
        .await
        .unwrap()
}

fn envelopes(start: usize, n: usize, body: &str, epoch: Instant) -> Vec<EventEnvelope<BenchEvent>> {
    (start..start + n)
        .map(|i| {
            EventEnvelope::builder(
                "bench.event",
                uuid::Uuid::from_u128(i as u128 % 64 + 1),
                BenchEvent {
                    sent_nanos: epoch.elapsed().as_nanos() as u64,
                    body: body.to_owned(),
                },
            )
            .build()
            .unwrap()
        })
        .collect()
}

/// (b) publish through the transport, then (c) consume it all.
async fn publish_and_consume(
    dir: &Path,
    mode: Mode,
    payload: usize,
    events: usize,
) -> (Figure, Figure) {
    let backend = Arc::new(EmbeddedBackend::open(config(dir)).await.unwrap());
    let transport = transport(backend.clone()).await;
    let body = "x".repeat(payload.saturating_sub(12));
    let epoch = Instant::now();
    let mut publishing = Duration::ZERO;
    for start in (0..events).step_by(BATCH) {
        let batch = envelopes(start, BATCH.min(events - start), &body, epoch);
        let started = Instant::now();
        transport.publish_batch(&batch).await.unwrap();
        publishing += started.elapsed();
    }
    if mode == Mode::Durable {
        let started = Instant::now();
        backend.flush_all().await.unwrap();
        publishing += started.elapsed();
    }
    let bytes = dir_bytes(&dir.join("streams"));
    let published = Figure {
        events: events as u64,
        bytes,
        elapsed: publishing,
    };

    let handled = Arc::new(AtomicU64::new(0));
    let counter = handled.clone();
    let started = Instant::now();
    let subscription = transport
        .subscribe(
            "bench",
            &["events"],
            handler_fn(move |_event: EventEnvelope<BenchEvent>| {
                counter.fetch_add(1, Ordering::Relaxed);
                async { Ok::<(), HandlerError>(()) }
            }),
        )
        .await
        .unwrap();
    while handled.load(Ordering::Relaxed) < events as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let consumed = Figure {
        events: events as u64,
        bytes,
        elapsed: started.elapsed(),
    };
    let _ = subscription.shutdown().await;
    backend.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
    (published, consumed)
}

/// Publish-to-handler latency at a steady rate, one event per publish:
/// p50, p90, p99, max and the number of samples.
async fn latency(dir: &Path, rate: u64, secs: u64) -> ([Duration; 4], usize) {
    let backend = Arc::new(EmbeddedBackend::open(config(dir)).await.unwrap());
    let transport = transport(backend.clone()).await;
    let samples = Arc::new(Mutex::new(Vec::<u64>::new()));
    let epoch = Instant::now();
    let sink = samples.clone();
    let subscription = transport
        .subscribe(
            "latency",
            &["events"],
            handler_fn(move |event: EventEnvelope<BenchEvent>| {
                let now = epoch.elapsed().as_nanos() as u64;
                if let Ok(mut samples) = sink.lock() {
                    samples.push(now.saturating_sub(event.event.sent_nanos));
                }
                async { Ok::<(), HandlerError>(()) }
            }),
        )
        .await
        .unwrap();
    // Let the group settle before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let total = rate * secs;
    let body = "x".repeat(88);
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let started = Instant::now();
    for i in 0..total {
        let due = started + interval * i as u32;
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        let event = envelopes(i as usize, 1, &body, epoch).remove(0);
        transport.publish(&event).await.unwrap();
    }
    while samples.lock().map(|s| s.len()).unwrap_or(0) < total as usize {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = subscription.shutdown().await;
    backend.shutdown().await.unwrap();
    let mut samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    samples.sort_unstable();
    let at = |q: f64| Duration::from_nanos(samples[((samples.len() - 1) as f64 * q) as usize]);
    ([at(0.50), at(0.90), at(0.99), at(1.0)], samples.len())
}

fn main() {
    let events = env_usize("RUSTOK_BENCH_EVENTS", 1_000_000).max(BATCH);
    let latency_secs = env_usize("RUSTOK_BENCH_LATENCY_SECS", 5).max(1) as u64;
    let only = std::env::var("RUSTOK_BENCH_ONLY").unwrap_or_default();
    let run = |workload: &str| only.is_empty() || only == workload;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("embedded backend benchmark: {events} events per workload, batches of {BATCH}");
    runtime.block_on(async {
        for mode in [Mode::PageCache, Mode::Durable] {
            println!("mode: {}", mode.name());
            for payload in [100usize, 1024] {
                let dir = tempfile::tempdir().unwrap();
                reset_peak_rss();
                // Measured before and after (a); the faster of the two is the
                // reference, so page-cache noise never flatters the ratios.
                let before = baseline(dir.path(), mode, payload, events);
                let mut raw_figures = None;
                if run("raw") {
                    reset_peak_rss();
                    raw_figures =
                        Some(raw_append(&dir.path().join("raw"), mode, payload, events).await);
                }
                let after = baseline(dir.path(), mode, payload, events);
                let base = if after.per_sec() > before.per_sec() {
                    after
                } else {
                    before
                };
                print(&format!("(d) baseline plain file, {payload} B"), &base, None);
                if let Some((raw, polled)) = raw_figures {
                    print(&format!("(a) raw append, {payload} B"), &raw, Some(&base));
                    print(&format!("(a') raw poll (backend only), {payload} B"), &polled, Some(&base));
                }
                if !run("transport") {
                    continue;
                }
                reset_peak_rss();
                let (published, consumed) =
                    publish_and_consume(&dir.path().join("transport"), mode, payload, events)
                        .await;
                print(&format!("(b) transport publish, {payload} B"), &published, Some(&base));
                print(&format!("(c) subscriber consume, {payload} B"), &consumed, Some(&base));
            }
        }
        if !run("latency") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        reset_peak_rss();
        let ([p50, p90, p99, max], n) = latency(dir.path(), 5_000, latency_secs).await;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "latency (page cache, 5,000 events/s, {n} events): publish-to-handler p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms, peak RSS {:.1} MiB",
            ms(p50),
            ms(p90),
            ms(p99),
            ms(max),
            peak_rss_mib()
        );
    });
}
