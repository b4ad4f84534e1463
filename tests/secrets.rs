//! No secret in the core's output: with every log line captured at TRACE
//! level, configs holding tokens and passwords (plugin sections, environment
//! overrides) are parsed, printed, serialized and broken in every way a user
//! might, a transport publishes and consumes (with retries and a dead
//! letter), and health is reported; no secret may appear in the logs or in
//! any `Debug`, `Display` or JSON output. The remote backend's own test
//! (`backends/remote/tests/secrets.rs`) covers URLs, logins and servers.

mod common;

use std::sync::Arc;

use common::{numbered_events, Numbered};
use rustok_iggy::{
    config::{PluginConfig, Secret},
    handler_fn, EventEnvelope, HandlerError, Transport, TransportConfig,
};
use rustok_iggy_testkit::{eventually, LogCapture};
use serde::Deserialize;

const TOKEN: &str = "tok-3e8a1f0c77";
const PASSWORD: &str = "pw-b5d2c9e014";
const ENV_PASSWORD: &str = "envpw-41aa7d3b";
/// Secrets given as numbers: a TOML integer (which the section's type
/// refuses) and an environment override that is all digits. Long enough
/// that no timestamp or id in the output contains them by chance.
const NUMERIC_TOKEN: &str = "73914058261946";
const NUMERIC_ENV_TOKEN: &str = "51829037461553";
const SECRETS: [&str; 5] = [
    TOKEN,
    PASSWORD,
    ENV_PASSWORD,
    NUMERIC_TOKEN,
    NUMERIC_ENV_TOKEN,
];

/// A plugin section with secrets, parsed the way a plugin would.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(dead_code)]
struct VaultSection {
    token: Secret,
    password: Option<Secret>,
    address: String,
}

impl Default for VaultSection {
    fn default() -> Self {
        Self {
            token: Secret::default(),
            password: None,
            address: "127.0.0.1:8200".into(),
        }
    }
}

/// Everything printed, to search afterwards.
#[derive(Default)]
struct Shown(Vec<String>);

impl Shown {
    fn add(&mut self, what: &str, text: String) {
        tracing::trace!(what, shown = %text, "output");
        self.0.push(format!("{what}: {text}"));
    }

    fn error(&mut self, what: &str, err: &rustok_iggy::Error) {
        self.add(what, format!("{err} | {err:?}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_debug_display_or_json() {
    let logs = LogCapture::install().expect("no other subscriber in this test binary");
    rustok_iggy_codecs::link();
    rustok_iggy_testkit::link();
    let mut shown = Shown::default();

    let toml = format!(
        r#"
        backend = "memory"
        codec = "postcard"
        [consumer]
        heartbeat_ms = 10
        poll_wait_ms = 20
        [consumer.retry]
        max_attempts = 2
        initial_backoff_ms = 1
        max_backoff_ms = 2
        [plugins.vault]
        token = "{TOKEN}"
        address = "10.0.0.9:8200"
        "#
    );
    let config = TransportConfig::from_toml_and_env(
        &toml,
        [(
            "RUSTOK_IGGY__PLUGINS__VAULT__PASSWORD".to_owned(),
            ENV_PASSWORD.to_owned(),
        )],
    )
    .unwrap();
    let vault: VaultSection = config.plugin("vault").parse().unwrap();
    assert_eq!(vault.token.expose(), TOKEN);
    assert_eq!(
        vault.password.as_ref().map(Secret::expose),
        Some(ENV_PASSWORD)
    );
    shown.add("config debug", format!("{config:?}"));
    shown.add("config json", serde_json::to_string(&config).unwrap());
    shown.add("plugin section", format!("{:?}", config.plugin("vault")));
    shown.add("parsed section", format!("{vault:?}"));
    shown.add("secret", format!("{} {:?}", vault.token, vault.token));
    tracing::trace!(?config, ?vault, "configs");
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["plugins"]["vault"]["token"], "***", "{json}");

    // Broken configs around the secrets.
    for bad in [
        format!("[plugins.vault]\ntoken = \"{TOKEN}\" extra"),
        format!("[plugins.vault]\ntoken = \"{TOKEN}"),
        format!("[plugins.vault]\ntoken = {TOKEN}"),
        format!("[plugins.vault]\npassword = '''{PASSWORD}"),
    ] {
        let err = TransportConfig::from_toml(&bad).unwrap_err();
        shown.error("toml error", &err);
    }
    for section in [
        format!("token = \"{TOKEN}\"\ntokn = \"{PASSWORD}\""),
        format!("token = \"{TOKEN}\"\naddress = 5\npassword = \"{PASSWORD}\""),
        format!("token = {NUMERIC_TOKEN}\npassword = [\"{PASSWORD}\"]"),
    ] {
        let err = PluginConfig::new("plugins.vault", toml::from_str(&section).unwrap())
            .parse::<VaultSection>()
            .unwrap_err();
        shown.error("section error", &err);
    }
    // A number where a secret is expected is taken as its text.
    let numeric: VaultSection = PluginConfig::new(
        "plugins.vault",
        toml::from_str(&format!("token = {NUMERIC_TOKEN}")).unwrap(),
    )
    .parse()
    .unwrap();
    assert_eq!(numeric.token.expose(), NUMERIC_TOKEN);
    shown.add("numeric toml secret", format!("{numeric:?}"));
    tracing::trace!(?numeric, "numeric section");
    let numeric = TransportConfig::from_toml_and_env(
        "",
        [(
            "RUSTOK_IGGY__PLUGINS__VAULT__TOKEN".to_owned(),
            NUMERIC_ENV_TOKEN.to_owned(),
        )],
    )
    .unwrap();
    let vault: VaultSection = numeric.plugin("vault").parse().unwrap();
    assert_eq!(
        vault.token.expose(),
        NUMERIC_ENV_TOKEN,
        "the exact text that was set"
    );
    shown.add(
        "numeric env secret",
        format!("{:?} {}", vault.token, vault.token),
    );

    // No linked plugin reads `[plugins.vault]`: the transport refuses it,
    // without showing its secrets.
    let err = Transport::from_config(&config).await.unwrap_err();
    assert_eq!(err.context("key"), Some("plugins.vault"));
    shown.error("unknown plugin section", &err);
    let config = TransportConfig {
        plugins: Default::default(),
        ..config
    };

    // Publish and consume at TRACE, with retries and a dead letter.
    let transport = Transport::from_config(&config).await.unwrap();
    shown.add("transport", format!("{transport:?}"));
    let events = numbered_events(30, 3);
    transport.publish_batch(&events).await.unwrap();
    let handled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = handled.clone();
    let subscription = transport
        .subscribe(
            "g",
            &["events"],
            handler_fn(move |e: EventEnvelope<Numbered>| {
                let counter = counter.clone();
                async move {
                    if e.event.key_seq == 4 {
                        return Err(HandlerError::permanent("rejected"));
                    }
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok::<(), HandlerError>(())
                }
            }),
        )
        .await
        .unwrap();
    eventually("every good event handled", || async {
        handled.load(std::sync::atomic::Ordering::SeqCst) == 27
    })
    .await;
    let report = transport.health().await;
    shown.add("health", format!("{report:?}"));
    shown.add("health json", serde_json::to_string(&report).unwrap());
    shown.add("stats", format!("{:?}", subscription.stats()));
    assert!(subscription.shutdown().await.unwrap().is_clean());
    transport.shutdown().await.unwrap();

    let captured = logs.contents();
    assert!(captured.contains("TRACE"), "capture works");
    assert!(captured.contains("dead-letter"), "the runtime logged");
    let printed = shown.0.join("\n");
    for secret in SECRETS {
        assert!(!printed.contains(secret), "`{secret}` printed:\n{printed}");
    }
    let leaked = logs.find(&SECRETS);
    assert!(leaked.is_empty(), "{leaked:?} logged:\n{captured}");
}
