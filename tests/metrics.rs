//! The runtime records its metrics through the `metrics` facade, labelled by
//! topic and group, never by tenant or event id.

mod common;

use std::{collections::HashMap, sync::Arc};

use common::{numbered_events, Recorder};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use rustok_iggy::{metrics as names, ConsumerConfig, RoutingConfig, Transport};
use rustok_iggy_codecs::JsonCodec;
use rustok_iggy_testkit::{eventually, MemoryBackend};

#[test]
fn publish_and_consume_record_counters_with_topic_and_group_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        // One thread: every task records into the thread-local recorder.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let transport =
                Transport::builder(Arc::new(MemoryBackend::new()), Arc::new(JsonCodec::new()))
                    .routing(RoutingConfig {
                        partitions: 2,
                        ..RoutingConfig::default()
                    })
                    .consumer(ConsumerConfig {
                        heartbeat_ms: 10,
                        poll_wait_ms: 20,
                        lag_probe_ms: 10,
                        ..ConsumerConfig::default()
                    })
                    .build()
                    .await
                    .unwrap();
            let recorded = Arc::new(Recorder::default());
            let sub = transport
                .subscribe("audit", &["events"], recorded.clone())
                .await
                .unwrap();
            transport
                .publish_batch(&numbered_events(30, 3))
                .await
                .unwrap();
            eventually("all handled", || async { recorded.unique() == 30 }).await;
            // Let a lag probe run after the last commit.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            assert!(sub.shutdown().await.unwrap().is_clean());
        });
    });

    let mut counters: HashMap<(String, Vec<(String, String)>), u64> = HashMap::new();
    let mut histograms = HashMap::new();
    let mut gauges = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        for (label, _) in &labels {
            assert!(
                ["topic", "group", "partition"].contains(&label.as_str()),
                "{} has label {label}",
                key.name()
            );
        }
        let name = key.name().to_owned();
        match value {
            DebugValue::Counter(n) => *counters.entry((name, labels)).or_default() += n,
            DebugValue::Histogram(samples) => {
                *histograms.entry(name).or_insert(0) += samples.len();
            }
            DebugValue::Gauge(v) => {
                gauges.insert((name, labels), v.into_inner());
            }
        }
    }
    let topic = ("topic".to_owned(), "rustok/events".to_owned());
    let group = ("group".to_owned(), "audit".to_owned());
    assert_eq!(
        counters[&(names::PUBLISHED.to_owned(), vec![topic.clone()])],
        30
    );
    assert_eq!(
        counters[&(
            names::CONSUMED.to_owned(),
            vec![group.clone(), topic.clone()]
        )],
        30
    );
    assert!(histograms[names::APPEND_DURATION] >= 1);
    assert_eq!(histograms[names::HANDLER_DURATION], 30);
    assert!(histograms[names::POLL_DURATION] >= 1);
    let lags: Vec<f64> = gauges
        .iter()
        .filter(|((name, _), _)| name == names::LAG)
        .map(|(_, v)| *v)
        .collect();
    assert!(!lags.is_empty(), "lag gauges recorded");
    assert!(lags.iter().all(|lag| *lag == 0.0), "{lags:?}");
}
