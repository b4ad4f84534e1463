//! Registration of the remote backend, offset store and DLQ store under the
//! name `"remote"`, configured by `[plugins.remote]`.

use std::sync::Arc;

use futures::future::BoxFuture;
use rustok_iggy::{
    config::PluginConfig, Backend, BuildContext, DlqStore, OffsetStore, Plugin, Result,
};

use crate::{RemoteBackend, RemoteConfig, RemoteDlqStore, RemoteOffsetStore, NAME};

fn build_backend(
    config: &PluginConfig,
    _context: &BuildContext,
) -> BoxFuture<'static, Result<Arc<dyn Backend>>> {
    let parsed = RemoteConfig::from_plugin_config(config);
    Box::pin(async move {
        let backend = RemoteBackend::connect(parsed?).await?;
        Ok(Arc::new(backend) as Arc<dyn Backend>)
    })
}

/// The backend's own store when the backend is the remote one (same
/// connection); otherwise a store with a connection of its own, opened on
/// first use.
fn build_offsets(config: &PluginConfig, context: &BuildContext) -> Result<Arc<dyn OffsetStore>> {
    let parsed = RemoteConfig::from_plugin_config(config)?;
    let own = context
        .backend
        .as_ref()
        .filter(|b| b.name() == NAME)
        .and_then(|b| b.offset_store())
        .filter(|s| s.name() == NAME);
    match own {
        Some(store) => Ok(store),
        None => Ok(Arc::new(RemoteOffsetStore::new(parsed)?)),
    }
}

fn build_dlq(config: &PluginConfig, context: &BuildContext) -> Result<Arc<dyn DlqStore>> {
    let parsed = RemoteConfig::from_plugin_config(config)?;
    let own = context
        .backend
        .as_ref()
        .filter(|b| b.name() == NAME)
        .and_then(|b| b.dlq_store())
        .filter(|s| s.name() == NAME);
    match own {
        Some(store) => Ok(store),
        None => Ok(Arc::new(RemoteDlqStore::new(parsed)?)),
    }
}

/// The remote backend plugin, for [`Registry::register`](rustok_iggy::Registry::register)
/// where link-time registration does not run.
pub const BACKEND_PLUGIN: Plugin = Plugin::backend(NAME, build_backend);
/// The remote offset-store plugin.
pub const OFFSETS_PLUGIN: Plugin = Plugin::offsets(NAME, build_offsets);
/// The remote DLQ-store plugin.
pub const DLQ_PLUGIN: Plugin = Plugin::dlq(NAME, build_dlq);

rustok_iggy::register_plugin!(BACKEND_PLUGIN);
rustok_iggy::register_plugin!(OFFSETS_PLUGIN);
rustok_iggy::register_plugin!(DLQ_PLUGIN);

/// Makes sure this crate, and with it its plugin registrations, is linked.
///
/// A crate that nothing references is not linked into a binary, and its
/// `inventory` registrations vanish with it: `backend = "remote"` would
/// then fail with "unknown backend". Call this once from the binary (or
/// test) that builds a transport from config, or write
/// `use rustok_iggy_remote as _;`.
///
/// ```
/// rustok_iggy_remote::link();
/// let registry = rustok_iggy::Registry::from_inventory();
/// for kind in [
///     rustok_iggy::PluginKind::Backend,
///     rustok_iggy::PluginKind::Offsets,
///     rustok_iggy::PluginKind::Dlq,
/// ] {
///     assert!(registry.names(kind).contains(&"remote"), "{kind}");
/// }
/// ```
pub fn link() {}
