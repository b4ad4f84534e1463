//! Registration of the remote backend, offset store and DLQ store under the
//! name `"remote"`, configured by `[plugins.remote]`.

use std::sync::Arc;

use futures::future::BoxFuture;
use rustok_iggy::{config::PluginConfig, Parts, Plugin, Result, Wants};

use crate::{RemoteBackend, RemoteConfig, RemoteOffsetStore, NAME};

/// The remote family. With the backend, the stores are its own (its
/// connection, its group members); without it, each store opens a
/// connection of its own on first use.
fn build(config: &PluginConfig, wants: Wants) -> BoxFuture<'static, Result<Parts>> {
    let parsed = RemoteConfig::from_plugin_config(config);
    Box::pin(async move {
        let parsed = parsed?;
        if wants.backend {
            let backend = RemoteBackend::connect(parsed).await?;
            return Ok(Parts {
                offsets: rustok_iggy::Backend::offset_store(&backend),
                dlq: rustok_iggy::Backend::dlq_store(&backend),
                backend: Some(Arc::new(backend)),
            });
        }
        Ok(Parts {
            backend: None,
            offsets: match wants.offsets {
                true => Some(Arc::new(RemoteOffsetStore::new(parsed.clone())?)),
                false => None,
            },
            dlq: match wants.dlq {
                true => Some(Arc::new(crate::dlq_store(parsed)?)),
                false => None,
            },
        })
    })
}

/// The remote family plugin (backend, offset store, DLQ store), for
/// [`Registry::register`](rustok_iggy::Registry::register) where link-time
/// registration does not run.
pub const PLUGIN: Plugin = Plugin::family(NAME, Wants::ALL, build);

rustok_iggy::register_plugin!(PLUGIN);

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
