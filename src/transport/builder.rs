//! [`TransportBuilder`]: a transport composed from plugin instances.

use std::sync::Arc;

use super::{Inner, Transport};
use crate::{
    config::{HealthConfig, LimitsConfig},
    envelope::EnvelopeCodec,
    metrics::PublishMetrics,
    Backend, Codec, ConsumerConfig, DlqStore, Error, OffsetStore, PluginKind, Result, Router,
    RoutingConfig, TopicRef, TransportConfig,
};

/// Builds a [`Transport`] from plugin instances; see [`Transport::builder`].
#[must_use]
pub struct TransportBuilder {
    backend: Arc<dyn Backend>,
    codec: Arc<dyn Codec>,
    decoders: Vec<Arc<dyn Codec>>,
    offsets: Option<Arc<dyn OffsetStore>>,
    dlq: Option<Arc<dyn DlqStore>>,
    stream: String,
    routing: RoutingConfig,
    consumer: ConsumerConfig,
    health: HealthConfig,
    limits: LimitsConfig,
}

impl TransportBuilder {
    pub(super) fn new(backend: Arc<dyn Backend>, codec: Arc<dyn Codec>) -> Self {
        Self {
            backend,
            codec,
            decoders: Vec::new(),
            offsets: None,
            dlq: None,
            stream: TransportConfig::default().stream,
            routing: RoutingConfig::default(),
            consumer: ConsumerConfig::default(),
            health: HealthConfig::default(),
            limits: LimitsConfig::default(),
        }
    }

    /// Adds a codec for reading messages written with it (the writing codec is
    /// always readable).
    pub fn decoder(mut self, codec: Arc<dyn Codec>) -> Self {
        self.decoders.push(codec);
        self
    }

    /// Uses this offset store instead of the backend's own.
    pub fn offsets(mut self, store: Arc<dyn OffsetStore>) -> Self {
        self.offsets = Some(store);
        self
    }

    /// Uses this DLQ store instead of the backend's own.
    pub fn dlq(mut self, store: Arc<dyn DlqStore>) -> Self {
        self.dlq = Some(store);
        self
    }

    /// Sets the stream (default `rustok`).
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = stream.into();
        self
    }

    /// Sets the routing rules.
    pub fn routing(mut self, routing: RoutingConfig) -> Self {
        self.routing = routing;
        self
    }

    /// Sets the subscription defaults.
    pub fn consumer(mut self, consumer: ConsumerConfig) -> Self {
        self.consumer = consumer;
        self
    }

    /// Sets the health thresholds.
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.health = health;
        self
    }

    /// Sets the size limits (default: 1 MiB per event).
    pub fn limits(mut self, limits: LimitsConfig) -> Self {
        self.limits = limits;
        self
    }

    /// Checks the parts, ensures every routed topic exists with its partition
    /// count, and returns the transport.
    pub async fn build(mut self) -> Result<Transport> {
        // The checks every backend relies on.
        self.backend = Arc::new(crate::Checked::new(self.backend));
        self.consumer.validate()?;
        self.limits.validate()?;
        crate::check_name("stream", &self.stream)?;
        let router = Router::new(&self.routing)?;
        let missing = |kind: PluginKind| {
            Error::config(
                kind.config_key(),
                format!(
                    "backend `{}` has no {kind} of its own; name one in config",
                    self.backend.name()
                ),
            )
        };
        let offsets = match self.offsets {
            Some(store) => store,
            None => self
                .backend
                .offset_store()
                .ok_or_else(|| missing(PluginKind::Offsets))?,
        };
        let dlq = match self.dlq {
            Some(store) => store,
            None => self
                .backend
                .dlq_store()
                .ok_or_else(|| missing(PluginKind::Dlq))?,
        };
        let mut topics = Vec::with_capacity(router.topics().len());
        for routed in router.topics() {
            let topic = TopicRef::new(self.stream.clone(), routed.name.clone());
            self.backend
                .ensure_topic(&topic, routed.partitions)
                .await
                .map_err(|e| e.with_context("operation", "ensure_topic"))?;
            topics.push(Arc::new(topic));
        }
        Ok(Transport {
            inner: Arc::new(Inner {
                backend: self.backend,
                envelopes: EnvelopeCodec::new(self.codec, self.decoders),
                offsets,
                dlq,
                router,
                publish_metrics: topics.iter().map(|t| PublishMetrics::new(t)).collect(),
                topics,
                stream: self.stream,
                consumer: self.consumer,
                health: self.health,
                limits: self.limits,
                subscriptions: Default::default(),
            }),
        })
    }
}
