//! The remote backend's baseline: the same messages (payload and headers as
//! the transport writes them) sent and polled with the raw `iggy` SDK
//! through [`rustok_iggy_remote::baseline`], against the same server.

use std::{sync::Arc, time::Instant};

use rustok_iggy::{Error, Result, TopicRef, Transport};
use rustok_iggy_remote::{
    baseline::{RawSdk, SdkBatch},
    RemoteConfig,
};

use super::{
    measure::Figure,
    workload::{self, Plan},
};

/// How long the read-back waits for sent messages to become visible.
const VISIBILITY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Sends, then polls back, `plan.events` messages on `topic` (created with
/// the transport's partition count): (send figure, poll figure). Each batch
/// is split by partition as the transport splits it (`partition_for` of the
/// key), one `send_messages` per partition, sent concurrently as
/// `publish_batch` does, over as many connections as the backend's
/// `send_connections`; the ratio then measures the transport's overhead,
/// not a different batching or a different number of connections. Messages are converted to the SDK's form before
/// the clock starts.
pub async fn run(
    transport: &Transport,
    remote: &RemoteConfig,
    topic: &str,
    body: &str,
    plan: Plan,
) -> Result<(Figure, Figure)> {
    let topic = TopicRef::new(transport.stream(), topic);
    let partitions = transport
        .backend()
        .ensure_topic(&topic, plan.partitions.max(1))
        .await?
        .partitions
        .max(1);
    let planned = workload::batches(transport, body, &plan, partitions)?;
    // Converted to the SDK's form before the clock starts.
    let plans = planned
        .per_producer
        .into_iter()
        .map(|batches| {
            batches
                .into_iter()
                .map(|groups| {
                    groups
                        .into_iter()
                        .map(|(partition, messages)| Ok((partition, SdkBatch::new(&messages)?)))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let per_partition = planned.per_partition;

    let sdk = Arc::new(RawSdk::connect(remote).await?);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for batches in plans {
        let (sdk, topic) = (sdk.clone(), topic.clone());
        tasks.push(tokio::spawn(async move {
            for mut groups in batches {
                let sends = groups
                    .iter_mut()
                    .map(|(partition, batch)| sdk.send(&topic, *partition, batch));
                futures::future::try_join_all(sends).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for task in tasks {
        task.await.map_err(workload::join_error)??;
    }
    let sent = Figure {
        events: plan.events,
        bytes: plan.events * plan.message_bytes,
        elapsed: started.elapsed(),
    };

    let started = Instant::now();
    let mut polled = 0_u64;
    for (partition, &count) in per_partition.iter().enumerate() {
        let mut offset = 0_u64;
        let mut empty_since = None;
        while offset < count {
            let n = sdk
                .poll(&topic, partition as u32, offset, plan.poll_batch)
                .await? as u64;
            // With `fsync = "interval"` an acknowledged message becomes
            // visible at the next group commit: an empty poll waits for it,
            // within a patience far above any commit interval.
            let waited = *empty_since.get_or_insert_with(Instant::now);
            if n == 0 && waited.elapsed() < VISIBILITY_PATIENCE {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                continue;
            }
            empty_since = None;
            if n == 0 {
                return Err(Error::new(
                    rustok_iggy::ErrorKind::Backend,
                    format!(
                        "raw SDK poll of partition {partition} found {offset} of {count} messages"
                    ),
                ));
            }
            offset += n;
        }
        polled += offset;
    }
    let read = Figure {
        events: polled,
        bytes: polled * plan.message_bytes,
        elapsed: started.elapsed(),
    };
    sdk.shutdown().await;
    Ok((sent, read))
}
