//! A request body's buffer grows with the bytes that arrive, not with the
//! length its header declares: a logged-in peer that announces a body near
//! `max_frame_bytes` and sends a few bytes does not make the server hold that
//! much memory until the read timeout. (Measured with the counting global
//! allocator; the wait only gives the server time to read the header.)

use std::{sync::Arc, time::Duration};

use iggy_binary_protocol::{codes::SEND_MESSAGES_CODE, ReplyHeader, RequestHeader, HEADER_SIZE};
use rustok_iggy_server::{fuzzing, Server};
use rustok_iggy_testkit::{alloc::CountingAllocator, MemoryBackend};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator::new();

/// What the announced body is; the server's default frame limit allows it.
const ANNOUNCED: usize = 32 << 20;

#[test]
fn an_announced_body_is_not_allocated_before_it_arrives() {
    let _only_me = HEAP.exclusive();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(
            Server::builder(Arc::new(MemoryBackend::new()))
                .bind("127.0.0.1:0".parse().unwrap())
                .start(),
        )
        .unwrap();
    let addr = server.local_addr();
    // Logged in before measuring: checking the password takes Argon2's
    // 19 MiB for a moment, by design.
    let (mut socket, reply_status) = runtime.block_on(async {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(&fuzzing::login_request("iggy", "iggy").unwrap())
            .await
            .unwrap();
        let mut raw = [0u8; HEADER_SIZE];
        socket.read_exact(&mut raw).await.unwrap();
        let reply: ReplyHeader = bytemuck::checked::pod_read_unaligned(&raw);
        let mut body = vec![0u8; reply.size as usize - HEADER_SIZE];
        socket.read_exact(&mut body).await.unwrap();
        (socket, reply.status)
    });
    let ((), peak) = HEAP.measure(|| {
        runtime.block_on(async {
            let frame = fuzzing::request(SEND_MESSAGES_CODE, &[]);
            let mut header: RequestHeader =
                bytemuck::checked::pod_read_unaligned(&frame[..HEADER_SIZE]);
            header.size = (HEADER_SIZE + ANNOUNCED) as u32;
            socket.write_all(bytemuck::bytes_of(&header)).await.unwrap();
            socket.write_all(&[0u8; 10]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        })
    });
    drop(socket);
    assert_eq!(reply_status, 0, "logged in");
    assert!(
        peak < ANNOUNCED / 4,
        "peak heap {peak} B while a {ANNOUNCED} B body was announced and 10 B sent"
    );
    runtime.block_on(server.shutdown()).unwrap();
}
