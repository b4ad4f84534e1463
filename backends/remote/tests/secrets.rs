//! No password ever shows: every log line at TRACE level (captured in memory),
//! and the `Debug` and `Display` of every config, error and health report the
//! remote backend produces, are searched for the distinctive passwords used
//! here. Covers a password in the URL and in the `password` key, a login with
//! a wrong password against a `rustok_iggy_server::Server` on 127.0.0.1:0, an
//! unreachable address, logins over TLS and QUIC (right and wrong
//! passwords), a managed server (root password, a token in its
//! environment) that cannot start (a running one is
//! `cli/tests/managed_secrets.rs`), config errors (a malformed URL holding the password,
//! TOML syntax errors on the password's line), health, and a short publish
//! and consume.

use std::{
    collections::HashSet,
    fmt::{Debug, Display},
    sync::{Arc, Mutex},
};

use rustok_iggy::{
    config::{PluginConfig, Secret},
    handler_fn, Backend, EventEnvelope, HandlerError, Transport, TransportConfig,
};
use rustok_iggy_remote::{Endpoints, RemoteBackend, RemoteConfig};
use rustok_iggy_server::Server;
use rustok_iggy_testkit::{
    eventually,
    fixtures::{order_placed_envelope, tenant, OrderPlaced},
    LogCapture, MemoryBackend,
};
use uuid::Uuid;

mod common;

/// The server's password, given in the `password` key.
const SERVER_PASSWORD: &str = "srvPw-7f3a9c1e";
/// A password in a URL, overridden by the key.
const URL_PASSWORD: &str = "urlPw-b81e02d4";
/// A wrong password.
const WRONG_PASSWORD: &str = "wrongPw-0c9b5a66";
/// Passwords only config errors see.
const BROKEN_PASSWORD: &str = "brokenPw-44d1e7aa";
/// The managed server's root password and a token in its environment.
const ROOT_PASSWORD: &str = "rootPw-5d0e9b31";
const ENV_TOKEN: &str = "envTok-9a7c2f18";
const SECRETS: [&str; 6] = [
    SERVER_PASSWORD,
    URL_PASSWORD,
    WRONG_PASSWORD,
    BROKEN_PASSWORD,
    ROOT_PASSWORD,
    ENV_TOKEN,
];

/// Everything the test printed with `Debug` or `Display`.
#[derive(Default)]
struct Shown(Vec<String>);

impl Shown {
    fn debug(&mut self, what: &str, value: &impl Debug) {
        let text = format!("{value:?}");
        tracing::trace!(what, shown = %text, "debug output");
        self.0.push(format!("{what}: {text}"));
    }

    fn both(&mut self, what: &str, value: &(impl Debug + Display)) {
        self.debug(what, value);
        let text = value.to_string();
        tracing::trace!(what, shown = %text, "display output");
        self.0.push(format!("{what}: {text}"));
    }
}

fn plugin(toml: &str) -> PluginConfig {
    PluginConfig::new("plugins.remote", toml::from_str(toml).unwrap())
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SSL_CERT_FILE: run by runs_in_a_child_trusting_the_test_ca"]
async fn no_password_reaches_logs_debug_or_display() {
    let logs = LogCapture::install().expect("no other subscriber in this test binary");
    rustok_iggy_remote::link();
    rustok_iggy_codecs::link();
    let mut shown = Shown::default();

    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .credentials("app", Secret::new(SERVER_PASSWORD))
        .start()
        .await
        .unwrap();
    let addr = server.local_addr();

    // Configs: the URL's password is overridden by the key.
    let config = TransportConfig::from_toml(&format!(
        r#"
        backend = "remote"
        stream = "app"
        [routing]
        partitions = 2
        [consumer]
        heartbeat_ms = 50
        poll_wait_ms = 20
        [plugins.remote]
        url = "iggy+tcp://app:{URL_PASSWORD}@{addr}"
        password = "{SERVER_PASSWORD}"
        reconnect_interval_ms = 100
        "#
    ))
    .unwrap();
    shown.debug("transport config", &config);
    tracing::trace!(?config, "transport config");
    let remote = RemoteConfig::from_plugin_config(&config.plugin("remote")).unwrap();
    assert_eq!(
        remote.password.as_ref().map(Secret::expose),
        Some(SERVER_PASSWORD)
    );
    shown.debug("remote config", &remote);
    tracing::trace!(?remote, "remote config");
    let endpoints = Endpoints::parse(&remote.url).unwrap();
    shown.debug("endpoints", &endpoints);

    // A short publish and consume, then health.
    let transport = Transport::from_config(&config).await.unwrap();
    shown.debug("transport", &transport);
    let events: Vec<EventEnvelope<OrderPlaced>> = (0..20)
        .map(|i| order_placed_envelope(tenant(i), i as u64))
        .collect();
    transport.publish_batch(&events).await.unwrap();
    let seen: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    let handler_seen = seen.clone();
    let subscription = transport
        .subscribe(
            "billing",
            &["events"],
            handler_fn(move |event: EventEnvelope<OrderPlaced>| {
                let seen = handler_seen.clone();
                async move {
                    seen.lock().unwrap().insert(event.id);
                    Ok::<(), HandlerError>(())
                }
            }),
        )
        .await
        .unwrap();
    eventually("every event handled", || async {
        seen.lock().unwrap().len() == events.len()
    })
    .await;
    let report = transport.health().await;
    shown.debug("health report", &report);
    tracing::trace!(?report, "health");
    shown.debug("backend health", &transport.backend().health().await);
    assert!(subscription.shutdown().await.unwrap().is_clean());

    // A wrong password: refused, and the error does not repeat it.
    let mut wrong = RemoteConfig::new(format!("iggy+tcp://app:{WRONG_PASSWORD}@{addr}"));
    wrong.reconnect_retries = Some(0);
    shown.debug("wrong config", &wrong);
    let err = RemoteBackend::connect(wrong).await.unwrap_err();
    shown.both("wrong password error", &err);
    assert!(err.message().contains("Invalid credentials"), "{err}");
    assert!(!err.is_retryable(), "a wrong password does not heal: {err}");
    let wrong_from_config = TransportConfig::from_toml(&format!(
        "backend = \"remote\"\n[plugins.remote]\nurl = \"iggy+tcp://app@{addr}\"\npassword = \"{WRONG_PASSWORD}\"\nreconnect_retries = 0\n"
    ))
    .unwrap();
    let err = Transport::from_config(&wrong_from_config)
        .await
        .unwrap_err();
    shown.both("wrong password error from config", &err);

    // Nobody listening.
    let mut unreachable = RemoteConfig::new(format!(
        "iggy+tcp://app:{URL_PASSWORD}@127.0.0.1:{}",
        closed_port().await
    ));
    unreachable.reconnect_retries = Some(0);
    unreachable.connect_timeout_ms = 2_000;
    let err = RemoteBackend::connect(unreachable).await.unwrap_err();
    shown.both("unreachable error", &err);

    // Managed mode with secrets for the child, whose executable is missing:
    // the spawn error. A real child (`rustok-iggy serve`) with secrets, and
    // its forwarded output, is `cli/tests/managed_secrets.rs`.
    let managed = RemoteConfig::from_plugin_config(&plugin(&format!(
        r#"
        url = "iggy+tcp://app:{URL_PASSWORD}@127.0.0.1:{}"
        reconnect_retries = 0
        [spawn]
        executable = "/nonexistent/iggy-server-for-the-secrets-test"
        root_password = "{ROOT_PASSWORD}"
        env = {{ APP_TOKEN = "{ENV_TOKEN}" }}
        ready_timeout_ms = 2000
        restart_max = 0
        "#,
        closed_port().await
    )))
    .unwrap();
    shown.debug("managed config", &managed);
    tracing::trace!(?managed, "managed config");
    let err = RemoteBackend::connect(managed).await.unwrap_err();
    shown.both("spawn error", &err);
    assert_eq!(err.context("key"), Some("plugins.remote.spawn.executable"));

    // Over TLS and QUIC: a login with the right password (health included)
    // and one with a wrong password, against a server with both listeners.
    let encrypted = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .credentials("app", Secret::new(SERVER_PASSWORD))
        .tls(common::pki().tls_config())
        .quic("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let tls_url = |password: &str| format!("iggy+tcp://app:{password}@{}", encrypted.local_addr());
    let quic_url = |password: &str| {
        format!(
            "iggy+quic://app:{password}@{}",
            encrypted.quic_addr().unwrap()
        )
    };
    for (wire, url, wrong_url) in [
        ("tls", tls_url(SERVER_PASSWORD), tls_url(WRONG_PASSWORD)),
        ("quic", quic_url(SERVER_PASSWORD), quic_url(WRONG_PASSWORD)),
    ] {
        for (right, url) in [(true, url), (false, wrong_url)] {
            let mut config = RemoteConfig::new(url);
            config.tls = wire == "tls";
            if config.tls {
                config.tls_ca_file = Some(common::pki().ca_file.display().to_string());
            }
            config.tls_domain = Some("localhost".to_owned());
            config.reconnect_retries = Some(0);
            shown.debug("encrypted config", &config);
            tracing::trace!(?config, wire, "encrypted config");
            match RemoteBackend::connect(config).await {
                Ok(backend) => {
                    assert!(right, "{wire}: a wrong password was accepted");
                    shown.debug("encrypted backend health", &backend.health().await);
                    backend.shutdown().await.unwrap();
                }
                Err(err) => {
                    assert!(!right, "{wire}: {err}");
                    assert!(err.message().contains("Invalid credentials"), "{err}");
                    shown.both("wrong password error over an encrypted wire", &err);
                }
            }
        }
    }
    encrypted.shutdown().await.unwrap();

    // Config errors around the password.
    for url in [
        format!("iggy+tcp://app:{BROKEN_PASSWORD}@127.0.0.1:notaport"),
        format!("iggy+tcp://app:{BROKEN_PASSWORD}@"),
        format!("iggy+http://app:{BROKEN_PASSWORD}@127.0.0.1:8090"),
        format!("iggy+ws://app:{BROKEN_PASSWORD}@127.0.0.1:8090"),
        format!("ftp://app:{BROKEN_PASSWORD}@127.0.0.1:8090"),
        format!("iggy+tcp://app:{BROKEN_PASSWORD}@127.0.0.1:8090?tls=true"),
        format!("app:{BROKEN_PASSWORD}@127.0.0.1:8090"),
        format!("iggy+tcp://app:{BROKEN_PASSWORD}%zz@127.0.0.1:8090"),
    ] {
        let err = Endpoints::parse(&url).unwrap_err();
        shown.both("url error", &err);
        let err =
            RemoteConfig::from_plugin_config(&plugin(&format!("url = \"{url}\""))).unwrap_err();
        shown.both("config url error", &err);
    }
    for toml in [
        format!("[plugins.remote]\npassword = \"{BROKEN_PASSWORD}\" trailing"),
        format!("[plugins.remote]\npassword = \"{BROKEN_PASSWORD}"),
        format!("[plugins.remote]\nurl = iggy+tcp://app:{BROKEN_PASSWORD}@h:1"),
    ] {
        let err = TransportConfig::from_toml(&toml).unwrap_err();
        shown.both("toml error", &err);
    }
    let err = RemoteConfig::from_plugin_config(&plugin(&format!(
        "password = \"{BROKEN_PASSWORD}\"\npasword = \"{BROKEN_PASSWORD}\""
    )))
    .unwrap_err();
    shown.both("unknown key error", &err);

    transport.shutdown().await.unwrap();
    server.shutdown().await.unwrap();

    // Every case above was logged by the code under test or by `Shown`.
    let captured = logs.contents();
    assert!(captured.contains("wrong password error"), "capture works");
    assert!(captured.contains("TRACE"), "TRACE level is captured");
    let printed = shown.0.join("\n");
    for secret in SECRETS {
        assert!(
            !printed.contains(secret),
            "`{secret}` was printed:\n{}",
            shown
                .0
                .iter()
                .filter(|l| l.contains(secret))
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let leaked = logs.find(&SECRETS);
    assert!(
        leaked.is_empty(),
        "{leaked:?} logged:\n{}",
        captured
            .lines()
            .filter(|l| leaked.iter().any(|s| l.contains(s)))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The test logs in over QUIC, whose SDK client trusts only the platform
/// verifier (`SSL_CERT_FILE`): it runs in a child process whose environment
/// names the test CA.
#[test]
fn runs_in_a_child_trusting_the_test_ca() {
    let passed = common::run_trusting_in_child("no_password_reaches").unwrap();
    assert_eq!(passed, 1);
}
