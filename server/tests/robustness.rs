//! Malformed frames, unauthenticated and unknown commands, wrong passwords,
//! limits, and header keys or values that are not UTF-8: the server answers
//! with an error or closes the connection, and keeps serving everyone else.

mod common;

use std::{sync::Arc, time::Duration};

use iggy::prelude::{
    Client, HeaderKey, HeaderValue, IggyClient, IggyError, IggyMessage, SystemClient,
};
use iggy_binary_protocol::{
    codes::{GET_POLL_ROUTING_CODE, GET_STREAMS_CODE, PING_CODE},
    Command, Operation, ReplyHeader, RequestHeader, HEADER_SIZE,
};
use rustok_iggy::config::Secret;
use rustok_iggy_server::{Server, ServerError};
use rustok_iggy_testkit::{eventually, eventually_some, MemoryBackend};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn frame(operation: Operation, code: u32, body: &[u8]) -> Vec<u8> {
    let mut reserved = [0u8; 60];
    if operation == Operation::NonReplicated {
        reserved[..4].copy_from_slice(&code.to_le_bytes());
    }
    let header = RequestHeader {
        command: Command::Request,
        operation,
        size: (HEADER_SIZE + body.len()) as u32,
        client: 7,
        request: 1,
        reserved,
        ..RequestHeader::default()
    };
    let mut out = bytemuck::bytes_of(&header).to_vec();
    out.extend_from_slice(body);
    out
}

fn login_body(password: &str) -> Vec<u8> {
    rustok_iggy_server::fuzzing::login_body("iggy", password).unwrap()
}

/// Sends a frame and reads the reply: (status, body).
async fn exchange(socket: &mut TcpStream, frame: &[u8]) -> Option<(u32, Vec<u8>)> {
    socket.write_all(frame).await.ok()?;
    let mut raw = [0u8; HEADER_SIZE];
    socket.read_exact(&mut raw).await.ok()?;
    let reply: ReplyHeader = bytemuck::checked::try_pod_read_unaligned(&raw).ok()?;
    assert_eq!(reply.command, Command::Reply);
    let mut body = vec![0u8; reply.size as usize - HEADER_SIZE];
    socket.read_exact(&mut body).await.ok()?;
    Some((reply.status, body))
}

/// Whether the server closed the connection (reads end), within a generous
/// bound of attempts.
async fn closed_by_server(socket: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    for _ in 0..100 {
        match tokio::time::timeout(Duration::from_millis(100), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => {}
        }
    }
    false
}

async fn still_serving(addr: std::net::SocketAddr) {
    let client = common::client(addr).await;
    client.ping().await.unwrap();
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_leave_the_server_serving() {
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .max_frame_bytes(64 * 1024)
        .start()
        .await
        .unwrap();
    let addr = server.local_addr();

    // Garbage: not a request header.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(&[0xAB; 300]).await.unwrap();
    assert!(closed_by_server(&mut socket).await);
    still_serving(addr).await;

    // A size below the header's own.
    let mut bad = frame(Operation::NonReplicated, PING_CODE, &[]);
    bad[48..52].copy_from_slice(&10u32.to_le_bytes());
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(&bad).await.unwrap();
    assert!(closed_by_server(&mut socket).await);

    // Oversized: answered with an error, then closed.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let mut big = frame(Operation::NonReplicated, PING_CODE, &[]);
    big[48..52].copy_from_slice(&(1u32 << 30).to_le_bytes());
    let (status, _) = exchange(&mut socket, &big).await.unwrap();
    assert_eq!(status, IggyError::InvalidCommand.as_code());
    assert!(closed_by_server(&mut socket).await);

    // Truncated header, then truncated body: the peer goes away mid-frame.
    let ping = frame(Operation::NonReplicated, PING_CODE, &[]);
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(&ping[..100]).await.unwrap();
    drop(socket);
    let body_announced = frame(Operation::NonReplicated, GET_STREAMS_CODE, &[0; 32]);
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(&body_announced[..HEADER_SIZE + 5])
        .await
        .unwrap();
    drop(socket);
    still_serving(addr).await;

    // Unknown command and a body a known command cannot decode: error
    // replies, and the connection goes on.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let (status, _) = exchange(
        &mut socket,
        &frame(Operation::Register, 0, &login_body("iggy")),
    )
    .await
    .unwrap();
    assert_eq!(status, 0);
    // A code the protocol does not have, as Apache Iggy answers it.
    let (status, _) = exchange(&mut socket, &frame(Operation::NonReplicated, 9_999, &[]))
        .await
        .unwrap();
    assert_eq!(status, IggyError::InvalidCommand.as_code());
    // A command of the protocol this server does not serve.
    let (status, _) = exchange(
        &mut socket,
        &frame(Operation::NonReplicated, GET_POLL_ROUTING_CODE, &[]),
    )
    .await
    .unwrap();
    assert_eq!(status, IggyError::FeatureUnavailable.as_code());
    let (status, _) = exchange(
        &mut socket,
        &frame(Operation::SendMessages, 0, &[1, 2, 3, 4, 5, 6, 7]),
    )
    .await
    .unwrap();
    assert_ne!(status, 0);
    let (status, _) = exchange(
        &mut socket,
        &frame(Operation::NonReplicated, PING_CODE, &[]),
    )
    .await
    .unwrap();
    assert_eq!(status, 0);

    still_serving(addr).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_and_wrong_passwords_are_refused() {
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .credentials("admin", Secret::new("correct horse"))
        .max_login_failures(2)
        .start()
        .await
        .unwrap();
    let addr = server.local_addr();

    // Ping works before login; nothing else does.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let (status, _) = exchange(
        &mut socket,
        &frame(Operation::NonReplicated, PING_CODE, &[]),
    )
    .await
    .unwrap();
    assert_eq!(status, 0);
    let (status, _) = exchange(
        &mut socket,
        &frame(Operation::NonReplicated, GET_STREAMS_CODE, &[]),
    )
    .await
    .unwrap();
    assert_eq!(status, IggyError::Unauthenticated.as_code());
    let (status, _) = exchange(&mut socket, &frame(Operation::CreateStream, 0, &[]))
        .await
        .unwrap();
    assert_eq!(status, IggyError::Unauthenticated.as_code());

    // A large frame before login is not even buffered.
    let mut anonymous = TcpStream::connect(addr).await.unwrap();
    let (status, _) = exchange(
        &mut anonymous,
        &frame(Operation::NonReplicated, GET_STREAMS_CODE, &[0; 20_000]),
    )
    .await
    .unwrap();
    assert_eq!(status, IggyError::Unauthenticated.as_code());
    assert!(closed_by_server(&mut anonymous).await);

    // Wrong passwords: refused, and the connection is closed after two.
    for _ in 0..2 {
        let (status, _) = exchange(
            &mut socket,
            &frame(Operation::Register, 0, &login_body("guess")),
        )
        .await
        .unwrap();
        assert_eq!(status, IggyError::InvalidCredentials.as_code());
    }
    assert!(closed_by_server(&mut socket).await);

    // The SDK gets InvalidCredentials too; the right password works.
    let client =
        IggyClient::from_connection_string(&format!("iggy://admin:wrong-pass@{addr}")).unwrap();
    let error = client.connect().await.unwrap_err();
    assert_eq!(
        error.as_code(),
        IggyError::InvalidCredentials.as_code(),
        "{error}"
    );
    let client =
        IggyClient::from_connection_string(&format!("iggy://admin:correct horse@{addr}")).unwrap();
    client.connect().await.unwrap();
    client.ping().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_and_public_address_rules() {
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .max_connections(1)
        .start()
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut first = TcpStream::connect(addr).await.unwrap();
    let (status, _) = exchange(&mut first, &frame(Operation::NonReplicated, PING_CODE, &[]))
        .await
        .unwrap();
    assert_eq!(status, 0);
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_server(&mut second).await);
    drop(first);
    // The slot frees up once the first connection is gone.
    eventually_some("a ping served in the freed slot", || async {
        let mut socket = TcpStream::connect(addr).await.ok()?;
        exchange(
            &mut socket,
            &frame(Operation::NonReplicated, PING_CODE, &[]),
        )
        .await
        .filter(|(status, _)| *status == 0)
    })
    .await;
    server.shutdown().await.unwrap();

    // No default password off loopback.
    let error = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("0.0.0.0:0".parse().unwrap())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(error, ServerError::Config(_)), "{error}");
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("0.0.0.0:0".parse().unwrap())
        .credentials("admin", Secret::new("s3cret-pass"))
        .start()
        .await
        .unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_stalled_connections_are_closed() {
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .idle_timeout(Duration::from_millis(100))
        .read_timeout(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let addr = server.local_addr();
    // Says nothing at all.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_server(&mut idle).await);
    // Starts a frame and stalls.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(&frame(Operation::NonReplicated, PING_CODE, &[])[..10])
        .await
        .unwrap();
    assert!(closed_by_server(&mut stalled).await);
    still_serving(addr).await;
    server.shutdown().await.unwrap();
}

/// The Iggy message the core writes for a one-field JSON event, with
/// `event-type` and `codec` header values replaced where given.
fn sdk_message(
    id: u128,
    event_type: Option<HeaderValue>,
    codec: Option<HeaderValue>,
) -> IggyMessage {
    let envelope = rustok_iggy::EventEnvelope::builder("order.placed", uuid::Uuid::now_v7(), ())
        .build()
        .unwrap();
    let mut headers: std::collections::BTreeMap<HeaderKey, HeaderValue> =
        rustok_iggy::wire::envelope_headers(&envelope, "json")
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    HeaderKey::try_from(k).unwrap(),
                    HeaderValue::try_from(std::str::from_utf8(v).unwrap()).unwrap(),
                )
            })
            .collect();
    let key = |name: &str| HeaderKey::try_from(name).unwrap();
    if let Some(value) = event_type {
        headers.insert(key(rustok_iggy::wire::header::EVENT_TYPE), value);
    }
    if let Some(value) = codec {
        headers.insert(key(rustok_iggy::wire::header::CODEC), value);
    }
    IggyMessage::builder()
        .id(id)
        .payload(bytes::Bytes::from_static(b"{\"order\":1}"))
        .user_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_messages_with_bad_header_values_reach_the_dlq_and_binary_keys_are_kept() {
    use iggy::prelude::{HeaderKind, Identifier, MessageClient, Partitioning};
    use rustok_iggy::{handler_fn, DlqFilter, HandlerError, RoutingConfig, Transport};

    let backend = Arc::new(MemoryBackend::new());
    let transport = Transport::builder(
        backend.clone(),
        Arc::new(rustok_iggy_codecs::JsonCodec::new()),
    )
    .stream("app")
    .routing(RoutingConfig {
        partitions: 1,
        ..RoutingConfig::default()
    })
    .build()
    .await
    .unwrap();
    let server = Server::builder(backend.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .stream("app")
        .start()
        .await
        .unwrap();
    let client = common::client(server.local_addr()).await;
    let (stream, topic) = (
        Identifier::named("app").unwrap(),
        Identifier::named("events").unwrap(),
    );
    let partition = Partitioning::partition_id(0);

    // A value of kind `string` that is not UTF-8, a `raw` one, an unknown
    // codec, then a good message: the server stores all four as sent.
    let not_utf8: &[u8] = &[0xc3, 0x28, 0xff];
    let mut messages = [
        sdk_message(
            1,
            Some(HeaderValue::from_raw(HeaderKind::String, not_utf8).unwrap()),
            None,
        ),
        sdk_message(
            2,
            None,
            Some(HeaderValue::from_raw(HeaderKind::Raw, not_utf8).unwrap()),
        ),
        sdk_message(3, None, Some(HeaderValue::try_from("cbor-v7").unwrap())),
        sdk_message(4, None, None),
    ];
    client
        .send_messages(&stream, &topic, &partition, &mut messages)
        .await
        .unwrap();

    // A key that is not UTF-8 is stored, as Apache Iggy stores it: the core
    // names it by its hex, and it goes back out as sent.
    let mut bad_key = sdk_message(5, None, None);
    let mut headers = bad_key.user_headers_map().unwrap().unwrap_or_default();
    headers.insert(
        HeaderKey::from_raw(HeaderKind::String, not_utf8).unwrap(),
        HeaderValue::try_from("x").unwrap(),
    );
    bad_key = IggyMessage::builder()
        .id(5)
        .payload(bad_key.payload.clone())
        .user_headers(headers)
        .build()
        .unwrap();
    client
        .send_messages(&stream, &topic, &partition, &mut [bad_key])
        .await
        .unwrap();
    let stored = backend
        .records(&rustok_iggy::TopicRef::new("app", "events"), 0)
        .unwrap();
    assert_eq!(
        stored.iter().map(|r| r.message.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        stored[4].message.headers.get_str("0xc328ff").unwrap(),
        Some("x")
    );

    // The consumer dead-letters the three bad ones and handles the good one.
    let handled = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = handled.clone();
    let subscription = transport
        .subscribe(
            "g",
            &["events"],
            handler_fn(move |e: rustok_iggy::EventEnvelope<serde_json::Value>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(e.id.as_u128());
                    Ok::<(), HandlerError>(())
                }
            }),
        )
        .await
        .unwrap();
    eventually("the good messages handled", || async {
        handled.lock().unwrap().len() == 2
    })
    .await;
    assert!(subscription.shutdown().await.unwrap().is_clean());
    assert_eq!(*handled.lock().unwrap(), [4, 5]);
    let entries = transport
        .dead_letters()
        .list(DlqFilter::default(), None, 10)
        .await
        .unwrap()
        .entries;
    let reasons: Vec<(u128, &str)> = entries
        .iter()
        .map(|e| (e.letter.message.id, e.letter.error.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].0 == 1 && reasons[0].1.contains("UTF-8"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == 2 && reasons[1].1.contains("UTF-8"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].0 == 3 && reasons[2].1.contains("unknown codec `cbor-v7`"),
        "{reasons:?}"
    );

    still_serving(server.local_addr()).await;
    server.shutdown().await.unwrap();
}

/// The rate of password guesses is bounded: each failed login (wrong
/// password or malformed request) is answered only after a pause, and a
/// connection is closed after `max_login_failures`. With at most
/// `max_connections` connections, guesses per second are bounded by
/// `max_connections / pause`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_answered_slowly_and_bounded_per_connection() {
    /// The server's pause after a failed login (`LOGIN_FAILURE_DELAY`).
    const PAUSE: Duration = Duration::from_millis(200);
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .credentials("iggy", Secret::new("right"))
        .max_login_failures(3)
        .start()
        .await
        .unwrap();
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    let started = std::time::Instant::now();
    let attempts = [login_body("guess-1"), vec![0xff; 12], login_body("guess-2")];
    for body in &attempts {
        let (status, _) = exchange(&mut socket, &frame(Operation::Register, 0, body))
            .await
            .unwrap();
        assert!(
            status == IggyError::InvalidCredentials.as_code()
                || status == IggyError::InvalidFormat.as_code(),
            "{status}"
        );
    }
    // A lower bound only (sleeps never end early); no upper bound is asserted.
    let elapsed = started.elapsed();
    assert!(elapsed >= PAUSE * 3, "{elapsed:?}");
    assert!(closed_by_server(&mut socket).await, "closed after three");
    still_serving_as(server.local_addr(), "right").await;
    server.shutdown().await.unwrap();
}

async fn still_serving_as(addr: std::net::SocketAddr, password: &str) {
    let client =
        IggyClient::from_connection_string(&format!("iggy://iggy:{password}@{addr}")).unwrap();
    client.connect().await.unwrap();
    client.ping().await.unwrap();
    client.disconnect().await.unwrap();
}
