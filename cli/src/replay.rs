//! `replay`: show a topic's history from a point, or rewind a group to it.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args};
use rustok_iggy::{wire, PollFrom, PollRequest, ReplayFrom, Result, Transport};
use serde::Serialize;

/// Replays of at least this many records show a progress bar (on a
/// terminal); shorter ones finish before it would help.
const LONG_REPLAY: u64 = 10_000;

/// Options of `replay`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("from").required(true).args(["from_offset", "from_time", "from_beginning"])))]
pub struct ReplayArgs {
    /// Topic name in the configured stream.
    #[arg(long, short)]
    topic: String,
    /// Start at this offset on every partition.
    #[arg(long)]
    from_offset: Option<u64>,
    /// Start at the first record appended at or after this time (RFC 3339).
    #[arg(long)]
    from_time: Option<DateTime<Utc>>,
    /// Start at the oldest stored record.
    #[arg(long)]
    from_beginning: bool,
    /// Rewind this consumer group's committed offsets to the start point
    /// instead of printing records (stop the group's consumers first: a running
    /// member commits over the reset). Its next run handles everything again.
    #[arg(long)]
    to_group: Option<String>,
    /// Print at most this many records.
    #[arg(long, default_value_t = 1_000)]
    limit: usize,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

impl ReplayArgs {
    fn from(&self) -> ReplayFrom {
        match (self.from_offset, self.from_time) {
            (Some(offset), _) => ReplayFrom::Offset(offset),
            (None, Some(at)) => ReplayFrom::Timestamp(at),
            (None, None) => ReplayFrom::Beginning,
        }
    }
}

#[derive(Debug, Serialize)]
struct RecordView {
    partition: u32,
    offset: u64,
    appended_at: Option<DateTime<Utc>>,
    event_id: String,
    event_type: Option<String>,
    tenant_id: Option<String>,
    codec: Option<String>,
    payload: String,
}

/// Runs `replay`.
pub async fn run(transport: &Transport, args: ReplayArgs) -> Result<ExitCode> {
    let from = args.from();
    if let Some(group) = &args.to_group {
        let positions = transport.reset_group(group, &args.topic, from).await?;
        for (partition, next) in positions {
            println!("{group}: {}/{partition} -> next offset {next}", args.topic);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let topic = transport.topic(&args.topic);
    let backend = transport.backend();
    let partitions = backend.topic_info(&topic).await?.partitions;
    // Where each partition's replay starts and ends, first: the total sizes
    // the progress bar.
    let mut ranges = Vec::new();
    for partition in 0..partitions {
        let end = backend.partition_info(&topic, partition).await?.next_offset;
        let start = transport.offset_at(&topic, partition, from).await?;
        ranges.push((partition, start, end));
    }
    let total = ranges
        .iter()
        .map(|(_, start, end)| end.saturating_sub(*start))
        .sum::<u64>()
        .min(args.limit as u64);
    let progress = if total >= LONG_REPLAY {
        crate::progress::bar(total, "replaying")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut printed = 0;
    for (partition, mut next, end) in ranges {
        while next < end && printed < args.limit {
            let records = backend
                .poll(PollRequest {
                    topic: topic.clone(),
                    partition,
                    from: PollFrom::Offset(next),
                    max_records: 256,
                    max_wait: std::time::Duration::ZERO,
                })
                .await?;
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            for record in records.iter().filter(|r| r.offset < end) {
                if printed >= args.limit {
                    break;
                }
                let h = &record.message.headers;
                let text = |key: &str| h.get_str(key).ok().flatten().map(str::to_owned);
                let view = RecordView {
                    partition,
                    offset: record.offset,
                    appended_at: DateTime::from_timestamp_micros(
                        i64::try_from(record.timestamp_micros).unwrap_or(i64::MAX),
                    ),
                    event_id: uuid::Uuid::from_u128(record.message.id).to_string(),
                    event_type: text(wire::header::EVENT_TYPE),
                    tenant_id: text(wire::header::TENANT_ID),
                    codec: text(wire::header::CODEC),
                    payload: String::from_utf8_lossy(&record.message.payload).into_owned(),
                };
                let line = if args.json {
                    serde_json::to_string(&view).unwrap_or_default()
                } else {
                    format!(
                        "{}/{} {} {} {}: {}",
                        args.topic,
                        view.partition,
                        view.offset,
                        view.event_type.as_deref().unwrap_or("?"),
                        view.event_id,
                        view.payload
                    )
                };
                // Records go to stdout; the bar (stderr) steps aside for each.
                progress.suspend(|| println!("{line}"));
                progress.inc(1);
                printed += 1;
            }
        }
    }
    progress.finish_and_clear();
    if !args.json {
        eprintln!("{printed} record(s)");
    }
    Ok(ExitCode::SUCCESS)
}
