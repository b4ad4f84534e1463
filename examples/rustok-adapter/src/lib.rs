//! RusToK's `EventTransport` over rustok-iggy: the adapter a RusToK
//! application writes once, so its outbox relay (and everything else written
//! against `Arc<dyn EventTransport>`) publishes through rustok-iggy.
//!
//! [`rustok`] stands in for RusToK's own crates (not published); the adapter
//! is [`IggyEventTransport`]. It holds rustok-iggy's object-safe
//! [`rustok_iggy::EventTransport`] for RusToK's two envelope families, so it
//! works over a [`rustok_iggy::Transport`] on any backend, or over a test
//! double. The mapping is field for field: the envelopes carry the same
//! metadata; RusToK has no partition key, and neither does the mapped
//! envelope, so events are keyed by tenant as RusToK's transport keys them.
//!
//! ```
//! use std::sync::Arc;
//! use rustok_iggy_example_rustok_adapter::{rustok, IggyEventTransport};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> rustok_iggy::Result<()> {
//! # let transport = rustok_iggy::Transport::builder(
//! #     Arc::new(rustok_iggy_testkit::MemoryBackend::new()),
//! #     Arc::new(rustok_iggy_testkit::TestJson),
//! # ).build().await?;
//! // `transport`: a rustok_iggy::Transport, e.g. from Transport::from_config.
//! let bus: Arc<dyn rustok::EventTransport> = Arc::new(IggyEventTransport::new(transport));
//! assert_eq!(bus.reliability_level(), rustok::ReliabilityLevel::Streaming);
//! # Ok(())
//! # }
//! ```

pub mod rustok;

use std::{any::Any, sync::Arc};

use async_trait::async_trait;
use rustok_iggy::EventEnvelope;

use crate::rustok::{ContractEventEnvelope, ContractEventPayload, DomainEvent};

/// rustok-iggy's transport as RusToK's [`rustok::EventTransport`].
#[derive(Clone)]
pub struct IggyEventTransport {
    inner: Arc<dyn rustok_iggy::EventTransport<DomainEvent, ContractEventPayload>>,
}

impl IggyEventTransport {
    /// Wraps a transport (or any implementation of rustok-iggy's trait).
    pub fn new(
        inner: impl rustok_iggy::EventTransport<DomainEvent, ContractEventPayload> + 'static,
    ) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// What it wraps: downcast its `as_any()` to `rustok_iggy::Transport`
    /// for subscriptions, receivers, health and shutdown.
    pub fn inner(&self) -> &dyn rustok_iggy::EventTransport<DomainEvent, ContractEventPayload> {
        &*self.inner
    }
}

/// A RusToK envelope (root or contract) as rustok-iggy's, field for field.
macro_rules! to_iggy_envelope {
    ($e:expr) => {{
        let e = $e;
        EventEnvelope {
            id: e.id,
            event_type: e.event_type,
            schema_version: e.schema_version,
            tenant_id: e.tenant_id,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            actor_id: e.actor_id,
            trace_id: e.trace_id,
            timestamp: e.timestamp,
            retry_count: e.retry_count,
            partition_key: None,
            event: e.event,
        }
    }};
}

/// RusToK's envelope as rustok-iggy's, field for field.
pub fn to_iggy(e: rustok::EventEnvelope) -> EventEnvelope<DomainEvent> {
    to_iggy_envelope!(e)
}

/// RusToK's contract envelope as rustok-iggy's, field for field.
pub fn contract_to_iggy(e: ContractEventEnvelope) -> EventEnvelope<ContractEventPayload> {
    to_iggy_envelope!(e)
}

/// A received envelope as RusToK's, for workers written against RusToK's
/// types.
pub fn from_iggy(e: EventEnvelope<DomainEvent>) -> rustok::EventEnvelope {
    rustok::EventEnvelope {
        id: e.id,
        event_type: e.event_type,
        schema_version: e.schema_version,
        correlation_id: e.correlation_id,
        causation_id: e.causation_id,
        tenant_id: e.tenant_id,
        trace_id: e.trace_id,
        timestamp: e.timestamp,
        actor_id: e.actor_id,
        event: e.event,
        retry_count: e.retry_count,
    }
}

/// RusToK's transports report failures as `External` (an invalid envelope
/// as `Validation`), with the cause's text.
fn error(e: rustok_iggy::Error) -> rustok::Error {
    match e.kind() {
        rustok_iggy::ErrorKind::InvalidInput => rustok::Error::Validation(e.to_string()),
        _ => rustok::Error::External(e.to_string()),
    }
}

#[async_trait]
impl rustok::EventTransport for IggyEventTransport {
    async fn publish(&self, envelope: rustok::EventEnvelope) -> rustok::Result<()> {
        self.inner.publish(to_iggy(envelope)).await.map_err(error)
    }

    async fn publish_contract(&self, envelope: ContractEventEnvelope) -> rustok::Result<()> {
        self.inner
            .publish_contract(contract_to_iggy(envelope))
            .await
            .map_err(error)
    }

    async fn publish_batch(&self, events: Vec<rustok::EventEnvelope>) -> rustok::Result<()> {
        let batch = events.into_iter().map(to_iggy).collect();
        self.inner.publish_batch(batch).await.map_err(error)
    }

    async fn acknowledge(&self, event_id: uuid::Uuid) -> rustok::Result<()> {
        self.inner.acknowledge(event_id).await.map_err(error)
    }

    fn reliability_level(&self) -> rustok::ReliabilityLevel {
        match self.inner.reliability_level() {
            rustok_iggy::ReliabilityLevel::InMemory => rustok::ReliabilityLevel::InMemory,
            rustok_iggy::ReliabilityLevel::Outbox => rustok::ReliabilityLevel::Outbox,
            rustok_iggy::ReliabilityLevel::Streaming => rustok::ReliabilityLevel::Streaming,
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
