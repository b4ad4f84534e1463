//! `rustok-iggy demo`: the README's main job. Publishes events for many tenants,
//! consumes them in one group of three members, and prints what happened.
//!
//! Some events are made to fail on purpose so the summary shows the runtime's
//! failure policy at work: every `--flaky-every`th event fails its first attempt
//! (retried, then handled) and every `--reject-every`th is rejected permanently
//! (dead-lettered), then redriven once the "fix" is deployed.
//!
//! The demo never touches an application's data: it runs in its own stream
//! (`--stream`, default `rustok-demo`), in a fresh temporary directory when
//! the embedded backend has no configured `data_dir`, and it redrives only
//! the dead letters of its own group, stream and run. It counts only its own
//! run: events of earlier runs in its stream are acknowledged and skipped.

use std::{
    collections::HashMap,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use clap::Args;
use rustok_iggy::{
    Delivery, DlqEntry, DlqFilter, EventEnvelope, Handler, HandlerError, Result, SubscriptionStats,
    Transport, TransportConfig,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::output::print_json;

/// The demo's own stream.
const DEMO_STREAM: &str = "rustok-demo";
/// The demo's consumer group.
const GROUP: &str = "demo";

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Events to publish.
    #[arg(long, default_value_t = 5_000)]
    events: u64,
    /// Tenants (partition keys) to spread them over.
    #[arg(long, default_value_t = 100)]
    tenants: u64,
    /// Events published per batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Every Nth event fails its first attempt and is retried.
    #[arg(long, default_value_t = 1_000)]
    flaky_every: u64,
    /// Every Nth event is rejected permanently and dead-lettered.
    #[arg(long, default_value_t = 2_500)]
    reject_every: u64,
    /// Give up waiting for the consumers after this many seconds (at least 1).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_secs: u64,
    /// The stream the demo publishes to and consumes from, instead of the
    /// config's: the demo's events never land in an application's topics
    /// unless this names the application's stream.
    #[arg(long, default_value = DEMO_STREAM)]
    stream: String,
    /// Keep the temporary data directory the demo creates when the config
    /// names none (it is deleted otherwise).
    #[arg(long)]
    keep_data: bool,
    /// Leave this run's dead letters in the DLQ instead of deploying the fix
    /// and redriving them, to try the `dlq` commands on (with a configured
    /// data directory or a remote server).
    #[arg(long)]
    leave_dead_letters: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OrderPlaced {
    /// The run that published it (older runs' events are skipped).
    #[serde(default)]
    run: Uuid,
    /// Position in the whole run.
    seq: u64,
    /// Position among this tenant's events: must arrive in order.
    tenant_seq: u64,
    amount_cents: u64,
    flaky: bool,
    rejected: bool,
}

/// Records what was handled and checks per-tenant order.
#[derive(Default)]
struct Ledger {
    last_by_tenant: HashMap<Uuid, u64>,
    seen: std::collections::HashSet<Uuid>,
    out_of_order: u64,
    duplicates: u64,
}

struct DemoHandler {
    run: Uuid,
    ledger: Mutex<Ledger>,
    /// Set once the "fix" for rejected orders is deployed, before the redrive.
    accept_rejected: AtomicBool,
}

#[async_trait::async_trait]
impl Handler<OrderPlaced> for DemoHandler {
    async fn handle(
        &self,
        envelope: EventEnvelope<OrderPlaced>,
        delivery: &Delivery,
    ) -> std::result::Result<(), HandlerError> {
        let event = &envelope.event;
        if event.run != self.run {
            return Ok(());
        }
        if event.rejected && !self.accept_rejected.load(Ordering::SeqCst) {
            return Err(HandlerError::permanent(format!(
                "order {} rejected: amount {} is over the limit",
                event.seq, event.amount_cents
            )));
        }
        if event.flaky && delivery.attempt == 1 {
            return Err(HandlerError::transient("payment service timed out"));
        }
        let mut ledger = self
            .ledger
            .lock()
            .map_err(|_| HandlerError::transient("ledger lock poisoned"))?;
        if !ledger.seen.insert(envelope.id) {
            ledger.duplicates += 1;
            return Ok(());
        }
        // A redriven event comes back after its tenant's later events by
        // design; order is checked for everything else.
        if !event.rejected {
            let last = ledger
                .last_by_tenant
                .insert(envelope.tenant_id, event.tenant_seq);
            if last.is_some_and(|last| last >= event.tenant_seq) {
                ledger.out_of_order += 1;
            }
        }
        Ok(())
    }
}

/// What the demo measured, printed as a table or as JSON.
#[derive(Debug, Serialize)]
struct Summary {
    backend: String,
    stream: String,
    data_dir: Option<String>,
    published: u64,
    publish_rate_per_sec: u64,
    handled_unique: u64,
    retried_attempts: u64,
    dead_lettered: u64,
    redriven: u64,
    dlq_pending: u64,
    duplicates: u64,
    order_violations: u64,
    lag_after_shutdown: u64,
    /// Events handled or dead-lettered per second, retries included.
    end_to_end_rate_per_sec: u64,
    timed_out: bool,
    ok: bool,
}

/// Runs the demo and prints its summary.
pub async fn run(config: &TransportConfig, args: DemoArgs, json: bool) -> Result<ExitCode> {
    let (mut config, data_dir) = with_demo_data_dir(config)?;
    config.stream = args.stream.clone();
    let config = &config;
    let transport = Transport::from_config(config).await?;
    if !json {
        if let Some(dir) = &data_dir {
            println!("data directory: {}", dir.path().display());
        }
        println!(
            "rustok-iggy demo: backend `{}`, stream `{}`, codec `{}`, {} events over {} tenants, {} partitions",
            transport.backend().name(),
            config.stream,
            transport.codec().name(),
            args.events,
            args.tenants,
            config.routing.partitions,
        );
    }

    let run = Uuid::now_v7();
    let topic = config.routing.default_topic.as_str();
    let topic_ref = transport.topic(topic);
    // Dead letters of this run: its group and topic from its start on (the
    // stream is checked per entry: the filter matches topic names in any
    // stream).
    let this_run = DlqFilter {
        since: Some(chrono::Utc::now()),
        group: Some(GROUP.to_owned()),
        topic: Some(topic.to_owned()),
        ..DlqFilter::default()
    };
    let handler = Arc::new(DemoHandler {
        run,
        ledger: Mutex::new(Ledger::default()),
        accept_rejected: AtomicBool::new(false),
    });
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(
            transport
                .subscribe(GROUP, &[topic], handler.clone())
                .await?,
        );
    }

    let tenants: Vec<Uuid> = (0..args.tenants.max(1)).map(|_| Uuid::now_v7()).collect();
    let mut tenant_seq = vec![0u64; tenants.len()];
    let started = Instant::now();
    let mut batch = Vec::with_capacity(args.batch);
    let mut expected_rejects = 0;
    for seq in 1..=args.events {
        let t = (seq % tenants.len() as u64) as usize;
        tenant_seq[t] += 1;
        let rejected = args.reject_every > 0 && seq % args.reject_every == 0;
        expected_rejects += u64::from(rejected);
        let event = OrderPlaced {
            run,
            seq,
            tenant_seq: tenant_seq[t],
            amount_cents: 1_000 + seq % 9_000,
            flaky: args.flaky_every > 0 && seq % args.flaky_every == 0,
            rejected,
        };
        batch.push(EventEnvelope::builder("order.placed", tenants[t], event).build()?);
        if batch.len() >= args.batch.max(1) {
            transport.publish_batch(&batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        transport.publish_batch(&batch).await?;
    }
    let published_in = started.elapsed();

    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let total = |members: &[rustok_iggy::Subscription]| {
        members.iter().map(|m| m.stats()).sum::<SubscriptionStats>()
    };
    let unique = |handler: &DemoHandler| handler.ledger.lock().map_or(0, |l| l.seen.len() as u64);
    // `handled` would count an earlier run's events too; dead letters come
    // from this run only (the handler rejects nothing else).
    while unique(&handler) + total(&members).dead_lettered < args.events
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let consumed_in = started.elapsed();
    let settled = unique(&handler) + total(&members).dead_lettered;

    let own = own_dead_letters(&transport, &this_run, &topic_ref).await?;
    let first_dead_letter = own.first().cloned();
    let mut redriven = 0;
    let redrive = !args.leave_dead_letters;
    if redrive {
        // The rejected orders were a bug in the handler: deploy the fix, then
        // redrive this run's dead letters; the same group handles them again.
        handler.accept_rejected.store(true, Ordering::SeqCst);
        for entry in &own {
            transport.dead_letters().redrive(entry.id, None).await?;
            redriven += 1;
        }
    }
    let expected_handled = if redrive {
        args.events
    } else {
        args.events - expected_rejects
    };
    while unique(&handler) < expected_handled && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let timed_out = Instant::now() >= deadline;
    let stats = total(&members);
    for member in members {
        let report = member.shutdown().await?;
        for stuck in report.stuck {
            eprintln!(
                "  handler still running at shutdown: {}/{} offset {}",
                stuck.topic, stuck.partition, stuck.offset
            );
        }
    }

    // What the group committed against what the log holds.
    let mut lag = 0;
    for partition in 0..config.routing.partitions {
        let info = transport
            .backend()
            .partition_info(&topic_ref, partition)
            .await?;
        let committed = transport
            .offset_store()
            .load(GROUP, &topic_ref, partition)
            .await?
            .unwrap_or(0);
        lag += info.next_offset.saturating_sub(committed);
    }
    let dlq_pending = own_dead_letters(&transport, &this_run, &topic_ref)
        .await?
        .len() as u64;
    let ledger = handler
        .ledger
        .lock()
        .map(|l| (l.seen.len() as u64, l.out_of_order, l.duplicates));
    let (unique, out_of_order, duplicates) = ledger.unwrap_or((0, 0, 0));
    let backend = transport.backend().name().to_owned();
    // Every member was shut down above; this closes the backend.
    transport.shutdown().await?;

    let kept = match data_dir {
        Some(dir) if args.keep_data => Some(dir.keep()),
        Some(dir) => {
            drop(dir);
            None
        }
        None => None,
    };
    let (expected_redriven, expected_pending) = if redrive {
        (expected_rejects, 0)
    } else {
        (0, expected_rejects)
    };
    // Rates of what happened, never of what was asked for: a run that
    // timed out before handling anything has a rate of 0.
    let rate = |count: u64, d: Duration| (count as f64 / d.as_secs_f64().max(1e-9)) as u64;
    let summary = Summary {
        backend,
        stream: config.stream.clone(),
        data_dir: kept.map(|dir| dir.display().to_string()),
        published: args.events,
        publish_rate_per_sec: rate(args.events, published_in),
        handled_unique: unique,
        retried_attempts: stats.retries,
        dead_lettered: stats.dead_lettered,
        redriven,
        dlq_pending,
        duplicates,
        order_violations: out_of_order,
        lag_after_shutdown: lag,
        end_to_end_rate_per_sec: rate(settled, consumed_in),
        timed_out,
        ok: unique == expected_handled
            && stats.dead_lettered == expected_rejects
            && redriven == expected_redriven
            && dlq_pending == expected_pending
            && out_of_order == 0
            && lag == 0,
    };
    if json {
        print_json(&summary)?;
    } else {
        print_summary(&summary, first_dead_letter.as_ref(), redrive);
    }
    Ok(if summary.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The pending dead letters of this run's group and topic in the demo's
/// stream, oldest first.
async fn own_dead_letters(
    transport: &Transport,
    filter: &DlqFilter,
    topic: &rustok_iggy::TopicRef,
) -> Result<Vec<DlqEntry>> {
    let mut own = Vec::new();
    let mut after = None;
    loop {
        let page = transport
            .dead_letters()
            .list(filter.clone(), after, 100)
            .await?;
        own.extend(
            page.entries
                .into_iter()
                .filter(|e| e.letter.topic == *topic),
        );
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(own),
        }
    }
}

fn print_summary(s: &Summary, first_dead_letter: Option<&DlqEntry>, redrive: bool) {
    println!();
    for (label, value) in [
        ("published", s.published.to_string()),
        ("publish rate", format!("{}/s", s.publish_rate_per_sec)),
        ("handled (unique events)", s.handled_unique.to_string()),
        ("retried attempts", s.retried_attempts.to_string()),
        ("dead-lettered", s.dead_lettered.to_string()),
        ("redriven after the fix", s.redriven.to_string()),
        ("DLQ entries still pending", s.dlq_pending.to_string()),
        ("duplicates delivered", s.duplicates.to_string()),
        (
            "per-tenant order violations",
            s.order_violations.to_string(),
        ),
        ("lag after shutdown", s.lag_after_shutdown.to_string()),
        (
            "end-to-end rate (with retries)",
            format!("{}/s", s.end_to_end_rate_per_sec),
        ),
    ] {
        println!("  {label:<34} {value:>12}");
    }
    if let Some(entry) = first_dead_letter {
        println!();
        println!(
            "  first dead letter: #{} from {}/{} offset {} after {} attempt(s): {}",
            entry.id,
            entry.letter.topic,
            entry.letter.partition,
            entry.letter.offset,
            entry.letter.attempts,
            entry.letter.error
        );
    }
    if let Some(dir) = &s.data_dir {
        println!("kept the data directory: {dir}");
    }
    println!();
    if s.timed_out && !s.ok {
        println!("FAILED: timed out before every event was handled (raise --timeout-secs).");
    } else if !s.ok {
        println!("FAILED: the numbers above do not add up.");
    } else if redrive {
        println!(
            "OK: every event was handled (the rejected ones after their redrive), in order per tenant, and committed."
        );
    } else {
        println!(
            "OK: every event was handled or dead-lettered, in order per tenant, and committed; {} dead letters are left in the DLQ (RUSTOK_IGGY__STREAM={} rustok-iggy dlq list).",
            s.dlq_pending, s.stream
        );
    }
}

/// On the embedded backend with no `data_dir` configured, a fresh temporary
/// directory: the demo should neither need nor litter a configured place.
fn with_demo_data_dir(
    config: &TransportConfig,
) -> Result<(TransportConfig, Option<tempfile::TempDir>)> {
    #[derive(Deserialize)]
    struct DataDir {
        data_dir: Option<std::path::PathBuf>,
    }
    let section = config.plugin("embedded");
    let configured = section.parse::<DataDir>()?.data_dir.is_some();
    if config.backend != "embedded" || configured {
        return Ok((config.clone(), None));
    }
    let dir = tempfile::Builder::new()
        .prefix("rustok-iggy-demo-")
        .tempdir()
        .map_err(|e| {
            rustok_iggy::Error::new(
                rustok_iggy::ErrorKind::Unavailable,
                "cannot create a temporary data directory for the demo",
            )
            .with_source(e)
        })?;
    let mut table = section.table().clone();
    table.insert(
        "data_dir".into(),
        toml::Value::String(dir.path().display().to_string()),
    );
    let mut config = config.clone();
    config.plugins.insert("embedded", table);
    Ok((config, Some(dir)))
}
