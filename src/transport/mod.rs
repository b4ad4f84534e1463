//! The transport: composes a backend, codecs and stores, publishes envelopes and
//! starts subscriptions. For applications.

mod builder;
mod dead_letters;
mod event_transport;
mod health;
mod partition;
mod publish;
mod routing;
#[cfg(test)]
mod tests;

pub use builder::TransportBuilder;
pub use dead_letters::DeadLetters;
pub use event_transport::{EventTransport, ReliabilityLevel};
pub use partition::partition_for;
pub use routing::{check_name, RouteRule, RoutedTopic, Router, RoutingConfig};

use std::{
    fmt,
    sync::{Arc, Mutex, Weak},
};

use crate::{
    config::{HealthConfig, LimitsConfig},
    consumer::SubscriptionState,
    envelope::EnvelopeCodec,
    metrics::PublishMetrics,
    Backend, Codec, ConsumerConfig, DlqStore, OffsetStore, PluginKind, Registry, Result, TopicRef,
    TransportConfig,
};

/// Where a published event was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReceipt {
    /// Topic it went to; shared with the transport, so a receipt costs no
    /// allocation.
    pub topic: Arc<TopicRef>,
    /// Partition its key maps to.
    pub partition: u32,
    /// Offset the backend gave it.
    pub offset: u64,
}

/// Publishes and consumes [`EventEnvelope`](crate::EventEnvelope)s over a configured backend.
///
/// Cheap to clone: clones share one backend and its connections.
#[derive(Clone)]
pub struct Transport {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) envelopes: EnvelopeCodec,
    pub(crate) offsets: Arc<dyn OffsetStore>,
    pub(crate) dlq: Arc<dyn DlqStore>,
    pub(crate) router: Router,
    pub(crate) topics: Vec<Arc<TopicRef>>,
    pub(crate) publish_metrics: Vec<PublishMetrics>,
    pub(crate) stream: String,
    pub(crate) consumer: ConsumerConfig,
    pub(crate) health: HealthConfig,
    pub(crate) limits: LimitsConfig,
    pub(crate) subscriptions: Mutex<Vec<Weak<SubscriptionState>>>,
}

impl Inner {
    /// Lists `state` in health reports while its subscription runs.
    pub(crate) fn track(&self, state: &Arc<SubscriptionState>) {
        let mut tracked = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        tracked.retain(|s| s.strong_count() > 0);
        tracked.push(Arc::downgrade(state));
    }

    /// Subscriptions that still run.
    pub(crate) fn live_subscriptions(&self) -> Vec<Arc<SubscriptionState>> {
        let mut tracked = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        tracked.retain(|s| {
            s.upgrade()
                .is_some_and(|s| !s.stopped.load(std::sync::atomic::Ordering::Relaxed))
        });
        tracked.iter().filter_map(Weak::upgrade).collect()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Transport")
            .field("backend", &i.backend.name())
            .field("codec", &i.envelopes.writer().name())
            .field("offsets", &i.offsets.name())
            .field("dlq", &i.dlq.name())
            .field("stream", &i.stream)
            .field("topics", &i.topics)
            .finish()
    }
}

impl Transport {
    /// Builds the transport `config` describes from the plugins registered at
    /// link time, and ensures its topics exist.
    pub async fn from_config(config: &TransportConfig) -> Result<Self> {
        Self::from_config_with(config, &Registry::from_inventory()).await
    }

    /// Like [`Transport::from_config`], with an explicit registry.
    pub async fn from_config_with(config: &TransportConfig, registry: &Registry) -> Result<Self> {
        // Check the parts that need no I/O before connecting anything.
        config.consumer.validate()?;
        config.limits.validate()?;
        crate::check_name("stream", &config.stream)?;
        Router::new(&config.routing)?;
        // A misspelt `[plugins.*]` section would leave its plugin on defaults.
        config.plugins.check_known(&registry.all_names())?;
        // Every registered codec reads; the configured one also writes.
        let mut decoders = Vec::new();
        let mut codec = None;
        for name in registry.names(PluginKind::Codec) {
            let built = registry.build_codec(name, &config.plugin(name))?;
            if name == config.codec {
                codec = Some(built.clone());
            }
            decoders.push(built);
        }
        let codec = match codec {
            Some(codec) => codec,
            // Not registered: the lookup fails with the list of registered names.
            None => registry.build_codec(&config.codec, &config.plugin(&config.codec))?,
        };

        let (backend, offsets, dlq) = registry.compose(config).await?;

        let mut builder = Transport::builder(backend, codec)
            .stream(config.stream.clone())
            .routing(config.routing.clone())
            .consumer(config.consumer.clone())
            .health(config.health.clone())
            .limits(config.limits.clone());
        for decoder in decoders {
            builder = builder.decoder(decoder);
        }
        if let Some(store) = offsets {
            builder = builder.offsets(store);
        }
        if let Some(store) = dlq {
            builder = builder.dlq(store);
        }
        builder.build().await
    }

    /// Composes a transport from plugin instances, without the registry.
    pub fn builder(backend: Arc<dyn Backend>, codec: Arc<dyn Codec>) -> TransportBuilder {
        TransportBuilder::new(backend, codec)
    }

    /// The backend this transport runs on.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// The offset store subscriptions commit to.
    pub fn offset_store(&self) -> &Arc<dyn OffsetStore> {
        &self.inner.offsets
    }

    /// The dead-letter store subscriptions write to.
    pub fn dlq_store(&self) -> &Arc<dyn DlqStore> {
        &self.inner.dlq
    }

    /// The codec new messages are written with.
    pub fn codec(&self) -> &Arc<dyn Codec> {
        self.inner.envelopes.writer()
    }

    /// The stream all topics live in.
    pub fn stream(&self) -> &str {
        &self.inner.stream
    }

    /// The topics the router sends to.
    pub fn topics(&self) -> &[Arc<TopicRef>] {
        &self.inner.topics
    }

    /// `name` in this transport's stream.
    pub fn topic(&self, name: &str) -> TopicRef {
        TopicRef::new(self.inner.stream.clone(), name)
    }

    /// Stops every running subscription of this transport (each as
    /// [`Subscription::shutdown`](crate::Subscription::shutdown) would: drain
    /// in-flight handlers up to its deadline, commit, leave its groups), then
    /// closes the backend. Handlers still running at a deadline are in the
    /// returned report; their messages stay uncommitted.
    pub async fn shutdown(&self) -> Result<crate::ShutdownReport> {
        let mut report = crate::ShutdownReport::default();
        let mut first_error = None;
        for state in self.inner.live_subscriptions() {
            match crate::consumer::stop(&state, state.shutdown_timeout).await {
                Ok(r) => report.stuck.extend(r.stuck),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.inner.backend.shutdown().await?;
        first_error.map_or(Ok(report), Err)
    }
}
