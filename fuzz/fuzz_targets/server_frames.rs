//! The server's request path on arbitrary bytes: the input's first 256
//! bytes as a raw request header, the whole input as a `SendMessages` body,
//! and the input as the body of a served command (chosen by its first byte)
//! through a logged-in connection's command path over a memory backend,
//! which must answer with a well-formed reply.
#![no_main]

use std::sync::Arc;

use rustok_iggy::{Backend, TopicRef};
use rustok_iggy_server::{
    fuzzing::{decode_send, parse_header, reply_status, request, Harness, HEADER_SIZE},
    served_commands,
};
use rustok_iggy_testkit::MemoryBackend;

const LIMIT: u32 = 1 << 20;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(raw) = data.get(..HEADER_SIZE) {
        if let Ok(head) = parse_header(raw, LIMIT) {
            assert!(head.body_len + HEADER_SIZE <= LIMIT as usize);
        }
    }
    if let Ok(count) = decode_send(data, 1_000) {
        assert!((1..=1_000).contains(&count));
    }

    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let codes = served_commands();
    let code = codes[usize::from(pick) % codes.len()];
    // Paused: a failed login's deliberate pause passes at once.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let backend = Arc::new(MemoryBackend::new());
        backend
            .ensure_topic(&TopicRef::new("app", "orders"), 2)
            .await
            .expect("topic");
        let mut harness = Harness::new(backend).expect("harness");
        let reply = harness.request(&request(code, body)).await;
        let reply = reply.unwrap_or_else(|| panic!("no reply to code {code}"));
        assert!(
            reply_status(&reply).is_some(),
            "malformed reply to code {code}"
        );
    });
});
