//! `rustok-iggy serve` (embedded backend) SIGKILLed again and again while a
//! producer and a two-member consumer group work through the remote backend:
//! nothing acknowledged is lost, offsets stay dense, and redeliveries stay
//! within the bound `docs/reliability.md` documents (section 3).
//!
//! The server is a child process on a free loopback port and a temporary
//! data directory; each cycle waits until the producer made progress, lets
//! it run for a random moment, SIGKILLs the server, leaves it down for a
//! random moment and starts it again on the same directory and port. The
//! producer retries what failed meanwhile (those publishes were not
//! acknowledged; a retry may store an event twice, which is counted, not an
//! error). After the last cycle the group drains and the log is read back.
//!
//! `RUSTOK_IGGY_SERVE_CRASH_CYCLES` (default 5) sets the number of kills,
//! `RUSTOK_IGGY_SERVE_CRASH_SEED` replays a run's kill moments (the seed is
//! printed; thread timing still varies).
#![cfg(unix)]

mod common;

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rustok_iggy::{
    Delivery, EventEnvelope, Handler, HandlerError, PollFrom, PollRequest, Subscription, Transport,
    TransportConfig,
};
use rustok_iggy_testkit::{
    eventually,
    fixtures::OrderPlaced,
    outage::{self, Placements, Producer},
};
use uuid::Uuid;

const PARTITIONS: u32 = 3;
const POLL_BATCH: u64 = 16;
const GROUP: &str = "billing";
const TOPIC: &str = "events";

/// A `rustok-iggy serve` child, SIGKILLed when dropped (a failing test
/// leaves no server behind).
struct Serve {
    child: Child,
}

impl Serve {
    /// Starts `serve` on `address` over the embedded log in `data`, and
    /// waits until it accepts connections.
    async fn start(address: &str, data: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
            .arg("serve")
            .env("IGGY_TCP_ADDRESS", address)
            .env("IGGY_SYSTEM_PATH", data)
            .env("RUST_LOG", "warn")
            .env_remove("IGGY_ROOT_USERNAME")
            .env_remove("IGGY_ROOT_PASSWORD")
            .env_remove("RUSTOK_IGGY_HTTP_ADDRESS")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let serve = Self { child };
        eventually("serve to accept connections", || async {
            tokio::net::TcpStream::connect(address).await.is_ok()
        })
        .await;
        serve
    }

    /// SIGKILL, and reap.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A transport on the served address, retrying through outages.
async fn transport(address: &str) -> Arc<Transport> {
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    let config = TransportConfig::from_toml(&format!(
        r#"
        backend = "remote"
        stream = "app"
        [routing]
        partitions = {PARTITIONS}
        [consumer]
        heartbeat_ms = 50
        poll_wait_ms = 20
        poll_batch = {POLL_BATCH}
        [plugins.remote]
        url = "iggy+tcp://iggy:iggy@{address}"
        reconnect_interval_ms = 100
        reconnect_retries = 100000
        request_timeout_ms = 2000
        send_backoff_ms = 50
        send_backoff_max_ms = 200
        send_retries = 3
        "#
    ))
    .unwrap();
    Arc::new(Transport::from_config(&config).await.unwrap())
}

/// Every delivery a member handled: partition, offset, event id.
type Handled = Arc<Mutex<Vec<(u32, u64, Uuid)>>>;

struct Recorder(Handled);

#[async_trait]
impl Handler<OrderPlaced> for Recorder {
    async fn handle(
        &self,
        event: EventEnvelope<OrderPlaced>,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        self.0
            .lock()
            .unwrap()
            .push((delivery.partition, delivery.offset, event.id));
        Ok(())
    }
}

async fn member(transport: &Transport, handled: &Handled) -> Subscription {
    transport
        .subscribe(GROUP, &[TOPIC], Recorder(handled.clone()))
        .await
        .unwrap()
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
}

/// Each partition's records as (offset, event id), read back from the
/// server after the run.
async fn read_log(transport: &Transport) -> Vec<Vec<(u64, Uuid)>> {
    let topic = transport.topic(TOPIC);
    let mut log = Vec::new();
    for partition in 0..PARTITIONS {
        let end = transport
            .backend()
            .partition_info(&topic, partition)
            .await
            .unwrap()
            .next_offset;
        let mut records = Vec::new();
        while (records.len() as u64) < end {
            let batch = transport
                .backend()
                .poll(PollRequest {
                    topic: topic.clone(),
                    partition,
                    from: PollFrom::Offset(records.len() as u64),
                    max_records: 1000,
                    max_wait: Duration::ZERO,
                })
                .await
                .unwrap();
            assert!(!batch.is_empty(), "partition {partition} ends before {end}");
            records.extend(
                batch
                    .into_iter()
                    .map(|r| (r.offset, Uuid::from_u128(r.message.id))),
            );
        }
        log.push(records);
    }
    log
}

/// How many deliveries repeated an earlier one, by the interval they fell
/// in: before the first kill (the second member joining moves partitions),
/// then after each kill.
fn redeliveries(deliveries: &[(u32, u64, Uuid)], kills_at: &[usize]) -> Vec<usize> {
    let mut seen = HashSet::new();
    let mut counts = vec![0; kills_at.len() + 1];
    for (index, (partition, offset, _)) in deliveries.iter().enumerate() {
        if !seen.insert((*partition, *offset)) {
            counts[kills_at.partition_point(|at| *at <= index)] += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_serve_loses_nothing_acknowledged() {
    let cycles = env_number("RUSTOK_IGGY_SERVE_CRASH_CYCLES").unwrap_or(5);
    let seed = env_number("RUSTOK_IGGY_SERVE_CRASH_SEED").unwrap_or_else(|| rand::rng().random());
    println!("serve_crash: RUSTOK_IGGY_SERVE_CRASH_SEED={seed}, {cycles} cycles");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let address = common::free_address();

    let mut serve = Serve::start(&address, &data).await;
    let publisher = transport(&address).await;
    let members = [transport(&address).await, transport(&address).await];
    let handled: Handled = Arc::default();
    let subscriptions = [
        member(&members[0], &handled).await,
        member(&members[1], &handled).await,
    ];
    let producer = Producer::spawn(publisher.clone());

    // How many deliveries had been handled at each kill: the redeliveries a
    // kill causes come after it.
    let mut kills_at = Vec::new();
    for cycle in 0..cycles {
        let before = producer.acknowledged();
        eventually("the producer to get events acknowledged", || async {
            producer.acknowledged() >= before + 50
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1_500))).await;
        kills_at.push(handled.lock().unwrap().len());
        serve.kill();
        println!(
            "cycle {cycle}: SIGKILL with {} events acknowledged, {} deliveries",
            producer.acknowledged(),
            handled.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..500))).await;
        serve = Serve::start(&address, &data).await;
    }
    let before = producer.acknowledged();
    eventually(
        "the producer to get events acknowledged after the last restart",
        || async { producer.acknowledged() >= before + 50 },
    )
    .await;
    let (acknowledged, retried): (Placements, u32) = producer.stop_placed().await;
    let ids: HashSet<Uuid> = acknowledged.keys().copied().collect();
    let handled_ids = || -> Arc<Mutex<HashSet<Uuid>>> {
        Arc::new(Mutex::new(
            handled
                .lock()
                .unwrap()
                .iter()
                .map(|(_, _, id)| *id)
                .collect(),
        ))
    };
    eventually("every acknowledged event handled", || async {
        ids.is_subset(&handled_ids().lock().unwrap())
    })
    .await;
    for subscription in subscriptions {
        assert!(subscription.shutdown().await.unwrap().is_clean());
    }
    outage::assert_committed_to_end(&publisher, GROUP, TOPIC, PARTITIONS).await;

    // The log: dense offsets, every acknowledged event where its
    // acknowledgement said.
    let log = read_log(&publisher).await;
    let mut stored: HashMap<Uuid, u32> = HashMap::new();
    for (partition, records) in log.iter().enumerate() {
        for (expected, (offset, id)) in records.iter().enumerate() {
            assert_eq!(*offset, expected as u64, "partition {partition} is dense");
            *stored.entry(*id).or_default() += 1;
        }
    }
    for (id, (partition, offset)) in &acknowledged {
        let at = log[*partition as usize].get(*offset as usize).map(|r| r.1);
        assert_eq!(at, Some(*id), "acknowledged {id} at {partition}/{offset}");
    }

    // Deliveries: every stored offset handled (the group is committed to
    // the end), and how many were handled more than once.
    let deliveries = handled.lock().unwrap().clone();
    // The indices (in handling order) of each record's deliveries.
    let mut per_offset: HashMap<(u32, u64), Vec<usize>> = HashMap::new();
    for (index, (partition, offset, id)) in deliveries.iter().enumerate() {
        assert_eq!(
            log[*partition as usize].get(*offset as usize).map(|r| r.1),
            Some(*id),
            "a delivery of {partition}/{offset} carried the stored event"
        );
        per_offset
            .entry((*partition, *offset))
            .or_default()
            .push(index);
    }
    let stored_records: usize = log.iter().map(Vec::len).sum();
    assert_eq!(
        per_offset.len(),
        stored_records,
        "every stored record handled"
    );
    let redelivered = redeliveries(&deliveries, &kills_at);
    let total: usize = redelivered.iter().sum();
    let max_per_offset = per_offset.values().map(Vec::len).max().unwrap_or(0);
    let stored_twice = stored.values().filter(|n| **n > 1).count();
    println!(
        "serve_crash: {cycles} SIGKILLs, {} events acknowledged, {stored_records} records stored {:?} \
         ({stored_twice} events stored twice by retried publishes), {retried} publishes retried, \
         {} deliveries, {total} redelivered, per kill {redelivered:?} (the first before any kill), \
         at most {max_per_offset} deliveries of one offset",
        acknowledged.len(),
        log.iter().map(Vec::len).collect::<Vec<_>>(),
        deliveries.len(),
    );
    // The bound docs/reliability.md documents for the remote backend: a
    // rebalance (the second member joining, or the rejoin after a kill)
    // delivers a record not committed yet at most once more. So a record
    // is delivered at most twice, plus once per kill between its first and
    // its last delivery (while it stayed uncommitted).
    for ((partition, offset), indices) in &per_offset {
        let (first, last) = (indices[0], indices[indices.len() - 1]);
        let kills_between = kills_at
            .iter()
            .filter(|at| first < **at && **at <= last)
            .count();
        assert!(
            indices.len() <= 2 + kills_between,
            "{partition}/{offset} delivered {} times with {kills_between} kills in between",
            indices.len()
        );
    }

    publisher.shutdown().await.unwrap();
    for member in members {
        member.shutdown().await.unwrap();
    }
    serve.kill();
}
