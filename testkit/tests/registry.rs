//! The memory plugins, selected by name from config.

mod common;

use rustok_iggy::{ErrorKind, PluginKind, Registry, Transport, TransportConfig};
use rustok_iggy_testkit::{fixtures, link};

fn registry() -> Registry {
    link();
    let mut registry = Registry::from_inventory();
    registry.register(common::JSON_PLUGIN);
    registry
}

#[test]
fn memory_plugins_are_registered_at_link_time() {
    let registry = registry();
    for kind in [PluginKind::Backend, PluginKind::Offsets, PluginKind::Dlq] {
        assert_eq!(registry.names(kind), vec!["memory"], "{kind}");
    }
}

#[tokio::test]
async fn a_transport_from_config_runs_on_memory() {
    let registry = registry();
    for text in [
        "backend = \"memory\"",
        "backend = \"memory\"\noffsets = \"memory\"\ndlq = \"memory\"\n[plugins.memory]\n",
    ] {
        let config = TransportConfig::from_toml(text).unwrap();
        let transport = Transport::from_config_with(&config, &registry)
            .await
            .unwrap();
        assert_eq!(transport.backend().name(), "memory");
        assert_eq!(transport.offset_store().name(), "memory");
        assert_eq!(transport.dlq_store().name(), "memory");
        let receipt = transport
            .publish(&fixtures::order_placed_envelope(fixtures::tenant(1), 1))
            .await
            .unwrap();
        assert_eq!(receipt.offset, 0);
        transport.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_typo_in_the_memory_section_is_an_error() {
    let config =
        TransportConfig::from_toml("backend = \"memory\"\n[plugins.memory]\ncapacty = 10\n")
            .unwrap();
    let err = Transport::from_config_with(&config, &registry())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("capacty"), "{err}");
    assert!(err.to_string().contains("plugins.memory"), "{err}");
}

#[tokio::test]
async fn a_misspelt_plugin_section_is_an_error() {
    let config =
        TransportConfig::from_toml("backend = \"memory\"\n[plugins.memroy]\ncapacity = 10\n")
            .unwrap();
    let err = Transport::from_config_with(&config, &registry())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.context("key"), Some("plugins.memroy"));
    assert!(err.to_string().contains("json, memory"), "{err}");
}
