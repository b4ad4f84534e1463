//! Plugin sections: the raw `[plugins.<name>]` tables of a config
//! ([`PluginSections`]) and one plugin's section ([`PluginConfig`]), which its
//! plugin parses into its own type.

use std::{collections::BTreeMap, fmt};

use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};

use super::deserialize_at;
use crate::{Error, Result};

/// The `[plugins.*]` sections, kept as raw TOML until their plugin parses them.
///
/// `Debug` and `Serialize` show section and key names only: plugin sections
/// hold passwords and tokens, and their plugin knows which keys are secret,
/// this type does not.
#[derive(Clone, Default, PartialEq)]
pub struct PluginSections(BTreeMap<String, toml::Table>);

impl PluginSections {
    /// The section of plugin `name` (empty if absent).
    pub fn get(&self, name: &str) -> PluginConfig {
        PluginConfig {
            key: format!("plugins.{name}"),
            table: self.0.get(name).cloned().unwrap_or_default(),
        }
    }

    /// Sets the section of plugin `name`.
    pub fn insert(&mut self, name: impl Into<String>, table: toml::Table) {
        self.0.insert(name.into(), table);
    }

    /// Names of the sections the config sets, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Fails on the first section whose name is not in `known`: a plugin
    /// only reads its own section, so a misspelt one (`[plugins.embeded]`,
    /// `RUSTOK_IGGY__PLUGINS__EMBEDED__DATA_DIR`) would otherwise be ignored
    /// and the plugin would run on its defaults. The error names the section
    /// and lists `known`.
    ///
    /// ```
    /// use rustok_iggy::TransportConfig;
    ///
    /// let config = TransportConfig::from_toml("[plugins.embeded]\ndata_dir = \"/x\"").unwrap();
    /// let err = config.plugins.check_known(&["embedded", "json"]).unwrap_err();
    /// assert_eq!(err.context("key"), Some("plugins.embeded"));
    /// assert!(err.to_string().contains("embedded, json"), "{err}");
    /// ```
    pub fn check_known(&self, known: &[&str]) -> Result<()> {
        match self.names().find(|name| !known.contains(name)) {
            None => Ok(()),
            Some(name) => Err(Error::config(
                format!("plugins.{name}"),
                format!(
                    "unknown plugin section `{name}` (from the config file or a `{}PLUGINS__{}__*` variable); plugins linked into this binary: {}",
                    super::ENV_PREFIX,
                    name.to_ascii_uppercase(),
                    known.join(", ")
                ),
            )),
        }
    }
}

impl fmt::Debug for PluginSections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(name, table)| (name, table.keys().collect::<Vec<_>>())),
            )
            .finish()
    }
}

impl Serialize for PluginSections {
    /// Like `Debug`, shows which keys each section sets but never a value
    /// (each is `***`): a dumped config cannot leak a plugin's password.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let redacted: BTreeMap<&str, BTreeMap<&str, &str>> = self
            .0
            .iter()
            .map(|(name, table)| {
                let keys = table.keys().map(|k| (k.as_str(), "***")).collect();
                (name.as_str(), keys)
            })
            .collect();
        redacted.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PluginSections {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        BTreeMap::deserialize(deserializer).map(PluginSections)
    }
}

/// One plugin's config section.
///
/// ```
/// use rustok_iggy::config::PluginConfig;
/// use serde::Deserialize;
///
/// #[derive(Debug, Deserialize, Default)]
/// #[serde(default, deny_unknown_fields)]
/// struct MyConfig { level: u8 }
///
/// let section: toml::Table = toml::from_str("level = 3").unwrap();
/// let config = PluginConfig::new("plugins.mine", section);
/// assert_eq!(config.parse::<MyConfig>().unwrap().level, 3);
///
/// let bad: toml::Table = toml::from_str("levle = 3").unwrap();
/// let err = PluginConfig::new("plugins.mine", bad).parse::<MyConfig>().unwrap_err();
/// assert_eq!(err.context("key"), Some("plugins.mine.levle"));
/// assert!(err.to_string().contains("unknown field `levle`, expected `level`"), "{err}");
/// ```
#[derive(Clone, PartialEq)]
pub struct PluginConfig {
    key: String,
    table: toml::Table,
}

impl PluginConfig {
    /// A section at config key `key` (used in error messages).
    pub fn new(key: impl Into<String>, table: toml::Table) -> Self {
        Self {
            key: key.into(),
            table,
        }
    }

    /// An empty section at `key`.
    pub fn empty(key: impl Into<String>) -> Self {
        Self::new(key, toml::Table::new())
    }

    /// The config key of this section, e.g. `plugins.embedded`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The raw section.
    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    /// Deserializes the section; errors name the full key.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        deserialize_at(&self.key, toml::Value::Table(self.table.clone()))
    }
}

impl fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConfig")
            .field("key", &self.key)
            .field("keys", &self.table.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::TransportConfig;

    #[test]
    fn plugin_sections_do_not_show_values_in_debug() {
        let c = TransportConfig::from_toml("[plugins.remote]\npassword = \"hunter2\"").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("password"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_misspelt_section_from_a_file_or_the_environment_is_named() {
        let known = ["embedded", "json", "remote"];
        let from_file = TransportConfig::from_toml("[plugins.embeded]\ndata_dir = \"/x\"").unwrap();
        let from_env = TransportConfig::from_toml_and_env(
            "",
            vec![(
                "RUSTOK_IGGY__PLUGINS__EMBEDED__DATA_DIR".to_owned(),
                "/x".to_owned(),
            )],
        )
        .unwrap();
        for config in [from_file, from_env] {
            let err = config.plugins.check_known(&known).unwrap_err();
            assert_eq!(err.context("key"), Some("plugins.embeded"));
            assert!(err.to_string().contains("embedded, json, remote"), "{err}");
            assert!(
                err.to_string().contains("RUSTOK_IGGY__PLUGINS__EMBEDED__"),
                "{err}"
            );
        }
        let fine = TransportConfig::from_toml("[plugins.embedded]\ndata_dir = \"/x\"").unwrap();
        assert!(fine.plugins.check_known(&known).is_ok());
    }
}
