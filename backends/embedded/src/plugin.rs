//! Registration of the embedded backend, offset store and DLQ store under the
//! name `"embedded"`, configured by `[plugins.embedded]`.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, Weak},
};

use futures::future::BoxFuture;
use rustok_iggy::{
    config::PluginConfig, Backend, BuildContext, DlqStore, OffsetStore, Plugin, Result,
};

use crate::{
    error::NAME, partition::lock, topology::Engine, EmbeddedBackend, EmbeddedConfig,
    EmbeddedDlqStore, EmbeddedOffsetStore,
};

fn build_backend(
    config: &PluginConfig,
    _context: &BuildContext,
) -> BoxFuture<'static, Result<Arc<dyn Backend>>> {
    let parsed = EmbeddedConfig::from_plugin_config(config);
    Box::pin(async move {
        let backend = EmbeddedBackend::open(parsed?).await?;
        Ok(Arc::new(backend) as Arc<dyn Backend>)
    })
}

/// The backend, if it is the embedded one: `offsets = "embedded"` next to
/// `backend = "embedded"` means the backend's own store (a second open of the
/// same data directory would be refused by its lock).
fn embedded_backend(context: &BuildContext) -> Option<&Arc<dyn Backend>> {
    context.backend.as_ref().filter(|b| b.name() == NAME)
}

/// Engines opened for stores next to another backend, by data directory:
/// `offsets = "embedded"` and `dlq = "embedded"` share one, since a second
/// open of the directory would be refused by its lock.
static STANDALONE: Mutex<Vec<(PathBuf, Weak<Engine>)>> = Mutex::new(Vec::new());

/// The engine of `config`'s data directory for stores next to another
/// backend: the one already open in this process, or a new one. It must not
/// be the data directory of an embedded backend.
fn standalone(config: &PluginConfig) -> Result<Arc<Engine>> {
    let parsed = EmbeddedConfig::from_plugin_config(config)?;
    let mut open = lock(&STANDALONE);
    open.retain(|(_, engine)| engine.strong_count() > 0);
    if let Some(engine) = open
        .iter()
        .find(|(dir, _)| *dir == parsed.data_dir)
        .and_then(|(_, engine)| engine.upgrade())
    {
        return Ok(engine);
    }
    let dir = parsed.data_dir.clone();
    let engine = Engine::open(parsed)?;
    open.push((dir, Arc::downgrade(&engine)));
    Ok(engine)
}

fn build_offsets(config: &PluginConfig, context: &BuildContext) -> Result<Arc<dyn OffsetStore>> {
    let own = embedded_backend(context)
        .and_then(|b| b.offset_store())
        .filter(|s| s.name() == NAME);
    match own {
        Some(store) => {
            EmbeddedConfig::from_plugin_config(config)?;
            Ok(store)
        }
        None => Ok(Arc::new(EmbeddedOffsetStore::open(standalone(config)?)?)),
    }
}

fn build_dlq(config: &PluginConfig, context: &BuildContext) -> Result<Arc<dyn DlqStore>> {
    let own = embedded_backend(context)
        .and_then(|b| b.dlq_store())
        .filter(|s| s.name() == NAME);
    match own {
        Some(store) => {
            EmbeddedConfig::from_plugin_config(config)?;
            Ok(store)
        }
        None => Ok(Arc::new(EmbeddedDlqStore::open(standalone(config)?)?)),
    }
}

/// The embedded backend plugin, for [`Registry::register`](rustok_iggy::Registry::register)
/// where link-time registration does not run.
pub const BACKEND_PLUGIN: Plugin = Plugin::backend(NAME, build_backend);
/// The embedded offset-store plugin.
pub const OFFSETS_PLUGIN: Plugin = Plugin::offsets(NAME, build_offsets);
/// The embedded DLQ-store plugin.
pub const DLQ_PLUGIN: Plugin = Plugin::dlq(NAME, build_dlq);

rustok_iggy::register_plugin!(BACKEND_PLUGIN);
rustok_iggy::register_plugin!(OFFSETS_PLUGIN);
rustok_iggy::register_plugin!(DLQ_PLUGIN);

/// Makes sure this crate, and with it its plugin registrations, is linked.
///
/// A crate that nothing references is not linked into a binary, and its
/// `inventory` registrations vanish with it: `backend = "embedded"` would
/// then fail with "unknown backend". Call this once from the binary (or
/// test) that builds a transport from config, or write
/// `use rustok_iggy_embedded as _;`.
///
/// ```
/// rustok_iggy_embedded::link();
/// let registry = rustok_iggy::Registry::from_inventory();
/// assert!(registry.names(rustok_iggy::PluginKind::Backend).contains(&"embedded"));
/// ```
pub fn link() {}
