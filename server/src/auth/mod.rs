//! Users, their permissions and their personal access tokens: who may log
//! in, and what each logged-in session may do.
//!
//! The users live in memory and, with [`ServerBuilder::users_path`](crate::ServerBuilder::users_path),
//! in a JSON file written like the catalog (see [`crate::durable`]): a change
//! is acknowledged only once the file was replaced and its directory
//! fsynced. The file holds Argon2id hashes of passwords and BLAKE3 hashes of
//! tokens, never either in clear.
//!
//! The root user (id 0) is created from the configured credentials when
//! there are no users yet — the first start. From then on the stored root
//! user is the root user, whatever the configured credentials say, as in
//! Apache Iggy (its `IGGY_ROOT_USERNAME`/`IGGY_ROOT_PASSWORD` only seed the
//! first start): a password changed through the API survives restarts.

mod password;
pub(crate) mod permissions;
mod store;
mod tokens;

use std::{path::PathBuf, sync::Arc};

use iggy_binary_protocol::WireIdentifier;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use self::store::User;
pub(crate) use self::store::ROOT_USER_ID;
use self::{
    permissions::{Permissions, Rule},
    store::{NewUser, UsersData, ACTIVE},
};
use crate::{
    catalog::now_micros,
    config::Credentials,
    durable::Durable,
    error::{Result, ServerError, Status},
};

/// Password lengths Apache Iggy accepts at login, in bytes.
const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 3..=100;

/// Who a session logged in as: the user's id and when that user was
/// created. Ids are reused (as Apache Iggy reuses them), so a session of a
/// deleted user would otherwise act as whoever gets its id next; with the
/// creation time it acts as nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) id: u32,
    pub(crate) created_at: u64,
}

/// The root user: id 0, created at the fixed time Apache Iggy gives it
/// (1 µs after the epoch), whatever the day of the first start.
pub(crate) const ROOT: Identity = Identity {
    id: ROOT_USER_ID,
    created_at: 1,
};

/// A user's details as `get user` and `create user` report them.
#[derive(Debug, Clone)]
pub(crate) struct UserView {
    pub(crate) id: u32,
    pub(crate) username: String,
    pub(crate) status: u8,
    pub(crate) created_at: u64,
    pub(crate) permissions: Option<Permissions>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            status: user.status,
            created_at: user.created_at,
            permissions: user.permissions.clone(),
        }
    }
}

/// The users, persisted or not.
#[derive(Debug)]
pub(crate) struct Users {
    state: Durable<UsersData>,
    max_tokens_per_user: u32,
    /// Bounds the password work running at once (see [`hashing_slots`]).
    hashing: Arc<Semaphore>,
}

fn store_error(error: ServerError) -> Status {
    tracing::warn!(%error, "the users file could not be written; the change was not made");
    Status::ERROR
}

/// Password hashes and checks at once, at most: each takes Argon2's 19 MiB
/// and tens of milliseconds of a core, so a burst of logins (a peer opening
/// many connections) queues here instead of taking the blocking pool's
/// threads and their memory.
fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

impl Users {
    /// Loads the users file if there is one; with no users yet, creates the
    /// root user from `root` (and writes the file). Blocks (file I/O and a
    /// password hash): call it where blocking is allowed.
    pub(crate) fn open(
        path: Option<PathBuf>,
        root: &Credentials,
        max_tokens_per_user: u32,
    ) -> Result<Self> {
        let state = Durable::open(path, "users", |data: &mut UsersData| {
            if let Some(first) = data.users.first() {
                return if first.id == ROOT_USER_ID {
                    Ok(false)
                } else {
                    Err(ServerError::Config(
                        "the users file has no root user (id 0)".into(),
                    ))
                };
            }
            let password_hash = password::hash(root.password().expose())
                .map_err(|e| ServerError::Config(format!("cannot hash the root password: {e}")))?;
            data.create(
                NewUser {
                    username: root.username().to_owned(),
                    password_hash,
                    status: ACTIVE,
                    permissions: Some(Permissions::root()),
                },
                ROOT.created_at,
            )
            .map_err(|status| {
                ServerError::Config(format!(
                    "cannot create the root user (Iggy error {})",
                    status.code()
                ))
            })?;
            Ok(true)
        })?;
        Ok(Self {
            state,
            max_tokens_per_user,
            hashing: Arc::new(Semaphore::new(hashing_slots())),
        })
    }

    /// Runs CPU- and memory-heavy password work on the blocking pool, once
    /// a hashing slot is free.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Status> {
        let slot = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Status::ERROR)?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(|error| {
            tracing::warn!(%error, "a password hash did not finish");
            Status::ERROR
        })
    }

    /// An in-memory copy of these users, changed independently of them.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn fork(&self) -> Self {
        Self {
            state: Durable::in_memory(UsersData::clone(&self.state.read())),
            max_tokens_per_user: self.max_tokens_per_user,
            hashing: Arc::new(Semaphore::new(hashing_slots())),
        }
    }

    /// Whether the stored root user is `credentials`. Blocks (a password
    /// check).
    pub(crate) fn root_is(&self, credentials: &Credentials) -> bool {
        let data = self.state.read();
        data.by_id(ROOT_USER_ID).is_some_and(|root| {
            root.username == credentials.username()
                && password::verify(credentials.password().expose(), &root.password_hash)
        })
    }

    /// Logs in with a username and password: an unknown user, a wrong
    /// password and an inactive user are all "invalid credentials", at the
    /// same cost, as in Apache Iggy.
    pub(crate) async fn login(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<Identity, Status> {
        let secret = password.expose_secret();
        if !store::USERNAME_LENGTH.contains(&username.len())
            || !PASSWORD_LENGTH.contains(&secret.len())
        {
            return Err(Status::INVALID_CREDENTIALS);
        }
        let found = self.state.read().by_username(username).map(|u| {
            let identity = Identity {
                id: u.id,
                created_at: u.created_at,
            };
            (identity, u.password_hash.clone(), u.status)
        });
        let password = password.clone();
        let verified = self
            .blocking(move || match &found {
                Some((identity, hash, status)) => {
                    (password::verify(password.expose_secret(), hash) && *status == ACTIVE)
                        .then_some(*identity)
                }
                None => {
                    password::verify_nothing(password.expose_secret());
                    None
                }
            })
            .await?;
        verified.ok_or(Status::INVALID_CREDENTIALS)
    }

    /// Logs in with a personal access token: an unknown or expired token is
    /// an invalid token; the token of an inactive user is refused as
    /// unauthenticated (what the SDK reports for Apache Iggy's answer).
    pub(crate) fn login_with_token(&self, token: &SecretString) -> Result<Identity, Status> {
        let hash = tokens::hash(token.expose_secret());
        let data = self.state.read();
        let (user, token) = data
            .token_owner(&hash)
            .ok_or(Status::INVALID_PERSONAL_ACCESS_TOKEN)?;
        if tokens::expired(token.expiry_at, now_micros()) {
            return Err(Status::INVALID_PERSONAL_ACCESS_TOKEN);
        }
        if user.status != ACTIVE {
            return Err(Status::UNAUTHENTICATED);
        }
        Ok(Identity {
            id: user.id,
            created_at: user.created_at,
        })
    }

    /// Whether `who` may do what `rule` says. The root user may do
    /// anything (its permissions cannot change); a user deleted since its
    /// session logged in may do nothing.
    pub(crate) fn allows(&self, who: Identity, rule: Rule) -> bool {
        let data = self.state.read();
        data.by_id(who.id)
            .filter(|user| user.created_at == who.created_at)
            .is_some_and(|user| {
                user.id == ROOT_USER_ID
                    || user
                        .permissions
                        .as_ref()
                        .is_some_and(|permissions| permissions.allow(rule))
            })
    }

    /// Whether the user `who` logged in as still exists (was not deleted,
    /// its id not given to a new user since).
    pub(crate) fn is_current(&self, who: Identity) -> bool {
        self.state
            .read()
            .by_id(who.id)
            .is_some_and(|user| user.created_at == who.created_at)
    }

    /// The id of the user `id` names, if there is one.
    pub(crate) fn resolve(&self, id: &WireIdentifier) -> Option<u32> {
        self.state.read().find(id).map(|u| u.id)
    }

    /// The user `id` names.
    pub(crate) fn get(&self, id: &WireIdentifier) -> Option<UserView> {
        self.state.read().find(id).map(UserView::from)
    }

    /// Every user, by id.
    pub(crate) fn list(&self) -> Vec<UserView> {
        self.state.read().users.iter().map(UserView::from).collect()
    }

    /// Creates a user; `status` as sent (an unknown code is stored as
    /// active).
    pub(crate) async fn create(
        &self,
        username: String,
        password: SecretString,
        status: u8,
        permissions: Option<Permissions>,
    ) -> Result<UserView, Status> {
        // What would refuse the user anyway, before the costly hash (checked
        // again in the change, against the data of that moment).
        if !store::USERNAME_LENGTH.contains(&username.len()) {
            return Err(Status::INVALID_USERNAME);
        }
        if self.state.read().by_username(&username).is_some() {
            return Err(Status::USER_ALREADY_EXISTS);
        }
        let password_hash = self
            .blocking(move || password::hash(password.expose_secret()))
            .await?
            .map_err(|error| {
                tracing::warn!(%error, "cannot hash a password");
                Status::ERROR
            })?;
        let new = NewUser {
            username,
            password_hash,
            status,
            permissions,
        };
        self.change(|data| data.create(new, now_micros()).map(|u| UserView::from(&u)))
            .await
    }

    /// Renames and/or (de)activates a user.
    pub(crate) async fn update(
        &self,
        id: &WireIdentifier,
        username: Option<&str>,
        status: Option<u8>,
    ) -> Result<(), Status> {
        self.change(|data| data.update(id, username, status)).await
    }

    /// Deletes a user (never the root user).
    pub(crate) async fn delete(&self, id: &WireIdentifier) -> Result<(), Status> {
        self.change(|data| data.delete(id)).await
    }

    /// Replaces a user's permissions (never the root user's).
    pub(crate) async fn set_permissions(
        &self,
        id: &WireIdentifier,
        permissions: Option<Permissions>,
    ) -> Result<(), Status> {
        self.change(|data| data.set_permissions(id, permissions))
            .await
    }

    /// Changes the password of the user `id` names, if `current` is its
    /// password (checked for every caller, as Apache Iggy checks it).
    pub(crate) async fn change_password(
        &self,
        id: &WireIdentifier,
        current: SecretString,
        new: SecretString,
    ) -> Result<(), Status> {
        let expected = self
            .state
            .read()
            .find(id)
            .map(|u| u.password_hash.clone())
            .ok_or(Status::RESOURCE_NOT_FOUND)?;
        let checked = expected.clone();
        let new_hash = self
            .blocking(move || {
                if password::verify(current.expose_secret(), &checked) {
                    password::hash(new.expose_secret()).map(Some)
                } else {
                    Ok(None)
                }
            })
            .await?
            .map_err(|error| {
                tracing::warn!(%error, "cannot hash a password");
                Status::ERROR
            })?
            .ok_or(Status::INVALID_CREDENTIALS)?;
        self.change(|data| data.set_password(id, &expected, new_hash))
            .await
    }

    /// Creates a personal access token for `user`; returns the token, which
    /// is stored only as its hash. Expired tokens are dropped first: an
    /// expired token is gone, its name free again.
    pub(crate) async fn create_token(
        &self,
        user: Identity,
        name: &str,
        expiry: u64,
    ) -> Result<SecretString, Status> {
        let (token, hash) = tokens::mint().map_err(|error| {
            tracing::warn!(%error, "the OS random source failed");
            Status::ERROR
        })?;
        let max = self.max_tokens_per_user;
        self.change_cleaning(|data, now| {
            owner(data, user)?;
            data.add_token(user.id, name, expiry, hash, now, max)
        })
        .await?;
        Ok(SecretString::from(token))
    }

    /// Deletes one of `user`'s tokens by name.
    pub(crate) async fn delete_token(&self, user: Identity, name: &str) -> Result<(), Status> {
        self.change_cleaning(|data, _| {
            owner(data, user)?;
            data.delete_token(user.id, name)
        })
        .await
    }

    /// `user`'s live tokens, by name: (name, expiry in microseconds since
    /// the epoch, `None` for never).
    pub(crate) fn tokens(&self, user: Identity) -> Vec<(String, Option<u64>)> {
        let now = now_micros();
        let data = self.state.read();
        let mut list: Vec<(String, Option<u64>)> = data
            .by_id(user.id)
            .filter(|u| u.created_at == user.created_at)
            .map(|u| {
                u.tokens
                    .iter()
                    .filter(|t| !tokens::expired(t.expiry_at, now))
                    .map(|t| (t.name.clone(), t.expiry_at))
                    .collect()
            })
            .unwrap_or_default();
        list.sort();
        list
    }

    /// Applies a change that answers with an Iggy status; writes it only if
    /// it succeeded.
    async fn change<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut UsersData) -> Result<T, Status>,
    ) -> Result<T, Status> {
        self.state
            .change(|data| {
                let answer = change(data);
                let changed = answer.is_ok();
                (answer, changed)
            })
            .await
            .map_err(store_error)?
    }

    /// [`Self::change`], dropping expired tokens in the same write.
    async fn change_cleaning<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut UsersData, u64) -> Result<T, Status>,
    ) -> Result<T, Status> {
        self.state
            .change(|data| {
                let now = now_micros();
                let dropped = data.drop_expired_tokens(now);
                let answer = change(data, now);
                let changed = answer.is_ok() || dropped;
                (answer, changed)
            })
            .await
            .map_err(store_error)?
    }
}

/// The still-existing user a session logged in as (a deleted user's
/// session owns no tokens).
fn owner(data: &UsersData, who: Identity) -> Result<(), Status> {
    match data.by_id(who.id) {
        Some(user) if user.created_at == who.created_at => Ok(()),
        _ => Err(Status::RESOURCE_NOT_FOUND),
    }
}

#[cfg(test)]
mod tests {
    use rustok_iggy::config::Secret;

    use super::*;

    fn root() -> Credentials {
        Credentials::new("root", Secret::new("root-pass"))
    }

    fn named(name: &str) -> WireIdentifier {
        WireIdentifier::named(name).unwrap()
    }

    /// A change whose write fails is answered with an error and not made:
    /// nothing a client was told about is missing from the file.
    #[tokio::test(flavor = "current_thread")]
    async fn a_change_that_is_not_on_disk_is_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        let users = Users::open(Some(path.clone()), &root(), 10).unwrap();
        // A directory where the temp file should go: every write fails.
        std::fs::create_dir(path.with_extension("tmp")).unwrap();
        let create = users
            .create(
                "alice".into(),
                SecretString::from("alice-pass"),
                ACTIVE,
                None,
            )
            .await;
        assert_eq!(create.unwrap_err(), Status::ERROR);
        assert!(users.get(&named("alice")).is_none());
        let token = users.create_token(ROOT, "ci", 0).await;
        assert_eq!(token.unwrap_err(), Status::ERROR);
        assert!(users.tokens(ROOT).is_empty());

        std::fs::remove_dir(path.with_extension("tmp")).unwrap();
        let alice = users
            .create(
                "alice".into(),
                SecretString::from("alice-pass"),
                ACTIVE,
                None,
            )
            .await
            .unwrap();
        let reopened = Users::open(Some(path), &root(), 10).unwrap();
        assert_eq!(reopened.resolve(&named("alice")), Some(alice.id));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn logins_check_the_password_the_status_and_the_token() {
        let users = Users::open(None, &root(), 10).unwrap();
        let password = |p: &str| SecretString::from(p.to_owned());
        assert_eq!(users.login("root", &password("root-pass")).await, Ok(ROOT));
        for (user, pass) in [("root", "root-pas"), ("nobody", "root-pass"), ("ro", "x")] {
            assert_eq!(
                users.login(user, &password(pass)).await,
                Err(Status::INVALID_CREDENTIALS),
                "{user}/{pass}"
            );
        }
        let token = users.create_token(ROOT, "ci", 0).await.unwrap();
        assert_eq!(users.login_with_token(&token), Ok(ROOT));
        assert_eq!(
            users.login_with_token(&password("not a token")),
            Err(Status::INVALID_PERSONAL_ACCESS_TOKEN)
        );
        users
            .update(&named("root"), None, Some(store::INACTIVE))
            .await
            .unwrap();
        assert_eq!(
            users.login("root", &password("root-pass")).await,
            Err(Status::INVALID_CREDENTIALS)
        );
        assert_eq!(users.login_with_token(&token), Err(Status::UNAUTHENTICATED));
    }
}
