//! Login, logout, `get me`, the client listing, cluster metadata.

use bytes::Bytes;
use iggy_binary_protocol::{
    is_protocol_compatible,
    requests::{system::GetClientRequest, users::LoginRegisterRequest},
    responses::{
        clients::GetClientsResponse,
        system::{ClusterMetadataResponse, ClusterNodeResponse},
        users::LoginRegisterResponse,
    },
    WireDecode, WireEncode, WireName, IGGY_PROTOCOL_VERSION,
};
use secrecy::ExposeSecret;

use super::Reply;
use crate::{error::Status, session::Session, shared::Shared};

/// How the server names itself, at login and in server stats: not as an
/// Apache Iggy release, which it is not.
pub(crate) const SERVER_VERSION: &str = concat!("rustok-iggy-server ", env!("CARGO_PKG_VERSION"));

/// The root user's id.
pub(crate) const ROOT_USER_ID: u32 = 0;
/// Iggy's codes for a leader and a healthy node.
const ROLE_LEADER: u8 = 0;
const STATUS_HEALTHY: u8 = 0;

/// `LoginRegister` with username and password. After too many failures on
/// one connection the connection is closed.
pub(crate) fn login(shared: &Shared, session: &mut Session, body: &[u8]) -> Reply {
    let request = match LoginRegisterRequest::decode_from(body) {
        Ok(request) => request,
        Err(_) => {
            session.failed_logins += 1;
            session.close = session.failed_logins >= shared.limits.max_login_failures;
            return Err(Status::INVALID_FORMAT);
        }
    };
    if !is_protocol_compatible(request.version_info.protocol_version) {
        session.close = true;
        return Err(Status::INCOMPATIBLE_PROTOCOL_VERSION);
    }
    if !shared
        .credentials
        .verify(request.username.as_str(), request.password.expose_secret())
    {
        session.failed_logins += 1;
        tracing::warn!(
            peer = %session.peer,
            failures = session.failed_logins,
            "failed login"
        );
        if session.failed_logins >= shared.limits.max_login_failures {
            session.close = true;
        }
        return Err(Status::INVALID_CREDENTIALS);
    }
    session.user = Some(ROOT_USER_ID);
    session.failed_logins = 0;
    Ok(LoginRegisterResponse {
        user_id: ROOT_USER_ID,
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
