//! `import`: append the records of `replay --json` to the configured store,
//! each to the partition it was read from, with its event id, headers and
//! payload unchanged (the migration runbook's second half).

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::ExitCode,
};

use clap::Args;
use rustok_iggy::{Error, ErrorKind, Message, Result, TopicInfo, Transport, TransportConfig};
use serde::Serialize;

use crate::{output::print_json, record_line::RecordLine, store::Store};

/// Records appended in one call, at most.
const BATCH: usize = 500;

/// Options of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// File of `replay --json` lines (default: stdin).
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// Append to this topic of the configured stream instead of the one
    /// each line names.
    #[arg(long, short)]
    topic: Option<String>,
    /// Create the stream and the topics the config routes to (with its
    /// partition counts) where they are missing; without it every target
    /// topic must exist.
    #[arg(long)]
    create_topics: bool,
}

#[derive(Debug, Default, Serialize)]
struct Imported {
    records: u64,
    /// (`stream/topic`, records appended to it).
    topics: std::collections::BTreeMap<String, u64>,
    /// Topics `--create-topics` ensured.
    ensured_topics: Vec<String>,
}

/// Runs `import`.
pub async fn run(config: &TransportConfig, args: ImportArgs, json: bool) -> Result<ExitCode> {
    let mut imported = Imported::default();
    if args.create_topics {
        // Named by the flag: what the application would create on start.
        let transport = Transport::from_config(config).await?;
        imported.ensured_topics = transport.topics().iter().map(ToString::to_string).collect();
        transport.shutdown().await?;
    }
    let store = Store::open(config).await?;
    let result = append_all(&store, &args, &mut imported).await;
    store.close().await?;
    result?;
    if json {
        print_json(&imported)?;
    } else {
        if !imported.ensured_topics.is_empty() {
            println!("ensured topics: {}", imported.ensured_topics.join(", "));
        }
        for (topic, count) in &imported.topics {
            println!("{topic}: {count} record(s)");
        }
        println!("imported {} record(s)", imported.records);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads every line and appends its record; consecutive records of one
/// partition go in one append.
async fn append_all(store: &Store, args: &ImportArgs, imported: &mut Imported) -> Result<()> {
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(BufReader::new(std::fs::File::open(path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("cannot read {}", path.display()),
            )
            .with_source(e)
        })?)),
        None => Box::new(BufReader::new(std::io::stdin())),
    };
    let mut pending: Option<(TopicInfo, u32, Vec<Message>)> = None;
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("cannot read line {number}"),
            )
            .with_source(e)
        })?;
        let Some(record) = parse_line(&line, number)? else {
            continue;
        };
        let topic = store.topic(args.topic.as_deref().unwrap_or(record.topic_name()))?;
        if record.partition >= topic.partitions {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "line {number}: partition {} does not exist in {} ({} partitions); create the topic with the source's partition count",
                    record.partition, topic.topic, topic.partitions
                ),
            ));
        }
        let message = record
            .message()
            .map_err(|e| Error::new(e.kind(), format!("line {number}: {}", e.message())))?;
        let same = pending.as_ref().is_some_and(|(t, p, batch)| {
            t.topic == topic.topic && *p == record.partition && batch.len() < BATCH
        });
        if !same {
            flush(store, pending.take(), imported).await?;
            pending = Some((topic, record.partition, Vec::new()));
        }
        if let Some((_, _, batch)) = pending.as_mut() {
            batch.push(message);
        }
    }
    flush(store, pending, imported).await
}

/// A record line, `None` for a blank or summary line.
fn parse_line(line: &str, number: usize) -> Result<Option<RecordLine>> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with("{\"summary\"") {
        return Ok(None);
    }
    serde_json::from_str(trimmed).map(Some).map_err(|e| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("line {number} is not a record of `replay --json`: {e}"),
        )
    })
}

async fn flush(
    store: &Store,
    batch: Option<(TopicInfo, u32, Vec<Message>)>,
    imported: &mut Imported,
) -> Result<()> {
    let Some((topic, partition, messages)) = batch else {
        return Ok(());
    };
    let count = messages.len() as u64;
    store
        .transport
        .backend()
        .append(&topic.topic, partition, messages)
        .await?;
    imported.records += count;
    *imported.topics.entry(topic.topic.to_string()).or_default() += count;
    Ok(())
}
