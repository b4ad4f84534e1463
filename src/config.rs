//! Transport configuration: plain serde structs read from TOML, with
//! `RUSTOK_IGGY__SECTION__KEY` environment overrides.
//!
//! Every section is `#[serde(default, deny_unknown_fields)]`: a missing key takes
//! its default, a misspelt key is an error that names it and lists the valid
//! ones. Plugin sections (`[plugins.<name>]`) are parsed by their plugin with
//! [`PluginConfig::parse`], under the same rules.

use std::{collections::BTreeMap, fmt, path::Path};

use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, ErrorKind, Result, RoutingConfig};

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "RUSTOK_IGGY__";

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
        let mut overrides: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        overrides.sort();
        for (name, value) in overrides {
            apply_override(&mut table, &name, &value)?;
        }
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

/// Defaults for subscriptions (each can be overridden per subscription).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Records fetched per poll. Also bounds what a crash redelivers: at most
    /// two batches per partition (the one being handled and the one whose
    /// commit was still on its way).
    pub poll_batch: u32,
    /// How long a poll waits for data before returning empty, in ms. Backends
    /// without long polling sleep this long between empty polls.
    pub poll_wait_ms: u64,
    /// How often a subscription tells the group which partitions it holds and
    /// learns its assignment, in ms.
    pub heartbeat_ms: u64,
    /// At most this many partitions run handlers at the same time, per
    /// subscription.
    pub max_concurrency: usize,
    /// Where a group starts on a partition it never committed on.
    pub start_from: StartFrom,
    /// Remember this many recently handled event ids per subscription and skip
    /// a message whose id is among them (0: off). See `docs/delivery.md` for
    /// what this does and does not guarantee.
    pub dedup_window: usize,
    /// How long `Subscription::shutdown` waits for in-flight handlers, in ms.
    pub shutdown_timeout_ms: u64,
    /// How often a subscription reads its partitions' ends for lag, in ms.
    pub lag_probe_ms: u64,
    /// Retry and dead-letter policy.
    pub retry: RetryConfig,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            poll_batch: 256,
            poll_wait_ms: 100,
            heartbeat_ms: 100,
            max_concurrency: 16,
            start_from: StartFrom::Earliest,
            dedup_window: 0,
            shutdown_timeout_ms: 30_000,
            lag_probe_ms: 1_000,
            retry: RetryConfig::default(),
        }
    }
}

impl ConsumerConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.poll_batch == 0 {
            return Err(Error::config("consumer.poll_batch", "must be at least 1"));
        }
        if self.heartbeat_ms == 0 {
            return Err(Error::config("consumer.heartbeat_ms", "must be at least 1"));
        }
        if self.lag_probe_ms == 0 {
            return Err(Error::config("consumer.lag_probe_ms", "must be at least 1"));
        }
        if self.max_concurrency == 0 {
            return Err(Error::config(
                "consumer.max_concurrency",
                "must be at least 1",
            ));
        }
        self.retry.validate()
    }
}

/// Thresholds of [`Transport::health`](crate::Transport::health).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// A subscription whose lag on a partition exceeds this is degraded.
    pub max_lag: u64,
    /// A subscription with this many failures in a row (handler, poll, commit,
    /// DLQ) is degraded.
    pub max_consecutive_failures: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            max_lag: 10_000,
            max_consecutive_failures: 10,
        }
    }
}

/// Size limits on published events (`[limits]`).
///
/// An event is refused at publish, before anything is appended, when its
/// encoded payload plus its headers exceed `max_event_bytes`: a clear error
/// at the producer instead of a backend refusing it (or a consumer choking on
/// it) later.
///
/// ```
/// use rustok_iggy::{LimitsConfig, TransportConfig};
///
/// let config = TransportConfig::from_toml("[limits]\nmax_event_bytes = 4096").unwrap();
/// assert_eq!(config.limits.max_event_bytes, 4096);
/// assert_eq!(LimitsConfig::default().max_event_bytes, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest event accepted by `publish`, in bytes of encoded payload plus
    /// header keys and values. At most [`LimitsConfig::MAX_EVENT_BYTES`].
    pub max_event_bytes: usize,
}

impl LimitsConfig {
    /// The highest `max_event_bytes` accepted: Iggy's largest message payload
    /// (64,000,000 bytes), which is also below the embedded backend's 64 MiB
    /// record limit, so an event under the limit fits every backend.
    pub const MAX_EVENT_BYTES: usize = 64_000_000;

    /// The config key of the limit, named in errors.
    pub const MAX_EVENT_BYTES_KEY: &'static str = "limits.max_event_bytes";

    pub(crate) fn validate(&self) -> Result<()> {
        if !(1..=Self::MAX_EVENT_BYTES).contains(&self.max_event_bytes) {
            return Err(Error::config(
                Self::MAX_EVENT_BYTES_KEY,
                format!(
                    "must be between 1 and {} bytes, got {}",
                    Self::MAX_EVENT_BYTES,
                    self.max_event_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_event_bytes: 1 << 20,
        }
    }
}

/// Where a new group starts reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The oldest stored record.
    Earliest,
    /// Only records appended after the group first polls.
    Latest,
}

/// How a subscription treats a failing handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts before a message goes to the DLQ (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry, in ms.
    pub initial_backoff_ms: u64,
    /// Longest delay between retries, in ms.
    pub max_backoff_ms: u64,
    /// Each delay is the previous one times this.
    pub multiplier: f64,
    /// Fraction of each delay replaced by randomness (0 to 1), so consumers that
    /// failed together do not retry together.
    pub jitter: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 10_000,
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl RetryConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::config(
                "consumer.retry.max_attempts",
                "must be at least 1",
            ));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(Error::config(
                "consumer.retry.multiplier",
                "must be a number of at least 1.0",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::config(
                "consumer.retry.jitter",
                "must be between 0.0 and 1.0",
            ));
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            return Err(Error::config(
                "consumer.retry.initial_backoff_ms",
                "must not exceed consumer.retry.max_backoff_ms",
            ));
        }
        Ok(())
    }
}

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

fn apply_override(table: &mut toml::Table, name: &str, raw: &str) -> Result<()> {
    let path: Vec<String> = name[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if path.iter().any(String::is_empty) {
        return Err(Error::config(
            name,
            "environment override has an empty key segment",
        ));
    }
    let (last, parents) = path
        .split_last()
        .ok_or_else(|| Error::config(name, "environment override names no key"))?;
    let mut current = table;
    for (depth, segment) in parents.iter().enumerate() {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| {
            Error::config(
                name,
                format!("`{}` is a value, not a section", path[..=depth].join(".")),
            )
        })?;
    }
    current.insert(last.clone(), env_value(raw));
    Ok(())
}

/// The TOML value of an environment override. A value is typed only when it
/// is the canonical text of its type (`16`, `0.5`, `true`), so that its text
/// can always be recovered exactly: `007` or `1e3` stay strings, and a
/// [`Secret`] given as `123456` reads back as `"123456"`.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        if i.to_string() == raw {
            return toml::Value::Integer(i);
        }
    }
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(f) = raw.parse::<f64>() {
        if f.is_finite() && f.to_string() == raw {
            return toml::Value::Float(f);
        }
    }
    if raw.starts_with('[') {
        if let Ok(mut t) = toml::from_str::<toml::Table>(&format!("v = {raw}")) {
            if let Some(v) = t.remove("v") {
                return v;
            }
        }
    }
    toml::Value::String(raw.to_owned())
}

/// A secret string (password, token): `Debug` and `Display` print `***`.
///
/// ```
/// use rustok_iggy::config::Secret;
///
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "*** ***");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    /// Accepts a string, or a number or boolean taken as the text it is
    /// written as: an environment override of a numeric password
    /// (`RUSTOK_IGGY__PLUGINS__REMOTE__PASSWORD=123456`) arrives as an
    /// integer, and its decimal form is exactly what was set (overrides are
    /// typed only when the value is the canonical form of its type). Never
    /// echoes the value in an error.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (value not shown)")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Secret, E> {
                Ok(Secret::new(v))
            }

            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<Secret, E> {
                Ok(Secret(v))
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_char<E: serde::de::Error>(self, v: char) -> std::result::Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
        }

        deserializer.deserialize_string(Visitor)
    }
}

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; call only where it is used (a login), never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    /// Serializes as `***`, so dumping a config never leaks it.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_to_an_empty_file() {
        assert_eq!(
            TransportConfig::from_toml("").unwrap(),
            TransportConfig::default()
        );
    }

    #[test]
    fn env_overrides_nested_keys_with_types() {
        let c = TransportConfig::from_toml_and_env(
            "backend = \"memory\"\n[plugins.embedded]\nfsync = \"always\"\n",
            env(&[
                ("RUSTOK_IGGY__ROUTING__PARTITIONS", "16"),
                ("RUSTOK_IGGY__CODEC", "postcard"),
                ("RUSTOK_IGGY__CONSUMER__RETRY__JITTER", "0.5"),
                ("RUSTOK_IGGY__PLUGINS__EMBEDDED__DATA_DIR", "/var/lib/app"),
                ("OTHER__BACKEND", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(c.routing.partitions, 16);
        assert_eq!(c.codec, "postcard");
        assert_eq!(c.consumer.retry.jitter, 0.5);
        let section = c.plugin("embedded");
        #[derive(Deserialize)]
        struct Embedded {
            data_dir: String,
            fsync: String,
        }
        let e: Embedded = section.parse().unwrap();
        assert_eq!(
            (e.data_dir.as_str(), e.fsync.as_str()),
            ("/var/lib/app", "always")
        );
    }

    #[test]
    fn env_overrides_keep_the_exact_text_of_secrets_and_non_canonical_numbers() {
        #[derive(Deserialize)]
        struct Vault {
            token: Secret,
            pin: Secret,
            flag: Secret,
            label: String,
        }
        let c = TransportConfig::from_toml_and_env(
            "",
            env(&[
                ("RUSTOK_IGGY__PLUGINS__VAULT__TOKEN", "123456"),
                ("RUSTOK_IGGY__PLUGINS__VAULT__PIN", "007"),
                ("RUSTOK_IGGY__PLUGINS__VAULT__FLAG", "true"),
                ("RUSTOK_IGGY__PLUGINS__VAULT__LABEL", "1e3"),
            ]),
        )
        .unwrap();
        let v: Vault = c.plugin("vault").parse().unwrap();
        assert_eq!(v.token.expose(), "123456");
        assert_eq!(v.pin.expose(), "007");
        assert_eq!(v.flag.expose(), "true");
        assert_eq!(v.label, "1e3");
        assert_eq!(env_value("16"), toml::Value::Integer(16));
        assert_eq!(env_value("0.5"), toml::Value::Float(0.5));
        assert_eq!(env_value("+5"), toml::Value::String("+5".to_owned()));
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

        let err = TransportConfig::from_toml_and_env("", env(&[("RUSTOK_IGGY__BACKEND__X", "1")]))
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

    #[test]
    fn a_secret_is_text_and_errors_never_show_it() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct WithSecret {
            password: Secret,
        }
        for (value, text) in [
            ("\"s3cret\"", "s3cret"),
            ("73914562", "73914562"),
            ("7391.4562", "7391.4562"),
            ("true", "true"),
        ] {
            let table: toml::Table = toml::from_str(&format!("password = {value}")).unwrap();
            let ok: WithSecret = PluginConfig::new("plugins.x", table).parse().unwrap();
            assert_eq!(ok.password.expose(), text);
        }
        for value in ["[\"73914562\"]", "{ a = \"73914562\" }"] {
            let table: toml::Table = toml::from_str(&format!("password = {value}")).unwrap();
            let err = PluginConfig::new("plugins.x", table)
                .parse::<WithSecret>()
                .unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("7391"), "{shown}");
            assert!(shown.contains("value not shown"), "{shown}");
            assert_eq!(err.context("key"), Some("plugins.x.password"));
        }
    }

    #[test]
    fn plugin_sections_do_not_show_values_in_debug() {
        let c = TransportConfig::from_toml("[plugins.remote]\npassword = \"hunter2\"").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("password"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
