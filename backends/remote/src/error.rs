//! `IggyError` → core [`Error`], by error **code** only.
//!
//! The SDK's `IggyError` variants carry fields (ids, names, paths) that
//! change between releases and may hold request details; the mapping looks
//! at `as_code()` alone, turned back into the variant's discriminant, so a
//! field change never changes a kind. The SDK's message text is kept as the
//! error's message (it never holds credentials: login failures are bare
//! codes).
//!
//! | Iggy codes | Core kind | Retryable |
//! |---|---|---|
//! | disconnected, not connected, cannot establish connection, connection closed, TCP/QUIC/WebSocket error, stale client, transient not committed/accepted, send refused on disconnect, shard communication | `Unavailable` | yes |
//! | task timeout, background send timeout | `Timeout` | yes |
//! | stream/topic/partition/group/member/offset/segment/client/resource not found | `NotFound` | no |
//! | stream/topic/group/user/token already exists | `AlreadyExists` | no |
//! | unauthenticated, unauthorized, invalid credentials, invalid or expired token, invalid connection string, incompatible protocol version, invalid configuration | `Config` | no |
//! | header/payload too big, invalid header key/value/kind, empty payload, invalid message count, invalid offset (a group offset beyond the partition's last record) | `InvalidInput` | no |
//! | the member does not own the partition (5009, or 20 from Apache Iggy 0.9), on a fenced commit | `Fenced` | no |
//! | feature unavailable | `Unsupported` | no |
//! | client shut down | `Closed` | no |
//! | anything else | `Backend` | no |

use iggy::prelude::IggyError;
use iggy_common::IggyErrorDiscriminants as D;
use rustok_iggy::{Error, ErrorKind};

/// The core kind for an Iggy error code.
///
/// ```
/// use rustok_iggy::ErrorKind;
/// use rustok_iggy_remote::kind_of_code;
///
/// assert_eq!(kind_of_code(8), ErrorKind::Unavailable); // disconnected
/// assert_eq!(kind_of_code(1010), ErrorKind::NotFound); // stream name not found
/// assert_eq!(kind_of_code(42), ErrorKind::Config); // invalid credentials
/// assert_eq!(kind_of_code(999_999), ErrorKind::Backend); // unknown
/// ```
pub fn kind_of_code(code: u32) -> ErrorKind {
    let Some(d) = D::from_repr(code) else {
        return ErrorKind::Backend;
    };
    match d {
        D::Disconnected
        | D::NotConnected
        | D::CannotEstablishConnection
        | D::ConnectionClosed
        | D::TcpError
        | D::QuicError
        | D::WebSocketConnectionError
        | D::StaleClient
        | D::TransientNotCommitted
        | D::TransientNotAccepted
        | D::CannotSendMessagesDueToClientDisconnection
        | D::BackgroundWorkerDisconnected
        | D::ShardCommunicationError => ErrorKind::Unavailable,
        D::TaskTimeout | D::BackgroundSendTimeout => ErrorKind::Timeout,
        D::StreamIdNotFound
        | D::StreamNameNotFound
        | D::TopicIdNotFound
        | D::TopicNameNotFound
        | D::PartitionNotFound
        | D::NoPartitions
        | D::ConsumerGroupIdNotFound
        | D::ConsumerGroupNameNotFound
        | D::ConsumerGroupMemberNotFound
        | D::ConsumerOffsetNotFound
        | D::SegmentNotFound
        | D::ClientNotFound
        | D::ResourceNotFound => ErrorKind::NotFound,
        D::StreamNameAlreadyExists
        | D::TopicNameAlreadyExists
        | D::ConsumerGroupNameAlreadyExists
        | D::UserAlreadyExists
        | D::PersonalAccessTokenAlreadyExists => ErrorKind::AlreadyExists,
        D::Unauthenticated
        | D::Unauthorized
        | D::InvalidCredentials
        | D::InvalidPersonalAccessToken
        | D::PersonalAccessTokenExpired
        | D::AccessTokenMissing
        | D::InvalidAccessToken
        | D::InvalidConnectionString
        | D::IncompatibleProtocolVersion
        | D::InvalidConfiguration => ErrorKind::Config,
        D::TooBigUserHeaders
        | D::TooBigMessagePayload
        | D::InvalidHeaderKey
        | D::InvalidHeaderValue
        | D::InvalidHeaderKind
        | D::EmptyMessagePayload
        | D::InvalidMessagePayloadLength
        | D::InvalidMessagesCount
        | D::InvalidOffset => ErrorKind::InvalidInput,
        D::FeatureUnavailable => ErrorKind::Unsupported,
        D::ClientShutdown => ErrorKind::Closed,
        _ => ErrorKind::Backend,
    }
}

/// Maps an SDK error raised by `operation` to a core error with the Iggy
/// code in its context.
pub(crate) fn map(error: IggyError, operation: &'static str) -> Error {
    let code = error.as_code();
    Error::new(kind_of_code(code), format!("iggy: {error}"))
        .with_context("backend", crate::NAME)
        .with_context("operation", operation)
        .with_context("iggy_code", code)
}

/// Whether `error` carries one of Iggy's `codes`.
fn has_code(error: &Error, codes: &[D]) -> bool {
    error
        .context("iggy_code")
        .and_then(|c| c.parse::<u32>().ok())
        .is_some_and(|c| codes.iter().any(|d| *d as u32 == c))
}

/// Whether `error` is Iggy's "no offset stored" (deleting one that is not
/// there).
pub(crate) fn is_offset_not_found(error: &Error) -> bool {
    has_code(error, &[D::ConsumerOffsetNotFound])
}

/// Whether the server refused a group-offset write because the connection is
/// not a member owning the partition. Apache Iggy decides with
/// `ConsumerGroupPartitionNotOwned` (5009) and, in its 0.9 line, answers
/// the SDK with `ResourceNotFound` (20); a group or member that is gone is
/// the same refusal.
pub(crate) fn is_ownership_refusal(error: &Error) -> bool {
    has_code(
        error,
        &[
            D::ConsumerGroupPartitionNotOwned,
            D::ResourceNotFound,
            D::ConsumerGroupMemberNotFound,
            D::ConsumerGroupIdNotFound,
            D::ConsumerGroupNameNotFound,
        ],
    )
}

/// A request that did not complete within `request_timeout_ms`.
pub(crate) fn timeout(operation: &'static str) -> Error {
    Error::new(ErrorKind::Timeout, "the Iggy server did not answer in time")
        .with_context("backend", crate::NAME)
        .with_context("operation", operation)
}

/// An operation after `shutdown`.
pub(crate) fn closed(operation: &'static str) -> Error {
    Error::new(ErrorKind::Closed, "the remote backend was shut down")
        .with_context("backend", crate::NAME)
        .with_context("operation", operation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iggy::prelude::Identifier;

    fn kind(e: IggyError) -> ErrorKind {
        map(e, "test").kind()
    }

    #[test]
    fn transient_failures_are_retryable() {
        for e in [
            IggyError::Disconnected,
            IggyError::NotConnected,
            IggyError::CannotEstablishConnection,
            IggyError::ConnectionClosed,
            IggyError::StaleClient,
            IggyError::TransientNotAccepted,
            IggyError::CannotSendMessagesDueToClientDisconnection,
        ] {
            let mapped = map(e, "test");
            assert_eq!(mapped.kind(), ErrorKind::Unavailable, "{mapped}");
            assert!(mapped.is_retryable());
        }
        assert_eq!(kind(IggyError::TaskTimeout), ErrorKind::Timeout);
        assert!(map(IggyError::TaskTimeout, "t").is_retryable());
    }

    #[test]
    fn not_found_and_exists_by_code_whatever_the_fields() {
        let id = Identifier::named("orders").unwrap();
        let other = Identifier::numeric(7).unwrap();
        assert_eq!(
            kind(IggyError::StreamNameNotFound("a".into())),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(IggyError::TopicIdNotFound(id.clone(), other.clone())),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(IggyError::PartitionNotFound(3, id.clone(), other.clone())),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(IggyError::ConsumerGroupMemberNotFound(
                1,
                id.clone(),
                other.clone()
            )),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(IggyError::StreamNameAlreadyExists("a".into())),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            kind(IggyError::TopicNameAlreadyExists("t".into(), id)),
            ErrorKind::AlreadyExists
        );
    }

    #[test]
    fn credentials_are_config_and_the_rest_backend() {
        for e in [
            IggyError::Unauthenticated,
            IggyError::InvalidCredentials,
            IggyError::Unauthorized,
        ] {
            assert_eq!(kind(e), ErrorKind::Config);
        }
        assert_eq!(kind(IggyError::FeatureUnavailable), ErrorKind::Unsupported);
        assert_eq!(kind(IggyError::ClientShutdown), ErrorKind::Closed);
        assert_eq!(kind(IggyError::InvalidHeaderValue), ErrorKind::InvalidInput);
        assert_eq!(kind(IggyError::CannotReadMessage), ErrorKind::Backend);
        assert_eq!(kind(IggyError::Error), ErrorKind::Backend);
        assert_eq!(kind_of_code(u32::MAX), ErrorKind::Backend);
    }

    #[test]
    fn the_code_is_kept_as_context() {
        let e = map(IggyError::InvalidCredentials, "login");
        assert_eq!(e.context("iggy_code"), Some("42"));
        assert_eq!(e.context("operation"), Some("login"));
        assert!(!e.is_retryable());
    }
}
