//! Transport configuration: plain serde structs read from TOML, with
//! `RUSTOK_IGGY__SECTION__KEY` environment overrides.
//!
//! Every section is `#[serde(default, deny_unknown_fields)]`: a missing key takes
//! its default, a misspelt key is an error that names it and lists the valid
//! ones. Plugin sections (`[plugins.<name>]`) are parsed by their plugin with
//! [`PluginConfig::parse`], under the same rules.

// One job per file: this module holds `TransportConfig`, its loading and the
// errors that name a key; `sections` the consumer, health, limits and retry
// sections; `env` the environment overrides; `plugin` the plugin sections;
// `secret` the `Secret` type.
mod env;
mod plugin;
mod secret;
mod sections;

use std::path::Path;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub use env::ENV_PREFIX;
pub use plugin::{PluginConfig, PluginSections};
pub use secret::Secret;
pub use sections::{
    ConsumerConfig, HealthConfig, LegacyFormat, LimitsConfig, RetryConfig, StartFrom,
};

use crate::{Error, ErrorKind, Result, RoutingConfig};

/// Everything [`Transport::from_config`](crate::Transport::from_config) needs.
///
/// ```
/// use rustok_iggy::TransportConfig;
///
/// let config = TransportConfig::from_toml(r#"
///     backend = "memory"
///     codec = "postcard"
///     [routing]
///     partitions = 4
/// "#).unwrap();
/// assert_eq!(config.routing.partitions, 4);
///
/// let err = TransportConfig::from_toml("backnd = \"memory\"").unwrap_err();
/// assert!(err.to_string().contains("unknown field `backnd`"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportConfig {
    /// Backend name.
    pub backend: String,
    /// Codec that new messages are written with. Messages are always read with
    /// the codec named in their header.
    pub codec: String,
    /// Offset store name; default: the backend's own.
    pub offsets: Option<String>,
    /// DLQ store name; default: the backend's own.
    pub dlq: Option<String>,
    /// Iggy stream all topics live in.
    pub stream: String,
    /// Event type → topic rules.
    pub routing: RoutingConfig,
    /// Defaults for subscriptions.
    pub consumer: ConsumerConfig,
    /// When the health report turns degraded.
    pub health: HealthConfig,
    /// Size limits on what is published.
    pub limits: LimitsConfig,
    /// Per-plugin sections, `[plugins.<name>]`.
    pub plugins: PluginSections,
}

/// Name of the default backend: the embedded, durable log (crate
/// `rustok-iggy-embedded`, which the binary must link).
pub const DEFAULT_BACKEND: &str = "embedded";
/// Name of the default codec.
pub const DEFAULT_CODEC: &str = "json";

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            backend: DEFAULT_BACKEND.into(),
            codec: DEFAULT_CODEC.into(),
            offsets: None,
            dlq: None,
            stream: "rustok".into(),
            routing: RoutingConfig::default(),
            consumer: ConsumerConfig::default(),
            health: HealthConfig::default(),
            limits: LimitsConfig::default(),
            plugins: PluginSections::default(),
        }
    }
}

impl TransportConfig {
    /// Parses TOML, without environment overrides.
    pub fn from_toml(text: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| invalid_toml(text, &e))?;
        Self::from_table(table)
    }

    /// Reads `path` (if given) and applies `RUSTOK_IGGY__*` variables from the
    /// process environment.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("cannot read config file {}", path.display()),
                )
                .with_source(e)
            })?,
            None => String::new(),
        };
        Self::from_toml_and_env(&text, std::env::vars())
    }

    /// Parses TOML, then applies overrides from `vars` (name, value) pairs; names
    /// not starting with [`ENV_PREFIX`] are ignored.
    ///
    /// `RUSTOK_IGGY__ROUTING__PARTITIONS=16` sets `routing.partitions`;
    /// `RUSTOK_IGGY__PLUGINS__EMBEDDED__DATA_DIR=/var/lib/app` sets
    /// `plugins.embedded.data_dir`. Values that parse as integers, floats or
    /// booleans are taken as such, `[...]` as a TOML array, anything else as a
    /// string.
    pub fn from_toml_and_env(
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| invalid_toml(text, &e))?;
        env::apply_overrides(&mut table, vars)?;
        Self::from_table(table)
    }

    fn from_table(table: toml::Table) -> Result<Self> {
        deserialize_at("", toml::Value::Table(table))
    }

    /// The section of plugin `name` (empty if the config has none).
    pub fn plugin(&self, name: &str) -> PluginConfig {
        self.plugins.get(name)
    }
}

/// A TOML syntax error as line, column and what was expected, without the
/// source line `toml`'s own message quotes: that line may hold a password.
fn invalid_toml(text: &str, error: &toml::de::Error) -> Error {
    let position = error.span().map(|span| {
        let before = text.get(..span.start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!(" at line {line}, column {column}")
    });
    let message = error.message().trim().replace('\n', "; ");
    Error::new(
        ErrorKind::Config,
        format!("invalid TOML{}: {message}", position.unwrap_or_default()),
    )
}

/// Deserializes `value`, turning serde's error into one that names the key.
fn deserialize_at<T: DeserializeOwned>(prefix: &str, value: toml::Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let key = match (prefix.is_empty(), path.as_str()) {
            (true, ".") => "<root>".to_owned(),
            (true, _) => path,
            (false, ".") => prefix.to_owned(),
            (false, _) => format!("{prefix}.{path}"),
        };
        Error::config(key, err.into_inner())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_to_an_empty_file() {
        assert_eq!(
            TransportConfig::from_toml("").unwrap(),
            TransportConfig::default()
        );
    }

    #[test]
    fn errors_name_the_key_and_valid_values() {
        let err = TransportConfig::from_toml("[consumer]\nstart_from = \"middle\"").unwrap_err();
        assert_eq!(err.context("key"), Some("consumer.start_from"));
        assert!(err.message().contains("earliest"), "{err}");
        assert!(err.message().contains("latest"), "{err}");

        let err = TransportConfig::from_toml("[routing]\npartitions = \"many\"").unwrap_err();
        assert_eq!(err.context("key"), Some("routing.partitions"));

        let err = TransportConfig::from_toml("[routing]\npartitons = 3").unwrap_err();
        assert!(err.message().contains("expected one of"), "{err}");

        let err = TransportConfig::from_toml_and_env(
            "",
            vec![("RUSTOK_IGGY__BACKEND__X".to_owned(), "1".to_owned())],
        )
        .unwrap_err();
        assert!(err.to_string().contains("backend"), "{err}");
    }

    #[test]
    fn toml_syntax_errors_do_not_quote_the_source_line() {
        let err = TransportConfig::from_toml("[plugins.remote]\npassword = \"hunter2\" oops\n")
            .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("line 2, column 22"), "{shown}");
        let err = TransportConfig::from_toml_and_env("x = \"hunter2", Vec::new()).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
