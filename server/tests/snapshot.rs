//! `GetSnapshotFile` as the SDK asks for it: a zip with one `<type>.txt`
//! per section, each with real content; no secret in it; the codes and
//! combinations Apache Iggy refuses, refused.

mod common;

use std::{collections::BTreeMap, io::Read, sync::Arc};

use iggy::prelude::*;
use rustok_iggy::config::Secret;
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig, FsyncPolicy};
use rustok_iggy_server::Server;

/// The zip's entries: name → text.
fn unzip(zip: &[u8]) -> BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            (file.name().unwrap().into_owned(), text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_hold_the_servers_diagnostics_and_no_secret() {
    const PASSWORD: &str = "snapshot-s3cret-pass";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backend = EmbeddedBackend::open(EmbeddedConfig::new(&data).fsync(FsyncPolicy::Never))
        .await
        .unwrap();
    let server = Server::builder(Arc::new(backend))
        .bind("127.0.0.1:0".parse().unwrap())
        .credentials("ops", Secret::new(PASSWORD))
        .data_dir(&data)
        .snapshot_config("backend = \"embedded\"\n[plugins.embedded]\ndir = \"***\"\n")
        .shutdown_backend(true)
        .start()
        .await
        .unwrap();
    let addr = server.local_addr();

    let stranger = common::anonymous(addr).await;
    let refused = stranger
        .snapshot(
            SnapshotCompression::Deflated,
            vec![SystemSnapshotType::Test],
        )
        .await
        .unwrap_err();
    assert_eq!(refused.as_code(), IggyError::Unauthenticated.as_code());

    let client =
        IggyClient::from_connection_string(&format!("iggy://ops:{PASSWORD}@{addr}")).unwrap();
    client.connect().await.unwrap();
    common::create_orders(&client, "app").await;
    let snapshot = client
        .snapshot(SnapshotCompression::Deflated, vec![SystemSnapshotType::All])
        .await
        .unwrap();
    let entries = unzip(&snapshot.0);
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        [
            "filesystem_overview.txt",
            "process_list.txt",
            "resource_usage.txt",
            "server_config.txt",
            "server_logs.txt",
            "test.txt",
        ]
    );
    assert_eq!(entries["test.txt"], "test\n");
    // The log's own files, as the data directory holds them.
    assert!(
        entries["filesystem_overview.txt"].contains("streams/app/orders/"),
        "{}",
        entries["filesystem_overview.txt"]
    );
    let pid = std::process::id();
    assert!(
        entries["process_list.txt"]
            .lines()
            .any(|line| line.starts_with(&format!("{pid} "))),
        "this process is listed"
    );
    assert!(entries["resource_usage.txt"].contains(&format!("process_id {pid}\n")));
    let config = &entries["server_config.txt"];
    assert!(config.contains(&addr.to_string()), "{config}");
    assert!(config.contains("[plugins.embedded]"), "{config}");
    for (name, text) in &entries {
        assert!(!text.contains(PASSWORD), "the password is in {name}");
    }

    // Stored works too; what Apache Iggy refuses is refused the same way.
    let stored = client
        .snapshot(
            SnapshotCompression::Stored,
            vec![SystemSnapshotType::Test, SystemSnapshotType::ServerLogs],
        )
        .await
        .unwrap();
    assert_eq!(unzip(&stored.0).len(), 2);
    let mixed = client
        .snapshot(
            SnapshotCompression::Stored,
            vec![SystemSnapshotType::All, SystemSnapshotType::Test],
        )
        .await
        .unwrap_err();
    assert_eq!(mixed.as_code(), IggyError::InvalidCommand.as_code());
    // A codec this server does not write: said plainly.
    let zstd = client
        .snapshot(SnapshotCompression::Zstd, vec![SystemSnapshotType::Test])
        .await
        .unwrap_err();
    assert_eq!(zstd.as_code(), IggyError::FeatureUnavailable.as_code());
    server.shutdown().await.unwrap();
}
