//! The transport's own cost: `publish` against the same messages appended
//! straight to the backend (`Backend::append`), built before the clock
//! starts and split over partitions and producers as `publish_batch` splits
//! them. What is left between the two is envelope building, validation,
//! routing, encoding and the transport's bookkeeping.

use std::time::Instant;

use rustok_iggy::{Error, Result, TopicRef, Transport};

use super::{
    measure::Figure,
    workload::{self, Plan},
};

/// Appends `plan.events` messages to `topic` (created with the transport's
/// partition count) through the transport's backend.
pub async fn run(transport: &Transport, topic: &str, body: &str, plan: Plan) -> Result<Figure> {
    let backend = transport.backend().clone();
    let topic = TopicRef::new(transport.stream(), topic);
    let partitions = backend
        .ensure_topic(&topic, plan.partitions.max(1))
        .await?
        .partitions
        .max(1);
    let planned = workload::batches(transport, body, &plan, partitions)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for batches in planned.per_producer {
        let (backend, topic) = (backend.clone(), topic.clone());
        tasks.push(tokio::spawn(async move {
            for groups in batches {
                let appends = groups
                    .into_iter()
                    .map(|(partition, messages)| backend.append(&topic, partition, messages));
                futures::future::try_join_all(appends).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for task in tasks {
        task.await.map_err(workload::join_error)??;
    }
    Ok(Figure {
        events: plan.events,
        bytes: plan.events * plan.message_bytes,
        elapsed: started.elapsed(),
    })
}
