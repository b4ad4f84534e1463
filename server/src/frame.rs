//! VSR framing of the SDK 0.11 TCP transport: a 256-byte `RequestHeader`
//! (then the body) in, a 256-byte `ReplyHeader` (then the body) out.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use iggy_binary_protocol::{
    codes::{LOGIN_REGISTER_CODE, LOGOUT_USER_CODE},
    Command, Operation, ReplyHeader, RequestHeader, HEADER_SIZE,
};

use crate::error::Status;

/// Why a header cannot be served; the connection is closed after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Not a `RequestHeader` (bad command or operation byte).
    NotARequest,
    /// `size` is below the header size.
    TooSmall(u32),
    /// `size` is above the configured frame limit.
    TooLarge(u32),
}

/// A parsed request header and what the body length and command code are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestMeta {
    pub(crate) header: RequestHeader,
    /// Body bytes that follow the header.
    pub(crate) body_len: usize,
}

impl RequestMeta {
    /// Parses and checks a header against the frame limit.
    pub(crate) fn parse(raw: &[u8; HEADER_SIZE], max_frame_bytes: u32) -> Result<Self, FrameError> {
        let header: RequestHeader =
            bytemuck::checked::try_pod_read_unaligned(raw).map_err(|_| FrameError::NotARequest)?;
        if header.command != Command::Request {
            return Err(FrameError::NotARequest);
        }
        let size = header.size;
        let header_len = HEADER_SIZE as u32;
        if size < header_len {
            return Err(FrameError::TooSmall(size));
        }
        if size > max_frame_bytes {
            return Err(FrameError::TooLarge(size));
        }
        let body_len =
            usize::try_from(size - header_len).map_err(|_| FrameError::TooLarge(size))?;
        Ok(Self { header, body_len })
    }

    /// The legacy command code the request carries: from the operation, or
    /// for non-replicated requests from the first four reserved bytes.
    pub(crate) fn code(&self) -> Option<u32> {
        match self.header.operation {
            Operation::Register => Some(LOGIN_REGISTER_CODE),
            Operation::Logout => Some(LOGOUT_USER_CODE),
            Operation::NonReplicated => {
                let bytes: [u8; 4] = self.header.reserved.get(0..4)?.try_into().ok()?;
                Some(u32::from_le_bytes(bytes))
            }
            operation => operation.to_command_code(),
        }
    }
}

/// A reply ready to write: the header (and result section) in `head`, the
/// command's payload in `body`, apart so a large payload (a poll's
/// messages) is written from where the command built it, not copied behind
/// the header.
#[derive(Debug)]
pub(crate) struct EncodedReply {
    head: BytesMut,
    body: Bytes,
}

impl EncodedReply {
    /// The reply as one buffer chain, for one vectored write.
    pub(crate) fn into_buf(self) -> impl Buf {
        self.head.chain(self.body)
    }

    /// The reply's bytes in one vector (tests and the fuzzing harness).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        [&self.head[..], &self.body[..]].concat()
    }
}

/// Encodes the reply to `request`: `payload` on success, or an error status
/// with an empty body.
///
/// Metadata operations, consumer-offset writes and a successful login carry a
/// result section (`count = 0`) ahead of the payload, as the SDK expects.
pub(crate) fn encode_reply(
    request: &RequestHeader,
    result: &Result<Bytes, Status>,
) -> EncodedReply {
    let operation = request.operation;
    let (status, body) = match result {
        Ok(payload) => (0, payload.clone()),
        Err(status) => (status.code(), Bytes::new()),
    };
    let result_framed =
        status == 0 && (operation.is_result_framed() || operation == Operation::Register);
    let section = if result_framed { 4 } else { 0 };
    let size = u32::try_from(HEADER_SIZE + section + body.len()).unwrap_or(u32::MAX);
    let header = ReplyHeader {
        command: Command::Reply,
        size,
        request_checksum: request.request_checksum,
        client: request.client,
        request: request.request,
        operation,
        status,
        ..ReplyHeader::default()
    };
    let mut head = BytesMut::with_capacity(HEADER_SIZE + section);
    head.put_slice(bytemuck::bytes_of(&header));
    if result_framed {
        head.put_u32_le(0);
    }
    EncodedReply { head, body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iggy_binary_protocol::codes::PING_CODE;

    fn raw(header: &RequestHeader) -> [u8; HEADER_SIZE] {
        let mut raw = [0u8; HEADER_SIZE];
        raw.copy_from_slice(bytemuck::bytes_of(header));
        raw
    }

    #[test]
    fn non_replicated_code_rides_the_reserved_bytes() {
        let mut reserved = [0u8; 60];
        reserved[..4].copy_from_slice(&PING_CODE.to_le_bytes());
        let header = RequestHeader {
            command: Command::Request,
            operation: Operation::NonReplicated,
            size: HEADER_SIZE as u32,
            reserved,
            ..RequestHeader::default()
        };
        let meta = RequestMeta::parse(&raw(&header), 1 << 20).unwrap();
        assert_eq!(meta.code(), Some(PING_CODE));
        assert_eq!(meta.body_len, 0);
    }

    #[test]
    fn bad_sizes_and_commands_are_refused() {
        let mut header = RequestHeader {
            command: Command::Request,
            operation: Operation::NonReplicated,
            size: 10,
            ..RequestHeader::default()
        };
        assert_eq!(
            RequestMeta::parse(&raw(&header), 1 << 20).unwrap_err(),
            FrameError::TooSmall(10)
        );
        header.size = 1 << 21;
        assert!(matches!(
            RequestMeta::parse(&raw(&header), 1 << 20),
            Err(FrameError::TooLarge(_))
        ));
        header.command = Command::Reply;
        header.size = HEADER_SIZE as u32;
        assert_eq!(
            RequestMeta::parse(&raw(&header), 1 << 20).unwrap_err(),
            FrameError::NotARequest
        );
        let mut garbage = [0xffu8; HEADER_SIZE];
        garbage[0] = 1;
        assert_eq!(
            RequestMeta::parse(&garbage, 1 << 20).unwrap_err(),
            FrameError::NotARequest
        );
    }

    #[test]
    fn metadata_replies_carry_a_result_section() {
        let header = RequestHeader {
            command: Command::Request,
            operation: Operation::CreateStream,
            request: 7,
            ..RequestHeader::default()
        };
        let out = encode_reply(&header, &Ok(Bytes::from_static(b"xy"))).to_vec();
        assert_eq!(out.len(), HEADER_SIZE + 4 + 2);
        assert_eq!(&out[HEADER_SIZE..], &[0, 0, 0, 0, b'x', b'y']);
        let err = encode_reply(&header, &Err(Status::FEATURE_UNAVAILABLE)).to_vec();
        assert_eq!(err.len(), HEADER_SIZE);
    }
}
