//! Sustained load on the embedded backend through `rustok_iggy::Transport`:
//! publish at a fixed rate while a consumer group (two members) handles
//! everything, for minutes; sample resident memory, open file descriptors
//! and consumer lag every few seconds; print a table and a verdict, and exit
//! with status 1 when the verdict fails. Not part of CI (it runs minutes).
//!
//! ```text
//! cargo bench -p rustok-iggy-embedded --bench soak -- --rate 5000 --secs 300
//! ```
//!
//! Flags (or environment): `--rate` (`RUSTOK_SOAK_RATE`, events/s, default
//! 5,000), `--secs` (`RUSTOK_SOAK_SECS`, default 300), `--payload`
//! (`RUSTOK_SOAK_PAYLOAD`, bytes of event body, default 256), `--sample-secs`
//! (`RUSTOK_SOAK_SAMPLE_SECS`, default 5), `--fsync` (`RUSTOK_SOAK_FSYNC`,
//! `always`/`interval`/`never`, default `interval`).
//!
//! Retention is on (`retention_max_bytes` 4 MiB per partition, 1 MiB
//! segments, checked every 5 s), so the data directory stays bounded and
//! segments are rolled and deleted throughout. The backend keeps one
//! descriptor per live segment (sealed segments stay open for reads), so
//! descriptors are also sampled net of the segment files on disk: a leaked
//! handle of a deleted segment shows up there.
//!
//! Baseline: the run's own figures at the end of the warm-up (the first
//! quarter of the run, at least one sample): memory and descriptors are
//! compared with them, and printed as a ratio to them.
//!
//! Verdict (each check can fail):
//! - the publisher kept the rate: at least 95% of `rate × secs` published;
//! - RSS flat: the least-squares slope of RSS after the warm-up, times the
//!   time after the warm-up, is at most 10% of the baseline RSS plus 4 MiB;
//! - lag bounded: published minus handled, and the largest per-partition lag
//!   `Transport::health` reports, stay below one second of traffic (`rate`)
//!   after the warm-up;
//! - no descriptor growth: after the warm-up, descriptors exceed the
//!   baseline by at most one per partition (a segment rolling or awaiting
//!   retention at the moment of the sample), and descriptors other than
//!   segments by at most 2;
//! - retention deleted nothing the consumers had not handled yet (a
//!   consumer far enough behind loses records to `retention_max_bytes`);
//! - everything published was handled once publishing stopped (hang guard:
//!   60 s).

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use rustok_iggy::{
    handler_fn, ConsumerConfig, EventEnvelope, HandlerError, RoutingConfig, Subscription, Transport,
};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use serde::{Deserialize, Serialize};

const PARTITIONS: u32 = 8;
/// Publishing happens in ticks of this length, each catching up to the rate.
const TICK: Duration = Duration::from_millis(10);
/// Most events one `publish_batch` carries.
const MAX_BATCH: u64 = 5_000;
const DRAIN_GUARD: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SoakEvent {
    /// Microseconds since the run started, when it was published.
    sent_micros: u64,
    body: String,
}

/// Run settings, from flags or the environment.
struct Settings {
    rate: u64,
    secs: u64,
    payload: usize,
    sample_secs: u64,
    fsync: FsyncPolicy,
}

impl Settings {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let get = |flag: &str, env: &str| -> Option<String> {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1).cloned())
                .or_else(|| std::env::var(env).ok())
        };
        let number = |flag: &str, env: &str, default: u64| -> u64 {
            get(flag, env).map_or(default, |v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{flag} / {env}: not a number: {v}"))
            })
        };
        let fsync = match get("--fsync", "RUSTOK_SOAK_FSYNC").as_deref() {
            None | Some("interval") => FsyncPolicy::Interval,
            Some("always") => FsyncPolicy::Always,
            Some("never") => FsyncPolicy::Never,
            Some(other) => panic!("--fsync: always, interval or never, not {other}"),
        };
        Self {
            rate: number("--rate", "RUSTOK_SOAK_RATE", 5_000).max(1),
            secs: number("--secs", "RUSTOK_SOAK_SECS", 300).max(1),
            payload: number("--payload", "RUSTOK_SOAK_PAYLOAD", 256) as usize,
            sample_secs: number("--sample-secs", "RUSTOK_SOAK_SAMPLE_SECS", 5).max(1),
            fsync,
        }
    }
}

/// Resident set size (VmRSS) of this process in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// One row of the table.
struct Sample {
    secs: f64,
    published: u64,
    handled: u64,
    /// Largest per-partition lag in `Transport::health`.
    health_lag: u64,
    rss: f64,
    fds: usize,
    /// Segment files on disk (each held open by the backend).
    segments: usize,
    /// Largest publish-to-handler latency since the previous sample, in ms.
    max_latency_ms: f64,
}

impl Sample {
    fn backlog(&self) -> u64 {
        self.published.saturating_sub(self.handled)
    }

    /// Descriptors that are not segment files.
    fn other_fds(&self) -> usize {
        self.fds.saturating_sub(self.segments)
    }
}

async fn open(dir: &Path, settings: &Settings) -> (Transport, Arc<EmbeddedBackend>) {
    let backend = Arc::new(
        EmbeddedBackend::open(EmbeddedConfig {
            segment_bytes: 1 << 20,
            retention_max_bytes: Some(4 << 20),
            retention_check_secs: 5,
            ..EmbeddedConfig::new(dir).fsync(settings.fsync)
        })
        .await
        .unwrap(),
    );
    let transport = Transport::builder(
        backend.clone(),
        Arc::new(rustok_iggy_codecs::JsonCodec::new()),
    )
    .stream("soak")
    .routing(RoutingConfig {
        partitions: PARTITIONS,
        ..RoutingConfig::default()
    })
    .consumer(ConsumerConfig {
        lag_probe_ms: 500,
        ..ConsumerConfig::default()
    })
    .build()
    .await
    .unwrap();
    (transport, backend)
}

async fn member(
    transport: &Transport,
    handled: &Arc<AtomicU64>,
    max_latency: &Arc<AtomicU64>,
    epoch: Instant,
) -> Subscription {
    let handled = handled.clone();
    let max_latency = max_latency.clone();
    transport
        .subscribe(
            "soak",
            &["events"],
            handler_fn(move |event: EventEnvelope<SoakEvent>| {
                let now = epoch.elapsed().as_micros() as u64;
                max_latency.fetch_max(
                    now.saturating_sub(event.event.sent_micros),
                    Ordering::Relaxed,
                );
                handled.fetch_add(1, Ordering::Relaxed);
                async { Ok::<(), HandlerError>(()) }
            }),
        )
        .await
        .unwrap()
}

/// `.log` files under `dir`, recursively.
fn segment_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                segment_files(&path)
            } else {
                usize::from(path.extension().is_some_and(|x| x == "log"))
            }
        })
        .sum()
}

async fn sample(
    dir: &Path,
    transport: &Transport,
    started: Instant,
    published: u64,
    handled: &AtomicU64,
    max_latency: &AtomicU64,
) -> Sample {
    let health = transport.health().await;
    let health_lag = health
        .subscriptions
        .iter()
        .flat_map(|s| s.partitions.iter().map(|p| p.lag))
        .max()
        .unwrap_or(0);
    Sample {
        secs: started.elapsed().as_secs_f64(),
        published,
        handled: handled.load(Ordering::Relaxed),
        health_lag,
        rss: rss_mib(),
        fds: open_fds(),
        segments: segment_files(dir),
        max_latency_ms: max_latency.swap(0, Ordering::Relaxed) as f64 / 1e3,
    }
}

fn print_sample(s: &Sample) {
    println!(
        "{:>7.1} {:>10} {:>10} {:>8} {:>8} {:>9.1} {:>5} {:>5} {:>10.1}",
        s.secs,
        s.published,
        s.handled,
        s.backlog(),
        s.health_lag,
        s.rss,
        s.fds,
        s.segments,
        s.max_latency_ms
    );
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let num: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let den: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// Compares the figures; returns the failed checks.
fn verdict(
    settings: &Settings,
    samples: &[Sample],
    published: u64,
    drained: bool,
    skipped: u64,
) -> Vec<String> {
    let mut failed = Vec::new();
    let target = settings.rate * settings.secs;
    println!("verdict:");
    let kept = published as f64 / target as f64;
    println!(
        "  rate: {published} of {target} events published ({:.1}%)",
        kept * 100.0
    );
    if kept < 0.95 {
        failed.push(format!(
            "the publisher fell behind the rate ({:.1}%)",
            kept * 100.0
        ));
    }
    let warmup = (samples.len() / 4)
        .max(1)
        .min(samples.len().saturating_sub(2));
    let base = &samples[warmup.saturating_sub(1)];
    let steady = &samples[warmup..];
    if steady.len() < 2 {
        failed.push("too few samples after the warm-up: run longer".to_owned());
        return failed;
    }
    let points: Vec<(f64, f64)> = steady.iter().map(|s| (s.secs, s.rss)).collect();
    let per_sec = slope(&points);
    let span = steady[steady.len() - 1].secs - steady[0].secs;
    let growth = per_sec * span;
    let allowed = base.rss * 0.10 + 4.0;
    let last = &samples[samples.len() - 1];
    println!(
        "  RSS: baseline {:.1} MiB, last {:.1} MiB ({:.2}x), slope {:+.3} MiB/min after warm-up, \
         {growth:+.1} MiB over {span:.0} s (allowed {allowed:.1})",
        base.rss,
        last.rss,
        last.rss / base.rss,
        per_sec * 60.0
    );
    if growth > allowed {
        failed.push(format!("RSS grows: {growth:+.1} MiB over {span:.0} s"));
    }
    let max_backlog = steady.iter().map(Sample::backlog).max().unwrap_or(0);
    let max_health_lag = steady.iter().map(|s| s.health_lag).max().unwrap_or(0);
    let max_latency = steady.iter().map(|s| s.max_latency_ms).fold(0.0, f64::max);
    println!(
        "  lag: max backlog {max_backlog}, max partition lag (health) {max_health_lag}, \
         max latency {max_latency:.1} ms (bound {} events)",
        settings.rate
    );
    if max_backlog >= settings.rate || max_health_lag >= settings.rate {
        failed.push(format!(
            "lag not bounded: backlog {max_backlog}, partition lag {max_health_lag}"
        ));
    }
    let max_fds = steady.iter().map(|s| s.fds).max().unwrap_or(0);
    let max_other = steady.iter().map(Sample::other_fds).max().unwrap_or(0);
    let slack = PARTITIONS as usize;
    println!(
        "  fds: baseline {} ({} not segments), max {max_fds} ({max_other} not segments), \
         last {} ({:.2}x; allowed baseline + {slack}, not segments + 2)",
        base.fds,
        base.other_fds(),
        last.fds,
        last.fds as f64 / base.fds as f64
    );
    if max_fds > base.fds + slack {
        failed.push(format!("descriptors grow: {} -> {max_fds}", base.fds));
    }
    if max_other > base.other_fds() + 2 {
        failed.push(format!(
            "descriptors other than segments grow: {} -> {max_other}",
            base.other_fds()
        ));
    }
    if skipped > 0 {
        failed.push(format!(
            "retention deleted at least {skipped} records before they were consumed"
        ));
    }
    if !drained {
        failed.push(format!("not everything was handled within {DRAIN_GUARD:?}"));
    }
    failed
}

fn main() {
    let settings = Settings::from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let failed = runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (transport, backend) = open(dir.path(), &settings).await;
        let handled = Arc::new(AtomicU64::new(0));
        let max_latency = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let a = member(&transport, &handled, &max_latency, epoch).await;
        let b = member(&transport, &handled, &max_latency, epoch).await;
        println!(
            "soak: {} events/s for {} s, {} B bodies, fsync = {:?}, {PARTITIONS} partitions, \
             two group members; sample every {} s",
            settings.rate, settings.secs, settings.payload, settings.fsync, settings.sample_secs
        );
        println!(
            "{:>7} {:>10} {:>10} {:>8} {:>8} {:>9} {:>5} {:>5} {:>10}",
            "secs",
            "published",
            "handled",
            "backlog",
            "p.lag",
            "RSS MiB",
            "fds",
            "segs",
            "max lat ms"
        );
        let body = "x".repeat(settings.payload);
        let duration = Duration::from_secs(settings.secs);
        let sample_every = Duration::from_secs(settings.sample_secs);
        let started = Instant::now();
        let mut next_sample = started + sample_every;
        let mut published: u64 = 0;
        let mut samples = Vec::new();
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while started.elapsed() < duration {
            ticker.tick().await;
            let due = (started.elapsed().as_secs_f64() * settings.rate as f64) as u64;
            // Capped, so a publisher that fell behind does not build one
            // huge batch: the memory measured is the transport's, not ours.
            let due = due
                .min(settings.rate * settings.secs)
                .min(published + MAX_BATCH);
            if due > published {
                let sent_micros = epoch.elapsed().as_micros() as u64;
                let events: Vec<_> = (published..due)
                    .map(|i| {
                        EventEnvelope::builder(
                            "soak.event",
                            uuid::Uuid::from_u128(u128::from(i % 64) + 1),
                            SoakEvent {
                                sent_micros,
                                body: body.clone(),
                            },
                        )
                        .build()
                        .unwrap()
                    })
                    .collect();
                transport.publish_batch(&events).await.unwrap();
                published = due;
            }
            if Instant::now() >= next_sample {
                next_sample += sample_every;
                let s = sample(
                    dir.path(),
                    &transport,
                    started,
                    published,
                    &handled,
                    &max_latency,
                )
                .await;
                print_sample(&s);
                samples.push(s);
            }
        }
        let drain_started = Instant::now();
        while handled.load(Ordering::Relaxed) < published && drain_started.elapsed() < DRAIN_GUARD {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let drained = handled.load(Ordering::Relaxed) >= published;
        // Polls that started above the requested offset because retention
        // had deleted it: records no consumer handled.
        let skipped: u64 = backend
            .retention_clamps()
            .iter()
            .map(|c| c.first_offset.saturating_sub(c.requested))
            .sum();
        let s = sample(
            dir.path(),
            &transport,
            started,
            published,
            &handled,
            &max_latency,
        )
        .await;
        print_sample(&s);
        samples.push(s);
        let _ = a.shutdown().await;
        let _ = b.shutdown().await;
        let _ = transport.shutdown().await;
        drop(backend);
        verdict(&settings, &samples, published, drained, skipped)
    });
    if failed.is_empty() {
        println!("verdict: PASS");
    } else {
        for f in &failed {
            println!("verdict: FAIL: {f}");
        }
        std::process::exit(1);
    }
}
