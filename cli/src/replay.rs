//! `replay`: print a topic's history from a point in the format `import`
//! reads, or rewind a group to that point.

use std::{io::Write, process::ExitCode};

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args};
use rustok_iggy::{
    Error, ErrorKind, PollFrom, PollRequest, ReplayFrom, Result, TopicInfo, TransportConfig,
};
use serde::Serialize;

use crate::{
    output::print_json,
    record_line::{RecordLine, Summary, SummaryLine},
    store::Store,
};

/// Records fetched per poll.
const POLL_BATCH: u32 = 256;

/// Options of `replay`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("from").required(true).args(["from_offset", "from_time", "from_beginning"])))]
pub struct ReplayArgs {
    /// Topic: `events`, or `rustok/events` as `topology` prints it.
    #[arg(long, short)]
    topic: String,
    /// Start at this offset on every partition.
    #[arg(long)]
    from_offset: Option<u64>,
    /// Start at the first record appended at or after this time: RFC 3339
    /// (2026-11-26T10:00:00Z, 2026-11-26T11:00:00+01:00) or a short form in
    /// UTC (2026-11-26 10:00, 2026-11-26).
    #[arg(long, value_parser = crate::time_arg::parse)]
    from_time: Option<DateTime<Utc>>,
    /// Start at the oldest stored record.
    #[arg(long)]
    from_beginning: bool,
    /// Rewind this consumer group's committed offsets to the start point
    /// instead of printing records (stop the group's consumers first: a running
    /// member commits over the reset). Its next run handles everything again.
    /// The group must have committed offsets on the topic unless
    /// `--create-group` is given.
    #[arg(long)]
    to_group: Option<String>,
    /// With `--to-group`: start the group there even if it has no offsets
    /// on the topic yet (a new group).
    #[arg(long, requires = "to_group")]
    create_group: bool,
    /// Print at most this many records (0: all). When the limit cuts the
    /// replay short, the summary says so (stderr, and the last JSON line).
    #[arg(long, default_value_t = 1_000)]
    limit: u64,
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

/// Runs `replay`.
pub async fn run(config: &TransportConfig, args: ReplayArgs, json: bool) -> Result<ExitCode> {
    let store = Store::open(config).await?;
    let result = match &args.to_group {
        Some(group) => reset(&store, &args, group, json).await,
        None => print(&store, &args, json).await,
    };
    store.close().await?;
    result
}

#[derive(Debug, Serialize)]
struct Reset<'a> {
    group: &'a str,
    topic: String,
    created: bool,
    positions: Vec<Position>,
}

/// Where a reset left the group on one partition.
#[derive(Debug, Serialize)]
struct Position {
    partition: u32,
    /// The next offset the group handles there.
    next_offset: u64,
}

async fn reset(store: &Store, args: &ReplayArgs, group: &str, json: bool) -> Result<ExitCode> {
    let topic = store.topic(&args.topic)?;
    let exists = store
        .require_group(group, std::slice::from_ref(&topic))
        .await;
    let created = match exists {
        Ok(()) => false,
        Err(e) if e.kind() == ErrorKind::NotFound && args.create_group => true,
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
        Err(e) => {
            return Err(Error::new(
                e.kind(),
                format!(
                    "{}; add --create-group to start a new group there",
                    e.message()
                ),
            ))
        }
    };
    let positions = store
        .transport
        .reset_group(group, &topic.topic.topic, args.from())
        .await?;
    let report = Reset {
        group,
        topic: topic.topic.to_string(),
        created,
        positions: positions
            .into_iter()
            .map(|(partition, next_offset)| Position {
                partition,
                next_offset,
            })
            .collect(),
    };
    if json {
        print_json(&report)?;
    } else {
        if created {
            println!("created group `{group}` on {}", report.topic);
        }
        for p in &report.positions {
            println!(
                "{group}: {}/{} -> next offset {}",
                report.topic, p.partition, p.next_offset
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn print(store: &Store, args: &ReplayArgs, json: bool) -> Result<ExitCode> {
    let TopicInfo { topic, partitions } = store.topic(&args.topic)?;
    let transport = &store.transport;
    let backend = transport.backend();
    // Where each partition's replay starts and ends, first: the total sizes
    // the progress bar and the summary.
    let mut ranges = Vec::new();
    for partition in 0..partitions {
        let end = backend.partition_info(&topic, partition).await?.next_offset;
        let start = transport.offset_at(&topic, partition, args.from()).await?;
        ranges.push((partition, start, end));
    }
    let in_range: u64 = ranges.iter().map(|(_, s, e)| e.saturating_sub(*s)).sum();
    let limit = if args.limit == 0 {
        u64::MAX
    } else {
        args.limit
    };
    let progress = crate::progress::bar_beside_output(in_range.min(limit), "replaying");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut printed = 0u64;
    for (partition, mut next, end) in ranges {
        while next < end && printed < limit {
            let records = backend
                .poll(PollRequest {
                    topic: topic.clone(),
                    partition,
                    from: PollFrom::Offset(next),
                    max_records: POLL_BATCH,
                    max_wait: std::time::Duration::ZERO,
                })
                .await?;
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            for record in records.iter().filter(|r| r.offset < end) {
                if printed >= limit {
                    break;
                }
                let line = RecordLine::of(&topic, partition, record);
                if json {
                    serde_json::to_writer(&mut out, &line).map_err(json_error)?;
                    writeln!(out).map_err(write_error)?;
                } else {
                    writeln!(
                        out,
                        "{topic}/{partition} {} {} {}: {}",
                        line.offset,
                        line.event_type.as_deref().unwrap_or("?"),
                        line.event_id,
                        line.payload.display()
                    )
                    .map_err(write_error)?;
                }
                printed += 1;
                progress.inc(1);
            }
        }
    }
    progress.finish_and_clear();
    let summary = SummaryLine {
        summary: Summary {
            records: printed,
            not_printed: in_range.saturating_sub(printed),
            truncated: printed < in_range,
            limit: args.limit,
        },
    };
    if json {
        serde_json::to_writer(&mut out, &summary).map_err(json_error)?;
        writeln!(out).map_err(write_error)?;
    }
    out.flush().map_err(write_error)?;
    let summary = summary.summary;
    if summary.truncated {
        eprintln!(
            "{printed} record(s); truncated by --limit {}: {} more in the range (--limit 0 prints all)",
            args.limit, summary.not_printed
        );
    } else {
        eprintln!("{printed} record(s)");
    }
    Ok(ExitCode::SUCCESS)
}

fn json_error(e: serde_json::Error) -> Error {
    Error::new(ErrorKind::InvalidInput, "cannot print a record as JSON").with_source(e)
}

fn write_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Unavailable, "cannot write to stdout").with_source(e)
}
