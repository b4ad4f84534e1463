//! Registration of the memory plugins under the name `"memory"`.

use std::sync::Arc;

use futures::future::BoxFuture;
use rustok_iggy::{
    config::PluginConfig, Backend, BuildContext, DlqStore, OffsetStore, Plugin, Result,
};
use serde::Deserialize;

use crate::{MemoryBackend, MemoryDlqStore, MemoryOffsetStore};

/// The `[plugins.memory]` config section, shared by the memory backend,
/// offset store and DLQ store. It has no keys: any key in it is a typo and an
/// error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {}

fn build_backend(
    config: &PluginConfig,
    _context: &BuildContext,
) -> BoxFuture<'static, Result<Arc<dyn Backend>>> {
    let parsed = config.parse::<MemoryConfig>();
    Box::pin(async move {
        parsed?;
        Ok(Arc::new(MemoryBackend::new()) as Arc<dyn Backend>)
    })
}

/// The backend, if it is a memory backend, whose own stores should then be
/// used: `offsets = "memory"` next to `backend = "memory"` means the same
/// store as the default. Anything else gets a fresh standalone store.
fn memory_backend(context: &BuildContext) -> Option<&Arc<dyn Backend>> {
    context.backend.as_ref().filter(|b| b.name() == "memory")
}

fn build_offsets(config: &PluginConfig, context: &BuildContext) -> Result<Arc<dyn OffsetStore>> {
    config.parse::<MemoryConfig>()?;
    Ok(memory_backend(context)
        .and_then(|b| b.offset_store())
        .filter(|s| s.name() == "memory")
        .unwrap_or_else(|| Arc::new(MemoryOffsetStore::new())))
}

fn build_dlq(config: &PluginConfig, context: &BuildContext) -> Result<Arc<dyn DlqStore>> {
    config.parse::<MemoryConfig>()?;
    Ok(memory_backend(context)
        .and_then(|b| b.dlq_store())
        .filter(|s| s.name() == "memory")
        .unwrap_or_else(|| Arc::new(MemoryDlqStore::new())))
}

/// The memory backend plugin, for [`Registry::register`](rustok_iggy::Registry::register)
/// where link-time registration does not run.
pub const BACKEND_PLUGIN: Plugin = Plugin::backend("memory", build_backend);
/// The memory offset-store plugin.
pub const OFFSETS_PLUGIN: Plugin = Plugin::offsets("memory", build_offsets);
/// The memory DLQ-store plugin.
pub const DLQ_PLUGIN: Plugin = Plugin::dlq("memory", build_dlq);

rustok_iggy::register_plugin!(BACKEND_PLUGIN);
rustok_iggy::register_plugin!(OFFSETS_PLUGIN);
rustok_iggy::register_plugin!(DLQ_PLUGIN);

/// Makes sure this crate, and with it its plugin registrations, is linked.
///
/// A crate that nothing references is not linked into a binary, and its
/// `inventory` registrations vanish with it: `backend = "memory"` would then
/// fail with "unknown backend". Call this once from the binary (or test) that
/// builds a transport from config, or write `use rustok_iggy_testkit as _;`.
///
/// ```
/// rustok_iggy_testkit::link();
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
    async fn unknown_keys_are_errors() {
        let mut registry = Registry::empty();
        registry
            .register(BACKEND_PLUGIN)
            .register(OFFSETS_PLUGIN)
            .register(DLQ_PLUGIN);
        let context = BuildContext {
            stream: "s".into(),
            backend: None,
        };
        let bad = section("capacity = 3");
        let err = registry
            .build_backend("memory", &bad, &context)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("capacity"), "{err}");
        assert!(registry.build_offsets("memory", &bad, &context).is_err());
        assert!(registry.build_dlq("memory", &bad, &context).is_err());

        let good = section("");
        let backend = registry
            .build_backend("memory", &good, &context)
            .await
            .unwrap();
        assert_eq!(backend.name(), "memory");
        // Next to a memory backend, the stores are the backend's own.
        let context = BuildContext {
            stream: "s".into(),
            backend: Some(backend.clone()),
        };
        let offsets = registry.build_offsets("memory", &good, &context).unwrap();
        let own = backend.offset_store().unwrap();
        assert!(Arc::ptr_eq(&offsets, &own));
        let dlq = registry.build_dlq("memory", &good, &context).unwrap();
        assert!(Arc::ptr_eq(&dlq, &backend.dlq_store().unwrap()));
    }
}
