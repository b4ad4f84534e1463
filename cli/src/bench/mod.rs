//! `bench`: publish and consume throughput, publish-to-handler latency and
//! codec cost of the transport on a backend, each throughput figure next to a
//! baseline measured in the same run on the same machine:
//!
//! - embedded: a plain file written with `write_all` (same records, batches
//!   and fsync policy) and read back ([`file`]);
//! - remote: the raw `iggy` SDK's `send_messages` / `poll_messages` of the
//!   same messages against the same server ([`sdk`]);
//! - codec: bare `serde_json` / `postcard` on the same values ([`codec`]);
//! - memory: none.
//!
//! See docs/benchmarks.md for what each figure means.

mod append;
mod args;
mod codec;
mod file;
mod measure;
mod report;
mod sdk;
mod setup;
mod workload;

use std::{process::ExitCode, sync::Arc};

use rustok_iggy::{Result, TopicRef, Transport, TransportConfig};

use args::BackendKind;
pub use args::BenchArgs;
use measure::{peak_rss_mib, reset_peak_rss, Figure};
use report::{Report, Row};

/// Runs `bench` (`--runs` times) and prints its report.
pub async fn run(config: &TransportConfig, mut args: BenchArgs, json: bool) -> Result<ExitCode> {
    args.resolve(config, json)?;
    let first = run_once(config, &args).await?;
    let mut reports = Vec::with_capacity(args.runs.saturating_sub(1) as usize);
    for _ in 1..args.runs {
        reports.push(run_once(config, &args).await?);
    }
    let report = Report::median_of(first, reports);
    if args.json {
        crate::output::print_json(&report)?;
    } else {
        report.print();
    }
    Ok(ExitCode::SUCCESS)
}

/// One measurement on a place of its own, cleaned up afterwards.
async fn run_once(config: &TransportConfig, args: &BenchArgs) -> Result<Report> {
    let target = setup::Target::open(config, args).await?;
    if let (Some(addr), false) = (target.served_at(), args.json) {
        println!("in-process Iggy-protocol server on {addr}");
    }
    let transport = Transport::from_config(&target.config).await?;
    let result = measure_all(&transport, &target, args).await;
    if target.backend == BackendKind::Remote && target.served_at().is_none() {
        drop_topics(&transport, &target).await;
    }
    transport.shutdown().await?;
    target.close().await?;
    result
}

async fn measure_all(
    transport: &Transport,
    target: &setup::Target,
    args: &BenchArgs,
) -> Result<Report> {
    let body: Arc<str> = "x".repeat(args.payload_bytes as usize).into();
    let message_bytes = workload::message_bytes(transport, &body)?;
    let partitions = target.config.routing.partitions;
    let poll_batch = target.config.consumer.poll_batch;

    // The plain file is written before the log (on a quiet disk) and again
    // after; the faster of the two is the reference, so neither writeback of
    // the log nor a cold start flatters the ratio.
    let file_before = match target.backend {
        BackendKind::Embedded => Some(plain_file(target, args, message_bytes).await?),
        _ => None,
    };

    reset_peak_rss();
    let bar = crate::progress::bar(args.events, "publishing");
    let published = workload::publish(
        transport,
        &body,
        args.events,
        args.batch,
        args.producers,
        message_bytes,
        &bar,
    )
    .await?;
    bar.finish_and_clear();
    let publish_rss = peak_rss_mib();
    reset_peak_rss();
    let dedup = match target.backend {
        BackendKind::Embedded => {
            Some(publish_dedup_twin(target, args, &body, message_bytes).await?)
        }
        _ => None,
    };
    let dedup_rss = peak_rss_mib();

    reset_peak_rss();
    let bar = crate::progress::bar(args.events, "consuming");
    let consumed = workload::consume(
        transport,
        &target.topic,
        args.events,
        args.consumers,
        (body.len(), message_bytes),
        &bar,
    )
    .await?;
    bar.finish_and_clear();
    let consume_rss = peak_rss_mib();

    reset_peak_rss();
    let bar = crate::progress::bar(args.events, "consuming, pull");
    let pulled = workload::consume_pull(
        transport,
        &target.topic,
        (args.events, args.consumers, poll_batch as usize),
        (body.len(), message_bytes),
        &bar,
    )
    .await?;
    bar.finish_and_clear();
    let pull_rss = peak_rss_mib();

    reset_peak_rss();
    let bar = crate::progress::bar(args.latency_events, "latency");
    let latency = workload::latency(
        transport,
        &target.latency_topic,
        (args.latency_events, args.latency_rate),
        (partitions, args.consumers),
        &body,
        &bar,
    )
    .await?;
    bar.finish_and_clear();
    let latency_rss = peak_rss_mib();

    let codec = transport.codec();
    let codec_base = match codec::Bare::of(codec.name()) {
        Some(bare) => Some((
            bare.name().to_owned(),
            codec::with_bare(bare, args.events, &body)?,
        )),
        None => None,
    };
    reset_peak_rss();
    let codec_figure = codec::with_codec(codec.as_ref(), args.events, &body)?;
    let codec_rss = peak_rss_mib();

    // The baselines below run after the transport's workloads: their
    // messages are built in memory before their clocks start, and that
    // memory would otherwise count in the workloads' peak RSS.
    let plan = workload::Plan {
        events: args.events,
        batch: args.batch,
        producers: args.producers,
        message_bytes,
        poll_batch,
        partitions,
    };
    let appended = append::run(transport, &target.append_topic(), &body, plan).await?;
    let (publish_base, consume_base) = match target.backend {
        BackendKind::Embedded => {
            let after = plain_file(target, args, message_bytes).await?;
            let (write, read) = match file_before {
                Some(before) => (faster(before.0, after.0), faster(before.1, after.1)),
                None => after,
            };
            (
                Some(("plain file write_all".to_owned(), write)),
                Some(("plain file read".to_owned(), read)),
            )
        }
        BackendKind::Remote => {
            let remote = target.remote.as_ref().ok_or_else(|| {
                rustok_iggy::Error::config("plugins.remote", "no remote settings")
            })?;
            let (send, poll) = sdk::run(transport, remote, &target.raw_topic, &body, plan).await?;
            (
                Some(("raw SDK send_messages".to_owned(), send)),
                Some(("raw SDK poll_messages".to_owned(), poll)),
            )
        }
        BackendKind::Memory => (None, None),
    };

    let served = target.served_at().is_some();
    Ok(Report {
        backend: target.backend,
        served,
        codec: codec.name().to_owned(),
        fsync: (target.backend == BackendKind::Embedded || served).then_some(args.fsync),
        payload_bytes: args.payload_bytes,
        message_bytes,
        batch: args.batch,
        producers: args.producers,
        consumers: args.consumers,
        partitions,
        runs: 1,
        workloads: [
            Some(Row::new("publish", published, publish_base, publish_rss)),
            Some(Row::new(
                "publish over raw append",
                published,
                Some(("raw Backend::append".to_owned(), appended)),
                publish_rss,
            )),
            dedup.map(|(name, figure)| {
                Row::new(
                    name,
                    figure,
                    Some(("publish".to_owned(), published)),
                    dedup_rss,
                )
            }),
            Some(Row::new("consume", consumed, consume_base, consume_rss)),
            Some(Row::new(
                "consume, pull",
                pulled,
                Some(("consume".to_owned(), consumed)),
                pull_rss,
            )),
            Some(Row::new("codec", codec_figure, codec_base, codec_rss)),
        ]
        .into_iter()
        .flatten()
        .collect(),
        latency,
        latency_rate: args.latency_rate,
        latency_peak_rss_mib: latency_rss,
    })
}

/// The publish workload again, on a second embedded log (in the scratch
/// directory) whose `dedup_window` is the other way round from the
/// config's: the cost of idempotent publish, next to `publish` in the same
/// run. Returns the row's name and figure.
async fn publish_dedup_twin(
    target: &setup::Target,
    args: &BenchArgs,
    body: &Arc<str>,
    message_bytes: u64,
) -> Result<(&'static str, Figure)> {
    let mut config = target.config.clone();
    let mut table = config.plugin("embedded").table().clone();
    let configured =
        rustok_iggy_embedded::EmbeddedConfig::from_plugin_config(&config.plugin("embedded"))?
            .dedup_window;
    let (name, window) = if configured == 0 {
        (
            "publish, dedup",
            args.events.min(rustok_iggy_embedded::MAX_DEDUP_WINDOW),
        )
    } else {
        table.remove("dedup_max_age_secs");
        ("publish, no dedup", 0)
    };
    let dir = target.scratch.path().join("dedup");
    table.insert(
        "data_dir".into(),
        toml::Value::String(dir.display().to_string()),
    );
    // At most MAX_DEDUP_WINDOW, far below i64::MAX.
    table.insert("dedup_window".into(), toml::Value::Integer(window as i64));
    config.plugins.insert("embedded", table);
    let twin = Transport::from_config(&config).await?;
    let figure = workload::publish(
        &twin,
        body,
        args.events,
        args.batch,
        args.producers,
        message_bytes,
        &indicatif::ProgressBar::hidden(),
    )
    .await;
    twin.shutdown().await?;
    Ok((name, figure?))
}

/// The plain-file baseline of the embedded log: (write, read back).
async fn plain_file(
    target: &setup::Target,
    args: &BenchArgs,
    message_bytes: u64,
) -> Result<(Figure, Figure)> {
    file::run(file::Plan {
        path: target.scratch.path().join("baseline.bin"),
        records: args.events,
        record_bytes: message_bytes,
        batch: args.batch,
        fsync: args.fsync,
        read_batch: u64::from(target.config.consumer.poll_batch),
    })
    .await
}

/// The figure with the higher rate.
fn faster(a: Figure, b: Figure) -> Figure {
    if a.per_sec() >= b.per_sec() {
        a
    } else {
        b
    }
}

/// Deletes the run's topics from a shared server (best effort: a failure is
/// logged, the figures are still printed).
async fn drop_topics(transport: &Transport, target: &setup::Target) {
    for topic in [
        &target.topic,
        &target.latency_topic,
        &target.raw_topic,
        &target.append_topic(),
    ] {
        let topic = TopicRef::new(transport.stream(), topic.as_str());
        if let Err(e) = transport.backend().delete_topic(&topic).await {
            tracing::warn!(%topic, error = %e, "cannot delete a benchmark topic");
        }
    }
}
