//! Login, logout, `get me`, the client listing, cluster metadata.

use bytes::Bytes;
use iggy_binary_protocol::{
    is_protocol_compatible,
    requests::{
        system::GetClientRequest,
        users::{LoginRegisterRequest, LoginRegisterWithPatRequest},
    },
    responses::{
        clients::GetClientsResponse,
        system::{ClusterMetadataResponse, ClusterNodeResponse},
        users::LoginRegisterResponse,
    },
    ClientVersionInfo, WireDecode, WireEncode, WireName, IGGY_PROTOCOL_VERSION,
};

use super::Reply;
use crate::{auth::Identity, error::Status, session::Session, shared::Shared};

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

/// `GetMe`: this connection as a client, with the groups it joined.
pub(crate) fn get_me(session: &Session) -> Reply {
    Ok(session.record().details().to_bytes())
}

/// `GetClients`: every open connection, logged in or not.
pub(crate) fn get_clients(shared: &Shared) -> Reply {
    Ok(GetClientsResponse {
        clients: shared.clients.list().iter().map(|c| c.response()).collect(),
    }
    .to_bytes())
}

/// `GetClient`: one connection with the groups it joined; an empty reply
/// when no connection has that id, which the SDK reads as "none" (Apache
/// Iggy's answer too).
pub(crate) fn get_client(shared: &Shared, body: &[u8]) -> Reply {
    let request = GetClientRequest::decode_from(body)?;
    Ok(shared
        .clients
        .get(request.client_id)
        .map_or_else(Bytes::new, |client| client.details().to_bytes()))
}

/// `GetSnapshotFile`: a zip of the server's diagnostics (see
/// [`crate::snapshot`]).
pub(crate) async fn snapshot(shared: &Shared, body: &[u8]) -> Reply {
    let host = shared.host.sample().await?;
    shared.snapshots.collect(body, host).await
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
