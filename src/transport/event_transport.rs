//! The transport trait RusToK's event bus is written against, so rustok-iggy
//! drops in where RusToK's in-memory or outbox transports were.

use std::any::Any;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

use crate::{EventEnvelope, Result, Transport};

/// What a transport promises about delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReliabilityLevel {
    /// Lost when the process stops.
    InMemory,
    /// Stored with the application's own transaction, delivered later.
    Outbox,
    /// Appended to a durable log before `publish` returns; consumers track their
    /// position in consumer groups.
    Streaming,
}

/// RusToK's transport interface, object-safe: hold it as
/// `Arc<dyn EventTransport<E, C>>`, where `E` is the event type of the
/// main envelope family and `C` that of a second one (RusToK's typed
/// contract events; `C` defaults to `E`). [`Transport`] implements it for
/// every pair of serializable types, so RusToK's own trait wraps it in a
/// few lines (`examples/rustok-adapter`).
///
/// ```
/// use std::sync::Arc;
/// use rustok_iggy::{EventTransport, ReliabilityLevel, Transport};
///
/// #[derive(serde::Serialize)]
/// enum DomainEvent { Created }
/// #[derive(serde::Serialize)]
/// enum ContractEvent { Listed }
///
/// fn check(transport: Arc<dyn EventTransport<DomainEvent, ContractEvent>>) {
///     assert_eq!(transport.reliability_level(), ReliabilityLevel::Streaming);
///     assert!(transport.as_any().downcast_ref::<Transport>().is_some());
/// }
/// ```
#[async_trait]
pub trait EventTransport<E, C = E>: Send + Sync
where
    E: Serialize + Send + Sync + 'static,
    C: Serialize + Send + Sync + 'static,
{
    /// Publishes one event; returns once the backend stored it.
    async fn publish(&self, envelope: EventEnvelope<E>) -> Result<()>;

    /// Publishes one event of the second envelope family; returns once the
    /// backend stored it. Routed, encoded and consumed like any event: its
    /// `event_type` picks the topic.
    async fn publish_contract(&self, envelope: EventEnvelope<C>) -> Result<()>;

    /// Publishes several events; returns once the backend stored all of them.
    async fn publish_batch(&self, envelopes: Vec<EventEnvelope<E>>) -> Result<()>;

    /// Acknowledges an event the application processed.
    async fn acknowledge(&self, event_id: Uuid) -> Result<()>;

    /// What this transport promises.
    fn reliability_level(&self) -> ReliabilityLevel;

    /// For downcasting to the concrete transport.
    fn as_any(&self) -> &dyn Any;
}

#[async_trait]
impl<E, C> EventTransport<E, C> for Transport
where
    E: Serialize + Send + Sync + 'static,
    C: Serialize + Send + Sync + 'static,
{
    async fn publish(&self, envelope: EventEnvelope<E>) -> Result<()> {
        Transport::publish(self, &envelope).await.map(drop)
    }

    async fn publish_contract(&self, envelope: EventEnvelope<C>) -> Result<()> {
        Transport::publish(self, &envelope).await.map(drop)
    }

    async fn publish_batch(&self, envelopes: Vec<EventEnvelope<E>>) -> Result<()> {
        Transport::publish_batch(self, &envelopes).await.map(drop)
    }

    /// Nothing to do, by design: on a streaming transport the producer side is
    /// acknowledged by the backend before `publish` returns, and the consumer side
    /// by the group's committed offset, which subscriptions advance only after a
    /// handler succeeded. The method exists so code written against RusToK's
    /// trait (where the outbox transport needs it) runs unchanged.
    async fn acknowledge(&self, _event_id: Uuid) -> Result<()> {
        Ok(())
    }

    fn reliability_level(&self) -> ReliabilityLevel {
        ReliabilityLevel::Streaming
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
