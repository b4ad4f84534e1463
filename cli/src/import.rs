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
/// Widest spread of origin timestamps one batch may hold, in microseconds:
/// an Iggy batch carries each as a `u32` after the earliest, and the remote
/// backend refuses a batch that does not fit. Records spread wider (say, a
/// day of them replayed from another server) are appended in more batches.
/// A record without an origin counts as stamped now, as the SDK stamps it.
const MAX_ORIGIN_SPREAD_MICROS: u64 = u32::MAX as u64;

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
    let mut pending: Option<Pending> = None;
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
        let batch = match pending.take() {
            Some(batch) if batch.takes(&topic, record.partition, &message) => batch,
            other => {
                flush(store, other, imported).await?;
                Pending {
                    topic,
                    partition: record.partition,
                    messages: Vec::new(),
                    origins: None,
                }
            }
        };
        pending.insert(batch).push(message);
    }
    flush(store, pending, imported).await
}

/// The records waiting to be appended to one partition.
struct Pending {
    topic: TopicInfo,
    partition: u32,
    messages: Vec<Message>,
    /// Earliest and latest origin timestamp of `messages`.
    origins: Option<(u64, u64)>,
}

impl Pending {
    /// Whether `message`, for `partition` of `topic`, may join the batch.
    fn takes(&self, topic: &TopicInfo, partition: u32, message: &Message) -> bool {
        let spread = self.origins.map_or(0, |(first, last)| {
            let origin = origin_of(message);
            last.max(origin) - first.min(origin)
        });
        self.topic.topic == topic.topic
            && self.partition == partition
            && self.messages.len() < BATCH
            && spread <= MAX_ORIGIN_SPREAD_MICROS
    }

    fn push(&mut self, message: Message) {
        let origin = origin_of(&message);
        self.origins = Some(match self.origins {
            Some((first, last)) => (first.min(origin), last.max(origin)),
            None => (origin, origin),
        });
        self.messages.push(message);
    }
}

/// A message's origin timestamp, or now for one without (see
/// [`MAX_ORIGIN_SPREAD_MICROS`]).
fn origin_of(message: &Message) -> u64 {
    message.origin_timestamp_micros.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    })
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

async fn flush(store: &Store, batch: Option<Pending>, imported: &mut Imported) -> Result<()> {
    let Some(Pending {
        topic,
        partition,
        messages,
        ..
    }) = batch
    else {
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rustok_iggy::{Headers, TopicRef};

    use super::*;

    fn message(origin: Option<u64>) -> Message {
        Message {
            id: 1,
            origin_timestamp_micros: origin,
            headers: Headers::new(),
            payload: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn a_batch_holds_origins_one_iggy_batch_can_carry() {
        let topic = TopicInfo {
            topic: TopicRef::new("app", "orders"),
            partitions: 2,
        };
        let mut batch = Pending {
            topic: topic.clone(),
            partition: 0,
            messages: Vec::new(),
            origins: None,
        };
        let first = 1_700_000_000_000_000;
        batch.push(message(Some(first)));
        assert!(batch.takes(&topic, 0, &message(Some(first + MAX_ORIGIN_SPREAD_MICROS))));
        assert!(
            !batch.takes(&topic, 0, &message(None)),
            "a message without an origin is stamped now, years after this batch's"
        );
        assert!(!batch.takes(
            &topic,
            0,
            &message(Some(first + MAX_ORIGIN_SPREAD_MICROS + 1))
        ));
        batch.push(message(Some(first + 10)));
        assert!(
            !batch.takes(
                &topic,
                0,
                &message(Some(first - MAX_ORIGIN_SPREAD_MICROS + 9))
            ),
            "the spread counts from the latest too"
        );
        assert!(
            !batch.takes(&topic, 1, &message(Some(first))),
            "another partition"
        );

        let mut recent = Pending {
            topic: topic.clone(),
            partition: 0,
            messages: Vec::new(),
            origins: None,
        };
        recent.push(message(None));
        recent.push(message(None));
        assert!(
            recent.takes(&topic, 0, &message(None)),
            "messages stamped now fit together"
        );
    }
}
