//! `rustok-iggy demo`: the README's main job. Publishes events for many tenants,
//! consumes them in one group of three members, and prints what happened.
//!
//! Some events are made to fail on purpose so the summary shows the runtime's
//! failure policy at work: every `--flaky-every`th event fails its first attempt
//! (retried, then handled) and every `--reject-every`th is rejected permanently
//! (dead-lettered), then redriven once the "fix" is deployed.
//!
//! The demo counts only its own run: on a stream that earlier runs used (a
//! remote server, a configured data directory) their events are
//! acknowledged and skipped, and only dead letters from this run are
//! redriven and counted.

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
    Delivery, DlqFilter, EventEnvelope, Handler, HandlerError, Result, SubscriptionStats,
    Transport, TransportConfig,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    /// Give up waiting for the consumers after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
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

/// Runs the demo and prints its summary.
pub async fn run(config: &TransportConfig, args: DemoArgs) -> Result<ExitCode> {
    let (config, data_dir) = with_demo_data_dir(config)?;
    let config = &config;
    let transport = Transport::from_config(config).await?;
    if let Some(dir) = &data_dir {
        println!("data directory: {}", dir.path().display());
    }
    println!(
        "rustok-iggy demo: backend `{}`, codec `{}`, {} events over {} tenants, {} partitions",
        transport.backend().name(),
        transport.codec().name(),
        args.events,
        args.tenants,
        config.routing.partitions,
    );

    let run = Uuid::now_v7();
    // Dead letters of this run are the ones from its start on.
    let this_run = DlqFilter {
        since: Some(chrono::Utc::now()),
        ..DlqFilter::default()
    };
    let handler = Arc::new(DemoHandler {
        run,
        ledger: Mutex::new(Ledger::default()),
        accept_rejected: AtomicBool::new(false),
    });
    let topic = config.routing.default_topic.as_str();
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(
            transport
                .subscribe("demo", &[topic], handler.clone())
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

    let dead_letters = transport.dead_letters();
    let first_dead_letter = dead_letters
        .list(this_run.clone(), None, 1)
        .await?
        .entries
        .into_iter()
        .next();
    let mut redriven = 0;
    let mut after = None;
    let redrive = !args.leave_dead_letters;
    if redrive {
        // The rejected orders were a bug in the handler: deploy the fix, then
        // redrive what the DLQ holds; the same group handles it once more.
        handler.accept_rejected.store(true, Ordering::SeqCst);
        loop {
            let page = dead_letters.list(this_run.clone(), after, 100).await?;
            for entry in &page.entries {
                dead_letters.redrive(entry.id, None).await?;
                redriven += 1;
            }
            match page.next_after {
                Some(next) => after = Some(next),
                None => break,
            }
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
    let stats = total(&members);
    for member in members {
        let report = member.shutdown().await?;
        for stuck in report.stuck {
            println!(
                "  handler still running at shutdown: {}/{} offset {}",
                stuck.topic, stuck.partition, stuck.offset
            );
        }
    }

    // What the group committed against what the log holds.
    let mut lag = 0;
    let topic_ref = transport.topic(topic);
    for partition in 0..config.routing.partitions {
        let info = transport
            .backend()
            .partition_info(&topic_ref, partition)
            .await?;
        let committed = transport
            .offset_store()
            .load("demo", &topic_ref, partition)
            .await?
            .unwrap_or(0);
        lag += info.next_offset.saturating_sub(committed);
    }
    let dlq_pending = transport.dlq_store().count(this_run).await?;
    let ledger = handler
        .ledger
        .lock()
        .map(|l| (l.seen.len() as u64, l.out_of_order, l.duplicates));
    let (unique, out_of_order, duplicates) = ledger.unwrap_or((0, 0, 0));

    let rate = |d: Duration| args.events as f64 / d.as_secs_f64().max(1e-9);
    println!();
    println!("  {:<34} {:>12}", "published", args.events);
    println!("  {:<34} {:>12.0}/s", "publish rate", rate(published_in));
    println!("  {:<34} {:>12}", "handled (unique events)", unique);
    println!("  {:<34} {:>12}", "retried attempts", stats.retries);
    println!("  {:<34} {:>12}", "dead-lettered", stats.dead_lettered);
    println!("  {:<34} {:>12}", "redriven after the fix", redriven);
    println!("  {:<34} {:>12}", "DLQ entries still pending", dlq_pending);
    println!("  {:<34} {:>12}", "duplicates delivered", duplicates);
    println!(
        "  {:<34} {:>12}",
        "per-tenant order violations", out_of_order
    );
    println!("  {:<34} {:>12}", "lag after shutdown", lag);
    println!(
        "  {:<34} {:>12.0}/s",
        "end-to-end rate (with retries)",
        rate(consumed_in)
    );
    if let Some(entry) = &first_dead_letter {
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
    // Every member was shut down above; this closes the backend.
    transport.shutdown().await?;

    if let Some(dir) = data_dir {
        if args.keep_data {
            let kept = dir.keep();
            println!("kept the data directory: {}", kept.display());
        }
    }

    let (expected_redriven, expected_pending) = if redrive {
        (expected_rejects, 0)
    } else {
        (0, expected_rejects)
    };
    let ok = unique == expected_handled
        && stats.dead_lettered == expected_rejects
        && redriven == expected_redriven
        && dlq_pending == expected_pending
        && out_of_order == 0
        && lag == 0;
    println!();
    if ok && redrive {
        println!(
            "OK: every event was handled (the rejected ones after their redrive), in order per tenant, and committed."
        );
        Ok(ExitCode::SUCCESS)
    } else if ok {
        println!(
            "OK: every event was handled or dead-lettered, in order per tenant, and committed; {dlq_pending} dead letters are left in the DLQ (rustok-iggy dlq list)."
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAILED: the numbers above do not add up.");
        Ok(ExitCode::FAILURE)
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
