//! `dlq list | show | redrive | purge`: the dead-letter queue for operators.

use std::{process::ExitCode, time::Duration};

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use rustok_iggy::{wire::header, DlqEntry, DlqFilter, Error, ErrorKind, Result, Transport};
use serde::Serialize;

use crate::output::{print_json, Table};

/// `dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters (oldest first).
    ///
    /// Example: rustok-iggy dlq list --group billing --since 2026-11-01T00:00:00Z
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Entries per page.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Start after this entry id (the `next` of the previous page).
        #[arg(long)]
        after: Option<u64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter in full: metadata, headers, payload.
    ///
    /// Example: rustok-iggy dlq show 42
    Show {
        /// Entry id.
        id: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Republish dead letters to the partition they came from.
    ///
    /// Example: rustok-iggy dlq redrive 41 42, or: rustok-iggy dlq redrive --all --group billing
    Redrive {
        /// Entry ids to redrive.
        ids: Vec<u64>,
        /// Redrive every entry matching the filter instead.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[command(flatten)]
        filter: FilterArgs,
        /// Wait this long before republishing each entry, in ms.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// Delete dead letters matching the filter.
    ///
    /// Example: rustok-iggy dlq purge --group billing --until 2026-11-01T00:00:00Z --yes
    Purge {
        #[command(flatten)]
        filter: FilterArgs,
        /// Really delete (without it, only count what would be deleted).
        #[arg(long)]
        yes: bool,
    },
}

/// Which entries a command covers.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only entries from this topic.
    #[arg(long)]
    topic: Option<String>,
    /// Only entries of this consumer group.
    #[arg(long)]
    group: Option<String>,
    /// Only entries of this event type.
    #[arg(long)]
    event_type: Option<String>,
    /// Only entries whose last failure is at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// Only entries whose last failure is before this time (RFC 3339).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    /// Include entries already redriven.
    #[arg(long)]
    include_redriven: bool,
}

impl From<&FilterArgs> for DlqFilter {
    fn from(a: &FilterArgs) -> Self {
        DlqFilter {
            topic: a.topic.clone(),
            group: a.group.clone(),
            event_type: a.event_type.clone(),
            since: a.since,
            until: a.until,
            include_redriven: a.include_redriven,
        }
    }
}

/// A dead letter as shown to an operator.
#[derive(Debug, Serialize)]
struct EntryView {
    id: u64,
    topic: String,
    partition: u32,
    offset: u64,
    group: String,
    event_id: String,
    event_type: Option<String>,
    attempts: u32,
    error: String,
    first_failure: DateTime<Utc>,
    last_failure: DateTime<Utc>,
    redriven_at: Option<DateTime<Utc>>,
    headers: Vec<(String, String)>,
    payload: Payload,
}

/// The payload as text when it is UTF-8 (JSON codecs), else as hex.
#[derive(Debug, Serialize)]
#[serde(tag = "encoding", content = "data", rename_all = "snake_case")]
enum Payload {
    Utf8(String),
    Hex(String),
}

impl From<&DlqEntry> for EntryView {
    fn from(e: &DlqEntry) -> Self {
        let l = &e.letter;
        let headers = l
            .message
            .headers
            .iter()
            .map(|(k, v)| (k.to_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        let payload = match std::str::from_utf8(&l.message.payload) {
            Ok(text) => Payload::Utf8(text.to_owned()),
            Err(_) => Payload::Hex(
                l.message
                    .payload
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
        };
        EntryView {
            id: e.id,
            topic: l.topic.to_string(),
            partition: l.partition,
            offset: l.offset,
            group: l.group.clone(),
            event_id: uuid::Uuid::from_u128(l.message.id).to_string(),
            event_type: l
                .message
                .headers
                .get_str(header::EVENT_TYPE)
                .ok()
                .flatten()
                .map(str::to_owned),
            attempts: l.attempts,
            error: l.error.clone(),
            first_failure: l.first_failure,
            last_failure: l.last_failure,
            redriven_at: e.redriven_at,
            headers,
            payload,
        }
    }
}

/// Runs a `dlq` subcommand.
pub async fn run(transport: &Transport, command: DlqCommand) -> Result<ExitCode> {
    let dlq = transport.dead_letters();
    match command {
        DlqCommand::List {
            filter,
            limit,
            after,
            json,
        } => {
            let page = dlq.list((&filter).into(), after, limit.max(1)).await?;
            let views: Vec<EntryView> = page.entries.iter().map(EntryView::from).collect();
            if json {
                print_json(&serde_json::json!({ "entries": views, "next": page.next_after }))?;
            } else {
                let mut table = Table::new([
                    "id",
                    "topic",
                    "part",
                    "offset",
                    "group",
                    "event type",
                    "tries",
                    "error",
                ]);
                for v in &views {
                    let mut error: String = v.error.chars().take(60).collect();
                    if v.error.chars().count() > 60 {
                        error.push('…');
                    }
                    table.row([
                        v.id.to_string(),
                        v.topic.clone(),
                        v.partition.to_string(),
                        v.offset.to_string(),
                        v.group.clone(),
                        v.event_type.clone().unwrap_or_default(),
                        v.attempts.to_string(),
                        error,
                    ]);
                }
                table.print();
                if let Some(next) = page.next_after {
                    println!("more: --after {next}");
                }
            }
        }
        DlqCommand::Show { id, json } => {
            let view = EntryView::from(&dlq.get(id).await?);
            if json {
                print_json(&view)?;
            } else {
                println!("dead letter #{}", view.id);
                println!(
                    "  source       {}/{} offset {}",
                    view.topic, view.partition, view.offset
                );
                println!("  group        {}", view.group);
                println!(
                    "  event        {} ({})",
                    view.event_id,
                    view.event_type.as_deref().unwrap_or("?")
                );
                println!("  attempts     {}", view.attempts);
                println!(
                    "  failed       {} .. {}",
                    view.first_failure, view.last_failure
                );
                if let Some(at) = view.redriven_at {
                    println!("  redriven     {at}");
                }
                println!("  error        {}", view.error);
                println!("  headers");
                for (k, v) in &view.headers {
                    println!("    {k}: {v}");
                }
                match &view.payload {
                    Payload::Utf8(text) => println!("  payload      {text}"),
                    Payload::Hex(hex) => println!("  payload (hex) {hex}"),
                }
            }
        }
        DlqCommand::Redrive {
            ids,
            all,
            filter,
            delay_ms,
        } => {
            let ids = if all {
                matching_ids(transport, &filter).await?
            } else if ids.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "name entry ids to redrive, or --all (with filters)",
                ));
            } else {
                ids
            };
            let delay = (delay_ms > 0).then(|| Duration::from_millis(delay_ms));
            let progress = crate::progress::bar(ids.len() as u64, "redriving");
            let mut failed = 0;
            for id in &ids {
                // Printed past the bar, not with `ProgressBar::println`:
                // a hidden bar (off a terminal) drops what that prints.
                match dlq.redrive(*id, delay).await {
                    Ok(receipt) => progress.suspend(|| {
                        println!(
                            "#{id} -> {}/{} offset {}",
                            receipt.topic, receipt.partition, receipt.offset
                        )
                    }),
                    Err(e) => {
                        failed += 1;
                        progress.suspend(|| eprintln!("#{id}: {e}"));
                    }
                }
                progress.inc(1);
            }
            progress.finish_and_clear();
            println!("redriven {} of {}", ids.len() - failed, ids.len());
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        DlqCommand::Purge { filter, yes } => {
            if yes {
                let deleted = dlq.purge((&filter).into()).await?;
                println!("deleted {deleted} dead letter(s)");
            } else {
                let count = dlq.count((&filter).into()).await?;
                println!("{count} dead letter(s) match; add --yes to delete them");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn matching_ids(transport: &Transport, filter: &FilterArgs) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = transport
            .dead_letters()
            .list(filter.into(), after, 500)
            .await?;
        ids.extend(page.entries.iter().map(|e| e.id));
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(ids),
        }
    }
}
