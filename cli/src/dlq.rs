//! `dlq list | show | redrive | purge`: the dead-letter queue for operators.

use std::{collections::BTreeMap, process::ExitCode, time::Duration};

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use rustok_iggy::{
    wire::header, DlqEntry, DlqFilter, Error, ErrorKind, Result, Transport, TransportConfig,
};
use serde::Serialize;

use crate::{
    encoded::Encoded,
    output::{print_json, Table},
    store::Store,
};

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
    },
    /// Show one dead letter in full: metadata, headers, payload.
    ///
    /// Example: rustok-iggy dlq show 42
    Show {
        /// Entry id.
        id: u64,
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
    /// Only entries whose last failure is at or after this time (RFC 3339,
    /// or a short form in UTC: 2026-11-26 10:00, 2026-11-26).
    #[arg(long, value_parser = crate::time_arg::parse)]
    since: Option<DateTime<Utc>>,
    /// Only entries whose last failure is before this time (same forms).
    #[arg(long, value_parser = crate::time_arg::parse)]
    until: Option<DateTime<Utc>>,
    /// Include entries already redriven (list, purge; a redrive of them is
    /// refused).
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
    headers: BTreeMap<String, Encoded>,
    payload: Encoded,
}

impl From<&DlqEntry> for EntryView {
    fn from(e: &DlqEntry) -> Self {
        let l = &e.letter;
        let headers = l
            .message
            .headers
            .iter()
            .map(|(k, v)| (k.to_owned(), Encoded::of(v)))
            .collect();
        let payload = Encoded::of(&l.message.payload);
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

/// Runs a `dlq` subcommand on the store as it is: nothing is created.
pub async fn run(config: &TransportConfig, command: DlqCommand, json: bool) -> Result<ExitCode> {
    let store = Store::open(config).await?;
    let result = run_on(&store.transport, command, json).await;
    store.close().await?;
    result
}

async fn run_on(transport: &Transport, command: DlqCommand, json: bool) -> Result<ExitCode> {
    match command {
        DlqCommand::List {
            filter,
            limit,
            after,
        } => list(transport, &filter, limit, after, json).await?,
        DlqCommand::Show { id } => show(transport, id, json).await?,
        DlqCommand::Redrive {
            ids,
            all,
            filter,
            delay_ms,
        } => return redrive(transport, ids, all, &filter, delay_ms, json).await,
        DlqCommand::Purge { filter, yes } => {
            let dlq = transport.dead_letters();
            let (matching, deleted) = if yes {
                let deleted = dlq.purge((&filter).into()).await?;
                (deleted, deleted)
            } else {
                (dlq.count((&filter).into()).await?, 0)
            };
            if json {
                print_json(&serde_json::json!({ "matching": matching, "deleted": deleted }))?;
            } else if yes {
                println!("deleted {deleted} dead letter(s)");
            } else {
                println!("{matching} dead letter(s) match; add --yes to delete them");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(
    transport: &Transport,
    filter: &FilterArgs,
    limit: usize,
    after: Option<u64>,
    json: bool,
) -> Result<()> {
    let page = transport
        .dead_letters()
        .list(filter.into(), after, limit.max(1))
        .await?;
    let views: Vec<EntryView> = page.entries.iter().map(EntryView::from).collect();
    if json {
        return print_json(&serde_json::json!({ "entries": views, "next": page.next_after }));
    }
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
    Ok(())
}

async fn show(transport: &Transport, id: u64, json: bool) -> Result<()> {
    let view = EntryView::from(&transport.dead_letters().get(id).await?);
    if json {
        return print_json(&view);
    }
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
        println!("    {k}: {}", v.display());
    }
    println!("  payload      {}", view.payload.display());
    Ok(())
}

#[derive(Debug, Default, Serialize)]
struct Redriven {
    /// (entry id, where it was republished).
    redriven: Vec<serde_json::Value>,
    /// (entry id, why not).
    failed: Vec<serde_json::Value>,
}

async fn redrive(
    transport: &Transport,
    ids: Vec<u64>,
    all: bool,
    filter: &FilterArgs,
    delay_ms: u64,
    json: bool,
) -> Result<ExitCode> {
    if filter.include_redriven {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "--include-redriven does not apply to redrive: an entry is redriven once (its event is back in its topic)",
        ));
    }
    let ids = if all {
        matching_ids(transport, filter).await?
    } else if ids.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "name entry ids to redrive, or --all (with filters)",
        ));
    } else {
        ids
    };
    let delay = (delay_ms > 0).then(|| Duration::from_millis(delay_ms));
    let progress = crate::progress::bar_beside_output(ids.len() as u64, "redriving");
    let mut outcome = Redriven::default();
    for id in &ids {
        match transport.dead_letters().redrive(*id, delay).await {
            Ok(receipt) => {
                if !json {
                    println!(
                        "#{id} -> {}/{} offset {}",
                        receipt.topic, receipt.partition, receipt.offset
                    );
                }
                outcome.redriven.push(serde_json::json!({
                    "id": id,
                    "topic": receipt.topic.to_string(),
                    "partition": receipt.partition,
                    "offset": receipt.offset,
                }));
            }
            Err(e) => {
                if !json {
                    eprintln!("#{id}: {e}");
                }
                outcome
                    .failed
                    .push(serde_json::json!({ "id": id, "error": e.to_string() }));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    if json {
        print_json(&outcome)?;
    } else {
        println!("redriven {} of {}", outcome.redriven.len(), ids.len());
    }
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
