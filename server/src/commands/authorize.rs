//! The permission check every command passes before its handler runs: one
//! table, command code → [`Rule`], so the rules live in one place.
//!
//! As in Apache Iggy, a request is checked only once what it names
//! resolves: a body that does not decode, a stream, topic or user that does
//! not exist, goes on to its handler, whose own error ("invalid command",
//! "stream not found", an empty reply) is what the client sees. Commands
//! without a rule (ping, login, logout, `get me`, cluster metadata, the
//! caller's own tokens, syncing a group it joined) need only a login.

use iggy_binary_protocol::{
    codes::*,
    requests::{
        consumer_groups::{
            CreateConsumerGroupRequest, DeleteConsumerGroupRequest, GetConsumerGroupRequest,
            GetConsumerGroupsRequest, JoinConsumerGroupRequest, LeaveConsumerGroupRequest,
        },
        consumer_offsets::{
            DeleteConsumerOffsetRequest, GetConsumerOffsetRequest, StoreConsumerOffsetRequest,
        },
        messages::{FlushUnsavedBufferRequest, PollMessagesRequest},
        partitions::{CreatePartitionsRequest, DeletePartitionsRequest},
        segments::DeleteSegmentsRequest,
        streams::{DeleteStreamRequest, GetStreamRequest, PurgeStreamRequest, UpdateStreamRequest},
        topics::{
            CreateTopicRequest, DeleteTopicRequest, GetTopicRequest, GetTopicsRequest,
            PurgeTopicRequest, UpdateTopicRequest,
        },
        users::{ChangePasswordRequest, GetUserRequest},
    },
    WireDecode, WireIdentifier,
};

use rustok_iggy::iggy_extension::{decode_waiting_poll, POLL_MESSAGES_WAITING_CODE};

use super::resolve;
use crate::{
    auth::{permissions::Rule, Identity, ROOT},
    error::Status,
    mapping::send_header,
    shared::Shared,
};

/// What a command needs.
enum Need {
    /// A login only.
    Login,
    /// A rule about no stream.
    Rule(Rule),
    /// A rule about the stream the request names.
    Stream(WireIdentifier, fn(u32) -> Rule),
    /// A rule about the topic the request names.
    Topic(WireIdentifier, WireIdentifier, fn(u32, u32) -> Rule),
    /// A rule about another user than the caller: a user may always do this
    /// to itself (read its details, change its password).
    OtherUser(WireIdentifier, Rule),
}

/// Unauthorized (Iggy error 41) unless `who` may run command `code` with
/// `body`.
pub(crate) async fn check(
    shared: &Shared,
    who: Identity,
    code: u32,
    body: &[u8],
) -> Result<(), Status> {
    if who == ROOT {
        // Root may do anything and cannot be deleted: no need to resolve
        // what the request names.
        return Ok(());
    }
    let rule = match need(code, body) {
        Need::Login => return Ok(()),
        Need::Rule(rule) => rule,
        Need::Stream(stream, rule) => match resolve::stream_scope(shared, &stream).await? {
            Some(stream) => rule(stream),
            None => return Ok(()),
        },
        Need::Topic(stream, topic, rule) => {
            match resolve::topic_scope(shared, &stream, &topic).await? {
                Some((stream, topic)) => rule(stream, topic),
                None => return Ok(()),
            }
        }
        Need::OtherUser(user, rule) => match shared.users.resolve(&user) {
            None => return Ok(()),
            Some(id) if id == who.id && shared.users.is_current(who) => return Ok(()),
            Some(_) => rule,
        },
    };
    if shared.users.allows(who, rule) {
        Ok(())
    } else {
        Err(Status::UNAUTHORIZED)
    }
}

/// The permission table: Apache Iggy's permissioner rule of each command.
fn need(code: u32, body: &[u8]) -> Need {
    match code {
        GET_STATS_CODE | GET_CLIENTS_CODE | GET_CLIENT_CODE | GET_SNAPSHOT_FILE_CODE => {
            Need::Rule(Rule::ReadServers)
        }
        GET_USERS_CODE => Need::Rule(Rule::ReadUsers),
        GET_USER_CODE => user::<GetUserRequest>(body, |r| r.user_id, Rule::ReadUsers),
        CREATE_USER_CODE | DELETE_USER_CODE | UPDATE_USER_CODE | UPDATE_PERMISSIONS_CODE => {
            Need::Rule(Rule::ManageUsers)
        }
        CHANGE_PASSWORD_CODE => {
            user::<ChangePasswordRequest>(body, |r| r.user_id, Rule::ManageUsers)
        }
        GET_STREAMS_CODE => Need::Rule(Rule::GetStreams),
        CREATE_STREAM_CODE => Need::Rule(Rule::CreateStream),
        GET_STREAM_CODE => stream::<GetStreamRequest>(body, |r| r.stream_id, Rule::GetStream),
        UPDATE_STREAM_CODE => {
            stream::<UpdateStreamRequest>(body, |r| r.stream_id, Rule::ManageStream)
        }
        DELETE_STREAM_CODE => {
            stream::<DeleteStreamRequest>(body, |r| r.stream_id, Rule::ManageStream)
        }
        PURGE_STREAM_CODE => {
            stream::<PurgeStreamRequest>(body, |r| r.stream_id, Rule::ManageStream)
        }
        GET_TOPICS_CODE => stream::<GetTopicsRequest>(body, |r| r.stream_id, Rule::GetTopics),
        CREATE_TOPIC_CODE => stream::<CreateTopicRequest>(body, |r| r.stream_id, Rule::CreateTopic),
        GET_TOPIC_CODE => {
            topic::<GetTopicRequest>(body, |r| (r.stream_id, r.topic_id), Rule::GetTopic)
        }
        UPDATE_TOPIC_CODE => {
            topic::<UpdateTopicRequest>(body, |r| (r.stream_id, r.topic_id), Rule::ManageTopic)
        }
        DELETE_TOPIC_CODE => {
            topic::<DeleteTopicRequest>(body, |r| (r.stream_id, r.topic_id), Rule::ManageTopic)
        }
        PURGE_TOPIC_CODE => {
            topic::<PurgeTopicRequest>(body, |r| (r.stream_id, r.topic_id), Rule::ManageTopic)
        }
        CREATE_PARTITIONS_CODE => {
            topic::<CreatePartitionsRequest>(body, |r| (r.stream_id, r.topic_id), Rule::ManageTopic)
        }
        DELETE_PARTITIONS_CODE => {
            topic::<DeletePartitionsRequest>(body, |r| (r.stream_id, r.topic_id), Rule::ManageTopic)
        }
        DELETE_SEGMENTS_CODE => {
            topic::<DeleteSegmentsRequest>(body, |r| (r.stream_id, r.topic_id), Rule::ManageTopic)
        }
        SEND_MESSAGES_CODE => match send_header(body) {
            Ok(header) => Need::Topic(header.stream_id, header.topic_id, Rule::SendMessages),
            Err(_) => Need::Login,
        },
        // Apache Iggy 0.9 has no flush; its predecessors checked the
        // sending rule, the one that fits writing out what was sent.
        FLUSH_UNSAVED_BUFFER_CODE => topic::<FlushUnsavedBufferRequest>(
            body,
            |r| (r.stream_id, r.topic_id),
            Rule::SendMessages,
        ),
        POLL_MESSAGES_CODE => {
            topic::<PollMessagesRequest>(body, |r| (r.stream_id, r.topic_id), Rule::PollMessages)
        }
        POLL_MESSAGES_WAITING_CODE => match decode_waiting_poll(body) {
            Some((_, poll)) => topic::<PollMessagesRequest>(
                poll,
                |r| (r.stream_id, r.topic_id),
                Rule::PollMessages,
            ),
            None => Need::Login,
        },
        GET_CONSUMER_OFFSET_CODE => topic::<GetConsumerOffsetRequest>(
            body,
            |r| (r.stream_id, r.topic_id),
            Rule::PollMessages,
        ),
        STORE_CONSUMER_OFFSET_CODE => topic::<StoreConsumerOffsetRequest>(
            body,
            |r| (r.stream_id, r.topic_id),
            Rule::PollMessages,
        ),
        DELETE_CONSUMER_OFFSET_CODE => topic::<DeleteConsumerOffsetRequest>(
            body,
            |r| (r.stream_id, r.topic_id),
            Rule::PollMessages,
        ),
        GET_CONSUMER_GROUP_CODE => {
            topic::<GetConsumerGroupRequest>(body, |r| (r.stream_id, r.topic_id), Rule::GetTopic)
        }
        GET_CONSUMER_GROUPS_CODE => {
            topic::<GetConsumerGroupsRequest>(body, |r| (r.stream_id, r.topic_id), Rule::GetTopic)
        }
        CREATE_CONSUMER_GROUP_CODE => {
            topic::<CreateConsumerGroupRequest>(body, |r| (r.stream_id, r.topic_id), Rule::GetTopic)
        }
        DELETE_CONSUMER_GROUP_CODE => {
            topic::<DeleteConsumerGroupRequest>(body, |r| (r.stream_id, r.topic_id), Rule::GetTopic)
        }
        JOIN_CONSUMER_GROUP_CODE => {
            topic::<JoinConsumerGroupRequest>(body, |r| (r.stream_id, r.topic_id), Rule::GetTopic)
        }
        LEAVE_CONSUMER_GROUP_CODE => {
            topic::<LeaveConsumerGroupRequest>(body, |r| (r.stream_id, r.topic_id), Rule::GetTopic)
        }
        _ => Need::Login,
    }
}

fn stream<T: WireDecode>(
    body: &[u8],
    id: impl FnOnce(T) -> WireIdentifier,
    rule: fn(u32) -> Rule,
) -> Need {
    T::decode_from(body).map_or(Need::Login, |request| Need::Stream(id(request), rule))
}

fn topic<T: WireDecode>(
    body: &[u8],
    ids: impl FnOnce(T) -> (WireIdentifier, WireIdentifier),
    rule: fn(u32, u32) -> Rule,
) -> Need {
    T::decode_from(body).map_or(Need::Login, |request| {
        let (stream, topic) = ids(request);
        Need::Topic(stream, topic, rule)
    })
}

fn user<T: WireDecode>(body: &[u8], id: impl FnOnce(T) -> WireIdentifier, rule: Rule) -> Need {
    T::decode_from(body).map_or(Need::Login, |request| Need::OtherUser(id(request), rule))
}
