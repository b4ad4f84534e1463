//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::sync::Arc;

use rustok_iggy::{config::PluginConfig, Codec, Plugin, Result};
pub use rustok_iggy_testkit::TestJson;

fn build_json(_: &PluginConfig) -> Result<Arc<dyn Codec>> {
    Ok(Arc::new(TestJson))
}

/// [`TestJson`] as a registrable plugin named `json`.
pub const JSON_PLUGIN: Plugin = Plugin::codec("json", build_json);
