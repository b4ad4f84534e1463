//! The server's decoders called directly, proptest-driven (the stable,
//! CI-run equivalent of the `server_frames` cargo-fuzz target in `fuzz/`),
//! through `rustok_iggy_server::fuzzing`, which runs exactly what a
//! connection runs, without the socket:
//!
//! - the 256-byte request header on arbitrary bytes and on every size;
//! - the `SendMessages` body (the decoder with the most length fields) on
//!   arbitrary bytes and on damaged valid bodies;
//! - whole frames of every served command through the command path of a
//!   logged-in connection over a memory backend: each gets a well-formed
//!   reply;
//! - with a counting allocator: length fields claiming up to 4 GiB (frame
//!   size, metadata length, message count, batch and message lengths)
//!   allocate nothing near their claim, in the decoders and in a real
//!   server on loopback.

use std::sync::Arc;

use bytes::BytesMut;
use iggy_binary_protocol::{
    codes::{LOGIN_REGISTER_CODE, LOGOUT_USER_CODE, PING_CODE, SEND_MESSAGES_CODE},
    requests::{
        messages::{RawMessage, SendMessagesEncoder},
        users::LoginRegisterRequest,
    },
    ClientVersionInfo, Command, Operation, ReplyHeader, RequestHeader, WireEncode, WireIdentifier,
    WireName, WirePartitioning, IGGY_PROTOCOL_VERSION,
};
use proptest::prelude::*;
use rustok_iggy::{Backend, TopicRef};
use rustok_iggy_server::{
    fuzzing::{decode_send, parse_header, reply_status, request, Harness, HEADER_SIZE},
    served_commands, Server,
};
use rustok_iggy_testkit::{alloc::CountingAllocator, MemoryBackend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator::new();

/// The frame limit the decoders are tested with.
const LIMIT: u32 = 1 << 20;
/// Messages a send may carry in these tests.
const MAX_MESSAGES: u32 = 1_000;
/// Peak heap a decode of a body of at most a few KiB may take.
const DECODE_BOUND: usize = 256 << 10;

/// A valid `SendMessages` body of `count` messages to `app/orders`.
fn send_body(count: usize, payload: &[u8]) -> Vec<u8> {
    let messages: Vec<RawMessage<'_>> = (0..count)
        .map(|i| RawMessage {
            id: i as u128 + 1,
            origin_timestamp: 1,
            headers: None,
            payload,
        })
        .collect();
    let mut out = BytesMut::new();
    SendMessagesEncoder::encode(
        &mut out,
        &WireIdentifier::named("app").unwrap(),
        &WireIdentifier::named("orders").unwrap(),
        &WirePartitioning::PartitionId(1),
        &messages,
    )
    .unwrap();
    out.to_vec()
}

fn header_of_size(size: u32, operation: Operation) -> Vec<u8> {
    let header = RequestHeader {
        command: Command::Request,
        operation,
        size,
        ..RequestHeader::default()
    };
    bytemuck::bytes_of(&header).to_vec()
}

fn runtime() -> tokio::runtime::Runtime {
    // Paused: a failed login's deliberate pause passes at once.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

fn harness(runtime: &tokio::runtime::Runtime) -> Harness {
    let backend = Arc::new(MemoryBackend::new());
    runtime
        .block_on(backend.ensure_topic(&TopicRef::new("app", "orders"), 2))
        .unwrap();
    Harness::new(backend).unwrap()
}

/// A frame's body: random, or a valid send body with a few bytes changed.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (
            1..4_usize,
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            any::<usize>()
        )
            .prop_map(|(count, edits, cut)| {
                let mut body = send_body(count, b"payload");
                for (at, byte) in edits {
                    let at = at % body.len();
                    body[at] = byte;
                }
                if cut % 4 == 0 {
                    body.truncate(cut % (body.len() + 1));
                }
                body
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_header_parses_within_the_limit_or_is_refused(raw in prop::collection::vec(any::<u8>(), HEADER_SIZE)) {
        let _only_me = HEAP.exclusive();
        if let Ok(head) = parse_header(&raw, LIMIT) {
            prop_assert!(head.body_len + HEADER_SIZE <= LIMIT as usize);
        }
    }

    #[test]
    fn every_size_is_checked_against_the_limit(size in any::<u32>(), small in 0..2 * LIMIT) {
        let _only_me = HEAP.exclusive();
        for size in [size, small] {
            let parsed = parse_header(&header_of_size(size, Operation::SendMessages), LIMIT);
            if (HEADER_SIZE as u32..=LIMIT).contains(&size) {
                prop_assert_eq!(parsed.map(|h| h.body_len), Ok(size as usize - HEADER_SIZE));
            } else {
                prop_assert!(parsed.is_err(), "size {} accepted", size);
            }
        }
    }

    #[test]
    fn send_bodies_decode_or_are_refused(body in body()) {
        let _only_me = HEAP.exclusive();
        if let Ok(count) = decode_send(&body, MAX_MESSAGES) {
            prop_assert!((1..=MAX_MESSAGES as usize).contains(&count));
        }
    }

    #[test]
    fn every_frame_gets_a_well_formed_reply(
        code in prop::sample::select(served_commands().to_vec()),
        body in body(),
    ) {
        let _only_me = HEAP.exclusive();
        let runtime = runtime();
        let mut harness = harness(&runtime);
        let reply = runtime.block_on(harness.request(&request(code, &body)));
        let reply = reply.ok_or_else(|| TestCaseError::fail(format!("no reply to code {code}")))?;
        prop_assert!(reply_status(&reply).is_some(), "malformed reply to code {}", code);
        // The connection stays usable (unless the command closes it).
        if code != LOGOUT_USER_CODE && !harness.closing() {
            let ping = runtime.block_on(harness.request(&request(PING_CODE, &[])));
            prop_assert_eq!(ping.as_deref().and_then(reply_status), Some(0));
        }
    }
}

#[test]
fn valid_send_bodies_decode() {
    let _only_me = HEAP.exclusive();
    assert_eq!(decode_send(&send_body(3, b"x"), MAX_MESSAGES), Ok(3));
    let runtime = runtime();
    let mut harness = harness(&runtime);
    let reply =
        runtime.block_on(harness.request(&request(SEND_MESSAGES_CODE, &send_body(2, b"x"))));
    assert_eq!(reply.as_deref().and_then(reply_status), Some(0));
}

/// Every length field of a valid send body set to huge values, one at a
/// time (every byte position, so whatever the layout, each field is hit).
#[test]
fn huge_length_fields_do_not_size_allocations() {
    let _only_me = HEAP.exclusive();
    let valid = send_body(3, b"some payload");
    let mut worst = 0;
    let mut cases = 0;
    for at in 0..valid.len() {
        for huge in [
            u32::MAX.to_le_bytes(),
            (1u32 << 31).to_le_bytes(),
            LIMIT.to_le_bytes(),
        ] {
            let mut body = valid.clone();
            let end = (at + 4).min(body.len());
            body[at..end].copy_from_slice(&huge[..end - at]);
            let (_, peak) = HEAP.measure(|| decode_send(&body, u32::MAX));
            assert!(
                peak < DECODE_BOUND,
                "4 GiB at byte {at}: peak heap {peak}, bound {DECODE_BOUND}"
            );
            worst = worst.max(peak);
            cases += 1;
        }
    }
    // Headers claiming up to 4 GiB of body: refused before anything is read.
    for size in [u32::MAX, LIMIT + 1, 1 << 31] {
        let raw = header_of_size(size, Operation::SendMessages);
        let (parsed, peak) = HEAP.measure(|| parse_header(&raw, LIMIT));
        assert!(parsed.is_err());
        assert!(peak < DECODE_BOUND, "size {size}: peak heap {peak}");
    }
    println!("{cases} send bodies with a huge length field: peak heap {worst} bytes");
}

fn login_frame() -> Vec<u8> {
    let login = LoginRegisterRequest {
        version_info: ClientVersionInfo {
            protocol_version: IGGY_PROTOCOL_VERSION,
            sdk_name: WireName::new("fuzz").unwrap(),
            sdk_version: WireName::new("0").unwrap(),
        },
        username: WireName::new("iggy").unwrap(),
        password: "iggy".to_owned().into(),
        client_context: None,
    }
    .to_bytes();
    request(LOGIN_REGISTER_CODE, &login)
}

/// One reply from `socket`: its header, then the body its size declares.
async fn read_reply(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut reply = vec![0u8; HEADER_SIZE];
    socket.read_exact(&mut reply).await.ok()?;
    let header: ReplyHeader = bytemuck::checked::try_pod_read_unaligned(&reply).ok()?;
    let mut body = vec![0u8; (header.size as usize).checked_sub(HEADER_SIZE)?];
    socket.read_exact(&mut body).await.ok()?;
    reply.extend_from_slice(&body);
    Some(reply)
}

/// A logged-in peer's header claiming 4 GiB is answered and the connection
/// closed; one claiming exactly the frame limit makes the server hold at
/// most that (the body buffer) while it waits: peak heap stays within the
/// frame limit plus a few MiB.
#[test]
fn a_real_server_allocates_at_most_the_frame_limit() {
    let _only_me = HEAP.exclusive();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bound = LIMIT as usize + (4 << 20);
    // Started and logged in before measuring: the root user's password hash
    // and each login's check take Argon2's 19 MiB for a moment, by design.
    let (server, mut sockets) = runtime.block_on(async {
        let backend = Arc::new(MemoryBackend::new());
        let server = Server::builder(backend)
            .bind("127.0.0.1:0".parse().unwrap())
            .max_frame_bytes(LIMIT)
            .start()
            .await
            .unwrap();
        let mut sockets = Vec::new();
        for _ in 0..2 {
            let mut socket = tokio::net::TcpStream::connect(server.local_addr())
                .await
                .unwrap();
            socket.write_all(&login_frame()).await.unwrap();
            assert_eq!(
                read_reply(&mut socket)
                    .await
                    .as_deref()
                    .and_then(reply_status),
                Some(0)
            );
            sockets.push(socket);
        }
        (server, sockets)
    });
    let (result, peak) = HEAP.measure(|| {
        runtime.block_on(async {
            let mut statuses = Vec::new();
            for (size, socket) in [u32::MAX, LIMIT].into_iter().zip(&mut sockets) {
                socket
                    .write_all(&header_of_size(size, Operation::SendMessages))
                    .await
                    .unwrap();
                // Over the limit: an error reply, then the close (the
                // timeout is only a hang guard). At the limit: the server
                // holds the body buffer and waits for the body, which never
                // comes, so no reply can arrive whatever the wait.
                let wait = if size > LIMIT { 60_000 } else { 300 };
                let reply = tokio::time::timeout(
                    std::time::Duration::from_millis(wait),
                    read_reply(socket),
                )
                .await;
                statuses.push(reply.ok().flatten().as_deref().and_then(reply_status));
            }
            statuses
        })
    });
    drop(sockets);
    runtime.block_on(server.shutdown()).unwrap();
    assert!(
        result[0].is_some_and(|s| s != 0),
        "4 GiB frame answered with an error: {result:?}"
    );
    assert_eq!(result[1], None, "the server waits for the body");
    assert!(peak < bound, "peak heap {peak}, bound {bound}");
    println!("real server, frames claiming 4 GiB and the 1 MiB limit: peak heap {peak} bytes");
}
