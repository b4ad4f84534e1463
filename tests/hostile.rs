//! Hostile input at the transport: oversized events (refused at publish with
//! a clear error, nothing appended), messages whose headers are not valid
//! UTF-8 or name an unknown codec (to the DLQ with a reason, the consumer goes
//! on), and invalid config values (an error that names the key and says what
//! is valid).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{numbered_events, Numbered};
use rustok_iggy::{
    wire::{self, header},
    Backend, ConsumerConfig, DlqFilter, ErrorKind, EventEnvelope, LimitsConfig, Message,
    RetryConfig, RoutingConfig, Transport, TransportConfig,
};
use rustok_iggy_codecs::JsonCodec;
use rustok_iggy_testkit::{eventually, MemoryBackend};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An event whose size the test controls.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Blob {
    data: String,
}

fn blob(tenant: Uuid, bytes: usize) -> EventEnvelope<Blob> {
    EventEnvelope::builder(
        "test.blob",
        tenant,
        Blob {
            data: "x".repeat(bytes),
        },
    )
    .build()
    .unwrap()
}

async fn transport_with_limit(
    max_event_bytes: Option<usize>,
    partitions: u32,
) -> (Transport, Arc<MemoryBackend>) {
    let backend = Arc::new(MemoryBackend::new());
    let mut builder = Transport::builder(backend.clone(), Arc::new(JsonCodec::new()))
        .routing(RoutingConfig {
            partitions,
            ..RoutingConfig::default()
        })
        .consumer(ConsumerConfig {
            heartbeat_ms: 10,
            poll_wait_ms: 20,
            retry: RetryConfig {
                max_attempts: 2,
                initial_backoff_ms: 1,
                max_backoff_ms: 2,
                ..RetryConfig::default()
            },
            ..ConsumerConfig::default()
        });
    if let Some(max_event_bytes) = max_event_bytes {
        builder = builder.limits(LimitsConfig { max_event_bytes });
    }
    (builder.build().await.unwrap(), backend)
}

/// Records stored in every partition of the default topic.
async fn stored(transport: &Transport, backend: &MemoryBackend, partitions: u32) -> usize {
    let topic = transport.topic("events");
    let mut total = 0;
    for p in 0..partitions {
        total += backend.records(&topic, p).unwrap().len();
    }
    total
}

#[tokio::test]
async fn an_oversized_event_is_refused_naming_its_size_the_limit_and_the_key() {
    let (transport, backend) = transport_with_limit(Some(1_000), 1).await;
    let tenant = Uuid::now_v7();

    let err = transport.publish(&blob(tenant, 5_000)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!err.is_retryable(), "retrying cannot make it fit");
    assert_eq!(err.context("key"), Some("limits.max_event_bytes"));
    let text = err.to_string();
    assert!(text.contains("limit of 1000 bytes"), "{text}");
    assert!(text.contains("limits.max_event_bytes"), "{text}");
    // The size it names is the encoded payload (5,000 x plus JSON framing)
    // plus the headers.
    let size: usize = text
        .split("event of ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in {text}"));
    assert!(size > 5_000, "{text}");
    assert!(err.context("event_id").is_some(), "{err:?}");
    assert_eq!(stored(&transport, &backend, 1).await, 0, "nothing appended");

    // Just under the limit is fine; the limit counts headers too.
    let receipt = transport.publish(&blob(tenant, 300)).await.unwrap();
    assert_eq!(receipt.offset, 0);
    let record = &backend.records(&receipt.topic, 0).unwrap()[0];
    let counted = record.message.payload.len() + record.message.headers.encoded_len();
    assert!(counted <= 1_000 && counted > 300, "{counted}");
    let exact = blob(tenant, 300 + (1_000 - counted));
    transport.publish(&exact).await.unwrap();
    let one_over = blob(tenant, 301 + (1_000 - counted));
    let err = transport.publish(&one_over).await.unwrap_err();
    assert!(
        err.to_string().contains("event of 1001 bytes"),
        "one byte over: {err}"
    );
}

#[tokio::test]
async fn a_batch_with_one_oversized_event_appends_nothing_at_all() {
    let partitions = 8;
    let (transport, backend) = transport_with_limit(Some(2_048), partitions).await;
    let mut batch: Vec<EventEnvelope<Blob>> = (0..20).map(|_| blob(Uuid::now_v7(), 100)).collect();
    batch.push(blob(Uuid::now_v7(), 4_096));
    batch.extend((0..20).map(|_| blob(Uuid::now_v7(), 100)));
    let err = transport.publish_batch(&batch).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.context("event_id"),
        Some(batch[20].id.to_string().as_str()),
        "the error names the offending event"
    );
    assert_eq!(stored(&transport, &backend, partitions).await, 0);

    batch.remove(20);
    assert_eq!(transport.publish_batch(&batch).await.unwrap().len(), 40);
    assert_eq!(stored(&transport, &backend, partitions).await, 40);
}

#[tokio::test]
async fn the_default_limit_is_one_mib_and_config_sets_it() {
    let (transport, _) = transport_with_limit(None, 1).await;
    transport
        .publish(&blob(Uuid::now_v7(), 1_000_000))
        .await
        .unwrap();
    let err = transport
        .publish(&blob(Uuid::now_v7(), 1 << 20))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limit of 1048576 bytes"), "{err}");

    rustok_iggy_codecs::link();
    rustok_iggy_testkit::link();
    let config = TransportConfig::from_toml_and_env(
        "backend = \"memory\"\n[limits]\nmax_event_bytes = 2000000",
        [(
            "RUSTOK_IGGY__LIMITS__MAX_EVENT_BYTES".to_owned(),
            "4096".to_owned(),
        )],
    )
    .unwrap();
    assert_eq!(
        config.limits.max_event_bytes, 4096,
        "env overrides the file"
    );
    let transport = Transport::from_config(&config).await.unwrap();
    let err = transport
        .publish(&blob(Uuid::now_v7(), 8_192))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limit of 4096 bytes"), "{err}");
}

/// A valid message for `envelope` with one header replaced by `value`.
fn with_header(envelope: &EventEnvelope<Numbered>, key: &str, value: &'static [u8]) -> Message {
    let payload = serde_json::to_vec(&envelope.event).unwrap();
    let mut message = wire::envelope_message(envelope, "json", Bytes::from(payload)).unwrap();
    message.headers.insert(key, value).unwrap();
    message
}

#[tokio::test]
async fn bad_headers_go_to_the_dlq_with_a_reason_and_the_consumer_goes_on() {
    const NOT_UTF8: &[u8] = &[0xc3, 0x28, 0xff, 0xfe];
    let (transport, backend) = transport_with_limit(None, 1).await;
    let topic = transport.topic("events");
    // Every header the envelope is read from, set to invalid UTF-8 (the
    // optional ones too: present but unreadable is not "absent"), then the
    // codec header garbled, empty, unknown and missing.
    let fields = [
        header::EVENT_TYPE,
        header::SCHEMA_VERSION,
        header::TENANT_ID,
        header::CORRELATION_ID,
        header::CAUSATION_ID,
        header::ACTOR_ID,
        header::TRACE_ID,
        header::TIMESTAMP,
        header::RETRY_COUNT,
        header::PARTITION_KEY,
        header::CODEC,
    ];
    let events = numbered_events(fields.len() + 5, 1);
    let mut expected: Vec<(u128, String)> = Vec::new();
    let mut messages = Vec::new();
    for (field, event) in fields.iter().zip(&events) {
        messages.push(with_header(event, field, NOT_UTF8));
        expected.push((event.id.as_u128(), "UTF-8".into()));
    }
    let rest = &events[fields.len()..];
    messages.push(with_header(&rest[0], header::CODEC, b""));
    expected.push((rest[0].id.as_u128(), "unknown codec ``".into()));
    messages.push(with_header(&rest[1], header::CODEC, b"x-protobuf-v9"));
    expected.push((rest[1].id.as_u128(), "unknown codec `x-protobuf-v9`".into()));
    let mut no_codec = with_header(&rest[2], header::CODEC, b"json");
    no_codec.headers.remove(header::CODEC);
    messages.push(no_codec);
    expected.push((rest[2].id.as_u128(), "no `codec` header".into()));
    // A garbled traceparent is only trace context: the event is handled.
    messages.push(with_header(&rest[3], header::TRACEPARENT, NOT_UTF8));
    backend.append(&topic, 0, messages).await.unwrap();
    transport.publish(&rest[4]).await.unwrap();

    let recorded = common::recorder();
    let sub = transport
        .subscribe("g", &["events"], recorded.clone())
        .await
        .unwrap();
    eventually("both good events handled", || async {
        recorded.unique() == 2
    })
    .await;
    let stats = sub.stats();
    assert!(sub.shutdown().await.unwrap().is_clean());
    let handled: Vec<Uuid> = recorded
        .deliveries
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(handled, vec![rest[3].id, rest[4].id]);
    assert_eq!(stats.dead_lettered, expected.len() as u64);

    let entries = transport
        .dead_letters()
        .list(DlqFilter::default(), None, 100)
        .await
        .unwrap()
        .entries;
    assert_eq!(entries.len(), expected.len());
    for (entry, (id, reason)) in entries.iter().zip(&expected) {
        let letter = &entry.letter;
        assert_eq!(letter.message.id, *id);
        assert!(letter.error.contains(reason), "{reason}: {}", letter.error);
        assert!(letter.error.contains("undecodable"), "{}", letter.error);
        assert_eq!(letter.attempts, 1, "never retried: {}", letter.error);
    }
    // The invalid bytes are kept as they were, for inspection and redrive.
    assert_eq!(
        entries[0].letter.message.headers.get(header::EVENT_TYPE),
        Some(NOT_UTF8)
    );
    // Both good events committed past every bad one.
    let committed = transport.offset_store().load("g", &topic, 0).await.unwrap();
    assert_eq!(committed, Some(expected.len() as u64 + 2));
}

/// One invalid config value and what its error must say.
struct Case {
    toml: &'static str,
    key: &'static str,
    says: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        toml: "[consumer]\nstart_from = \"middle\"",
        key: "consumer.start_from",
        says: &["earliest", "latest"],
    },
    Case {
        toml: "[consumer]\nlegacy_format = \"rustok-xml\"",
        key: "consumer.legacy_format",
        says: &[
            "`rustok-xml`",
            "`none`",
            "`rustok-json`",
            "`rustok-msgpack`",
            "`rustok-auto`",
        ],
    },
    Case {
        toml: "[consumer]\npoll_batch = 0",
        key: "consumer.poll_batch",
        says: &["at least 1"],
    },
    Case {
        toml: "[consumer]\nheartbeat_ms = 0",
        key: "consumer.heartbeat_ms",
        says: &["at least 1"],
    },
    Case {
        toml: "[consumer]\nlag_probe_ms = 0",
        key: "consumer.lag_probe_ms",
        says: &["at least 1"],
    },
    Case {
        toml: "[consumer]\nmax_concurrency = 0",
        key: "consumer.max_concurrency",
        says: &["at least 1"],
    },
    Case {
        toml: "[consumer]\npoll_batch = -5",
        key: "consumer.poll_batch",
        says: &["-5"],
    },
    Case {
        toml: "[consumer]\nshutdown_timeout_ms = \"soon\"",
        key: "consumer.shutdown_timeout_ms",
        says: &["u64"],
    },
    Case {
        toml: "[consumer.retry]\nmax_attempts = 0",
        key: "consumer.retry.max_attempts",
        says: &["at least 1"],
    },
    Case {
        toml: "[consumer.retry]\nmultiplier = 0.5",
        key: "consumer.retry.multiplier",
        says: &["at least 1.0"],
    },
    Case {
        toml: "[consumer.retry]\nmultiplier = nan",
        key: "consumer.retry.multiplier",
        says: &["at least 1.0"],
    },
    Case {
        toml: "[consumer.retry]\njitter = 1.5",
        key: "consumer.retry.jitter",
        says: &["between 0.0 and 1.0"],
    },
    Case {
        toml: "[consumer.retry]\ninitial_backoff_ms = 500\nmax_backoff_ms = 100",
        key: "consumer.retry.initial_backoff_ms",
        says: &["must not exceed consumer.retry.max_backoff_ms"],
    },
    Case {
        toml: "[routing]\npartitions = 0",
        key: "routing.partitions",
        says: &["1 to 1000"],
    },
    Case {
        toml: "[routing]\npartitions = 1001",
        key: "routing.partitions",
        says: &["1 to 1000"],
    },
    Case {
        toml: "[routing]\ndefault_topic = \"no spaces\"",
        key: "routing.default_topic",
        says: &["a-z, A-Z, 0-9"],
    },
    Case {
        toml: "[[routing.rules]]\nprefix = \"\"\ntopic = \"t\"",
        key: "routing.rules[0].prefix",
        says: &["must not be empty"],
    },
    Case {
        toml: "[[routing.rules]]\nprefix = \"a.\"\ntopic = \"t\"\npartitions = 0",
        key: "routing.rules[0].partitions",
        says: &["1 to 1000"],
    },
    Case {
        toml: "stream = \"my stream!\"",
        key: "stream",
        says: &["a-z, A-Z, 0-9"],
    },
    Case {
        toml: "[limits]\nmax_event_bytes = 0",
        key: "limits.max_event_bytes",
        says: &["between 1 and 64000000"],
    },
    Case {
        toml: "[limits]\nmax_event_bytes = 64000001",
        key: "limits.max_event_bytes",
        says: &["between 1 and 64000000"],
    },
    Case {
        toml: "[limits]\nmax_event_kb = 4",
        key: "limits.max_event_kb",
        says: &["max_event_bytes"],
    },
    Case {
        toml: "[health]\nmax_lag = -1",
        key: "health.max_lag",
        says: &["-1"],
    },
    Case {
        toml: "backend = \"kafka\"",
        key: "backend",
        says: &["unknown backend `kafka`", "memory"],
    },
    Case {
        toml: "backend = \"memory\"\ncodec = \"yaml\"",
        key: "codec",
        says: &["unknown codec `yaml`", "json", "postcard"],
    },
    Case {
        toml: "backend = \"memory\"\noffsets = \"redis\"",
        key: "offsets",
        says: &["redis", "memory"],
    },
    Case {
        toml: "backend = \"memory\"\ndlq = \"s3\"",
        key: "dlq",
        says: &["s3", "memory"],
    },
    Case {
        toml: "backend = \"memory\"\n[plugins.memory]\ncapacity = 3",
        key: "plugins.memory.capacity",
        says: &["unknown field `capacity`"],
    },
];

#[tokio::test]
async fn every_invalid_config_value_names_its_key_and_what_is_valid() {
    rustok_iggy_codecs::link();
    rustok_iggy_testkit::link();
    for case in CASES {
        // Cases that do not pick a backend run on the memory one.
        let toml = if case.toml.starts_with("backend") {
            case.toml.to_owned()
        } else {
            format!("backend = \"memory\"\n{}", case.toml)
        };
        // Parse errors come from `from_toml`, value checks from building.
        let err = match TransportConfig::from_toml(&toml) {
            Err(e) => e,
            Ok(config) => match Transport::from_config(&config).await {
                Err(e) => e,
                Ok(_) => panic!("{:?} was accepted", case.toml),
            },
        };
        assert_eq!(err.kind(), ErrorKind::Config, "{}: {err}", case.toml);
        assert_eq!(err.context("key"), Some(case.key), "{}: {err}", case.toml);
        let text = err.to_string();
        for expected in case.says {
            assert!(text.contains(expected), "{}: {text}", case.toml);
        }
    }
}
