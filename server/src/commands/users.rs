//! Users: get, list, create, update (name, status), delete, change
//! password, update permissions. Who may do what is checked before these
//! run (`authorize`); here the requests are decoded and applied to the
//! users ([`crate::auth::Users`]), with Apache Iggy's error codes.

use bytes::Bytes;
use iggy_binary_protocol::{
    primitives::permissions::WirePermissions,
    requests::users::{
        ChangePasswordRequest, CreateUserRequest, DeleteUserRequest, GetUserRequest,
        UpdatePermissionsRequest, UpdateUserRequest,
    },
    responses::users::{GetUsersResponse, UserDetailsResponse, UserResponse},
    WireDecode, WireEncode, WireName, WireOptions,
};
use secrecy::SecretString;

use super::Reply;
use crate::{
    auth::{permissions::Permissions, UserView},
    error::Status,
    shared::Shared,
};

/// Decodes a request body; one that does not decode is an invalid command,
/// as Apache Iggy answers it.
pub(super) fn decode<T: WireDecode>(body: &[u8]) -> Result<T, Status> {
    T::decode_from(body).map_err(|_| Status::INVALID_COMMAND)
}

/// A user as listings show it. User options are not kept (see the crate
/// docs), so none are reported.
fn user_response(user: &UserView) -> Result<UserResponse, Status> {
    Ok(UserResponse {
        id: user.id,
        created_at: user.created_at,
        status: user.status,
        username: WireName::new(&user.username)?,
        options: WireOptions::empty(),
    })
}

/// `GetUser`: the user's details; an empty reply (the SDK's "no such
/// user") when there is none.
pub(crate) fn get(shared: &Shared, body: &[u8]) -> Reply {
    let request: GetUserRequest = decode(body)?;
    let Some(user) = shared.users.get(&request.user_id) else {
        return Ok(Bytes::new());
    };
    Ok(UserDetailsResponse {
        user: user_response(&user)?,
        permissions: user.permissions.as_ref().map(WirePermissions::from),
    }
    .to_bytes())
}

/// `GetUsers`: every user, by id.
pub(crate) fn list(shared: &Shared) -> Reply {
    let users = shared
        .users
        .list()
        .iter()
        .map(user_response)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GetUsersResponse { users }.to_bytes())
}

/// `CreateUser`: the new user's details. As Apache Iggy does, the reply
/// echoes the status code and permissions as sent.
pub(crate) async fn create(shared: &Shared, body: &[u8]) -> Reply {
    let CreateUserRequest {
        username,
        password,
        status,
        permissions,
        ..
    } = decode(body)?;
    let user = shared
        .users
        .create(
            username.as_str().to_owned(),
            SecretString::from(password),
            status,
            permissions.as_ref().map(Permissions::from),
        )
        .await?;
    Ok(UserDetailsResponse {
        user: UserResponse {
            status,
            ..user_response(&user)?
        },
        permissions,
    }
    .to_bytes())
}

/// `UpdateUser`: a new username and/or status.
pub(crate) async fn update(shared: &Shared, body: &[u8]) -> Reply {
    let request: UpdateUserRequest = decode(body)?;
    shared
        .users
        .update(
            &request.user_id,
            request.username.as_ref().map(WireName::as_str),
            request.status,
        )
        .await?;
    Ok(Bytes::new())
}

/// `DeleteUser`, with its tokens (never the root user).
pub(crate) async fn delete(shared: &Shared, body: &[u8]) -> Reply {
    let request: DeleteUserRequest = decode(body)?;
    shared.users.delete(&request.user_id).await?;
    Ok(Bytes::new())
}

/// `ChangePassword`: for any caller the current password must be right.
pub(crate) async fn change_password(shared: &Shared, body: &[u8]) -> Reply {
    let ChangePasswordRequest {
        user_id,
        current_password,
        new_password,
    } = decode(body)?;
    shared
        .users
        .change_password(
            &user_id,
            SecretString::from(current_password),
            SecretString::from(new_password),
        )
        .await?;
    Ok(Bytes::new())
}

/// `UpdatePermissions`: replaces them (never the root user's).
pub(crate) async fn update_permissions(shared: &Shared, body: &[u8]) -> Reply {
    let request: UpdatePermissionsRequest = decode(body)?;
    shared
        .users
        .set_permissions(
            &request.user_id,
            request.permissions.as_ref().map(Permissions::from),
        )
        .await?;
    Ok(Bytes::new())
}
