//! Read-only views an operator reaches for: `topology`, `lag`, `health`.

use std::process::ExitCode;

use clap::Args;
use rustok_iggy::{HealthStatus, Result, Transport};
use serde::Serialize;

use crate::output::{print_json, Table};

/// Options of `topology`.
#[derive(Debug, Args)]
pub struct TopologyArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct PartitionRow {
    topic: String,
    partition: u32,
    first_offset: u64,
    next_offset: u64,
    messages: u64,
}

/// Streams, topics, partitions, message counts, first/last offsets.
pub async fn topology(transport: &Transport, args: TopologyArgs) -> Result<ExitCode> {
    let backend = transport.backend();
    let mut rows = Vec::new();
    for topic in backend.list_topics(transport.stream()).await? {
        for partition in 0..topic.partitions {
            let info = backend.partition_info(&topic.topic, partition).await?;
            rows.push(PartitionRow {
                topic: topic.topic.to_string(),
                partition,
                first_offset: info.first_offset,
                next_offset: info.next_offset,
                messages: info.next_offset - info.first_offset,
            });
        }
    }
    if args.json {
        print_json(&rows)?;
    } else {
        let mut table = Table::new(["topic", "partition", "first", "next", "messages"]);
        for r in &rows {
            table.row([
                r.topic.clone(),
                r.partition.to_string(),
                r.first_offset.to_string(),
                r.next_offset.to_string(),
                r.messages.to_string(),
            ]);
        }
        table.print();
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `lag`.
#[derive(Debug, Args)]
pub struct LagArgs {
    /// Consumer group(s) to report (groups are not enumerable on every backend).
    #[arg(long, short, required = true)]
    group: Vec<String>,
    /// Only this topic (default: every topic of the stream).
    #[arg(long, short)]
    topic: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct LagRow {
    group: String,
    topic: String,
    partition: u32,
    committed: Option<u64>,
    end: u64,
    lag: u64,
}

/// Per group and partition: committed offset, end offset, lag.
pub async fn lag(transport: &Transport, args: LagArgs) -> Result<ExitCode> {
    let backend = transport.backend();
    let topics = match &args.topic {
        Some(name) => vec![backend.topic_info(&transport.topic(name)).await?],
        None => backend.list_topics(transport.stream()).await?,
    };
    let mut rows = Vec::new();
    for group in &args.group {
        for topic in &topics {
            for partition in 0..topic.partitions {
                let info = backend.partition_info(&topic.topic, partition).await?;
                let committed = transport
                    .offset_store()
                    .load(group, &topic.topic, partition)
                    .await?;
                // Never committed: everything stored is still to be consumed.
                let position = committed
                    .unwrap_or(info.first_offset)
                    .max(info.first_offset);
                rows.push(LagRow {
                    group: group.clone(),
                    topic: topic.topic.to_string(),
                    partition,
                    committed,
                    end: info.next_offset,
                    lag: info.next_offset.saturating_sub(position),
                });
            }
        }
    }
    if args.json {
        print_json(&rows)?;
    } else {
        let mut table = Table::new(["group", "topic", "partition", "committed", "end", "lag"]);
        for r in &rows {
            table.row([
                r.group.clone(),
                r.topic.clone(),
                r.partition.to_string(),
                r.committed.map_or("-".into(), |c| c.to_string()),
                r.end.to_string(),
                r.lag.to_string(),
            ]);
        }
        table.print();
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The transport's health report; exit code 0 healthy, 1 degraded, 2 unhealthy.
pub async fn health(transport: &Transport, args: HealthArgs) -> Result<ExitCode> {
    let report = transport.health().await;
    if args.json {
        print_json(&report)?;
    } else {
        match &report.status {
            HealthStatus::Healthy => println!("healthy"),
            HealthStatus::Degraded(reasons) => println!("degraded: {}", reasons.join("; ")),
            HealthStatus::Unhealthy(reasons) => println!("unhealthy: {}", reasons.join("; ")),
        }
        if let Some(pending) = report.dlq_pending {
            println!("dead letters pending: {pending}");
        }
    }
    Ok(health_exit_code(&report.status))
}

/// 0 healthy, 1 degraded, 2 unhealthy: usable as a container health probe.
pub fn health_exit_code(status: &HealthStatus) -> ExitCode {
    match status {
        HealthStatus::Healthy => ExitCode::SUCCESS,
        HealthStatus::Degraded(_) => ExitCode::from(1),
        HealthStatus::Unhealthy(_) => ExitCode::from(2),
    }
}
