//! Crash loop: a publisher and a two-member consumer group run through
//! `rustok_iggy::Transport` on the embedded backend in a child process, which
//! is SIGKILLed at a random moment; cycle after cycle on one data directory,
//! for each fsync policy. After every cycle the parent opens the directory and
//! checks what `docs/delivery.md` and the embedded backend's durability docs
//! promise; a last cycle without a kill drains the group and the final check
//! runs.
//!
//! Publisher and consumers share one child process because the embedded
//! backend locks its data directory to one process (`<data_dir>/.lock`);
//! in-process groups are coordinated inside that process. A kill therefore
//! hits publishing, polling, handling, DLQ puts, commits, rebalances, segment
//! rolls and (early kills) recovery at random points.
//!
//! # What is checked, and why
//!
//! A SIGKILL is a *process* crash: the page cache survives. The durability
//! docs promise that a process crash loses nothing under every policy
//! (`always`: fsynced before the ack; `interval` and `never`: "a process
//! crash loses nothing" / "data survives a process crash"); only an OS crash
//! or power loss, which this harness cannot cause, may drop acknowledged
//! appends under `interval` and `never`. So every policy gets the same
//! checks:
//!
//! 1. The log is dense: each partition holds offsets `0..n` with no gap.
//! 2. Every acknowledged event (`ACK` line of the publisher) is stored at
//!    the partition and offset its receipt named, with its id.
//! 3. Committed offsets never move back and never pass the log's end.
//! 4. At least once: every offset below a partition's committed offset was
//!    handled successfully or is in the DLQ (nothing is committed unhandled).
//! 5. Duplicates stay in the uncommitted window. A partition's worker starts
//!    committing after each poll batch and lets the commit land while it
//!    handles the next batch, so at a kill at most `WINDOW` = 2 × `POLL_BATCH`
//!    messages per partition were handled (or dead-lettered) but not
//!    committed, all at or above the committed offset. In the next cycle every
//!    delivery starts at the committed offset, and every duplicate (an offset
//!    handled or dead-lettered in an earlier cycle) must lie in
//!    `[committed, committed + WINDOW)`: at most `WINDOW` per partition,
//!    `PARTITIONS × WINDOW` = 128 per cycle.
//! 6. Within one cycle no offset is handled twice: the two members rebalance
//!    cooperatively, which the docs say adds no duplicates.
//! 7. Per partition, handled offsets rise within a cycle (offset order).
//! 8. The handler rejects every event whose `seq % POISON_EVERY == POISON_AT`
//!    permanently: exactly those reach the DLQ, no other event does, and
//!    every DLQ entry seen after an earlier cycle is still there, unchanged.
//!    Some other events fail once transiently and succeed on their retry.
//! 9. After the drain: every stored event (so every acknowledged one) was
//!    handled or dead-lettered, and every partition is committed to its end.
//!
//! Under `interval`, consumers should only see fsynced data; whether a record
//! was fsynced before it was handled cannot be observed from outside without
//! a power cut, so that part of the promise is not checked here.
//!
//! # Running
//!
//! `RUSTOK_IGGY_CRASH_CYCLES` (default 3) kill cycles per policy, then one
//! drain cycle; `RUSTOK_IGGY_CRASH_SEED` replays a run's kill times and
//! publisher batch sizes (the seed is printed; thread timing still varies).
//! The long run:
//!
//! ```text
//! RUSTOK_IGGY_CRASH_CYCLES=50 cargo test --release -p rustok-iggy-embedded \
//!     --test crash_loop -- --nocapture
//! ```
//!
//! The child is this test binary re-run with [`CHILD_DIR`] set, so that only
//! [`crash_loop_child`] does anything.

mod common;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rustok_iggy::{
    Backend, CodecExt, ConsumerConfig, Delivery, DlqFilter, DlqStore, ErrorKind, EventEnvelope,
    Handler, HandlerError, OffsetStore, RetryConfig, RoutingConfig, TopicRef, Transport,
};
use rustok_iggy_codecs::JsonCodec;
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use rustok_iggy_testkit::fixtures::{envelope, tenant};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Set in the child's environment to the data directory.
const CHILD_DIR: &str = "RUSTOK_CRASH_LOOP_DIR";
/// `always`, `interval` or `never`.
const CHILD_POLICY: &str = "RUSTOK_CRASH_LOOP_POLICY";
/// `run` (publish and consume until killed) or `drain` (consume until all is
/// committed, then shut down cleanly).
const CHILD_ROLE: &str = "RUSTOK_CRASH_LOOP_ROLE";
/// First sequence number the publisher uses (unique across cycles).
const CHILD_SEQ: &str = "RUSTOK_CRASH_LOOP_SEQ";
/// File the handlers append one line per handled event to.
const CHILD_HANDLED: &str = "RUSTOK_CRASH_LOOP_HANDLED";
/// Seed of the publisher's batch sizes.
const CHILD_SEED: &str = "RUSTOK_CRASH_LOOP_SEED";

const STREAM: &str = "crash";
const TOPIC: &str = "events";
const GROUP: &str = "crash-group";
const EVENT_TYPE: &str = "crash.numbered";
const PARTITIONS: u32 = 4;
/// `consumer.poll_batch`: the uncommitted window per partition.
const POLL_BATCH: u32 = 16;
/// The redelivery window per partition: the batch being handled and the one
/// whose commit was on its way (docs/delivery.md).
const WINDOW: u32 = 2 * POLL_BATCH;
/// Events with `seq % POISON_EVERY == POISON_AT` are rejected permanently.
const POISON_EVERY: u64 = 29;
const POISON_AT: u64 = 5;
/// Events with `seq % FLAKY_EVERY == FLAKY_AT` fail their first attempt.
const FLAKY_EVERY: u64 = 7;
const FLAKY_AT: u64 = 3;
/// Hang guards only: a healthy child is far quicker.
const READY_GUARD: Duration = Duration::from_secs(300);
const DRAIN_GUARD: Duration = Duration::from_secs(900);

/// The event the publisher numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Numbered {
    seq: u64,
}

fn is_poison(seq: u64) -> bool {
    seq % POISON_EVERY == POISON_AT
}

fn topic() -> TopicRef {
    TopicRef::new(STREAM, TOPIC)
}

fn policy_name(policy: FsyncPolicy) -> &'static str {
    match policy {
        FsyncPolicy::Always => "always",
        FsyncPolicy::Interval => "interval",
        FsyncPolicy::Never => "never",
    }
}

/// Small segments, so cycles cross segment rolls; a short interval.
fn config(dir: &Path, policy: FsyncPolicy) -> EmbeddedConfig {
    EmbeddedConfig {
        segment_bytes: 64 << 10,
        fsync_interval_ms: 20,
        ..EmbeddedConfig::new(dir).fsync(policy)
    }
}

// ---------------------------------------------------------------- the child

/// Records every successful handling as
/// `H <member> <partition> <offset> <event id> <seq>` with one `write` on an
/// `O_APPEND` file, so the line is in the page cache before the handler
/// returns and survives the kill.
struct Recorder {
    member: &'static str,
    file: File,
}

#[async_trait]
impl Handler<Numbered> for Recorder {
    async fn handle(
        &self,
        event: EventEnvelope<Numbered>,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        let seq = event.event.seq;
        if is_poison(seq) {
            return Err(HandlerError::permanent(format!("seq {seq} is rejected")));
        }
        if seq % FLAKY_EVERY == FLAKY_AT && delivery.attempt == 1 {
            return Err(HandlerError::transient(format!("seq {seq}: first attempt")));
        }
        let line = format!(
            "H {} {} {} {} {seq}\n",
            self.member, delivery.partition, delivery.offset, event.id
        );
        (&self.file).write_all(line.as_bytes())?;
        Ok(())
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// Opens the data directory, waiting out a lock another test's process
/// holds for a moment: the parent's three tests spawn children from one
/// process, and a child forked for another test shares the parent's open
/// files (this test's lock among them, while the parent checks a cycle)
/// until it execs, which a loaded machine can delay past the parent's
/// release and this child's start.
async fn open_when_released(dir: &Path, policy: FsyncPolicy) -> EmbeddedBackend {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match EmbeddedBackend::open(config(dir, policy)).await {
            Err(e) if e.kind() == ErrorKind::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            opened => return opened.unwrap(),
        }
    }
}

async fn child_transport(dir: &Path, policy: FsyncPolicy) -> (Transport, Arc<EmbeddedBackend>) {
    let backend = Arc::new(open_when_released(dir, policy).await);
    let transport = Transport::builder(backend.clone(), Arc::new(JsonCodec::new()))
        .stream(STREAM)
        .routing(RoutingConfig {
            partitions: PARTITIONS,
            ..RoutingConfig::default()
        })
        .consumer(ConsumerConfig {
            poll_batch: POLL_BATCH,
            poll_wait_ms: 50,
            heartbeat_ms: 20,
            lag_probe_ms: 50,
            retry: RetryConfig {
                max_attempts: 3,
                initial_backoff_ms: 1,
                max_backoff_ms: 5,
                ..RetryConfig::default()
            },
            ..ConsumerConfig::default()
        })
        .build()
        .await
        .unwrap();
    (transport, backend)
}

async fn member(
    transport: &Transport,
    name: &'static str,
    handled: &Path,
) -> rustok_iggy::Subscription {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(handled)
        .unwrap();
    transport
        .subscribe(GROUP, &[TOPIC], Recorder { member: name, file })
        .await
        .unwrap()
}

/// The child: does nothing unless [`CHILD_DIR`] is set.
#[test]
fn crash_loop_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let policy = match env(CHILD_POLICY).as_str() {
        "always" => FsyncPolicy::Always,
        "interval" => FsyncPolicy::Interval,
        _ => FsyncPolicy::Never,
    };
    let handled = PathBuf::from(env(CHILD_HANDLED));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (transport, backend) = child_transport(dir.as_ref(), policy).await;
        if env(CHILD_ROLE) == "drain" {
            return drain(&transport, &backend, &handled).await;
        }
        // Both members stay alive (and subscribed) until the kill.
        let _first = member(&transport, "a", &handled).await;
        print_line("READY");
        let seed: u64 = env(CHILD_SEED).parse().unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        // The second member joins a little later, so the group rebalances
        // while events flow.
        let join_after = rng.random_range(0..400);
        let second_transport = transport.clone();
        let second_handled = handled.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(join_after)).await;
            let _second = member(&second_transport, "b", &second_handled).await;
            std::future::pending::<()>().await
        });
        let mut seq: u64 = env(CHILD_SEQ).parse().unwrap();
        loop {
            let size = rng.random_range(1..=8);
            let events: Vec<_> = (seq..seq + size)
                .map(|s| {
                    let mut e = envelope(EVENT_TYPE, tenant(1), Numbered { seq: s });
                    e.partition_key = Some(format!("key-{}", s % 11));
                    e
                })
                .collect();
            seq += size;
            let receipts = transport.publish_batch(&events).await.unwrap();
            let mut out = String::new();
            for (event, receipt) in events.iter().zip(receipts) {
                out.push_str(&format!(
                    "ACK {} {} {} {}\n",
                    event.event.seq, event.id, receipt.partition, receipt.offset
                ));
            }
            {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(out.as_bytes()).unwrap();
                stdout.flush().unwrap();
            }
            // A fixed pace keeps the consumers close behind the publisher.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
}

/// Consumes until every partition is committed to its end, then shuts down.
async fn drain(transport: &Transport, backend: &EmbeddedBackend, handled: &Path) {
    let a = member(transport, "a", handled).await;
    let b = member(transport, "b", handled).await;
    print_line("READY");
    loop {
        let mut done = true;
        for p in 0..PARTITIONS {
            let end = backend
                .partition_info(&topic(), p)
                .await
                .unwrap()
                .next_offset;
            let committed = backend.offsets().load(GROUP, &topic(), p).await.unwrap();
            done &= committed.unwrap_or(0) == end;
        }
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.shutdown().await.unwrap().is_clean());
    assert!(b.shutdown().await.unwrap().is_clean());
    transport.shutdown().await.unwrap();
    print_line("DRAINED");
}
// --------------------------------------------------------------- the parent

/// How a cycle's child ends.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Publish and consume; SIGKILLed at a random moment.
    Run,
    /// Consume until everything is committed, then exit cleanly.
    Drain,
}

/// One `ACK` line: an event the publisher saw acknowledged.
struct Ack {
    id: Uuid,
    partition: u32,
    offset: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut fields = line.strip_prefix("ACK ")?.split(' ');
    let _seq = fields.next()?;
    Some(Ack {
        id: fields.next()?.parse().ok()?,
        partition: fields.next()?.parse().ok()?,
        offset: fields.next()?.parse().ok()?,
    })
}

/// One handler line: (partition, offset, event id, seq).
fn parse_handled(line: &str) -> (u32, u64, Uuid, u64) {
    let fields: Vec<&str> = line.split(' ').collect();
    assert!(
        fields.len() == 6 && fields[0] == "H",
        "bad handler line {line:?}"
    );
    (
        fields[2].parse().unwrap(),
        fields[3].parse().unwrap(),
        fields[4].parse().unwrap(),
        fields[5].parse().unwrap(),
    )
}

/// Everything the parent learnt so far, over all cycles.
#[derive(Default)]
struct Ledger {
    /// Acknowledged events by (partition, offset).
    acked: BTreeMap<(u32, u64), Uuid>,
    /// Successful handlings per (partition, offset).
    handled: HashMap<(u32, u64), u32>,
    /// DLQ entries by id: (partition, offset).
    dead: BTreeMap<u64, (u32, u64)>,
    /// Committed offset per partition after the last cycle.
    committed: Vec<u64>,
    early_kills: usize,
    handled_lines: usize,
    /// Events stored in the log after the last cycle.
    stored: usize,
    duplicates: usize,
    max_duplicates_in_cycle: usize,
}

/// A running child and the lines it prints, read on a thread so the parent
/// can wait with a hang guard.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(
        dir: &Path,
        policy: FsyncPolicy,
        role: Role,
        seq: u64,
        handled: &Path,
        seed: u64,
    ) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_loop_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir)
            .env(CHILD_POLICY, policy_name(policy))
            .env(CHILD_ROLE, if role == Role::Run { "run" } else { "drain" })
            .env(CHILD_SEQ, seq.to_string())
            .env(CHILD_HANDLED, handled)
            .env(CHILD_SEED, seed.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line equal to `wanted`; panics if the child exits first
    /// or the hang guard passes.
    fn wait_for(&mut self, wanted: &str, guard: Duration) {
        let deadline = Instant::now() + guard;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    // libtest prints `test crash_loop_child ... ` before it.
                    let found = line.ends_with(wanted);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("hang guard: no {wanted:?} from the child within {guard:?}");
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().unwrap();
                    panic!("the child exited ({status}) before printing {wanted:?}");
                }
            }
        }
    }

    /// SIGKILLs the child and returns every line it printed. The child must
    /// not have exited by itself.
    fn kill(mut self) -> Vec<String> {
        self.child.kill().unwrap(); // SIGKILL
        let status = self.child.wait().unwrap();
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "the child exited by itself: {status}"
            );
        }
        self.seen.extend(self.lines.iter());
        self.seen
    }

    /// Waits for a clean exit.
    fn finish(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the drain child failed: {status}");
    }
}

/// The handler lines of a cycle; a last line without its newline was cut by
/// the kill mid-write, so that handler never returned (nor was it committed).
fn handled_lines(path: &Path) -> Vec<(u32, u64, Uuid, u64)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return Vec::new(),
    };
    complete.lines().map(parse_handled).collect()
}

/// Every DLQ entry, redriven or not.
async fn dlq_entries(backend: &EmbeddedBackend) -> Vec<rustok_iggy::DlqEntry> {
    let filter = DlqFilter {
        include_redriven: true,
        ..DlqFilter::default()
    };
    let mut entries = Vec::new();
    let mut after = None;
    loop {
        let page = backend
            .dlq()
            .list(filter.clone(), after, 500)
            .await
            .unwrap();
        entries.extend(page.entries);
        match page.next_after {
            Some(next) => after = Some(next),
            None => return entries,
        }
    }
}

/// Opens the data directory after a cycle and checks 1 to 8 (9 too when
/// `drained`); folds the cycle into `ledger`.
async fn check_cycle(
    dir: &Path,
    policy: FsyncPolicy,
    label: &str,
    acks: Vec<Ack>,
    handled_path: &Path,
    ledger: &mut Ledger,
    drained: bool,
) {
    let backend = EmbeddedBackend::open(config(dir, policy)).await.unwrap();
    let codec = JsonCodec::new();
    if ledger.committed.is_empty() {
        ledger.committed = vec![0; PARTITIONS as usize];
    }
    // A child killed early may not have created the topic yet.
    let exists = match backend.partition_info(&topic(), 0).await {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => panic!("{label}: {e}"),
    };
    assert!(
        exists || (acks.is_empty() && ledger.acked.is_empty()),
        "{label}: the topic is missing, yet events were acknowledged"
    );
    // 1. Dense offsets; (event id, seq) per offset.
    let mut log: Vec<Vec<(Uuid, u64)>> = Vec::new();
    for p in 0..PARTITIONS {
        let mut stored = Vec::new();
        let records = if exists {
            common::poll_all(&backend, &topic(), p).await
        } else {
            Vec::new()
        };
        for (i, record) in records.into_iter().enumerate() {
            assert_eq!(
                record.offset, i as u64,
                "{label}: partition {p} is not dense"
            );
            let event: Numbered = codec.decode_value(&record.message.payload).unwrap();
            stored.push((Uuid::from_u128(record.message.id), event.seq));
        }
        log.push(stored);
    }
    let stored_id = |p: u32, offset: u64| log[p as usize].get(offset as usize).map(|e| e.0);

    // 2. Every acknowledged event, of this cycle and all before, is where
    // its receipt said.
    for ack in acks {
        ledger.acked.insert((ack.partition, ack.offset), ack.id);
    }
    for (&(p, offset), &id) in &ledger.acked {
        assert_eq!(
            stored_id(p, offset),
            Some(id),
            "{label}: acknowledged event {id} at {p}/{offset} is lost"
        );
    }

    // 3. Committed offsets.
    let previous = ledger.committed.clone();
    let mut committed = Vec::new();
    for p in 0..PARTITIONS {
        let c = backend
            .offsets()
            .load(GROUP, &topic(), p)
            .await
            .unwrap()
            .unwrap_or(0);
        assert!(
            c >= previous[p as usize],
            "{label}: partition {p} commit moved back"
        );
        assert!(
            c <= log[p as usize].len() as u64,
            "{label}: partition {p} committed {c} past its end"
        );
        committed.push(c);
    }

    // The handlings of this cycle: 6 (no duplicate within the cycle), 7
    // (order), and deliveries start at the committed offset.
    let before: HashSet<(u32, u64)> = ledger
        .handled
        .keys()
        .copied()
        .chain(ledger.dead.values().copied())
        .collect();
    let mut this_cycle: HashSet<(u32, u64)> = HashSet::new();
    let mut last: HashMap<u32, u64> = HashMap::new();
    let lines = handled_lines(handled_path);
    for &(p, offset, id, seq) in &lines {
        assert_eq!(
            stored_id(p, offset),
            Some(id),
            "{label}: handled {id} is not at {p}/{offset}"
        );
        assert!(!is_poison(seq), "{label}: rejected seq {seq} was handled");
        assert!(
            offset >= previous[p as usize],
            "{label}: {p}/{offset} delivered below the committed {}",
            previous[p as usize]
        );
        assert!(
            this_cycle.insert((p, offset)),
            "{label}: {p}/{offset} handled twice in one cycle"
        );
        if let Some(&prev) = last.get(&p) {
            assert!(
                offset > prev,
                "{label}: partition {p} handled {offset} after {prev}"
            );
        }
        last.insert(p, offset);
    }

    // 8. The DLQ: old entries kept, only rejected events, at their offsets.
    let entries = dlq_entries(&backend).await;
    let by_id: BTreeMap<u64, (u32, u64)> = entries
        .iter()
        .map(|e| (e.id, (e.letter.partition, e.letter.offset)))
        .collect();
    for (id, place) in &ledger.dead {
        assert_eq!(
            by_id.get(id),
            Some(place),
            "{label}: DLQ entry {id} is lost or changed"
        );
    }
    let mut in_dlq = HashSet::new();
    for entry in &entries {
        let letter = &entry.letter;
        let (p, offset) = (letter.partition, letter.offset);
        assert!(
            in_dlq.insert((p, offset)),
            "{label}: {p}/{offset} is in the DLQ twice"
        );
        assert_eq!(
            letter.topic,
            topic(),
            "{label}: DLQ entry {} topic",
            entry.id
        );
        assert_eq!(letter.group, GROUP);
        let stored = log[p as usize].get(offset as usize);
        assert_eq!(
            stored.map(|e| e.0),
            Some(Uuid::from_u128(letter.message.id)),
            "{label}: DLQ entry {} does not match {p}/{offset}",
            entry.id
        );
        let seq = stored.map_or(0, |e| e.1);
        assert!(is_poison(seq), "{label}: accepted seq {seq} is in the DLQ");
        if !ledger.dead.contains_key(&entry.id) {
            assert!(
                offset >= previous[p as usize],
                "{label}: {p}/{offset} dead-lettered below the committed offset"
            );
            assert!(
                this_cycle.insert((p, offset)),
                "{label}: {p}/{offset} dead-lettered twice in one cycle"
            );
        }
    }

    // 5. Duplicates across cycles lie in the uncommitted window.
    let duplicates: Vec<(u32, u64)> = this_cycle.intersection(&before).copied().collect();
    for &(p, offset) in &duplicates {
        let window = previous[p as usize]..previous[p as usize] + u64::from(WINDOW);
        assert!(
            window.contains(&offset),
            "{label}: duplicate {p}/{offset} outside the uncommitted window {window:?}"
        );
    }
    ledger.duplicates += duplicates.len();
    ledger.max_duplicates_in_cycle = ledger.max_duplicates_in_cycle.max(duplicates.len());
    ledger.handled_lines += lines.len();
    for (p, offset, _, _) in lines {
        *ledger.handled.entry((p, offset)).or_insert(0) += 1;
    }
    ledger.dead = by_id;
    ledger.committed = committed;
    ledger.stored = log.iter().map(Vec::len).sum();

    // 4. Nothing below a committed offset is unhandled.
    let done: HashSet<(u32, u64)> = ledger
        .handled
        .keys()
        .copied()
        .chain(ledger.dead.values().copied())
        .collect();
    for p in 0..PARTITIONS {
        for offset in 0..ledger.committed[p as usize] {
            assert!(
                done.contains(&(p, offset)),
                "{label}: {p}/{offset} committed but never handled nor dead-lettered"
            );
        }
    }

    // 9. After the drain: everything stored was handled or dead-lettered.
    if drained {
        for p in 0..PARTITIONS {
            let end = log[p as usize].len() as u64;
            assert_eq!(
                ledger.committed[p as usize], end,
                "{label}: partition {p} not drained"
            );
            for (offset, &(id, seq)) in log[p as usize].iter().enumerate() {
                let place = (p, offset as u64);
                if is_poison(seq) {
                    assert!(
                        ledger.dead.values().any(|&d| d == place),
                        "{label}: rejected {id} at {p}/{offset} is not in the DLQ"
                    );
                } else {
                    assert!(
                        ledger.handled.contains_key(&place),
                        "{label}: {id} at {p}/{offset} was never handled"
                    );
                }
            }
        }
    }
    backend.shutdown().await.unwrap();
}

fn crash_loop(policy: FsyncPolicy, salt: u64) {
    let cycles: usize = std::env::var("RUSTOK_IGGY_CRASH_CYCLES")
        .ok()
        .map(|c| c.parse().expect("RUSTOK_IGGY_CRASH_CYCLES is a number"))
        .unwrap_or(3);
    let seed: u64 = std::env::var("RUSTOK_IGGY_CRASH_SEED")
        .ok()
        .map(|s| s.parse().expect("RUSTOK_IGGY_CRASH_SEED is a number"))
        .unwrap_or_else(|| rand::rng().random());
    let name = policy_name(policy);
    println!("crash_loop {name}: RUSTOK_IGGY_CRASH_SEED={seed}, {cycles} cycles");
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(salt));
    let data = tempfile::tempdir().unwrap();
    let records_dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut ledger = Ledger::default();
    for cycle in 0..=cycles {
        let role = if cycle == cycles {
            Role::Drain
        } else {
            Role::Run
        };
        let label = format!("{name} cycle {cycle} (seed {seed})");
        let handled = records_dir.path().join(format!("handled-{cycle}.log"));
        let seq = cycle as u64 * 100_000_000;
        let mut child = Running::spawn(data.path(), policy, role, seq, &handled, rng.random());
        let lines = if role == Role::Drain {
            child.wait_for("DRAINED", DRAIN_GUARD);
            let lines = std::mem::take(&mut child.seen);
            child.finish();
            lines
        } else if rng.random_bool(0.2) {
            // Early: while opening, recovering, joining the group.
            std::thread::sleep(Duration::from_millis(rng.random_range(0..150)));
            ledger.early_kills += 1;
            child.kill()
        } else {
            child.wait_for("READY", READY_GUARD);
            std::thread::sleep(Duration::from_millis(rng.random_range(0..1_500)));
            child.kill()
        };
        let acks: Vec<Ack> = lines.iter().filter_map(|l| parse_ack(l)).collect();
        runtime.block_on(check_cycle(
            data.path(),
            policy,
            &label,
            acks,
            &handled,
            &mut ledger,
            role == Role::Drain,
        ));
    }
    let handled_unique = ledger.handled.len();
    let dlq_unique: HashSet<(u32, u64)> = ledger.dead.values().copied().collect();
    println!(
        "crash_loop {name}: seed {seed}, {} kill cycles ({} early) + 1 drain, {} events acked, \
         {} stored, {} handlings of {handled_unique} events, {} duplicates (max {} in a cycle, bound {}), \
         {} DLQ entries for {} events, {:.1} s",
        cycles,
        ledger.early_kills,
        ledger.acked.len(),
        ledger.stored,
        ledger.handled_lines,
        ledger.duplicates,
        ledger.max_duplicates_in_cycle,
        PARTITIONS * WINDOW,
        ledger.dead.len(),
        dlq_unique.len(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        !ledger.acked.is_empty() || cycles == 0,
        "{name}: nothing was acknowledged"
    );
}

#[test]
fn crash_loop_always() {
    crash_loop(FsyncPolicy::Always, 0);
}

#[test]
fn crash_loop_interval() {
    crash_loop(FsyncPolicy::Interval, 1);
}

#[test]
fn crash_loop_never() {
    crash_loop(FsyncPolicy::Never, 2);
}
