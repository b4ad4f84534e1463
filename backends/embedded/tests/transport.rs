//! End to end through `rustok_iggy::Transport` on the embedded backend:
//! publish, consume every event in a group, and keep committed offsets across
//! a reopen; plus composition from config.

use std::{collections::HashSet, sync::Arc};

use rustok_iggy::{
    Backend, ConsumerConfig, ErrorKind, OffsetStore, PluginKind, Registry, RoutingConfig,
    Transport, TransportConfig,
};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use rustok_iggy_testkit::{
    fixtures::{order_placed_envelope, tenant},
    outage,
};
use uuid::Uuid;

const PARTITIONS: u32 = 4;

async fn open_transport(dir: &std::path::Path) -> (Transport, Arc<EmbeddedBackend>) {
    let backend = Arc::new(
        EmbeddedBackend::open(EmbeddedConfig::new(dir).fsync(FsyncPolicy::Interval))
            .await
            .unwrap(),
    );
    let transport = Transport::builder(
        backend.clone(),
        Arc::new(rustok_iggy_codecs::PostcardCodec::new()),
    )
    .routing(RoutingConfig {
        partitions: PARTITIONS,
        ..RoutingConfig::default()
    })
    .consumer(ConsumerConfig {
        heartbeat_ms: 20,
        poll_wait_ms: 50,
        ..ConsumerConfig::default()
    })
    .build()
    .await
    .unwrap();
    (transport, backend)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_handled_and_committed_offsets_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (transport, backend) = open_transport(dir.path()).await;
    let (subscription, seen) = outage::record_handled(&transport, "billing", "events").await;
    let events: Vec<_> = (0..400)
        .map(|i| order_placed_envelope(tenant(i % 37), i as u64))
        .collect();
    for chunk in events.chunks(50) {
        transport.publish_batch(chunk).await.unwrap();
    }
    let expected: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    outage::wait_until_handled(&seen, &expected).await;
    assert_eq!(*seen.lock().unwrap(), expected);
    assert!(subscription.shutdown().await.unwrap().is_clean());

    let topic = transport.topic("events");
    let mut committed = Vec::new();
    for p in 0..PARTITIONS {
        let next = backend.partition_info(&topic, p).await.unwrap().next_offset;
        let offset = backend.offsets().load("billing", &topic, p).await.unwrap();
        assert_eq!(offset.unwrap_or(0), next, "partition {p} fully committed");
        committed.push(offset);
    }
    transport.backend().shutdown().await.unwrap();
    drop(transport);
    drop(backend);

    // Reopened: the offsets are there, and only new events are delivered.
    let (transport, backend) = open_transport(dir.path()).await;
    for (p, offset) in committed.iter().enumerate() {
        let loaded = backend
            .offsets()
            .load("billing", &topic, p as u32)
            .await
            .unwrap();
        assert_eq!(loaded, *offset);
    }
    let (subscription, seen_after) = outage::record_handled(&transport, "billing", "events").await;
    let late = order_placed_envelope(tenant(1), 9_999);
    transport.publish(&late).await.unwrap();
    outage::wait_until_handled(&seen_after, &HashSet::from([late.id])).await;
    assert!(subscription.shutdown().await.unwrap().is_clean());
    assert_eq!(*seen_after.lock().unwrap(), HashSet::from([late.id]));
    transport.backend().shutdown().await.unwrap();
}

#[tokio::test]
async fn config_selects_the_embedded_backend_and_its_own_stores() {
    rustok_iggy_embedded::link();
    rustok_iggy_codecs::link();
    let registry = Registry::from_inventory();
    for kind in [PluginKind::Backend, PluginKind::Offsets, PluginKind::Dlq] {
        assert!(registry.names(kind).contains(&"embedded"), "{kind}");
    }
    let dir = tempfile::tempdir().unwrap();
    let config = TransportConfig::from_toml(&format!(
        "backend = \"embedded\"\noffsets = \"embedded\"\ndlq = \"embedded\"\n\
         [plugins.embedded]\ndata_dir = {:?}\nfsync = \"always\"\n",
        dir.path()
    ))
    .unwrap();
    let transport = Transport::from_config(&config).await.unwrap();
    let backend = transport.backend();
    assert_eq!(backend.name(), "embedded");
    // Named explicitly, the stores are still the backend's own: a second
    // open of the data directory would be refused by its lock.
    assert!(Arc::ptr_eq(
        transport.offset_store(),
        &backend.offset_store().unwrap()
    ));
    assert!(Arc::ptr_eq(
        transport.dlq_store(),
        &backend.dlq_store().unwrap()
    ));
    let receipt = transport
        .publish(&order_placed_envelope(tenant(3), 1))
        .await
        .unwrap();
    assert_eq!(receipt.offset, 0);
    transport.backend().shutdown().await.unwrap();

    let bad = TransportConfig::from_toml(&format!(
        "backend = \"embedded\"\n[plugins.embedded]\ndata_dir = {:?}\nsegment_bytes = 1\n",
        dir.path()
    ))
    .unwrap();
    let err = Transport::from_config(&bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.context("key"), Some("plugins.embedded.segment_bytes"));
}

#[tokio::test]
async fn embedded_stores_next_to_another_backend_share_one_data_dir() {
    rustok_iggy_embedded::link();
    rustok_iggy_codecs::link();
    rustok_iggy_testkit::link();
    let dir = tempfile::tempdir().unwrap();
    let config = TransportConfig::from_toml(&format!(
        "backend = \"memory\"\noffsets = \"embedded\"\ndlq = \"embedded\"\n\
         [plugins.embedded]\ndata_dir = {:?}\n",
        dir.path()
    ))
    .unwrap();
    let topic = rustok_iggy::TopicRef::new("rustok", "events");
    {
        let transport = Transport::from_config(&config).await.unwrap();
        assert_eq!(transport.backend().name(), "memory");
        assert_eq!(transport.offset_store().name(), "embedded");
        assert_eq!(transport.dlq_store().name(), "embedded");
        transport
            .offset_store()
            .commit("billing", &topic, 1, 7)
            .await
            .unwrap();
    }
    // Both stores dropped: the directory is free again, and the offset is kept.
    let transport = Transport::from_config(&config).await.unwrap();
    assert_eq!(
        transport
            .offset_store()
            .load("billing", &topic, 1)
            .await
            .unwrap(),
        Some(7)
    );
}
