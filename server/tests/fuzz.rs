//! Random and mutated request bodies for every served command, from a
//! logged-in connection: each gets a reply (success or an Iggy error), the
//! connection stays usable, and nothing in the server panics.

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use iggy_binary_protocol::{
    codes::{LOGOUT_USER_CODE, PING_CODE},
    requests::{
        consumer_offsets::StoreConsumerOffsetRequest,
        messages::{PollMessagesRequest, RawMessage, SendMessagesEncoder},
        topics::CreateTopicRequest,
        users::LoginRegisterRequest,
    },
    AckLevel, ClientVersionInfo, ReplyHeader, WireConsumer, WireEncode, WireIdentifier, WireName,
    WireOptions, WirePartitioning, WirePollingStrategy, HEADER_SIZE, IGGY_PROTOCOL_VERSION,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rustok_iggy::{Backend, TopicRef};
use rustok_iggy_server::{fuzzing, served_commands, Server};
use rustok_iggy_testkit::MemoryBackend;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn exchange(socket: &mut TcpStream, frame: &[u8]) -> Option<u32> {
    socket.write_all(frame).await.ok()?;
    let mut raw = [0u8; HEADER_SIZE];
    socket.read_exact(&mut raw).await.ok()?;
    let reply: ReplyHeader = bytemuck::checked::try_pod_read_unaligned(&raw).ok()?;
    let mut body = vec![0u8; (reply.size as usize).checked_sub(HEADER_SIZE)?];
    socket.read_exact(&mut body).await.ok()?;
    Some(reply.status)
}

fn valid_bodies() -> Vec<(u32, Vec<u8>)> {
    use iggy_binary_protocol::codes::*;
    let stream = WireIdentifier::named("app").unwrap();
    let topic = WireIdentifier::named("orders").unwrap();
    let mut send = bytes::BytesMut::new();
    SendMessagesEncoder::encode(
        &mut send,
        &stream,
        &topic,
        &WirePartitioning::PartitionId(1),
        &[RawMessage {
            id: 5,
            origin_timestamp: 1,
            headers: None,
            payload: b"fuzz",
        }],
    )
    .unwrap();
    vec![
        (SEND_MESSAGES_CODE, send.to_vec()),
        (
            POLL_MESSAGES_CODE,
            PollMessagesRequest {
                consumer: WireConsumer::consumer_group(WireIdentifier::named("g").unwrap()),
                stream_id: stream.clone(),
                topic_id: topic.clone(),
                partition_id: Some(1),
                strategy: WirePollingStrategy::next(),
                count: 10,
                auto_commit: true,
            }
            .to_bytes()
            .to_vec(),
        ),
        (
            STORE_CONSUMER_OFFSET_CODE,
            StoreConsumerOffsetRequest {
                consumer: WireConsumer::consumer(WireIdentifier::numeric(3)),
                stream_id: stream.clone(),
                topic_id: topic.clone(),
                partition_id: Some(0),
                offset: 2,
                ack: AckLevel::Quorum,
            }
            .to_bytes()
            .to_vec(),
        ),
        (
            CREATE_TOPIC_CODE,
            CreateTopicRequest {
                stream_id: stream,
                partitions_count: 2,
                name: WireName::new("fuzzed").unwrap(),
                options: WireOptions::empty(),
            }
            .to_bytes()
            .to_vec(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_bodies_never_break_the_server() {
    let panics = Arc::new(AtomicUsize::new(0));
    let previous = std::panic::take_hook();
    {
        let panics = panics.clone();
        std::panic::set_hook(Box::new(move |info| {
            panics.fetch_add(1, Ordering::SeqCst);
            eprintln!("panic: {info}");
        }));
    }

    let backend = Arc::new(MemoryBackend::new());
    backend
        .ensure_topic(&TopicRef::new("app", "orders"), 2)
        .await
        .unwrap();
    let server = Server::builder(backend)
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
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
    let login_frame = fuzzing::request(iggy_binary_protocol::codes::LOGIN_REGISTER_CODE, &login);
    assert_eq!(exchange(&mut socket, &login_frame).await, Some(0));

    // Seeded: every run sends the same 3,000 bodies.
    let mut rng = StdRng::seed_from_u64(0x9E37_79B9_7F4A_7C15);
    let valid = valid_bodies();
    let codes: Vec<u32> = served_commands()
        .iter()
        .copied()
        .filter(|c| {
            *c != LOGOUT_USER_CODE && *c != iggy_binary_protocol::codes::LOGIN_REGISTER_CODE
        })
        .collect();
    let mut answered = 0;
    for round in 0..3_000 {
        let (code, body) = if round % 2 == 0 {
            let code = codes[rng.random_range(0..codes.len())];
            let mut body = vec![0u8; rng.random_range(0..300)];
            rng.fill(&mut body[..]);
            (code, body)
        } else {
            let (code, body) = &valid[rng.random_range(0..valid.len())];
            let mut body = body.clone();
            for _ in 0..=rng.random_range(0..4) {
                if body.is_empty() {
                    break;
                }
                let at = rng.random_range(0..body.len());
                body[at] = rng.random();
            }
            if rng.random_range(0..4) == 0 {
                body.truncate(rng.random_range(0..=body.len()));
            }
            (*code, body)
        };
        let status = exchange(&mut socket, &fuzzing::request(code, &body)).await;
        assert!(
            status.is_some(),
            "no reply to code {code} with a {}-byte body (round {round})",
            body.len()
        );
        answered += 1;
    }
    assert_eq!(answered, 3_000);
    assert_eq!(
        exchange(&mut socket, &fuzzing::request(PING_CODE, &[])).await,
        Some(0)
    );
    // Give any detached task the chance to fail before counting.
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown().await.unwrap();
    std::panic::set_hook(previous);
    assert_eq!(panics.load(Ordering::SeqCst), 0, "the server panicked");
}
