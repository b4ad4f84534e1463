//! Registration of the memory plugins under the name `"memory"`.

use std::sync::Arc;

use futures::future::BoxFuture;
use rustok_iggy::{config::PluginConfig, Backend, Parts, Plugin, Result, Wants};
use serde::Deserialize;

use crate::{MemoryBackend, MemoryDlqStore, MemoryOffsetStore};

/// The `[plugins.memory]` config section, shared by the memory backend,
/// offset store and DLQ store. It has no keys: any key in it is a typo and an
/// error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {}

/// The memory family: a [`MemoryBackend`] with its own stores, or fresh
/// standalone stores next to another backend.
fn build(config: &PluginConfig, wants: Wants) -> BoxFuture<'static, Result<Parts>> {
    let parsed = config.parse::<MemoryConfig>();
    Box::pin(async move {
        parsed?;
        if wants.backend {
            let backend = MemoryBackend::new();
            return Ok(Parts {
                offsets: backend.offset_store(),
                dlq: backend.dlq_store(),
                backend: Some(Arc::new(backend)),
            });
        }
        Ok(Parts {
            backend: None,
            offsets: Some(Arc::new(MemoryOffsetStore::new())),
            dlq: Some(Arc::new(MemoryDlqStore::new())),
        })
    })
}

/// The memory family plugin (backend, offset store, DLQ store), for
/// [`Registry::register`](rustok_iggy::Registry::register) where link-time
/// registration does not run.
pub const PLUGIN: Plugin = Plugin::family("memory", Wants::ALL, build);

rustok_iggy::register_plugin!(PLUGIN);

/// Makes sure this crate, and with it its plugin registrations, is linked.
///
/// A crate that nothing references is not linked into a binary, and its
/// `inventory` registrations vanish with it: `backend = "memory"` would then
/// fail with "unknown backend". Call this once from the binary (or test) that
/// builds a transport from config, or write `use rustok_iggy_memory as _;`.
///
/// ```
/// rustok_iggy_memory::link();
/// let registry = rustok_iggy::Registry::from_inventory();
/// assert!(registry.names(rustok_iggy::PluginKind::Backend).contains(&"memory"));
/// ```
pub fn link() {}

#[cfg(test)]
mod tests {
    use super::*;
    use rustok_iggy::{ErrorKind, PluginKind, Registry};

    fn section(text: &str) -> PluginConfig {
        rustok_iggy::TransportConfig::from_toml(&format!("[plugins.memory]\n{text}"))
            .unwrap()
            .plugin("memory")
    }

    #[test]
    fn registered_in_inventory() {
        let registry = Registry::from_inventory();
        for kind in [PluginKind::Backend, PluginKind::Offsets, PluginKind::Dlq] {
            assert!(registry.names(kind).contains(&"memory"), "{kind}");
        }
    }

    #[tokio::test]
    async fn unknown_keys_are_errors_and_stores_come_with_the_backend() {
        let mut registry = Registry::empty();
        registry.register(PLUGIN);
        let bad = section("capacity = 3");
        let err = registry
            .build_family("memory", &bad, Wants::ALL)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("capacity"), "{err}");

        let good = section("");
        let parts = registry
            .build_family("memory", &good, Wants::ALL)
            .await
            .unwrap();
        let backend = parts.backend.unwrap();
        assert_eq!(backend.name(), "memory");
        // With the backend, the stores are the backend's own.
        assert!(Arc::ptr_eq(
            &parts.offsets.unwrap(),
            &backend.offset_store().unwrap()
        ));
        assert!(Arc::ptr_eq(
            &parts.dlq.unwrap(),
            &backend.dlq_store().unwrap()
        ));
        // Alone, they are standalone stores.
        let stores = registry
            .build_family(
                "memory",
                &good,
                Wants {
                    offsets: true,
                    dlq: true,
                    ..Wants::default()
                },
            )
            .await
            .unwrap();
        assert!(stores.backend.is_none());
        assert_eq!(stores.offsets.unwrap().name(), "memory");
    }
}
