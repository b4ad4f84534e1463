//! `[plugins.remote]`: where the Iggy server is and how to talk to it.

use std::{fmt, time::Duration};

use rustok_iggy::{config::PluginConfig, config::Secret, Error, Result};
use serde::Deserialize;

use crate::{
    spawn::{config::Plan, SpawnConfig},
    url::{redact, Endpoints, TransportProtocol},
};

/// The remote backend's config section, `[plugins.remote]`.
///
/// Every key is optional; a misspelt key is an error. The password (in
/// `password` or in the URL) never appears in `Debug`, logs or errors.
///
/// ```
/// use rustok_iggy_remote::RemoteConfig;
///
/// let config: RemoteConfig = toml::from_str(r#"
///     url = "iggy+tcp://app:secret@10.0.0.1:8090,10.0.0.2:8090"
///     tls = true
///     tls_ca_file = "/etc/iggy/ca.pem"
///     reconnect_retries = 20
/// "#).unwrap();
/// assert!(config.tls_validate_certificate, "validation is on by default");
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteConfig {
    /// `iggy+tcp://[user[:password]@]host:port[,host:port…]`, or
    /// `iggy+quic://…` with the server's QUIC (UDP) addresses; the
    /// addresses are tried in order. Default `iggy+tcp://127.0.0.1:8090`.
    /// HTTP and WebSocket URLs are refused (see [`Endpoints`]).
    pub url: String,
    /// User name; overrides the URL's. Default (neither set): `iggy`.
    pub username: Option<String>,
    /// Password; overrides the URL's. Default (neither set): `iggy`.
    pub password: Option<Secret>,
    /// Connect over TLS (TCP only; QUIC is always encrypted and ignores it).
    pub tls: bool,
    /// CA certificate (PEM) to trust, for a server with a private CA (TCP
    /// with `tls = true` only: the SDK's QUIC client takes no CA file and
    /// trusts the platform's roots — on Linux `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR`, else the system store).
    pub tls_ca_file: Option<String>,
    /// Name the server certificate must carry; default: the host of the
    /// address being dialled. TLS over TCP and QUIC.
    pub tls_domain: Option<String>,
    /// Validate the server certificate (default `true`), over TLS and QUIC.
    /// Turn off only for a throwaway test server.
    pub tls_validate_certificate: bool,
    /// How many times the SDK redials a lost connection (passes over the
    /// address) before giving up; absent for no limit. Default 10.
    pub reconnect_retries: Option<u32>,
    /// Pause between redials, in ms (default 1000).
    pub reconnect_interval_ms: u64,
    /// SDK heartbeat interval, in ms (default 5000).
    pub heartbeat_interval_ms: u64,
    /// Disable Nagle's algorithm on the socket (default `true`; TCP only).
    pub nodelay: bool,
    /// Longest wait for the first connection to one address, in ms
    /// (default 10000); then the next address is tried.
    pub connect_timeout_ms: u64,
    /// Longest wait for one request, in ms (default 30000); then the
    /// request fails with a retryable `Timeout`. It includes any reconnect
    /// the SDK does inside it: a request made while the connection is down
    /// waits (this long at most) for the reconnect.
    pub request_timeout_ms: u64,
    /// How many times an `append` is sent again after a retryable failure
    /// (disconnect, timeout); default 5. See the crate docs for the
    /// duplicates this can cause.
    pub send_retries: u32,
    /// First pause before a resend, in ms (default 100); doubles per
    /// attempt up to `send_backoff_max_ms` (default 5000).
    pub send_backoff_ms: u64,
    /// Longest pause between resends, in ms.
    pub send_backoff_max_ms: u64,
    /// Connections appends are sent over, 1 to [`MAX_SEND_CONNECTIONS`]
    /// (default 4): partition *p* always goes over connection
    /// *p* mod `send_connections`, the first being the one every other
    /// request shares, so a `publish_batch` spanning partitions sends to
    /// several at once instead of a round trip per partition one after
    /// another. The others open on their first append; 1 sends everything
    /// over the shared connection.
    pub send_connections: u32,
    /// Stream holding the DLQ store's topics (default `__rustok_dlq`).
    pub dlq_stream: String,
    /// Health turns `Degraded` when a ping takes longer, in ms (default 500).
    pub health_slow_ping_ms: u64,
    /// When the server acknowledges a write to a topic this backend
    /// creates (its event topics and the DLQ's): see [`TopicDurability`].
    /// Default `persisted`. Topics that already exist keep what they were
    /// created with. Group offsets are kept `replicated` either way (a
    /// commit lost in a crash delivers a batch again; nothing is lost).
    pub durability: TopicDurability,
    /// How many records before an append's place the backend searches for
    /// the stored copy of a message the server dropped as a duplicate (its
    /// message deduplication), to report that copy's offset as the
    /// receipt; default 10000 (Apache Iggy's default `max_entries`), at
    /// most [`MAX_DEDUP_LOOKBACK`]. Set it to at least the server's
    /// deduplication window: the server may remember an id for as long as
    /// the window holds it, and a copy further back is an error, never a
    /// guessed offset (see the crate docs, "Deduplication"). The search
    /// runs only when the server dropped a message, and stops once every
    /// copy is found.
    pub dedup_lookback: u64,
    /// Send a poll that may wait as a waiting poll, which `rustok-iggy
    /// serve` holds until a record arrives (default `true`; see the crate
    /// docs, "Poll"). Each long-polled partition then has a connection of
    /// its own; `false` keeps every poll on the shared connection, and the
    /// consumer pauses between empty polls as over Apache Iggy.
    pub waiting_polls: bool,
    /// Managed mode, `[plugins.remote.spawn]`: the backend starts and
    /// supervises the server itself (default: absent, connect only).
    pub spawn: Option<SpawnConfig>,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        Self {
            url: "iggy+tcp://127.0.0.1:8090".to_owned(),
            username: None,
            password: None,
            tls: false,
            tls_ca_file: None,
            tls_domain: None,
            tls_validate_certificate: true,
            reconnect_retries: Some(10),
            reconnect_interval_ms: 1_000,
            heartbeat_interval_ms: 5_000,
            nodelay: true,
            connect_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            send_retries: 5,
            send_backoff_ms: 100,
            send_connections: 4,
            send_backoff_max_ms: 5_000,
            dlq_stream: "__rustok_dlq".to_owned(),
            health_slow_ping_ms: 500,
            durability: TopicDurability::Persisted,
            dedup_lookback: 10_000,
            waiting_polls: true,
            spawn: None,
        }
    }
}

impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &redact(&self.url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_domain", &self.tls_domain)
            .field("tls_validate_certificate", &self.tls_validate_certificate)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("reconnect_interval_ms", &self.reconnect_interval_ms)
            .field("heartbeat_interval_ms", &self.heartbeat_interval_ms)
            .field("nodelay", &self.nodelay)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("send_retries", &self.send_retries)
            .field("send_backoff_ms", &self.send_backoff_ms)
            .field("send_connections", &self.send_connections)
            .field("send_backoff_max_ms", &self.send_backoff_max_ms)
            .field("dlq_stream", &self.dlq_stream)
            .field("health_slow_ping_ms", &self.health_slow_ping_ms)
            .field("durability", &self.durability)
            .field("dedup_lookback", &self.dedup_lookback)
            .field("waiting_polls", &self.waiting_polls)
            .field("spawn", &self.spawn)
            .finish()
    }
}

/// Most connections `send_connections` may ask for.
pub const MAX_SEND_CONNECTIONS: u32 = 64;

/// Largest accepted `dedup_lookback`: the embedded log's largest
/// `dedup_window`, so `rustok-iggy serve` with any window can be matched.
/// A search that finds nothing reads this many records.
pub const MAX_DEDUP_LOOKBACK: u64 = 10_000_000;

/// Iggy's durability of a topic's messages (its `durability` option at
/// creation).
///
/// ```
/// use rustok_iggy_remote::{RemoteConfig, TopicDurability};
///
/// let config: RemoteConfig = toml::from_str(r#"durability = "replicated""#).unwrap();
/// assert_eq!(config.durability, TopicDurability::Replicated);
/// assert_eq!(RemoteConfig::default().durability, TopicDurability::Persisted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopicDurability {
    /// A write is acknowledged once it is on the server's stable storage:
    /// written to the partition's segment at once (the topic's
    /// `messages_required_to_save = 1`) and fsynced (`durability =
    /// persisted`). It survives a crash of the server process and of its
    /// machine. The default: an append resolves only once stored.
    Persisted,
    /// The server's default: a write is acknowledged once the server (its
    /// quorum) has it in memory, and reaches the segment after 1,024
    /// messages. Faster, but a crash of a single-node server loses
    /// acknowledged messages (measured: all 600 of a demo run on Apache
    /// Iggy 0.9.0-edge.5 killed with SIGKILL; with `persisted`, none; see
    /// docs/real-iggy.md).
    Replicated,
}

/// What a connection needs, checked: addresses and the effective
/// credentials.
#[derive(Clone)]
pub(crate) struct Settings {
    pub config: RemoteConfig,
    pub transport: TransportProtocol,
    pub addresses: Vec<String>,
    pub username: String,
    pub password: Secret,
    /// Managed mode, checked and resolved.
    pub spawn: Option<Plan>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("transport", &self.transport)
            .field("addresses", &self.addresses)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl RemoteConfig {
    /// A config for `url`, everything else default.
    ///
    /// ```
    /// let config = rustok_iggy_remote::RemoteConfig::new("iggy+tcp://127.0.0.1:8090");
    /// assert_eq!(config.send_retries, 5);
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Parses and checks `[plugins.remote]`.
    pub fn from_plugin_config(config: &PluginConfig) -> Result<Self> {
        let parsed: Self = config.parse()?;
        parsed.settings()?;
        Ok(parsed)
    }

    pub(crate) fn settings(&self) -> Result<Settings> {
        let endpoints = Endpoints::parse(&self.url)?;
        self.check_tls(endpoints.transport)?;
        for (key, value) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("reconnect_interval_ms", self.reconnect_interval_ms),
            ("heartbeat_interval_ms", self.heartbeat_interval_ms),
            ("health_slow_ping_ms", self.health_slow_ping_ms),
        ] {
            if value == 0 {
                return Err(Error::config(
                    format!("plugins.remote.{key}"),
                    "must be above 0",
                ));
            }
        }
        if self.dedup_lookback > MAX_DEDUP_LOOKBACK {
            return Err(Error::config(
                "plugins.remote.dedup_lookback",
                format!(
                    "must be 0 to {MAX_DEDUP_LOOKBACK} (records searched for a deduplicated message's stored copy)"
                ),
            ));
        }
        if !(1..=MAX_SEND_CONNECTIONS).contains(&self.send_connections) {
            return Err(Error::config(
                "plugins.remote.send_connections",
                format!("must be 1 to {MAX_SEND_CONNECTIONS} (connections appends are sent over)"),
            ));
        }
        rustok_iggy::check_name("plugins.remote.dlq_stream", &self.dlq_stream)?;
        let username = self
            .username
            .clone()
            .or(endpoints.username)
            .unwrap_or_else(|| "iggy".to_owned());
        let password = self
            .password
            .clone()
            .or(endpoints.password)
            .unwrap_or_else(|| Secret::new("iggy"));
        if self.spawn.is_some() && endpoints.transport != TransportProtocol::Tcp {
            return Err(Error::config(
                "plugins.remote.spawn",
                "managed mode starts the server on the URL's TCP address; use an `iggy+tcp://` URL with `spawn`",
            ));
        }
        let spawn = self
            .spawn
            .as_ref()
            .map(|spawn| spawn.plan(&endpoints.addresses, &username, &password))
            .transpose()?;
        Ok(Settings {
            config: self.clone(),
            transport: endpoints.transport,
            addresses: endpoints.addresses,
            username,
            password,
            spawn,
        })
    }

    /// The TLS keys against the transport: each error names its key.
    fn check_tls(&self, transport: TransportProtocol) -> Result<()> {
        let encrypted = self.tls || transport == TransportProtocol::Quic;
        if let Some(ca) = &self.tls_ca_file {
            if transport == TransportProtocol::Quic {
                return Err(Error::config(
                    "plugins.remote.tls_ca_file",
                    "the SDK's QUIC client takes no CA file: it validates against the platform's trust store (on Linux the file in SSL_CERT_FILE or the directories in SSL_CERT_DIR, else the system roots); add the CA there, or use `iggy+tcp://` with `tls = true`",
                ));
            }
            if !self.tls {
                return Err(Error::config(
                    "plugins.remote.tls_ca_file",
                    "set `tls = true` to use a CA file",
                ));
            }
            if !std::path::Path::new(ca).is_file() {
                return Err(Error::config(
                    "plugins.remote.tls_ca_file",
                    format!("`{ca}` is not a readable file"),
                ));
            }
        }
        if let Some(domain) = &self.tls_domain {
            if !encrypted {
                return Err(Error::config(
                    "plugins.remote.tls_domain",
                    "set `tls = true` (or use `iggy+quic://`) to check a certificate name",
                ));
            }
            if rustls_pki_types::ServerName::try_from(domain.as_str()).is_err() {
                return Err(Error::config(
                    "plugins.remote.tls_domain",
                    format!("`{domain}` is not a DNS name or an IP address"),
                ));
            }
        }
        if !self.tls_validate_certificate && !encrypted {
            return Err(Error::config(
                "plugins.remote.tls_validate_certificate",
                "only applies to an encrypted connection: set `tls = true` (or use `iggy+quic://`)",
            ));
        }
        Ok(())
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> PluginConfig {
        PluginConfig::new("plugins.remote", toml::from_str(text).unwrap())
    }

    #[test]
    fn defaults_and_overrides() {
        let c = RemoteConfig::from_plugin_config(&section("")).unwrap();
        assert_eq!(c, RemoteConfig::default());
        let s = c.settings().unwrap();
        assert_eq!(s.addresses, vec!["127.0.0.1:8090"]);
        assert_eq!((s.username.as_str(), s.password.expose()), ("iggy", "iggy"));
        let c = RemoteConfig::from_plugin_config(&section(
            "url = \"iggy+tcp://a:b@h:1\"\nusername = \"x\"\npassword = \"y\"",
        ))
        .unwrap();
        let s = c.settings().unwrap();
        assert_eq!((s.username.as_str(), s.password.expose()), ("x", "y"));
    }

    #[test]
    fn typos_and_bad_values_are_config_errors() {
        let err = RemoteConfig::from_plugin_config(&section("urll = \"x\"")).unwrap_err();
        assert_eq!(err.context("key"), Some("plugins.remote.urll"));
        let err =
            RemoteConfig::from_plugin_config(&section("tls_ca_file = \"/ca.pem\"")).unwrap_err();
        assert!(err.to_string().contains("tls = true"), "{err}");
        assert_eq!(err.context("key"), Some("plugins.remote.tls_ca_file"));
        for key in [
            "connect_timeout_ms",
            "request_timeout_ms",
            "reconnect_interval_ms",
            "heartbeat_interval_ms",
            "health_slow_ping_ms",
        ] {
            let err =
                RemoteConfig::from_plugin_config(&section(&format!("{key} = 0"))).unwrap_err();
            assert!(err.to_string().contains("above 0"), "{err}");
            assert_eq!(err.context("key"), Some(&*format!("plugins.remote.{key}")));
        }
        let err = RemoteConfig::from_plugin_config(&section(
            "url = \"iggy+tcp://h:1\"\n[spawn]\naddress = \"h:2\"",
        ))
        .unwrap_err();
        assert_eq!(err.context("key"), Some("plugins.remote.spawn.address"));
        let err =
            RemoteConfig::from_plugin_config(&section("[spawn]\nready_timeout = 5")).unwrap_err();
        assert!(err.to_string().contains("ready_timeout"), "{err}");
        for bad in ["", "dead letters", "dlq/x", &"d".repeat(256)] {
            let err =
                RemoteConfig::from_plugin_config(&section(&format!("dlq_stream = \"{bad}\"")))
                    .unwrap_err();
            assert_eq!(
                err.context("key"),
                Some("plugins.remote.dlq_stream"),
                "{bad}"
            );
            assert!(err.to_string().contains("a-z"), "{err}");
        }
        assert!(RemoteConfig::from_plugin_config(&section("dlq_stream = \"ops.dlq-1\"")).is_ok());
        let err =
            RemoteConfig::from_plugin_config(&section("dedup_lookback = 10000001")).unwrap_err();
        assert_eq!(err.context("key"), Some("plugins.remote.dedup_lookback"));
        assert!(err.to_string().contains("0 to 10000000"), "{err}");
        let c = RemoteConfig::from_plugin_config(&section("dedup_lookback = 0")).unwrap();
        assert_eq!(c.dedup_lookback, 0);
        for bad in ["send_connections = 0", "send_connections = 65"] {
            let err = RemoteConfig::from_plugin_config(&section(bad)).unwrap_err();
            assert_eq!(err.context("key"), Some("plugins.remote.send_connections"));
            assert!(err.to_string().contains("1 to 64"), "{err}");
        }
        let c = RemoteConfig::from_plugin_config(&section("send_connections = 1")).unwrap();
        assert_eq!(c.send_connections, 1);
        let err = RemoteConfig::from_plugin_config(&section("durability = \"fsync\"")).unwrap_err();
        assert_eq!(err.context("key"), Some("plugins.remote.durability"));
        let text = err.to_string();
        assert!(
            text.contains("persisted") && text.contains("replicated"),
            "{text}"
        );
    }

    #[test]
    fn tls_keys_are_checked_against_the_transport_naming_the_key() {
        let ca = std::env::temp_dir();
        let ca = ca.display();
        for (text, key, needle) in [
            (
                "tls_domain = \"localhost\"".to_owned(),
                "tls_domain",
                "tls = true",
            ),
            (
                "tls = true\ntls_domain = \"not a name\"".to_owned(),
                "tls_domain",
                "not a DNS name",
            ),
            (
                "url = \"iggy+quic://h:1\"\ntls_domain = \"\"".to_owned(),
                "tls_domain",
                "not a DNS name",
            ),
            (
                "tls_validate_certificate = false".to_owned(),
                "tls_validate_certificate",
                "encrypted",
            ),
            (
                "url = \"iggy+quic://h:1\"\ntls_ca_file = \"/ca.pem\"".to_owned(),
                "tls_ca_file",
                "SSL_CERT_FILE",
            ),
            (
                "tls = true\ntls_ca_file = \"/no/such/ca.pem\"".to_owned(),
                "tls_ca_file",
                "not a readable file",
            ),
            // A directory is not a CA file.
            (
                format!("tls = true\ntls_ca_file = \"{ca}\""),
                "tls_ca_file",
                "not a readable file",
            ),
            (
                "url = \"iggy+quic://h:1\"\n[spawn]".to_owned(),
                "spawn",
                "iggy+tcp://",
            ),
        ] {
            let err = RemoteConfig::from_plugin_config(&section(&text)).unwrap_err();
            assert_eq!(err.kind(), rustok_iggy::ErrorKind::Config, "{text}");
            assert_eq!(
                err.context("key"),
                Some(&*format!("plugins.remote.{key}")),
                "{text}: {err}"
            );
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        // What works: QUIC validates by default and takes a name; TLS over
        // TCP takes all three keys.
        for text in [
            "url = \"iggy+quic://h:1\"\ntls_domain = \"iggy.example\"".to_owned(),
            "url = \"quic://h:1\"\ntls_validate_certificate = false".to_owned(),
            "tls = true\ntls_domain = \"10.0.0.1\"\ntls_validate_certificate = false".to_owned(),
        ] {
            let c = RemoteConfig::from_plugin_config(&section(&text)).unwrap();
            c.settings().unwrap();
        }
    }

    #[test]
    fn credentials_never_appear_in_debug_or_errors() {
        let c = RemoteConfig::from_plugin_config(&section(
            "url = \"iggy+tcp://app:hunter2@h:1\"\npassword = \"correct-horse\"\n[spawn]\nroot_password = \"tr0ub4dor\"",
        ))
        .unwrap();
        let shown = format!("{c:?} {:?}", c.settings().unwrap());
        assert!(
            !shown.contains("hunter2")
                && !shown.contains("correct-horse")
                && !shown.contains("tr0ub4dor"),
            "{shown}"
        );
        let err =
            RemoteConfig::from_plugin_config(&section("url = \"iggy+http://app:hunter2@h:1\""))
                .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"));
    }
}
