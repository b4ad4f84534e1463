//! Entry points for fuzzers and property tests: the decoders a peer's bytes
//! reach, callable without a socket.
//!
//! Hidden from the docs, not a stable API, and only compiled with this
//! crate's `fuzzing` feature. The cargo-fuzz targets in the
//! repository's `fuzz/` directory and `tests/fuzz_frames.rs` drive them; they
//! run exactly the code a connection runs (`RequestMeta::parse` for the
//! 256-byte header, then the command's body decoder and handler), only
//! without the socket, so millions of inputs per minute reach them.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, LazyLock},
};

use rustok_iggy::{config::Secret, Backend};

use crate::{
    auth::{Users, ROOT},
    catalog::Catalog,
    config::{Credentials, DEFAULT_ROOT_PASSWORD, DEFAULT_ROOT_USERNAME},
    connection,
    error::Result,
    frame::{FrameError, RequestMeta},
    listener, mapping,
    session::{Session, Transport},
    shared::Shared,
    ServerBuilder,
};

pub use iggy_binary_protocol::HEADER_SIZE;
use iggy_binary_protocol::{
    codes::LOGOUT_USER_CODE, requests::users::LoginRegisterRequest, ClientVersionInfo, Command,
    Operation, ReplyHeader, RequestHeader, WireEncode, WireName, IGGY_PROTOCOL_VERSION,
};

/// What a request header declares, once it passed the connection's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// Body bytes the connection would read (and allocate) next.
    pub body_len: usize,
    /// The Iggy command code, if the header carries one.
    pub code: Option<u32>,
}

/// Parses a request header as a connection does. `raw` must be
/// [`HEADER_SIZE`] bytes; `Err` says why the connection would close.
pub fn parse_header(raw: &[u8], max_frame_bytes: u32) -> std::result::Result<FrameHead, String> {
    let raw: &[u8; HEADER_SIZE] = raw
        .try_into()
        .map_err(|_| format!("a header is {HEADER_SIZE} bytes, not {}", raw.len()))?;
    match RequestMeta::parse(raw, max_frame_bytes) {
        Ok(meta) => Ok(FrameHead {
            body_len: meta.body_len,
            code: meta.code(),
        }),
        Err(FrameError::NotARequest) => Err("not a request header".into()),
        Err(FrameError::TooSmall(size)) => Err(format!("size {size} is below the header")),
        Err(FrameError::TooLarge(size)) => Err(format!("size {size} is above the limit")),
    }
}

/// Decodes a `SendMessages` body as the send handler does: the number of
/// messages, or the Iggy status code it is refused with.
pub fn decode_send(body: &[u8], max_messages: u32) -> std::result::Result<usize, u32> {
    mapping::decode_send(&bytes::Bytes::copy_from_slice(body), max_messages)
        .map(|batch| batch.messages.len())
        .map_err(|status| status.code())
}

/// One logged-in connection's request path over `backend`, without a
/// socket: header, body, handler, reply.
pub struct Harness {
    shared: Shared,
    session: Session,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("backend", &self.shared.backend.name())
            .finish_non_exhaustive()
    }
}

/// The users of a fresh server (the default root user only), made once:
/// hashing the root password (Argon2, tens of milliseconds) for every
/// harness would dominate a fuzzer's time.
static ROOT_ONLY: LazyLock<std::result::Result<Users, String>> = LazyLock::new(|| {
    let root = Credentials::new(DEFAULT_ROOT_USERNAME, Secret::new(DEFAULT_ROOT_PASSWORD));
    Users::open(None, &root, ServerBuilder::DEFAULT_MAX_TOKENS_PER_USER).map_err(|e| e.to_string())
});

impl Harness {
    /// A logged-in session of a server with the default limits over
    /// `backend` (which must have an offset store of its own).
    pub fn new(backend: Arc<dyn Backend>) -> Result<Self> {
        let local_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        // Without a file and without streams, opening the catalog touches no disk.
        let catalog = Catalog::open(None, &[])?;
        let builder = ServerBuilder::new(backend);
        let users = ROOT_ONLY
            .as_ref()
            .map_err(|e| crate::ServerError::Config(e.clone()))?
            .fork();
        let shared = listener::shared(&builder, local_addr, None, catalog, users)?;
        let mut session = Session::new(shared.next_connection_id(), local_addr, Transport::Tcp);
        session.log_in(ROOT);
        Ok(Self { shared, session })
    }

    /// Serves one frame (header then body) and returns the encoded reply, or
    /// `None` where a connection would close without one (a header it
    /// refuses, or fewer body bytes than the header declares; bytes past
    /// the declared body are ignored).
    pub async fn request(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        let raw: &[u8; HEADER_SIZE] = frame.get(..HEADER_SIZE)?.try_into().ok()?;
        let meta = RequestMeta::parse(raw, self.shared.limits.max_frame_bytes).ok()?;
        let body = frame.get(HEADER_SIZE..HEADER_SIZE.checked_add(meta.body_len)?)?;
        let body = bytes::Bytes::copy_from_slice(body);
        let reply = connection::answer(&self.shared, &mut self.session, &meta, &body).await;
        Some(reply.to_vec())
    }

    /// Whether the connection would be closed after the last reply (a
    /// logout, too many failed logins).
    pub fn closing(&self) -> bool {
        self.session.close
    }
}

/// A request frame for command `code` carrying `body`, framed as the SDK
/// frames it (the operation where one exists, else the code in the reserved
/// bytes), to seed fuzzers and build test inputs.
pub fn request(code: u32, body: &[u8]) -> Vec<u8> {
    let operation = if code == LOGOUT_USER_CODE {
        Operation::Logout
    } else {
        Operation::from_command_code(code).unwrap_or(Operation::NonReplicated)
    };
    frame(operation, code, body)
}

/// The body of a login request as the SDK sends it, or why `username` or
/// `password` cannot be sent.
pub fn login_body(username: &str, password: &str) -> std::result::Result<Vec<u8>, String> {
    let name = |text: &str| WireName::new(text).map_err(|e| format!("`{text}`: {e:?}"));
    Ok(LoginRegisterRequest {
        version_info: ClientVersionInfo {
            protocol_version: IGGY_PROTOCOL_VERSION,
            sdk_name: name("rustok-iggy-test")?,
            sdk_version: name("0")?,
        },
        username: name(username)?,
        password: password.to_owned().into(),
        client_context: None,
    }
    .to_bytes()
    .to_vec())
}

/// A framed login request (the SDK's `Register` operation).
pub fn login_request(username: &str, password: &str) -> std::result::Result<Vec<u8>, String> {
    Ok(frame(
        Operation::Register,
        0,
        &login_body(username, password)?,
    ))
}

fn frame(operation: Operation, code: u32, body: &[u8]) -> Vec<u8> {
    let mut reserved = [0u8; 60];
    if operation == Operation::NonReplicated {
        reserved[..4].copy_from_slice(&code.to_le_bytes());
    }
    let header = RequestHeader {
        command: Command::Request,
        operation,
        size: u32::try_from(HEADER_SIZE + body.len()).unwrap_or(u32::MAX),
        client: 1,
        request: 1,
        reserved,
        ..RequestHeader::default()
    };
    let mut out = bytemuck::bytes_of(&header).to_vec();
    out.extend_from_slice(body);
    out
}

/// The status of an encoded reply and its declared size, or `None` if
/// `reply` is not a well-formed reply of exactly that size.
pub fn reply_status(reply: &[u8]) -> Option<u32> {
    let raw = reply.get(..HEADER_SIZE)?;
    let header: ReplyHeader = bytemuck::checked::try_pod_read_unaligned(raw).ok()?;
    (header.command == Command::Reply && header.size as usize == reply.len())
        .then_some(header.status)
}
