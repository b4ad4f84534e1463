//! Malformed frames, unauthenticated and unknown commands, wrong passwords and
//! limits: the server answers with an error or closes the connection, and
//! keeps serving everyone else.

mod common;

use std::{sync::Arc, time::Duration};

use iggy::prelude::{Client, IggyClient, IggyError, SystemClient};
use iggy_binary_protocol::{
    codes::{GET_STREAMS_CODE, PING_CODE},
    requests::users::LoginRegisterRequest,
    ClientVersionInfo, Command, Operation, ReplyHeader, RequestHeader, WireEncode, WireName,
    HEADER_SIZE, IGGY_PROTOCOL_VERSION,
};
use rustok_iggy::config::Secret;
use rustok_iggy_server::{Server, ServerError};
use rustok_iggy_testkit::MemoryBackend;
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
    LoginRegisterRequest {
        version_info: ClientVersionInfo {
            protocol_version: IGGY_PROTOCOL_VERSION,
            sdk_name: WireName::new("raw-test").unwrap(),
            sdk_version: WireName::new("0").unwrap(),
        },
        username: WireName::new("iggy").unwrap(),
        password: password.to_owned().into(),
        client_context: None,
    }
    .to_bytes()
    .to_vec()
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
    let (status, _) = exchange(&mut socket, &frame(Operation::NonReplicated, 9_999, &[]))
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
    let served = common::eventually(100, Duration::from_millis(20), || async {
        let mut socket = TcpStream::connect(addr).await.ok()?;
        exchange(
            &mut socket,
            &frame(Operation::NonReplicated, PING_CODE, &[]),
        )
        .await
        .filter(|(status, _)| *status == 0)
    })
    .await;
    assert!(served.is_some());
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
