//! Stand-ins for RusToK's own types, with the shapes of `rustok-core`'s
//! `EventTransport` and `rustok-events`' envelopes (RusToK's crates are not
//! published, so the example defines what its adapter is written against).
//! The trait's method set and default methods are RusToK's; the event enums
//! are small samples of RusToK's much larger ones.

use std::any::Any;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// RusToK's error, reduced to the variants a transport returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event was refused before it was sent.
    #[error("validation: {0}")]
    Validation(String),
    /// The transport failed.
    #[error("external: {0}")]
    External(String),
}

/// RusToK's result.
pub type Result<T> = std::result::Result<T, Error>;

/// A sample of RusToK's root `DomainEvent` enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DomainEvent {
    /// A product was created.
    ProductCreated {
        /// Its id.
        product_id: Uuid,
    },
    /// An order was placed.
    OrderPlaced {
        /// Its id.
        order_id: Uuid,
        /// Total in cents.
        total_cents: u64,
    },
}

impl DomainEvent {
    /// The event type RusToK routes and registers it under.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::ProductCreated { .. } => "product.created",
            Self::OrderPlaced { .. } => "order.placed",
        }
    }
}

/// RusToK's `EventEnvelope`: not generic, its event is a [`DomainEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Event id.
    pub id: Uuid,
    /// Event type.
    pub event_type: String,
    /// Schema version of the event.
    pub schema_version: u16,
    /// Correlation id.
    pub correlation_id: Uuid,
    /// What caused it.
    pub causation_id: Option<Uuid>,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Trace id.
    pub trace_id: Option<String>,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// Who did it.
    pub actor_id: Option<Uuid>,
    /// The event.
    pub event: DomainEvent,
    /// Deliveries before this one.
    pub retry_count: u32,
}

impl EventEnvelope {
    /// An envelope for `event`, as RusToK's `EventEnvelope::new` builds one.
    pub fn new(tenant_id: Uuid, actor_id: Option<Uuid>, event: DomainEvent) -> Self {
        let id = Uuid::now_v7();
        Self {
            id,
            event_type: event.event_type().to_owned(),
            schema_version: 1,
            correlation_id: id,
            causation_id: None,
            tenant_id,
            trace_id: None,
            timestamp: Utc::now(),
            actor_id,
            event,
            retry_count: 0,
        }
    }
}

/// A sample of RusToK's sealed typed event families.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ContractEventPayload {
    /// A root event carried as a contract.
    Root(DomainEvent),
    /// A marketplace listing event.
    MarketplaceListing {
        /// The listing.
        listing_id: Uuid,
        /// What happened to it, e.g. `approved`.
        change: String,
    },
}

/// RusToK's `ContractEventEnvelope`: the same metadata as [`EventEnvelope`]
/// around a [`ContractEventPayload`]. (RusToK keeps the fields private behind
/// accessors; public here for brevity.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractEventEnvelope {
    /// Event id.
    pub id: Uuid,
    /// Event type, e.g. `marketplace.listing.approved`.
    pub event_type: String,
    /// Schema version.
    pub schema_version: u16,
    /// Correlation id.
    pub correlation_id: Uuid,
    /// What caused it.
    pub causation_id: Option<Uuid>,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Trace id.
    pub trace_id: Option<String>,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// Who did it.
    pub actor_id: Option<Uuid>,
    /// The event.
    pub event: ContractEventPayload,
    /// Deliveries before this one.
    pub retry_count: u32,
}

impl ContractEventEnvelope {
    /// The event type.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The root envelope of a root event; other families have none.
    pub fn into_root_envelope(self) -> std::result::Result<EventEnvelope, String> {
        match self.event {
            ContractEventPayload::Root(event) => Ok(EventEnvelope {
                id: self.id,
                event_type: self.event_type,
                schema_version: self.schema_version,
                correlation_id: self.correlation_id,
                causation_id: self.causation_id,
                tenant_id: self.tenant_id,
                trace_id: self.trace_id,
                timestamp: self.timestamp,
                actor_id: self.actor_id,
                event,
                retry_count: self.retry_count,
            }),
            other => Err(format!("{other:?} is not a root event")),
        }
    }
}

/// What a transport promises (RusToK's `ReliabilityLevel`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ReliabilityLevel {
    /// Lost when the process stops.
    InMemory,
    /// Stored with the application's transaction.
    Outbox,
    /// Appended to a durable log.
    Streaming,
}

/// RusToK's `EventTransport`, method for method, default methods included.
#[async_trait]
pub trait EventTransport: Send + Sync {
    /// Publishes one envelope.
    async fn publish(&self, envelope: EventEnvelope) -> Result<()>;

    /// Publishes an envelope of a typed event family. The default accepts
    /// root events only; streaming transports override it.
    async fn publish_contract(&self, envelope: ContractEventEnvelope) -> Result<()> {
        let event_type = envelope.event_type().to_string();
        let root = envelope.into_root_envelope().map_err(|error| {
            Error::Validation(format!(
                "event transport does not support contract event `{event_type}`: {error}"
            ))
        })?;
        self.publish(root).await
    }

    /// Publishes several envelopes.
    async fn publish_batch(&self, events: Vec<EventEnvelope>) -> Result<()> {
        for envelope in events {
            self.publish(envelope).await?;
        }
        Ok(())
    }

    /// Acknowledges a processed event.
    async fn acknowledge(&self, _event_id: Uuid) -> Result<()> {
        Ok(())
    }

    /// What this transport promises.
    fn reliability_level(&self) -> ReliabilityLevel;

    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
}
