//! The transport: composes a backend, codecs and stores, publishes envelopes and
//! starts subscriptions.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Mutex, Weak},
    time::Instant,
};

use bytes::Bytes;
use serde::Serialize;
use tracing::Instrument;

use crate::{
    config::{HealthConfig, LimitsConfig},
    consumer::SubscriptionState,
    metrics::PublishMetrics,
    partition_for, wire, Backend, Codec, CodecExt, ConsumerConfig, DlqStore, Error, ErrorKind,
    EventEnvelope, Message, OffsetStore, PluginKind, Registry, Result, Router, RoutingConfig,
    TopicRef, TransportConfig, Wants,
};

/// Where a published event was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReceipt {
    /// Topic it went to.
    pub topic: TopicRef,
    /// Partition its key maps to.
    pub partition: u32,
    /// Offset the backend gave it.
    pub offset: u64,
}

/// Publishes and consumes [`EventEnvelope`]s over a configured backend.
///
/// Cheap to clone: clones share one backend and its connections.
#[derive(Clone)]
pub struct Transport {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) decoders: HashMap<String, Arc<dyn Codec>>,
    pub(crate) offsets: Arc<dyn OffsetStore>,
    pub(crate) dlq: Arc<dyn DlqStore>,
    pub(crate) router: Router,
    pub(crate) topics: Vec<TopicRef>,
    pub(crate) publish_metrics: Vec<PublishMetrics>,
    pub(crate) stream: String,
    pub(crate) consumer: ConsumerConfig,
    pub(crate) health: HealthConfig,
    pub(crate) limits: LimitsConfig,
    subscriptions: Mutex<Vec<Weak<SubscriptionState>>>,
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
            .field("codec", &i.codec.name())
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
        crate::routing::check_name("stream", &config.stream)?;
        Router::new(&config.routing)?;
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

        // Each family named in config builds what it is asked for in one
        // call: `offsets` and `dlq` default to the backend's family.
        let mut wants: BTreeMap<&str, Wants> = BTreeMap::new();
        wants.entry(&config.backend).or_default().backend = true;
        wants
            .entry(config.offsets.as_deref().unwrap_or(&config.backend))
            .or_default()
            .offsets = true;
        wants
            .entry(config.dlq.as_deref().unwrap_or(&config.backend))
            .or_default()
            .dlq = true;
        let (mut backend, mut offsets, mut dlq) = (None, None, None);
        for (name, wants) in wants {
            let parts = registry
                .build_family(name, &config.plugin(name), wants)
                .await?;
            if wants.backend {
                backend = parts.backend;
            }
            if wants.offsets {
                offsets = parts.offsets;
            }
            if wants.dlq {
                dlq = parts.dlq;
            }
        }
        let backend = backend.ok_or_else(|| {
            Error::config(
                "backend",
                format!("backend `{}` built no backend", config.backend),
            )
        })?;

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
        TransportBuilder {
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

    /// Publishes one event and returns once the backend stored it.
    ///
    /// The envelope is validated, routed to its topic, placed on the partition
    /// its key maps to, and its event encoded with the configured codec. An
    /// event larger than `limits.max_event_bytes` is refused with
    /// [`ErrorKind::InvalidInput`] and nothing is appended.
    pub async fn publish<E: Serialize + Sync>(
        &self,
        envelope: &EventEnvelope<E>,
    ) -> Result<PublishReceipt> {
        let (topic, partition, message) = self.prepare(envelope)?;
        let span = tracing::debug_span!(
            "rustok_iggy.publish",
            event_id = %envelope.id,
            event_type = %envelope.event_type,
            topic = %self.inner.topics[topic],
            partition,
        );
        async {
            let started = Instant::now();
            let metrics = &self.inner.publish_metrics[topic];
            let ack = self
                .inner
                .backend
                .append(&self.inner.topics[topic], partition, vec![message])
                .await
                .map_err(|e| {
                    metrics.failed();
                    e.with_context("operation", "publish")
                })?;
            metrics.appended(1, started.elapsed());
            Ok(PublishReceipt {
                topic: self.inner.topics[topic].clone(),
                partition,
                offset: ack.first_offset,
            })
        }
        .instrument(span)
        .await
    }

    /// Publishes several events, one append per (topic, partition), all
    /// concurrently; returns once every append was stored, with one receipt per
    /// envelope in input order.
    ///
    /// Every envelope is validated, encoded and size-checked before the first
    /// append: an invalid or oversized one fails the whole batch and nothing
    /// is appended.
    ///
    /// Events of one partition keep their input order. If an append fails the
    /// error is returned, and appends to other partitions may have been stored:
    /// publishing the same envelopes again is safe where the backend deduplicates
    /// message ids (Iggy does) and at-least-once otherwise.
    pub async fn publish_batch<E: Serialize + Sync>(
        &self,
        envelopes: &[EventEnvelope<E>],
    ) -> Result<Vec<PublishReceipt>> {
        let mut groups: BTreeMap<(usize, u32), (Vec<usize>, Vec<Message>)> = BTreeMap::new();
        for (index, envelope) in envelopes.iter().enumerate() {
            let (topic, partition, message) = self.prepare(envelope)?;
            let group = groups.entry((topic, partition)).or_default();
            group.0.push(index);
            group.1.push(message);
        }
        let span = tracing::debug_span!(
            "rustok_iggy.publish_batch",
            events = envelopes.len(),
            appends = groups.len()
        );
        let backend = &self.inner.backend;
        let topics = &self.inner.topics;
        let publish_metrics = &self.inner.publish_metrics;
        let appends =
            groups
                .into_iter()
                .map(|((topic, partition), (indexes, messages))| async move {
                    let started = Instant::now();
                    let count = messages.len();
                    let ack = backend
                        .append(&topics[topic], partition, messages)
                        .await
                        .map_err(|e| {
                            publish_metrics[topic].failed();
                            e.with_context("operation", "publish_batch")
                        })?;
                    publish_metrics[topic].appended(count, started.elapsed());
                    Ok::<_, Error>((topic, partition, indexes, ack))
                });
        let acks = futures::future::try_join_all(appends)
            .instrument(span)
            .await?;
        let mut receipts: Vec<Option<PublishReceipt>> = vec![None; envelopes.len()];
        for (topic, partition, indexes, ack) in acks {
            for (i, index) in indexes.into_iter().enumerate() {
                receipts[index] = Some(PublishReceipt {
                    topic: topics[topic].clone(),
                    partition,
                    offset: ack.first_offset + i as u64,
                });
            }
        }
        receipts
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Backend,
                        "backend acknowledged fewer messages than were sent",
                    )
                })
            })
            .collect()
    }

    /// Validates, routes and encodes one envelope: (topic index, partition, message).
    fn prepare<E: Serialize>(&self, envelope: &EventEnvelope<E>) -> Result<(usize, u32, Message)> {
        envelope.validate()?;
        let topic = self.inner.router.route_index(&envelope.event_type);
        let partitions = self.inner.router.topics()[topic].partitions;
        let partition = partition_for(&envelope.partition_key_bytes(), partitions);
        let payload = self
            .inner
            .codec
            .encode_value(&envelope.event)
            .map_err(|e| e.with_context("event_id", envelope.id))?;
        let traceparent = crate::consumer::trace::traceparent(envelope);
        let message = wire::traced_envelope_message(
            envelope,
            self.inner.codec.name(),
            Bytes::from(payload),
            traceparent.as_ref().map(|t| t.as_str()),
        );
        self.check_size(&message)
            .map_err(|e| e.with_context("event_id", envelope.id))?;
        Ok((topic, partition, message))
    }

    /// Refuses a message over `limits.max_event_bytes` (payload plus header
    /// keys and values), naming both sizes and the key that sets the limit.
    fn check_size(&self, message: &Message) -> Result<()> {
        let limit = self.inner.limits.max_event_bytes;
        let size = message.payload.len() + message.headers.encoded_len();
        if size > limit {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "event of {size} bytes (payload {} + headers {}) exceeds the limit of \
                     {limit} bytes; raise `{}` to allow it",
                    message.payload.len(),
                    message.headers.encoded_len(),
                    LimitsConfig::MAX_EVENT_BYTES_KEY,
                ),
            )
            .with_context("key", LimitsConfig::MAX_EVENT_BYTES_KEY));
        }
        Ok(())
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
        &self.inner.codec
    }

    /// The stream all topics live in.
    pub fn stream(&self) -> &str {
        &self.inner.stream
    }

    /// The topics the router sends to.
    pub fn topics(&self) -> &[TopicRef] {
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
        crate::routing::check_name("stream", &self.stream)?;
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
            topics.push(topic);
        }
        let mut decoders: HashMap<String, Arc<dyn Codec>> = self
            .decoders
            .into_iter()
            .map(|c| (c.name().to_owned(), c))
            .collect();
        decoders.insert(self.codec.name().to_owned(), self.codec.clone());
        Ok(Transport {
            inner: Arc::new(Inner {
                backend: self.backend,
                codec: self.codec,
                decoders,
                offsets,
                dlq,
                router,
                publish_metrics: topics.iter().map(PublishMetrics::new).collect(),
                topics,
                stream: self.stream,
                consumer: self.consumer,
                health: self.health,
                limits: self.limits,
                subscriptions: Mutex::new(Vec::new()),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        mocks::{MockBackend, MockCodec, MockDlqStore, MockOffsetStore},
        AppendAck, TopicInfo,
    };
    use mockall::predicate::eq;
    use uuid::Uuid;

    /// A backend mock that accepts topic creation and has its own stores.
    fn backend() -> MockBackend {
        let mut backend = MockBackend::new();
        backend.expect_name().return_const("mock".to_owned());
        backend
            .expect_ensure_topic()
            .returning(|topic, partitions| {
                Ok(TopicInfo {
                    topic: topic.clone(),
                    partitions,
                })
            });
        backend
            .expect_offset_store()
            .returning(|| Some(Arc::new(MockOffsetStore::new())));
        backend
            .expect_dlq_store()
            .returning(|| Some(Arc::new(MockDlqStore::new())));
        backend
    }

    fn codec(payload: &'static [u8]) -> MockCodec {
        let mut codec = MockCodec::new();
        codec.expect_name().return_const("mockcodec".to_owned());
        codec
            .expect_encode()
            .returning(move |_| Ok(payload.to_vec()));
        codec
    }

    fn envelope(tenant: Uuid) -> EventEnvelope<u32> {
        EventEnvelope::builder("order.created", tenant, 7)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn publish_encodes_with_the_codec_and_appends_to_the_keys_partition() {
        let tenant = Uuid::from_u128(42);
        let expected = partition_for(tenant.as_bytes(), 8);
        let event = envelope(tenant);
        let event_id = event.id.as_u128();
        let mut backend = backend();
        backend
            .expect_append()
            .withf(move |topic, partition, messages| {
                topic == &TopicRef::new("rustok", "events")
                    && *partition == expected
                    && messages.len() == 1
                    && messages[0].id == event_id
                    && &messages[0].payload[..] == b"encoded"
                    && messages[0].headers.get_str(wire::header::CODEC).unwrap()
                        == Some("mockcodec")
            })
            .times(1)
            .returning(|_, _, _| {
                Ok(AppendAck {
                    first_offset: 41,
                    count: 1,
                })
            });
        let transport = Transport::builder(Arc::new(backend), Arc::new(codec(b"encoded")))
            .build()
            .await
            .unwrap();
        let receipt = transport.publish(&event).await.unwrap();
        assert_eq!(receipt.partition, expected);
        assert_eq!(receipt.offset, 41);
    }

    #[tokio::test]
    async fn a_failing_append_surfaces_as_a_retryable_error() {
        let mut backend = backend();
        backend
            .expect_append()
            .times(1)
            .returning(|_, _, _| Err(Error::new(ErrorKind::Unavailable, "connection reset")));
        let transport = Transport::builder(Arc::new(backend), Arc::new(codec(b"x")))
            .build()
            .await
            .unwrap();
        let err = transport
            .publish(&envelope(Uuid::now_v7()))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert_eq!(err.context("operation"), Some("publish"));
    }

    #[tokio::test]
    async fn invalid_envelopes_and_codec_failures_append_nothing() {
        let mut codec = MockCodec::new();
        codec.expect_name().return_const("mockcodec".to_owned());
        codec
            .expect_encode()
            .returning(|_| Err(Error::new(ErrorKind::Codec, "cannot encode")));
        // No append expectation: any append fails the test.
        let transport = Transport::builder(Arc::new(backend()), Arc::new(codec))
            .build()
            .await
            .unwrap();
        let mut bad = envelope(Uuid::now_v7());
        bad.event_type.clear();
        let err = transport.publish(&bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = transport
            .publish(&envelope(Uuid::now_v7()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec);
    }

    #[tokio::test]
    async fn batches_append_once_per_partition_and_keep_input_order() {
        let tenants = [Uuid::from_u128(1), Uuid::from_u128(3)];
        assert_ne!(
            partition_for(tenants[0].as_bytes(), 8),
            partition_for(tenants[1].as_bytes(), 8),
            "fixture needs two partitions"
        );
        let mut backend = backend();
        backend
            .expect_append()
            .times(2)
            .returning(|_, partition, messages| {
                Ok(AppendAck {
                    first_offset: u64::from(partition) * 100,
                    count: messages.len() as u32,
                })
            });
        let transport = Transport::builder(Arc::new(backend), Arc::new(codec(b"x")))
            .build()
            .await
            .unwrap();
        let batch: Vec<_> = [0, 1, 0, 1, 0].map(|i| envelope(tenants[i])).into();
        let receipts = transport.publish_batch(&batch).await.unwrap();
        let p = |i: usize| partition_for(tenants[i].as_bytes(), 8);
        let offsets: Vec<(u32, u64)> = receipts.iter().map(|r| (r.partition, r.offset)).collect();
        let base = |i: usize| u64::from(p(i)) * 100;
        assert_eq!(
            offsets,
            vec![
                (p(0), base(0)),
                (p(1), base(1)),
                (p(0), base(0) + 1),
                (p(1), base(1) + 1),
                (p(0), base(0) + 2)
            ]
        );
    }

    #[tokio::test]
    async fn routing_rules_pick_topics_and_every_topic_is_ensured() {
        let mut backend = MockBackend::new();
        backend.expect_name().return_const("mock".to_owned());
        backend
            .expect_ensure_topic()
            .with(eq(TopicRef::new("app", "events")), eq(8))
            .times(1)
            .returning(|t, p| {
                Ok(TopicInfo {
                    topic: t.clone(),
                    partitions: p,
                })
            });
        backend
            .expect_ensure_topic()
            .with(eq(TopicRef::new("app", "orders")), eq(2))
            .times(1)
            .returning(|t, p| {
                Ok(TopicInfo {
                    topic: t.clone(),
                    partitions: p,
                })
            });
        backend
            .expect_append()
            .withf(|topic, partition, _| topic.topic == "orders" && *partition < 2)
            .times(1)
            .returning(|_, _, _| {
                Ok(AppendAck {
                    first_offset: 0,
                    count: 1,
                })
            });
        let transport = Transport::builder(Arc::new(backend), Arc::new(codec(b"x")))
            .stream("app")
            .routing(RoutingConfig {
                rules: vec![crate::RouteRule {
                    prefix: "order.".into(),
                    topic: "orders".into(),
                    partitions: Some(2),
                }],
                ..RoutingConfig::default()
            })
            .offsets(Arc::new(MockOffsetStore::new()))
            .dlq(Arc::new(MockDlqStore::new()))
            .build()
            .await
            .unwrap();
        let receipt = transport.publish(&envelope(Uuid::now_v7())).await.unwrap();
        assert_eq!(receipt.topic, TopicRef::new("app", "orders"));
    }

    #[tokio::test]
    async fn a_backend_without_stores_needs_them_named() {
        let mut backend = MockBackend::new();
        backend.expect_name().return_const("bare".to_owned());
        backend.expect_offset_store().returning(|| None);
        backend.expect_dlq_store().returning(|| None);
        let err = Transport::builder(Arc::new(backend), Arc::new(codec(b"x")))
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.context("key"), Some("offsets"));
    }
}
