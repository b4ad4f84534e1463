//! Idempotent publish through the transport on the embedded log with
//! `dedup_window`: an outbox relay publishing the same events again (after a
//! lost acknowledgement, a restart, or a SIGKILL mid-batch) stores each once
//! and gets the stored copy's receipts (the testkit's outbox scenarios, also
//! run by the remote backend against `rustok-iggy serve`).
//!
//! The killed relay is this test binary, re-run with the testkit's
//! `RELAY_CONFIG` set so that only [`relay_child`] does anything.

use std::path::Path;

use rustok_iggy::{PublishReceipt, TopicRef, Transport, TransportConfig};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig};
use rustok_iggy_testkit::outbox::{self, batch, stored, BATCH};

fn config_toml(dir: &Path, dedup_window: u64) -> String {
    format!(
        "backend = \"embedded\"\nstream = \"app\"\n[routing]\npartitions = 4\n\
         [plugins.embedded]\ndata_dir = {:?}\ndedup_window = {dedup_window}\n",
        dir.display().to_string()
    )
}

async fn transport(toml: &str) -> Transport {
    rustok_iggy_embedded::link();
    rustok_iggy_codecs::link();
    Transport::from_config(&TransportConfig::from_toml(toml).unwrap())
        .await
        .unwrap()
}

fn events() -> TopicRef {
    TopicRef::new("app", "events")
}

#[tokio::test]
async fn publishing_again_stores_nothing_and_returns_the_first_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(dir.path(), 1_000);
    let transport = transport(&toml).await;
    let first = outbox::publishing_again_returns_the_first_receipts(&transport).await;
    transport.shutdown().await.unwrap();

    // Reopened: the window is read back from the log.
    let transport = self::transport(&toml).await;
    assert_eq!(transport.publish_batch(&batch(0)).await.unwrap(), first);
    let copies = stored(transport.backend().as_ref(), &events()).await;
    assert_eq!(copies.len() as u64, BATCH + BATCH / 2);
    transport.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_append_of_stored_messages_reports_each_copy() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(EmbeddedConfig {
        dedup_window: 1_000,
        ..EmbeddedConfig::new(dir.path())
    })
    .await
    .unwrap();
    outbox::appending_again_reports_each_stored_copy(&backend, &TopicRef::new("app", "acks")).await;
    rustok_iggy::Backend::shutdown(&backend).await.unwrap();
}

#[tokio::test]
async fn without_a_window_every_publish_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let transport = transport(&config_toml(dir.path(), 0)).await;
    let first: Vec<PublishReceipt> = transport.publish_batch(&batch(0)).await.unwrap();
    let again = transport.publish_batch(&batch(0)).await.unwrap();
    assert_ne!(again, first);
    let copies = stored(transport.backend().as_ref(), &events()).await;
    assert!(copies.values().all(|places| places.len() == 2));
    transport.shutdown().await.unwrap();
}

/// The relay: publishes batch after batch until killed. Does nothing in a
/// normal test run.
#[test]
fn relay_child() {
    rustok_iggy_embedded::link();
    rustok_iggy_codecs::link();
    outbox::relay_child();
}

/// A relay killed mid-batch, then started again and publishing everything
/// from the start (it never saw which batches were stored): each event is
/// stored once.
#[tokio::test]
async fn a_relay_killed_mid_batch_and_run_again_stores_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(dir.path(), 100_000);
    outbox::kill_relay_mid_batch("relay_child", &toml);
    let transport = transport(&toml).await;
    outbox::republishing_everything_stores_each_event_once(&transport).await;
    transport.shutdown().await.unwrap();
}
