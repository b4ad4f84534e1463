//! Loading the config the way every command needs it: the file and the
//! environment overrides, then the checks the core cannot make because they
//! need to know which plugin crates this binary links.

use std::path::Path;

use rustok_iggy::{Registry, Result, TransportConfig};
use rustok_iggy_embedded::EmbeddedConfig;
use rustok_iggy_remote::RemoteConfig;

/// Reads `path` (if any) with `RUSTOK_IGGY__*` overrides and checks every
/// plugin section: its name must be a linked plugin, and the sections of the
/// backends this binary links are parsed even when another backend is
/// selected, so a misspelt key in them is an error too (the backend in use
/// parses its own section again when it opens).
pub fn load(path: Option<&Path>) -> Result<TransportConfig> {
    let config = TransportConfig::load(path)?;
    config
        .plugins
        .check_known(&Registry::from_inventory().all_names())?;
    if config.plugins.names().any(|n| n == "embedded") {
        EmbeddedConfig::from_plugin_config(&config.plugin("embedded"))?;
    }
    if config.plugins.names().any(|n| n == "remote") {
        RemoteConfig::from_plugin_config(&config.plugin("remote"))?;
    }
    Ok(config)
}
