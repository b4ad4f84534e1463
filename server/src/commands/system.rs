//! Login, logout, `get me`, cluster metadata.

use bytes::Bytes;
use iggy_binary_protocol::{
    is_protocol_compatible,
    requests::users::{LoginRegisterRequest, LoginRegisterWithPatRequest},
    responses::{
        clients::{ClientDetailsResponse, ClientResponse, ConsumerGroupInfoResponse},
        system::{ClusterMetadataResponse, ClusterNodeResponse},
        users::LoginRegisterResponse,
    },
    ClientVersionInfo, WireDecode, WireEncode, WireName, IGGY_PROTOCOL_VERSION,
};

use super::Reply;
use crate::{auth::Identity, error::Status, session::Session, shared::Shared};

pub(crate) use crate::auth::ROOT_USER_ID;

/// How the server names itself, at login and in server stats: not as an
/// Apache Iggy release, which it is not.
pub(crate) const SERVER_VERSION: &str = concat!("rustok-iggy-server ", env!("CARGO_PKG_VERSION"));

/// Iggy's codes for a leader and a healthy node.
const ROLE_LEADER: u8 = 0;
const STATUS_HEALTHY: u8 = 0;

/// `LoginRegister`, with a username and password or with a personal access
/// token: the SDK sends both as the same command, told apart by the body's
/// shape. As in Apache Iggy, the body is read as a username and password
/// first; if it is not one, or those credentials are wrong, as a token.
/// After too many failures on one connection the connection is closed.
pub(crate) async fn login(shared: &Shared, session: &mut Session, body: &[u8]) -> Reply {
    let Ok((version, prefix)) = ClientVersionInfo::decode(body) else {
        return Err(failed(shared, session, Status::INVALID_FORMAT));
    };
    if !is_protocol_compatible(version.protocol_version) {
        session.close = true;
        return Err(Status::INCOMPATIBLE_PROTOCOL_VERSION);
    }
    let tail = body.get(prefix..).unwrap_or_default();
    let mut outcome = Err(Status::INVALID_FORMAT);
    if let Ok((request, _)) = LoginRegisterRequest::decode_after_prefix(version.clone(), tail) {
        outcome = shared
            .users
            .login(request.username.as_str(), &request.password)
            .await;
    }
    if matches!(
        outcome,
        Err(Status::INVALID_FORMAT | Status::INVALID_CREDENTIALS)
    ) {
        if let Ok((request, _)) = LoginRegisterWithPatRequest::decode_after_prefix(version, tail) {
            // A wrong password stays the answer unless the body is a token.
            outcome = shared.users.login_with_token(&request.token);
        }
    }
    let who = outcome.map_err(|status| failed(shared, session, status))?;
    logged_in(session, who)
}

/// Counts a failed login (closing the connection after too many) and logs
/// it; returns `status`.
fn failed(shared: &Shared, session: &mut Session, status: Status) -> Status {
    session.failed_logins += 1;
    tracing::warn!(
        peer = %session.peer,
        failures = session.failed_logins,
        status = status.code(),
        "failed login"
    );
    if session.failed_logins >= shared.limits.max_login_failures {
        session.close = true;
    }
    status
}

fn logged_in(session: &mut Session, who: Identity) -> Reply {
    session.log_in(who);
    Ok(LoginRegisterResponse {
        user_id: who.id,
        session: session.session_number(),
        server_protocol_version: IGGY_PROTOCOL_VERSION,
        server_version: WireName::new(SERVER_VERSION)?,
    }
    .to_bytes())
}

/// `LogoutUser`: leaves this connection's groups.
pub(crate) async fn logout(shared: &Shared, session: &mut Session) -> Reply {
    session.leave_all(shared).await;
    session.user = None;
    Ok(Bytes::new())
}

/// `GetMe`: this connection as a client.
pub(crate) fn get_me(session: &Session) -> Reply {
    let consumer_groups: Vec<ConsumerGroupInfoResponse> = session
        .groups
        .values()
        .map(|m| ConsumerGroupInfoResponse {
            stream_id: m.stream_id,
            topic_id: m.topic_id,
            group_id: m.group_id,
        })
        .collect();
    Ok(ClientDetailsResponse {
        client: ClientResponse {
            client_id: session.id,
            user_id: session.user.unwrap_or(ROOT_USER_ID),
            transport: session.transport.code(),
            address: session.peer.to_string(),
            consumer_groups_count: u32::try_from(consumer_groups.len()).unwrap_or(u32::MAX),
        },
        consumer_groups,
    }
    .to_bytes())
}

/// `GetClusterMetadata`: a single leader node, this server.
pub(crate) fn cluster_metadata(shared: &Shared) -> Reply {
    Ok(ClusterMetadataResponse {
        name: "rustok-iggy".to_owned(),
        nodes: vec![ClusterNodeResponse {
            name: "rustok-iggy-0".to_owned(),
            ip: shared.local_addr.ip().to_string(),
            tcp_port: shared.local_addr.port(),
            quic_port: shared.quic_addr.map_or(0, |addr| addr.port()),
            http_port: 0,
            websocket_port: 0,
            role: ROLE_LEADER,
            status: STATUS_HEALTHY,
        }],
    }
    .to_bytes())
}
