//! Reading RusToK's existing topics (`consumer.legacy_format`): messages
//! RusToK's own transport wrote (the whole envelope as the payload, JSON or
//! MessagePack with named fields, no headers) appended to the memory
//! backend as they lie on RusToK's topics, then consumed. With the fallback
//! on, handlers get them with their metadata and garbage goes to the DLQ
//! with a reason; with it off, every header-less message goes to the DLQ.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{TimeDelta, TimeZone, Utc};
use rustok_iggy::{
    wire::{self, header},
    Backend, ConsumerConfig, Delivery, DlqEntry, DlqFilter, EventEnvelope, Handler, HandlerError,
    Headers, LegacyFormat, Message, RetryConfig, RoutingConfig, Subscription, SubscriptionOptions,
    SubscriptionStats, Transport, TransportConfig,
};
use rustok_iggy_codecs::JsonCodec;
use rustok_iggy_testkit::{
    eventually,
    rustok::{Domain, RusTokWritten},
    MemoryBackend,
};

/// The envelope RusToK's transport writes, with a `DomainEvent`.
type RusTokEnvelope = RusTokWritten<Domain>;
use uuid::Uuid;

const TENANT: Uuid = Uuid::from_u128(0x0198_0000_0000_7000_8000_0000_0000_0042);

fn rustok_event(n: u128, all_fields: bool) -> RusTokEnvelope {
    let at = Utc.with_ymd_and_hms(2026, 7, 23, 17, 1, 40).unwrap();
    RusTokEnvelope {
        id: Uuid::from_u128(0x0198_0000_0000_7000_8000_0000_0000_1000 + n),
        event_type: "node.created".into(),
        schema_version: 2,
        correlation_id: Uuid::from_u128(0x2000 + n),
        causation_id: all_fields.then(|| Uuid::from_u128(0x3000 + n)),
        tenant_id: TENANT,
        trace_id: all_fields.then(|| format!("trace-{n}")),
        timestamp: at + TimeDelta::microseconds(n as i64),
        actor_id: all_fields.then(|| Uuid::from_u128(0x5000 + n)),
        event: Domain::NodeCreated {
            node_id: Uuid::from_u128(0x6000 + n),
            kind: "post".into(),
            author_id: None,
        },
        retry_count: n as u32,
    }
}

/// A message as RusToK's connector sends it: no headers, the envelope as
/// the payload, and a message id of the server's choosing (never the event
/// id: RusToK does not set one).
fn headerless(message_id: u128, payload: Vec<u8>) -> Message {
    Message {
        origin_timestamp_micros: None,
        id: message_id,
        headers: Headers::new(),
        payload: Bytes::from(payload),
    }
}

/// What RusToK left on a topic: a JSON envelope, a MessagePack one (named
/// fields) and garbage, at offsets 0, 1 and 2.
fn rustok_topic() -> (Vec<RusTokEnvelope>, Vec<Message>) {
    let json = rustok_event(1, true);
    let msgpack = rustok_event(2, false);
    let messages = vec![
        headerless(0xA1, serde_json::to_vec(&json).unwrap()),
        headerless(0xA2, rmp_serde::to_vec_named(&msgpack).unwrap()),
        headerless(0xA3, b"\xff\x00not an envelope".to_vec()),
    ];
    (vec![json, msgpack], messages)
}

/// Every event a subscription handled, with where it was read.
#[derive(Default)]
struct Received(Mutex<Vec<(EventEnvelope<Domain>, Delivery)>>);

#[async_trait::async_trait]
impl Handler<Domain> for Received {
    async fn handle(
        &self,
        envelope: EventEnvelope<Domain>,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        self.0
            .lock()
            .map_err(|_| HandlerError::transient("poisoned"))?
            .push((envelope, delivery.clone()));
        Ok(())
    }
}

impl Received {
    fn events(&self) -> Vec<(EventEnvelope<Domain>, Delivery)> {
        self.0.lock().unwrap().clone()
    }
}

fn consumer(legacy_format: LegacyFormat) -> ConsumerConfig {
    ConsumerConfig {
        heartbeat_ms: 10,
        poll_wait_ms: 20,
        legacy_format,
        retry: RetryConfig {
            max_attempts: 2,
            initial_backoff_ms: 1,
            max_backoff_ms: 2,
            ..RetryConfig::default()
        },
        ..ConsumerConfig::default()
    }
}

/// A transport over RusToK's layout (stream `rustok`, topic `domain`), one
/// partition, header-less messages off by default; `messages` already on it.
async fn rustok_transport(messages: Vec<Message>) -> Transport {
    let backend = Arc::new(MemoryBackend::new());
    let transport = Transport::builder(backend.clone(), Arc::new(JsonCodec::new()))
        .routing(RoutingConfig {
            default_topic: "domain".into(),
            partitions: 1,
            ..RoutingConfig::default()
        })
        .consumer(consumer(LegacyFormat::None))
        .build()
        .await
        .unwrap();
    backend
        .append(&transport.topic("domain"), 0, messages)
        .await
        .unwrap();
    transport
}

/// Waits until `subscription` finished with `messages` messages (handled
/// or dead-lettered), then stops it; what became of each is the test's to
/// check, so a broken fallback fails an assertion rather than a wait.
async fn drain(subscription: Subscription, messages: u64) -> SubscriptionStats {
    eventually("every message handled or dead-lettered", || async {
        let stats = subscription.stats();
        stats.handled + stats.dead_lettered == messages
    })
    .await;
    let stats = subscription.stats();
    assert!(subscription.shutdown().await.unwrap().is_clean());
    stats
}

async fn dead_letters(transport: &Transport) -> Vec<DlqEntry> {
    transport
        .dead_letters()
        .list(DlqFilter::default(), None, 100)
        .await
        .unwrap()
        .entries
}

/// `read` is `written`, field by field, as read from `offset` on attempt 1.
fn assert_same(read: &(EventEnvelope<Domain>, Delivery), written: &RusTokEnvelope, offset: u64) {
    let (envelope, delivery) = read;
    assert_eq!(envelope.id, written.id, "the event id is the payload's");
    assert_eq!(envelope.event_type, written.event_type);
    assert_eq!(envelope.schema_version, written.schema_version);
    assert_eq!(envelope.tenant_id, written.tenant_id);
    assert_eq!(envelope.correlation_id, written.correlation_id);
    assert_eq!(envelope.causation_id, written.causation_id);
    assert_eq!(envelope.actor_id, written.actor_id);
    assert_eq!(envelope.trace_id, written.trace_id);
    assert_eq!(envelope.timestamp, written.timestamp);
    assert_eq!(envelope.retry_count, written.retry_count);
    assert_eq!(envelope.partition_key, None);
    assert_eq!(envelope.event, written.event);
    assert_eq!((delivery.offset, delivery.attempt), (offset, 1));
}

#[tokio::test]
async fn with_the_fallback_on_rustok_envelopes_reach_handlers_and_garbage_the_dlq() {
    let (written, messages) = rustok_topic();
    let transport = rustok_transport(messages).await;
    // After the cutover this transport publishes to the same topic, with
    // headers; both kinds are read side by side.
    let native = EventEnvelope::builder("node.created", TENANT, rustok_event(3, true).event)
        .build()
        .unwrap();
    transport.publish(&native).await.unwrap();

    let received = Arc::new(Received::default());
    // The transport's default is off; this subscription turns it on.
    let options = SubscriptionOptions::new("billing", ["domain"])
        .consumer(consumer(LegacyFormat::RustokAuto));
    let subscription = transport
        .subscribe_with(options, received.clone())
        .await
        .unwrap();
    let stats = drain(subscription, 4).await;

    let events = received.events();
    assert_same(&events[0], &written[0], 0);
    assert_same(&events[1], &written[1], 1);
    assert_eq!(events[2].0.id, native.id);
    assert_eq!(events[2].1.offset, 3);
    assert_eq!((stats.handled, stats.dead_lettered), (3, 1));

    let letters = dead_letters(&transport).await;
    assert_eq!(letters.len(), 1, "only the garbage");
    let letter = &letters[0].letter;
    assert_eq!((letter.offset, letter.message.id), (2, 0xA3));
    assert_eq!(letter.attempts, 1, "never retried: {}", letter.error);
    assert!(letter.error.contains("undecodable"), "{}", letter.error);
    assert!(
        letter
            .error
            .contains("not a RusToK envelope in MessagePack"),
        "{}",
        letter.error
    );
    assert_eq!(&letter.message.payload[..], b"\xff\x00not an envelope");
    let committed = transport
        .offset_store()
        .load("billing", &transport.topic("domain"), 0)
        .await
        .unwrap();
    assert_eq!(committed, Some(4), "committed past the dead letter");
}

#[tokio::test]
async fn with_the_fallback_off_every_headerless_message_goes_to_the_dlq() {
    let (_, messages) = rustok_topic();
    let transport = rustok_transport(messages).await;
    let received = Arc::new(Received::default());
    let subscription = transport
        .subscribe("billing", &["domain"], received.clone())
        .await
        .unwrap();
    let stats = drain(subscription, 3).await;
    assert_eq!((stats.handled, stats.dead_lettered), (0, 3));
    assert!(received.events().is_empty());

    let letters = dead_letters(&transport).await;
    let ids: Vec<u128> = letters.iter().map(|e| e.letter.message.id).collect();
    assert_eq!(ids, vec![0xA1, 0xA2, 0xA3]);
    for entry in &letters {
        let error = &entry.letter.error;
        assert!(error.contains("undecodable"), "{error}");
        assert!(
            error.contains("none of this transport's headers"),
            "{error}"
        );
        assert!(error.contains("consumer.legacy_format"), "{error}");
        assert_eq!(entry.letter.attempts, 1);
    }
}

#[tokio::test]
async fn a_fixed_format_reads_only_that_format() {
    for (format, handled, refused, says) in [
        (
            LegacyFormat::RustokJson,
            0,
            0xA2,
            "not a RusToK envelope in JSON",
        ),
        (
            LegacyFormat::RustokMsgpack,
            1,
            0xA1,
            "not a RusToK envelope in MessagePack",
        ),
    ] {
        let (written, messages) = rustok_topic();
        let transport = rustok_transport(messages).await;
        let received = Arc::new(Received::default());
        let options = SubscriptionOptions::new("g", ["domain"]).consumer(consumer(format));
        let subscription = transport
            .subscribe_with(options, received.clone())
            .await
            .unwrap();
        let stats = drain(subscription, 3).await;
        assert_eq!((stats.handled, stats.dead_lettered), (1, 2), "{format:?}");
        let events = received.events();
        assert_eq!(events.len(), 1, "{format:?}");
        assert_same(&events[0], &written[handled], handled as u64);
        let letters = dead_letters(&transport).await;
        let refused = letters
            .iter()
            .find(|e| e.letter.message.id == refused)
            .unwrap();
        assert!(
            refused.letter.error.contains(says),
            "{}",
            refused.letter.error
        );
    }
}

/// With the fallback on, a message carrying some of this transport's
/// headers is still read by them: a damaged message of this transport is
/// not mistaken for a RusToK one. A `traceparent` alone does not count.
#[tokio::test]
async fn only_messages_with_none_of_the_headers_are_read_as_rustok_envelopes() {
    let native = EventEnvelope::builder("node.created", TENANT, rustok_event(1, true).event)
        .build()
        .unwrap();
    let mut damaged = wire::envelope_message(
        &native,
        "json",
        Bytes::from(serde_json::to_vec(&native.event).unwrap()),
    )
    .unwrap();
    damaged.headers.remove(header::EVENT_TYPE);
    let rustok = rustok_event(2, true);
    let mut traced = headerless(0xB2, serde_json::to_vec(&rustok).unwrap());
    traced
        .headers
        .insert(
            header::TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .unwrap();
    let transport = rustok_transport(vec![damaged, traced]).await;
    let received = Arc::new(Received::default());
    let options =
        SubscriptionOptions::new("g", ["domain"]).consumer(consumer(LegacyFormat::RustokAuto));
    let subscription = transport
        .subscribe_with(options, received.clone())
        .await
        .unwrap();
    let stats = drain(subscription, 2).await;
    assert_eq!((stats.handled, stats.dead_lettered), (1, 1));
    assert_same(&received.events()[0], &rustok, 1);
    let letters = dead_letters(&transport).await;
    assert!(
        letters[0].letter.error.contains("no `event-type` header"),
        "{}",
        letters[0].letter.error
    );
}

/// The key set in a config file or the environment reaches subscriptions.
#[tokio::test]
async fn the_setting_comes_from_config_and_the_environment() {
    rustok_iggy_codecs::link();
    rustok_iggy_testkit::link();
    let config = TransportConfig::from_toml_and_env(
        "backend = \"memory\"\nstream = \"rustok\"\n[routing]\ndefault_topic = \"domain\"\npartitions = 1\n[consumer]\nlegacy_format = \"rustok-msgpack\"",
        [(
            "RUSTOK_IGGY__CONSUMER__LEGACY_FORMAT".to_owned(),
            "rustok-json".to_owned(),
        )],
    )
    .unwrap();
    assert_eq!(config.consumer.legacy_format, LegacyFormat::RustokJson);
    let transport = Transport::from_config(&config).await.unwrap();
    let written = rustok_event(1, true);
    transport
        .backend()
        .append(
            &transport.topic("domain"),
            0,
            vec![headerless(0xC1, serde_json::to_vec(&written).unwrap())],
        )
        .await
        .unwrap();
    let received = Arc::new(Received::default());
    let subscription = transport
        .subscribe("g", &["domain"], received.clone())
        .await
        .unwrap();
    let stats = drain(subscription, 1).await;
    assert_eq!(stats.handled, 1);
    assert_same(&received.events()[0], &written, 0);
}
