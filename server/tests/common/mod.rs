//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

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

/// Polls `f` until it returns `Some`, at most `attempts` times, `pause` apart.
pub async fn eventually<T, F, Fut>(attempts: u32, pause: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..attempts {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(pause).await;
    }
    None
}
