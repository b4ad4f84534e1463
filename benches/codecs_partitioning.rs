//! Criterion benchmarks of the publish path's CPU work, with no I/O:
//!
//! - `codec/<name>`: the `json` and `postcard` codecs encoding and decoding
//!   a typical event (the testkit's `OrderPlaced`, through the type-erased
//!   `Codec` interface the transport uses), next to bare `serde_json` and
//!   `postcard` on the same value: the gap is the codec layer's overhead.
//! - `envelope`: building a message (headers and payload) from an envelope.
//! - `partition_for`: key → partition over 1,024 tenant keys.
//! - `routing`: event type → topic through a router with prefix rules.
//!
//! `cargo bench --bench codecs_partitioning` (append `-- --quick` for a
//! short run). For end-to-end throughput see `rustok-iggy bench` and
//! docs/benchmarks.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rustok_iggy::{partition_for, wire, Codec, CodecExt, RouteRule, Router, RoutingConfig};
use rustok_iggy_codecs::{JsonCodec, PostcardCodec};
use rustok_iggy_testkit::fixtures::{order_placed_envelope, tenant, OrderPlaced};

fn codecs(c: &mut Criterion) {
    let envelope = order_placed_envelope(tenant(7), 42);
    let event = &envelope.event;
    let codecs: [(&str, Box<dyn Codec>); 2] = [
        ("json", Box::new(JsonCodec::new())),
        ("postcard", Box::new(PostcardCodec::new())),
    ];
    for (name, codec) in codecs {
        let encoded = codec.encode_value(event).unwrap();
        let bare_encode: fn(&OrderPlaced) -> Vec<u8> = match name {
            "json" => |e| serde_json::to_vec(e).unwrap(),
            _ => |e| postcard::to_stdvec(e).unwrap(),
        };
        let bare_decode: fn(&[u8]) -> OrderPlaced = match name {
            "json" => |b| serde_json::from_slice(b).unwrap(),
            _ => |b| postcard::from_bytes(b).unwrap(),
        };
        // The bare serializers must produce what the codec does, or the
        // comparison would be of different work.
        assert_eq!(bare_encode(event), encoded, "{name}");
        assert_eq!(&bare_decode(&encoded), event, "{name}");

        let mut group = c.benchmark_group(format!("codec/{name}"));
        group.throughput(Throughput::Bytes(encoded.len() as u64));
        group.bench_function("encode", |b| {
            b.iter(|| codec.encode_value(black_box(event)).unwrap())
        });
        group.bench_function("bare encode", |b| b.iter(|| bare_encode(black_box(event))));
        group.bench_function("decode", |b| {
            b.iter(|| {
                codec
                    .decode_value::<OrderPlaced>(black_box(&encoded))
                    .unwrap()
            })
        });
        group.bench_function("bare decode", |b| {
            b.iter(|| bare_decode(black_box(&encoded)))
        });
        group.finish();
    }
}

fn envelope_to_message(c: &mut Criterion) {
    let envelope = order_placed_envelope(tenant(7), 42);
    let payload = bytes::Bytes::from(JsonCodec::new().encode_value(&envelope.event).unwrap());
    c.bench_function("envelope/message with headers", |b| {
        b.iter(|| wire::envelope_message(black_box(&envelope), "json", payload.clone()))
    });
}

fn partitioning(c: &mut Criterion) {
    let keys: Vec<[u8; 16]> = (0..1_024u128).map(|n| *tenant(n).as_bytes()).collect();
    let mut group = c.benchmark_group("partition_for");
    group.throughput(Throughput::Elements(keys.len() as u64));
    for partitions in [8u32, 64, 1_000] {
        group.bench_with_input(
            BenchmarkId::new("1024 keys", partitions),
            &partitions,
            |b, &partitions| {
                b.iter(|| {
                    keys.iter()
                        .map(|k| partition_for(black_box(k), partitions))
                        .fold(0u32, u32::wrapping_add)
                })
            },
        );
    }
    group.finish();
}

fn routing(c: &mut Criterion) {
    let rule = |prefix: &str, topic: &str| RouteRule {
        prefix: prefix.to_owned(),
        topic: topic.to_owned(),
        partitions: None,
    };
    let router = Router::new(&RoutingConfig {
        rules: vec![
            rule("order.", "orders"),
            rule("payment.", "payments"),
            rule("user.", "users"),
            rule("inventory.", "inventory"),
        ],
        ..RoutingConfig::default()
    })
    .unwrap();
    let mut group = c.benchmark_group("routing");
    for event_type in ["order.placed", "inventory.adjusted", "audit.logged"] {
        group.bench_with_input(
            BenchmarkId::new("route", event_type),
            event_type,
            |b, event_type| b.iter(|| router.route(black_box(event_type)).name.len()),
        );
    }
    group.finish();
}

criterion_group!(benches, codecs, envelope_to_message, partitioning, routing);
criterion_main!(benches);
