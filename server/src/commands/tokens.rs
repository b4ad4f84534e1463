//! Personal access tokens: create (the token is in this reply only), list,
//! delete — always the caller's own — and login with one.

use bytes::Bytes;
use iggy_binary_protocol::{
    requests::personal_access_tokens::{
        CreatePersonalAccessTokenRequest, DeletePersonalAccessTokenRequest,
    },
    responses::personal_access_tokens::{
        GetPersonalAccessTokensResponse, PersonalAccessTokenResponse,
        RawPersonalAccessTokenResponse,
    },
    WireEncode, WireName,
};
use secrecy::ExposeSecret;

use super::{users::decode, Reply};
use crate::{auth::Identity, error::Status, session::Session, shared::Shared};

/// Who is asking: every token command is about the caller's own tokens.
fn caller(session: &Session) -> Result<Identity, Status> {
    session.identity().ok_or(Status::UNAUTHENTICATED)
}

/// `CreatePersonalAccessToken`: the token, which the server does not keep.
pub(crate) async fn create(shared: &Shared, session: &Session, body: &[u8]) -> Reply {
    let request: CreatePersonalAccessTokenRequest = decode(body)?;
    let token = shared
        .users
        .create_token(caller(session)?, request.name.as_str(), request.expiry)
        .await?;
    Ok(RawPersonalAccessTokenResponse {
        token: WireName::new(token.expose_secret())?,
    }
    .to_bytes())
}

/// `GetPersonalAccessTokens`: the caller's live tokens by name, with their
/// expiry (0: never).
pub(crate) fn list(shared: &Shared, session: &Session) -> Reply {
    let tokens = shared
        .users
        .tokens(caller(session)?)
        .into_iter()
        .map(|(name, expiry_at)| {
            Ok(PersonalAccessTokenResponse {
                name: WireName::new(&name)?,
                expiry_at: expiry_at.unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    Ok(GetPersonalAccessTokensResponse { tokens }.to_bytes())
}

/// `DeletePersonalAccessToken`, by name.
pub(crate) async fn delete(shared: &Shared, session: &Session, body: &[u8]) -> Reply {
    let request: DeletePersonalAccessTokenRequest = decode(body)?;
    shared
        .users
        .delete_token(caller(session)?, request.name.as_str())
        .await?;
    Ok(Bytes::new())
}
