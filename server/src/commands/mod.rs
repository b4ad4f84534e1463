//! Command dispatch: Iggy command code → handler. One module per resource;
//! every command passes the permission check of [`authorize`] first.

mod authorize;
mod groups;
mod messages;
mod offsets;
mod options;
mod resolve;
mod stats;
mod streams;
pub(crate) mod system;
mod tokens;
mod topic_admin;
mod topics;
mod users;

use bytes::Bytes;
use iggy_binary_protocol::codes::*;
use rustok_iggy::iggy_extension::POLL_MESSAGES_WAITING_CODE;

use crate::{error::Status, session::Session, shared::Shared};

/// What a handler returns: the reply payload, or an Iggy status.
pub(crate) type Reply = Result<Bytes, Status>;

/// The commands this server serves, by code (the rest get "feature
/// unavailable"). Listed in the crate docs.
pub(crate) const SERVED: &[u32] = &[
    PING_CODE,
    LOGIN_REGISTER_CODE,
    LOGOUT_USER_CODE,
    GET_ME_CODE,
    GET_USER_CODE,
    GET_USERS_CODE,
    CREATE_USER_CODE,
    DELETE_USER_CODE,
    UPDATE_USER_CODE,
    UPDATE_PERMISSIONS_CODE,
    CHANGE_PASSWORD_CODE,
    GET_PERSONAL_ACCESS_TOKENS_CODE,
    CREATE_PERSONAL_ACCESS_TOKEN_CODE,
    DELETE_PERSONAL_ACCESS_TOKEN_CODE,
    GET_CLUSTER_METADATA_CODE,
    GET_STATS_CODE,
    GET_CLIENTS_CODE,
    GET_CLIENT_CODE,
    GET_SNAPSHOT_FILE_CODE,
    DESCRIBE_OPTIONS_CODE,
    GET_STREAM_CODE,
    GET_STREAMS_CODE,
    CREATE_STREAM_CODE,
    DELETE_STREAM_CODE,
    UPDATE_STREAM_CODE,
    PURGE_STREAM_CODE,
    GET_TOPIC_CODE,
    GET_TOPICS_CODE,
    CREATE_TOPIC_CODE,
    DELETE_TOPIC_CODE,
    UPDATE_TOPIC_CODE,
    PURGE_TOPIC_CODE,
    CREATE_PARTITIONS_CODE,
    DELETE_PARTITIONS_CODE,
    DELETE_SEGMENTS_CODE,
    SEND_MESSAGES_CODE,
    POLL_MESSAGES_CODE,
    FLUSH_UNSAVED_BUFFER_CODE,
    GET_CONSUMER_OFFSET_CODE,
    STORE_CONSUMER_OFFSET_CODE,
    DELETE_CONSUMER_OFFSET_CODE,
    GET_CONSUMER_GROUP_CODE,
    GET_CONSUMER_GROUPS_CODE,
    CREATE_CONSUMER_GROUP_CODE,
    DELETE_CONSUMER_GROUP_CODE,
    JOIN_CONSUMER_GROUP_CODE,
    LEAVE_CONSUMER_GROUP_CODE,
    SYNC_CONSUMER_GROUP_CODE,
];

/// How long a failed login waits before its reply.
const LOGIN_FAILURE_DELAY: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs one request. Before login only ping and login are served; after
/// it, what the logged-in user's permissions allow.
pub(crate) async fn dispatch(
    shared: &Shared,
    session: &mut Session,
    code: u32,
    body: &Bytes,
) -> Reply {
    let reply = run(shared, session, code, body).await;
    shared.clients.refresh(session);
    reply
}

/// Logs in, or checks the session's user may run `code`, then runs it.
async fn run(shared: &Shared, session: &mut Session, code: u32, body: &Bytes) -> Reply {
    match code {
        PING_CODE => return Ok(Bytes::new()),
        LOGIN_REGISTER_CODE => {
            let reply = system::login(shared, session, body).await;
            if reply.is_err() {
                // Slows password guessing (the connection is also closed
                // after `max_login_failures`).
                tokio::time::sleep(LOGIN_FAILURE_DELAY).await;
            }
            return reply;
        }
        // The logins of SDKs before the register handshake: refused as a
        // malformed login, as Apache Iggy 0.9 refuses them.
        LOGIN_USER_CODE | LOGIN_WITH_PERSONAL_ACCESS_TOKEN_CODE => {
            return Err(Status::INVALID_FORMAT)
        }
        _ => {}
    }
    let who = session.identity().ok_or(Status::UNAUTHENTICATED)?;
    authorize::check(shared, who, code, body).await?;
    match code {
        LOGOUT_USER_CODE => system::logout(shared, session).await,
        GET_ME_CODE => system::get_me(session),
        GET_CLIENTS_CODE => system::get_clients(shared),
        GET_CLIENT_CODE => system::get_client(shared, body),
        GET_SNAPSHOT_FILE_CODE => system::snapshot(shared, body).await,
        DESCRIBE_OPTIONS_CODE => options::describe(body),
        GET_USER_CODE => users::get(shared, body),
        GET_USERS_CODE => users::list(shared),
        CREATE_USER_CODE => users::create(shared, body).await,
        DELETE_USER_CODE => users::delete(shared, body).await,
        UPDATE_USER_CODE => users::update(shared, body).await,
        UPDATE_PERMISSIONS_CODE => users::update_permissions(shared, body).await,
        CHANGE_PASSWORD_CODE => users::change_password(shared, body).await,
        GET_PERSONAL_ACCESS_TOKENS_CODE => tokens::list(shared, session),
        CREATE_PERSONAL_ACCESS_TOKEN_CODE => tokens::create(shared, session, body).await,
        DELETE_PERSONAL_ACCESS_TOKEN_CODE => tokens::delete(shared, session, body).await,
        GET_CLUSTER_METADATA_CODE => system::cluster_metadata(shared),
        GET_STATS_CODE => stats::get(shared).await,
        GET_STREAM_CODE => streams::get(shared, body).await,
        GET_STREAMS_CODE => streams::list(shared).await,
        CREATE_STREAM_CODE => streams::create(shared, body).await,
        DELETE_STREAM_CODE => streams::delete(shared, body).await,
        UPDATE_STREAM_CODE => streams::update(shared, body).await,
        PURGE_STREAM_CODE => streams::purge(shared, body).await,
        GET_TOPIC_CODE => topics::get(shared, body).await,
        GET_TOPICS_CODE => topics::list(shared, body).await,
        CREATE_TOPIC_CODE => topics::create(shared, body).await,
        DELETE_TOPIC_CODE => topics::delete(shared, body).await,
        UPDATE_TOPIC_CODE => topic_admin::update(shared, body).await,
        PURGE_TOPIC_CODE => topic_admin::purge(shared, body).await,
        CREATE_PARTITIONS_CODE => topics::create_partitions(shared, body).await,
        DELETE_PARTITIONS_CODE => topic_admin::delete_partitions(shared, body).await,
        DELETE_SEGMENTS_CODE => topic_admin::delete_segments(shared, body).await,
        SEND_MESSAGES_CODE => messages::send(shared, body).await,
        POLL_MESSAGES_CODE => messages::poll(shared, session, body).await,
        POLL_MESSAGES_WAITING_CODE => messages::poll_waiting(shared, session, body).await,
        FLUSH_UNSAVED_BUFFER_CODE => messages::flush(shared, body).await,
        GET_CONSUMER_OFFSET_CODE => offsets::get(shared, body).await,
        STORE_CONSUMER_OFFSET_CODE => offsets::store(shared, session, body).await,
        DELETE_CONSUMER_OFFSET_CODE => offsets::delete(shared, session, body).await,
        GET_CONSUMER_GROUP_CODE => groups::get(shared, body).await,
        GET_CONSUMER_GROUPS_CODE => groups::list(shared, body).await,
        CREATE_CONSUMER_GROUP_CODE => groups::create(shared, body).await,
        DELETE_CONSUMER_GROUP_CODE => groups::delete(shared, body).await,
        JOIN_CONSUMER_GROUP_CODE => groups::join(shared, session, body).await,
        LEAVE_CONSUMER_GROUP_CODE => groups::leave(shared, session, body).await,
        SYNC_CONSUMER_GROUP_CODE => groups::sync(shared, session, body).await,
        // A command of the protocol this server does not serve, and a code
        // the protocol does not have, answered as Apache Iggy answers them.
        _ => Err(match iggy_binary_protocol::dispatch::lookup_command(code) {
            Some(_) => Status::FEATURE_UNAVAILABLE,
            None => Status::INVALID_COMMAND,
        }),
    }
}
