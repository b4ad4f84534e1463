//! Registration of the embedded backend, offset store and DLQ store under the
//! name `"embedded"`, configured by `[plugins.embedded]`.

use std::sync::Arc;

use futures::future::BoxFuture;
use rustok_iggy::{config::PluginConfig, Parts, Plugin, Result, Wants};

use crate::{
    error::{join_error, NAME},
    topology::Engine,
    EmbeddedBackend, EmbeddedConfig, EmbeddedOffsetStore,
};

/// The embedded family. With the backend, the stores are its own (one
/// engine, one lock on the data directory); without it (`offsets` or `dlq`
/// = `"embedded"` next to another backend), both stores share one engine
/// opened here, since a second open of the directory would be refused by
/// its lock.
fn build(config: &PluginConfig, wants: Wants) -> BoxFuture<'static, Result<Parts>> {
    let parsed = EmbeddedConfig::from_plugin_config(config);
    Box::pin(async move {
        let parsed = parsed?;
        if wants.backend {
            let backend = EmbeddedBackend::open(parsed).await?;
            return Ok(Parts {
                offsets: Some(backend.offsets().clone()),
                dlq: Some(backend.dlq().clone()),
                backend: Some(Arc::new(backend)),
            });
        }
        let (engine, offsets) = tokio::task::spawn_blocking(move || {
            let engine = Engine::open(parsed)?;
            let offsets = wants
                .offsets
                .then(|| EmbeddedOffsetStore::open(engine.clone()));
            Ok::<_, rustok_iggy::Error>((engine, offsets))
        })
        .await
        .map_err(|e| join_error("open", e))??;
        let parts = async {
            let offsets = offsets.transpose()?;
            let dlq = match wants.dlq {
                true => Some(crate::dlq::open(engine.clone()).await?),
                false => None,
            };
            Ok(Parts {
                backend: None,
                offsets: offsets.map(|s| Arc::new(s) as _),
                dlq: dlq.map(|s| s as _),
            })
        }
        .await;
        if parts.is_err() {
            // Its background tasks hold it (and the directory's lock).
            let _ = engine.close().await;
        }
        parts
    })
}

/// The embedded family plugin (backend, offset store, DLQ store), for
/// [`Registry::register`](rustok_iggy::Registry::register) where link-time
/// registration does not run.
pub const PLUGIN: Plugin = Plugin::family(NAME, Wants::ALL, build);

rustok_iggy::register_plugin!(PLUGIN);

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
