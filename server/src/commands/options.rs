//! The options block of `CreateTopic`, `UpdateTopic` and `UpdateStream`
//! (typed key-value entries, Iggy 0.11), read as Apache Iggy reads it: a key
//! outside the command's list is `UnsupportedOptionKey`, a value of the wrong
//! kind or out of range `InvalidOptionValue`.

use bytes::Bytes;
use iggy_binary_protocol::{
    requests::system::{
        DescribeOptionsRequest, OPTIONS_SCOPE_STREAM, OPTIONS_SCOPE_TOPIC, OPTIONS_SCOPE_USER,
    },
    responses::system::{DescribeOptionsResponse, OptionDescriptor},
    WireDecode, WireEncode, WireName, WireOptions,
};

use super::Reply;
use crate::error::Status;

/// The keys `CreateTopic` accepts: the topic catalog of the 0.11 SDK (and
/// `enforce_fsync`, which Apache Iggy 0.9 servers also take). Only the first
/// three mean something here; the others (how Apache Iggy lays out and
/// syncs its segments) are accepted and left to the backend's config.
pub(crate) const CREATE_TOPIC_KEYS: &[&str] = &[
    COMPRESSION_ALGORITHM,
    MESSAGE_EXPIRY,
    MAX_TOPIC_SIZE,
    "segment_size",
    "durability",
    "consumer_offset_durability",
    "enforce_fsync",
    "messages_required_to_save",
    "size_of_messages_required_to_save",
    "preallocate_segments",
];
/// The keys `UpdateTopic` accepts.
pub(crate) const UPDATE_TOPIC_KEYS: &[&str] =
    &[COMPRESSION_ALGORITHM, MESSAGE_EXPIRY, MAX_TOPIC_SIZE];
/// The keys `UpdateStream` accepts: none yet, as in Apache Iggy.
pub(crate) const UPDATE_STREAM_KEYS: &[&str] = &[];

const COMPRESSION_ALGORITHM: &str = "compression_algorithm";
const MESSAGE_EXPIRY: &str = "message_expiry";
const MAX_TOPIC_SIZE: &str = "max_topic_size";

/// Iggy's header kinds the values come in.
const KIND_STRING: u8 = 2;
const KIND_BOOL: u8 = 3;
const KIND_UINT8: u8 = 9;
const KIND_UINT32: u8 = 11;
const KIND_UINT64: u8 = 12;

/// What `DescribeOptions` says of a create-only key this server accepts but
/// leaves to the backend's own configuration.
const LEFT_TO_THE_BACKEND: &str = "Accepted for Apache Iggy clients and not applied: \
    the backend's own configuration decides (the embedded log: `segment_bytes`, `fsync`)";

/// `DescribeOptions` (`iggy options <scope>`): every key `CreateTopic`
/// accepts, with its kind, default and what it does here; streams and users
/// have no keys, as on Apache Iggy; another scope is `InvalidCommand`.
pub(crate) fn describe(body: &[u8]) -> Reply {
    let request = DescribeOptionsRequest::decode_from(body).map_err(|_| Status::INVALID_COMMAND)?;
    let entries = match request.scope {
        OPTIONS_SCOPE_TOPIC => topic_catalog()?,
        OPTIONS_SCOPE_STREAM | OPTIONS_SCOPE_USER => Vec::new(),
        _ => return Err(Status::INVALID_COMMAND),
    };
    Ok(DescribeOptionsResponse { entries }.to_bytes())
}

/// The topic keys, in [`CREATE_TOPIC_KEYS`] order, with Apache Iggy's kinds
/// and defaults.
fn topic_catalog() -> Result<Vec<OptionDescriptor>, Status> {
    let entry = |key: &str, kind: u8, default: &[u8], description: &str| {
        Ok(OptionDescriptor {
            key: WireName::new(key)?,
            kind,
            default_value: Bytes::copy_from_slice(default),
            description: description.to_owned(),
        })
    };
    let never = u64::MAX.to_le_bytes();
    vec![
        entry(
            COMPRESSION_ALGORITHM,
            KIND_STRING,
            b"none",
            "Compression algorithm (none, gzip): kept and reported; the log stores \
             messages as sent",
        ),
        entry(
            MESSAGE_EXPIRY,
            KIND_UINT64,
            &never,
            "Message expiry in microseconds (or unlimited, server_default): the oldest \
             segments whose records are all older go",
        ),
        entry(
            MAX_TOPIC_SIZE,
            KIND_UINT64,
            &never,
            "Topic size cap in bytes (or unlimited, server_default), shared equally by \
             the partitions, at least one segment each: the oldest segments go first",
        ),
        entry(
            "segment_size",
            KIND_UINT64,
            &(1u64 << 30).to_le_bytes(),
            LEFT_TO_THE_BACKEND,
        ),
        entry(
            "durability",
            KIND_STRING,
            b"replicated",
            LEFT_TO_THE_BACKEND,
        ),
        entry(
            "consumer_offset_durability",
            KIND_STRING,
            b"replicated",
            LEFT_TO_THE_BACKEND,
        ),
        entry("enforce_fsync", KIND_BOOL, &[0], LEFT_TO_THE_BACKEND),
        entry(
            "messages_required_to_save",
            KIND_UINT32,
            &1024u32.to_le_bytes(),
            LEFT_TO_THE_BACKEND,
        ),
        entry(
            "size_of_messages_required_to_save",
            KIND_UINT64,
            &(1u64 << 20).to_le_bytes(),
            LEFT_TO_THE_BACKEND,
        ),
        entry("preallocate_segments", KIND_BOOL, &[0], LEFT_TO_THE_BACKEND),
    ]
    .into_iter()
    .collect::<Result<Vec<_>, iggy_binary_protocol::WireError>>()
    .map_err(Status::from)
}

/// Iggy's compression codes.
pub(crate) const COMPRESSION_NONE: u8 = 1;
const COMPRESSION_GZIP: u8 = 2;

/// A limit as the wire sends it: `0` is "the server's default" (an update
/// leaves the setting as it is), `u64::MAX` is "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Unlimited,
    /// Microseconds of expiry, or bytes of size.
    Value(u64),
}

impl Limit {
    /// The wire's value of an optional limit (`None`: unlimited).
    pub(crate) fn wire(value: Option<u64>) -> u64 {
        value.unwrap_or(u64::MAX)
    }

    pub(crate) fn value(self) -> Option<u64> {
        match self {
            Limit::Unlimited => None,
            Limit::Value(v) => Some(v),
        }
    }
}

/// What a topic options block sets; `None`: left as it is (or the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TopicOptions {
    pub(crate) compression: Option<u8>,
    pub(crate) message_expiry: Option<Limit>,
    pub(crate) max_topic_size: Option<Limit>,
}

impl TopicOptions {
    /// Whether it changes the topic's retention.
    pub(crate) fn sets_retention(&self) -> bool {
        self.message_expiry.is_some() || self.max_topic_size.is_some()
    }
}

/// Reads a topic options block, accepting the keys in `allowed`.
pub(crate) fn topic(options: &WireOptions, allowed: &[&str]) -> Result<TopicOptions, Status> {
    check_keys(options, allowed)?;
    let mut parsed = TopicOptions::default();
    for entry in options.iter() {
        let kind = entry.value_kind.0;
        match entry.key {
            b"compression_algorithm" => {
                parsed.compression = Some(compression(kind, entry.value)?);
            }
            b"message_expiry" => parsed.message_expiry = limit(kind, entry.value)?,
            b"max_topic_size" => parsed.max_topic_size = limit(kind, entry.value)?,
            // The create-only keys the backend's config decides.
            _ => {}
        }
    }
    Ok(parsed)
}

/// Refuses a block with a key outside `allowed`.
pub(crate) fn check_keys(options: &WireOptions, allowed: &[&str]) -> Result<(), Status> {
    for entry in options.iter() {
        if !allowed.iter().any(|key| key.as_bytes() == entry.key) {
            return Err(Status::UNSUPPORTED_OPTION_KEY);
        }
    }
    Ok(())
}

/// A `Uint8` code or a `String` name (`none`, `gzip`).
fn compression(kind: u8, value: &[u8]) -> Result<u8, Status> {
    let code = match (kind, value) {
        (KIND_UINT8, [code]) => *code,
        (KIND_STRING, name) if name.eq_ignore_ascii_case(b"none") => COMPRESSION_NONE,
        (KIND_STRING, name) if name.eq_ignore_ascii_case(b"gzip") => COMPRESSION_GZIP,
        _ => return Err(Status::INVALID_OPTION_VALUE),
    };
    match code {
        COMPRESSION_NONE | COMPRESSION_GZIP => Ok(code),
        _ => Err(Status::INVALID_OPTION_VALUE),
    }
}

/// A `Uint64` (little-endian) or a `String` of decimal digits, `unlimited`
/// or `server_default`; `None` for the server default (0).
fn limit(kind: u8, value: &[u8]) -> Result<Option<Limit>, Status> {
    let n = match kind {
        KIND_UINT64 => {
            u64::from_le_bytes(value.try_into().map_err(|_| Status::INVALID_OPTION_VALUE)?)
        }
        KIND_STRING => match value {
            b"unlimited" | b"none" => u64::MAX,
            b"server_default" => 0,
            digits => std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .ok_or(Status::INVALID_OPTION_VALUE)?,
        },
        _ => return Err(Status::INVALID_OPTION_VALUE),
    };
    Ok(match n {
        0 => None,
        u64::MAX => Some(Limit::Unlimited),
        n => Some(Limit::Value(n)),
    })
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use iggy_binary_protocol::primitives::user_headers::encode_user_headers;

    use super::*;

    fn block(entries: &[(&[u8], u8, &[u8])]) -> WireOptions {
        let mut buf = BytesMut::new();
        let entries: Vec<_> = entries
            .iter()
            .map(|(k, kind, v)| (KIND_STRING, *k, *kind, *v))
            .collect();
        encode_user_headers(&entries, &mut buf);
        WireOptions::from_bytes(buf.freeze()).unwrap()
    }

    #[test]
    fn the_topic_catalog_names_every_key_create_accepts() {
        let catalog = topic_catalog().unwrap();
        let keys: Vec<&str> = catalog.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, CREATE_TOPIC_KEYS);
        assert!(describe(&[OPTIONS_SCOPE_STREAM]).is_ok());
        assert_eq!(describe(&[9]), Err(Status::INVALID_COMMAND));
    }

    #[test]
    fn reads_the_kinds_clients_send_and_refuses_the_rest() {
        let day = 86_400_000_000u64.to_le_bytes();
        let never = u64::MAX.to_le_bytes();
        let options = block(&[
            (b"compression_algorithm", KIND_STRING, b"gzip"),
            (b"message_expiry", KIND_UINT64, &day),
            (b"max_topic_size", KIND_UINT64, &never),
        ]);
        assert_eq!(
            topic(&options, UPDATE_TOPIC_KEYS),
            Ok(TopicOptions {
                compression: Some(COMPRESSION_GZIP),
                message_expiry: Some(Limit::Value(86_400_000_000)),
                max_topic_size: Some(Limit::Unlimited),
            })
        );
        let zero = 0u64.to_le_bytes();
        let default = block(&[(b"message_expiry", KIND_UINT64, &zero)]);
        assert_eq!(
            topic(&default, UPDATE_TOPIC_KEYS),
            Ok(TopicOptions::default())
        );
        let create_only = block(&[(b"segment_size", KIND_STRING, b"1GiB")]);
        assert_eq!(
            topic(&create_only, UPDATE_TOPIC_KEYS),
            Err(Status::UNSUPPORTED_OPTION_KEY)
        );
        assert!(topic(&create_only, CREATE_TOPIC_KEYS).is_ok());
        for bad in [
            block(&[(b"compression_algorithm", KIND_STRING, b"zstd")]),
            block(&[(b"compression_algorithm", KIND_UINT8, &[7])]),
            block(&[(b"message_expiry", KIND_UINT8, &[1])]),
            block(&[(b"max_topic_size", KIND_STRING, b"lots")]),
        ] {
            assert_eq!(
                topic(&bad, UPDATE_TOPIC_KEYS),
                Err(Status::INVALID_OPTION_VALUE)
            );
        }
        let any = block(&[(b"anything", KIND_STRING, b"x")]);
        assert_eq!(
            check_keys(&any, UPDATE_STREAM_KEYS),
            Err(Status::UNSUPPORTED_OPTION_KEY)
        );
        assert_eq!(
            check_keys(&WireOptions::empty(), UPDATE_STREAM_KEYS),
            Ok(())
        );
    }
}
