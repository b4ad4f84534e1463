//! Health follows the SDK's connections: a send connection that lost its
//! socket and cannot get back makes the backend `Degraded` (the shared
//! connection still answers pings), and `Healthy` again once it has.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use rustok_iggy::{Backend, HealthStatus, TopicRef};
use rustok_iggy_remote::RemoteBackend;
use rustok_iggy_testkit::{eventually, outbox::message};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Notify,
};

/// A TCP proxy in front of the server: it can cut the connections it
/// carries one by one (in the order it accepted them), and refuse new ones
/// (accept and close at once, so a redial's sign-in fails).
struct Proxy {
    addr: SocketAddr,
    cuts: Arc<Mutex<Vec<Arc<Notify>>>>,
    refusing: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cuts: Arc<Mutex<Vec<Arc<Notify>>>> = Arc::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let (accepted, refuse) = (cuts.clone(), refusing.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if refuse.load(Ordering::SeqCst) {
                    continue;
                }
                let cut = Arc::new(Notify::new());
                accepted.lock().unwrap().push(cut.clone());
                tokio::spawn(async move {
                    let mut server = TcpStream::connect(upstream).await.unwrap();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        Self {
            addr,
            cuts,
            refusing,
        }
    }

    /// How many connections it accepted and carried.
    fn carried(&self) -> usize {
        self.cuts.lock().unwrap().len()
    }

    /// Closes the `n`th connection it carried, both ways.
    fn cut(&self, n: usize) {
        self.cuts.lock().unwrap()[n].notify_one();
    }

    fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_connection_that_cannot_get_back_degrades_health_until_it_does() {
    let server = common::server().await;
    let proxy = Proxy::start(server.local_addr()).await;
    let mut config = common::config(proxy.addr);
    config.send_connections = 2;
    config.waiting_polls = false;
    // Redial until the proxy lets it through again.
    config.reconnect_retries = None;
    let backend = Arc::new(RemoteBackend::connect(config).await.unwrap());
    let topic = TopicRef::new("app", "events");
    backend.ensure_topic(&topic, 2).await.unwrap();
    backend.append(&topic, 0, vec![message(1)]).await.unwrap();
    assert_eq!(
        proxy.carried(),
        1,
        "partition 0 goes over the shared connection"
    );
    backend.append(&topic, 1, vec![message(2)]).await.unwrap();
    assert_eq!(proxy.carried(), 2, "partition 1 opened send slot 1");
    assert_eq!(backend.health().await, HealthStatus::Healthy);

    // Slot 1 loses its socket and cannot get a new one; the shared
    // connection is untouched.
    proxy.refuse(true);
    proxy.cut(1);
    let appending = {
        let (backend, topic) = (backend.clone(), topic.clone());
        tokio::spawn(async move {
            // Retries until the slot is back (each failure is retryable).
            loop {
                match backend.append(&topic, 1, vec![message(3)]).await {
                    Ok(ack) => return ack.first_offset,
                    Err(e) => assert!(e.is_retryable(), "{e}"),
                }
            }
        })
    };
    eventually("health degraded by the send connection", || async {
        match backend.health().await {
            HealthStatus::Degraded(reasons) => {
                assert_eq!(
                    reasons,
                    ["remote backend: 1 send or waiting-poll connection(s) reconnecting"]
                );
                true
            }
            HealthStatus::Healthy => false,
            other => panic!("the shared connection still answers: {other:?}"),
        }
    })
    .await;

    proxy.refuse(false);
    assert_eq!(
        appending.await.unwrap(),
        1,
        "the append landed once slot 1 was back"
    );
    // The SDK may still be settling the connection it just restored.
    eventually("healthy again", || async {
        backend.health().await == HealthStatus::Healthy
    })
    .await;
    backend.shutdown().await.unwrap();
}
