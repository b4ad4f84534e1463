//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::{net::SocketAddr, sync::Arc};

use iggy::prelude::*;
use rustok_iggy::Backend;
use rustok_iggy_server::{RunningServer, Server};

/// Starts a server for `backend` on a free loopback port with the default
/// root user.
pub async fn start(backend: Arc<dyn Backend>) -> RunningServer {
    Server::builder(backend)
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap()
}

/// An SDK client connected and logged in as the default root user.
pub async fn client(addr: SocketAddr) -> IggyClient {
    let client = IggyClient::from_connection_string(&format!(
        "iggy://iggy:iggy@{addr}?heartbeat_interval=200ms"
    ))
    .unwrap();
    client.connect().await.unwrap();
    client
}

/// An SDK client of `addr` that connects but does not log in.
pub async fn anonymous(addr: SocketAddr) -> IggyClient {
    let config = TcpClientConfig {
        server_address: addr.to_string(),
        auto_login: AutoLogin::Disabled,
        ..TcpClientConfig::default()
    };
    let client = IggyClient::new(ClientWrapper::Tcp(
        TcpClient::create(Arc::new(config)).unwrap(),
    ));
    client.connect().await.unwrap();
    client
}

/// A TCP client of the SDK (not yet connected) for a TLS server at `addr`:
/// certificate validation on, trusting `ca_file` (or only the SDK's built-in
/// public roots when `None`), expecting the certificate to name `domain`.
/// It does not redial, so a refused handshake fails `connect` at once.
pub fn tls_client(addr: SocketAddr, ca_file: Option<&std::path::Path>, domain: &str) -> IggyClient {
    let config = TcpClientConfig {
        server_address: addr.to_string(),
        tls_enabled: true,
        tls_domain: domain.to_owned(),
        tls_ca_file: ca_file.map(|path| path.display().to_string()),
        tls_validate_certificate: true,
        auto_login: root_login(),
        reconnection: TcpClientReconnectionConfig {
            enabled: false,
            ..TcpClientReconnectionConfig::default()
        },
        ..TcpClientConfig::default()
    };
    IggyClient::new(ClientWrapper::Tcp(
        TcpClient::create(Arc::new(config)).unwrap(),
    ))
}

/// A QUIC client of the SDK (not yet connected) for the server's QUIC
/// address, validating the certificate for `server_name`. The SDK's QUIC
/// client has no CA-file option: it trusts the platform's roots, which on
/// Linux are read from `SSL_CERT_FILE` when set (see `tests/quic.rs`, which
/// runs such clients in a child process whose environment sets it).
pub fn quic_client(addr: SocketAddr, server_name: &str) -> IggyClient {
    let config = QuicClientConfig {
        server_address: addr.to_string(),
        server_name: server_name.to_owned(),
        validate_certificate: true,
        auto_login: root_login(),
        reconnection: QuicClientReconnectionConfig {
            enabled: false,
            ..QuicClientReconnectionConfig::default()
        },
        ..QuicClientConfig::default()
    };
    IggyClient::new(ClientWrapper::Quic(
        QuicClient::create(Arc::new(config)).unwrap(),
    ))
}

fn root_login() -> AutoLogin {
    AutoLogin::Enabled(Credentials::UsernamePassword(
        "iggy".to_owned(),
        "iggy".to_owned().into(),
    ))
}

/// Through `client`: creates `stream` and its two-partition topic `orders`;
/// their identifiers.
pub async fn create_orders(client: &IggyClient, stream: &str) -> (Identifier, Identifier) {
    client.create_stream(stream).await.unwrap();
    let stream_id = Identifier::named(stream).unwrap();
    client
        .create_topic(
            &stream_id,
            "orders",
            &TopicCreateOptions {
                partitions_count: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    (stream_id, Identifier::named("orders").unwrap())
}

/// Through `client` (connected and logged in): creates a stream and a topic,
/// sends two messages and polls them back, checking what arrived.
pub async fn round_trip(client: &IggyClient, stream: &str) {
    client.ping().await.unwrap();
    let (stream_id, topic_id) = create_orders(client, stream).await;
    let mut messages = vec![
        IggyMessage::builder()
            .id(7)
            .payload("one".into())
            .build()
            .unwrap(),
        IggyMessage::builder()
            .id(8)
            .payload("two".into())
            .build()
            .unwrap(),
    ];
    client
        .send_messages(
            &stream_id,
            &topic_id,
            &Partitioning::partition_id(1),
            &mut messages,
        )
        .await
        .unwrap();
    let polled = client
        .poll_messages(
            &stream_id,
            &topic_id,
            Some(1),
            &Consumer::new(Identifier::named("reader").unwrap()),
            &PollingStrategy::offset(0),
            10,
            false,
        )
        .await
        .unwrap();
    let got: Vec<(u128, &[u8])> = polled
        .messages
        .iter()
        .map(|m| (m.header.id, m.payload.as_ref()))
        .collect();
    assert_eq!(got, vec![(7, &b"one"[..]), (8, &b"two"[..])]);
}
