//! Read-only views an operator reaches for: `topology` and `lag`. Neither
//! creates anything: they open the store as it is (`store.rs`).

use std::process::ExitCode;

use clap::Args;
use rustok_iggy::{Result, TopicInfo, TransportConfig};
use serde::Serialize;

use crate::{
    output::{print_json, Table},
    store::Store,
};

/// Options of `topology`.
#[derive(Debug, Args)]
pub struct TopologyArgs {}

#[derive(Debug, Serialize)]
struct PartitionRow {
    topic: String,
    partition: u32,
    first_offset: u64,
    next_offset: u64,
    messages: u64,
}

/// Streams, topics, partitions, message counts, first/last offsets.
pub async fn topology(config: &TransportConfig, _: TopologyArgs, json: bool) -> Result<ExitCode> {
    let store = Store::open(config).await?;
    let rows = partition_rows(&store).await;
    store.close().await?;
    let rows = rows?;
    if json {
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

async fn partition_rows(store: &Store) -> Result<Vec<PartitionRow>> {
    let backend = store.transport.backend();
    let mut rows = Vec::new();
    for topic in &store.topics {
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
    Ok(rows)
}

/// Options of `lag`.
#[derive(Debug, Args)]
pub struct LagArgs {
    /// Consumer group(s) to report; each must have committed offsets.
    /// Default: every group with committed offsets, where the offset store
    /// can list them (embedded); required otherwise.
    #[arg(long, short)]
    group: Vec<String>,
    /// Only this topic (default: every topic of the stream).
    #[arg(long, short)]
    topic: Option<String>,
}

/// One group's position on one partition.
#[derive(Debug, Serialize)]
pub struct LagRow {
    pub group: String,
    pub topic: String,
    pub partition: u32,
    pub committed: Option<u64>,
    pub end: u64,
    pub lag: u64,
}

/// Per group and partition: committed offset, end offset, lag.
pub async fn lag(config: &TransportConfig, args: LagArgs, json: bool) -> Result<ExitCode> {
    let store = Store::open(config).await?;
    let rows = lag_of_groups(&store, &args.group, args.topic.as_deref()).await;
    store.close().await?;
    let rows = rows?;
    if json {
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

/// Lag rows of `groups` (each must exist) or, when none are named, of every
/// group the store lists; on `topic` or every topic.
pub async fn lag_of_groups(
    store: &Store,
    groups: &[String],
    topic: Option<&str>,
) -> Result<Vec<LagRow>> {
    let topics = store.topics_named(topic)?;
    let mut rows = Vec::new();
    let listed = match (groups.is_empty(), store.groups()) {
        (false, _) => {
            for group in groups {
                store.require_group(group, &topics).await?;
                rows.extend(group_rows(store, group, &topics).await?);
            }
            return Ok(rows);
        }
        (true, Some(listed)) => listed,
        (true, None) => {
            return Err(rustok_iggy::Error::new(
                rustok_iggy::ErrorKind::InvalidInput,
                format!(
                    "the offset store of the {} cannot list groups; name them with --group",
                    store.location
                ),
            ))
        }
    };
    // Listed groups may have committed on other streams' topics only.
    for group in listed {
        if store.require_group(group, &topics).await.is_ok() {
            rows.extend(group_rows(store, group, &topics).await?);
        }
    }
    Ok(rows)
}

async fn group_rows(store: &Store, group: &str, topics: &[TopicInfo]) -> Result<Vec<LagRow>> {
    let transport = &store.transport;
    let mut rows = Vec::new();
    for topic in topics {
        for partition in 0..topic.partitions {
            let info = transport
                .backend()
                .partition_info(&topic.topic, partition)
                .await?;
            let committed = transport
                .offset_store()
                .load(group, &topic.topic, partition)
                .await?;
            // Never committed: everything stored is still to be consumed.
            let position = committed
                .unwrap_or(info.first_offset)
                .max(info.first_offset);
            rows.push(LagRow {
                group: group.to_owned(),
                topic: topic.topic.to_string(),
                partition,
                committed,
                end: info.next_offset,
                lag: info.next_offset.saturating_sub(position),
            });
        }
    }
    Ok(rows)
}
