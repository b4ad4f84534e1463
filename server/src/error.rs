//! The crate's one error type, and the mapping of failures to Iggy status codes
//! at the protocol boundary.

use std::{io, net::SocketAddr, num::NonZeroU32};

use rustok_iggy::ErrorKind;

/// What can go wrong starting or stopping a [`Server`](crate::Server).
///
/// Failures while serving a peer never surface here: they become an Iggy error
/// reply (or a closed connection) for that peer only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The builder's settings cannot work (no credentials on a public
    /// address, a zero limit, no offset store...).
    #[error("invalid server configuration: {0}")]
    Config(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address that was asked for.
        addr: SocketAddr,
        /// Why it failed.
        source: io::Error,
    },
    /// Reading or writing the catalog or users file, or another local I/O
    /// failure.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The backend failed (at start or at shutdown).
    #[error(transparent)]
    Backend(#[from] rustok_iggy::Error),
}

/// `Result` with [`ServerError`].
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

/// A non-zero Iggy error code, sent as `ReplyHeader.status` with an empty body.
///
/// The codes are the discriminants of the SDK's `IggyError` (0.11), which the
/// SDK turns back into typed errors with `IggyError::from_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status(NonZeroU32);

impl Status {
    const fn of(code: u32) -> Self {
        match NonZeroU32::new(code) {
            Some(code) => Self(code),
            None => Self(NonZeroU32::MIN),
        }
    }

    /// The code on the wire.
    pub(crate) const fn code(self) -> u32 {
        self.0.get()
    }

    pub(crate) const ERROR: Status = Status::of(1);
    pub(crate) const INVALID_COMMAND: Status = Status::of(3);
    pub(crate) const INVALID_FORMAT: Status = Status::of(4);
    pub(crate) const FEATURE_UNAVAILABLE: Status = Status::of(5);
    pub(crate) const RESOURCE_NOT_FOUND: Status = Status::of(20);
    pub(crate) const UNAUTHENTICATED: Status = Status::of(40);
    pub(crate) const UNAUTHORIZED: Status = Status::of(41);
    pub(crate) const INVALID_CREDENTIALS: Status = Status::of(42);
    pub(crate) const INVALID_USERNAME: Status = Status::of(43);
    pub(crate) const USER_ALREADY_EXISTS: Status = Status::of(46);
    pub(crate) const CANNOT_DELETE_USER: Status = Status::of(48);
    pub(crate) const CANNOT_CHANGE_PERMISSIONS: Status = Status::of(49);
    pub(crate) const PERSONAL_ACCESS_TOKEN_ALREADY_EXISTS: Status = Status::of(51);
    pub(crate) const PERSONAL_ACCESS_TOKENS_LIMIT_REACHED: Status = Status::of(52);
    pub(crate) const INVALID_PERSONAL_ACCESS_TOKEN: Status = Status::of(53);
    pub(crate) const INVALID_PERSONAL_ACCESS_TOKEN_EXPIRY: Status = Status::of(56);
    pub(crate) const TRANSIENT_NOT_ACCEPTED: Status = Status::of(58);
    pub(crate) const STREAM_ID_NOT_FOUND: Status = Status::of(1009);
    pub(crate) const STREAM_NAME_ALREADY_EXISTS: Status = Status::of(1012);
    pub(crate) const INVALID_TOPIC_SIZE: Status = Status::of(1019);
    pub(crate) const TOPIC_ID_NOT_FOUND: Status = Status::of(2010);
    pub(crate) const TOPIC_NAME_ALREADY_EXISTS: Status = Status::of(2013);
    pub(crate) const TOO_MANY_PARTITIONS: Status = Status::of(2015);
    pub(crate) const INVALID_PARTITIONS_COUNT: Status = Status::of(2019);
    pub(crate) const PARTITION_NOT_FOUND: Status = Status::of(3007);
    pub(crate) const INVALID_MESSAGES_COUNT: Status = Status::of(4009);
    pub(crate) const CANNOT_APPEND_MESSAGE: Status = Status::of(4010);
    pub(crate) const INVALID_MESSAGE_CHECKSUM: Status = Status::of(4027);
    pub(crate) const UNSUPPORTED_OPTION_KEY: Status = Status::of(4041);
    pub(crate) const INVALID_OPTION_VALUE: Status = Status::of(4042);
    pub(crate) const INVALID_OFFSET: Status = Status::of(4100);
    pub(crate) const CONSUMER_GROUP_ID_NOT_FOUND: Status = Status::of(5000);
    pub(crate) const CONSUMER_GROUP_NAME_ALREADY_EXISTS: Status = Status::of(5004);
    pub(crate) const CONSUMER_GROUP_MEMBER_NOT_FOUND: Status = Status::of(5006);
    pub(crate) const CONSUMER_GROUP_PARTITION_NOT_OWNED: Status = Status::of(5009);
    pub(crate) const SNAPSHOT_FILE_COMPLETION_FAILED: Status = Status::of(9000);
    pub(crate) const INCOMPATIBLE_PROTOCOL_VERSION: Status = Status::of(14003);
}

/// The Iggy status a core error maps to, when no command-specific mapping
/// applies (a command maps NotFound to "stream/topic not found" itself).
impl From<&rustok_iggy::Error> for Status {
    fn from(error: &rustok_iggy::Error) -> Self {
        match error.kind() {
            ErrorKind::NotFound => Status::RESOURCE_NOT_FOUND,
            ErrorKind::InvalidInput | ErrorKind::Codec | ErrorKind::Config => {
                Status::INVALID_FORMAT
            }
            ErrorKind::Unsupported => Status::FEATURE_UNAVAILABLE,
            ErrorKind::Fenced => Status::CONSUMER_GROUP_PARTITION_NOT_OWNED,
            // Retryable and nothing was done: the SDK may re-issue it.
            ErrorKind::Unavailable => Status::TRANSIENT_NOT_ACCEPTED,
            _ => Status::ERROR,
        }
    }
}

impl From<rustok_iggy::Error> for Status {
    fn from(error: rustok_iggy::Error) -> Self {
        tracing::debug!(%error, "backend error mapped to an Iggy status");
        Status::from(&error)
    }
}

impl From<iggy_binary_protocol::WireError> for Status {
    fn from(_: iggy_binary_protocol::WireError) -> Self {
        Status::INVALID_FORMAT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustok_iggy::Error;

    #[test]
    fn core_kinds_map_to_iggy_codes() {
        let code = |kind| Status::from(&Error::new(kind, "x")).code();
        assert_eq!(code(ErrorKind::NotFound), 20);
        assert_eq!(code(ErrorKind::Unsupported), 5);
        assert_eq!(code(ErrorKind::Fenced), 5009);
        assert_eq!(code(ErrorKind::Unavailable), 58);
        assert_eq!(code(ErrorKind::InvalidInput), 4);
        assert_eq!(code(ErrorKind::Backend), 1);
        assert_eq!(code(ErrorKind::Closed), 1);
    }
}
