//! The users and their tokens as stored (the users file's contents), and
//! the changes Apache Iggy allows on them, as pure functions: what is
//! hashed or written is the caller's business ([`super::Users`]).

use std::fmt;

use iggy_binary_protocol::WireIdentifier;
use serde::{Deserialize, Serialize};

use super::{permissions::Permissions, tokens};
use crate::error::Status;

/// Username lengths Apache Iggy accepts, in bytes.
pub(crate) const USERNAME_LENGTH: std::ops::RangeInclusive<usize> = 3..=50;
/// The root user's id: created at the first start, never deleted, its
/// permissions never changed.
pub(crate) const ROOT_USER_ID: u32 = 0;
/// Iggy's user status codes.
pub(crate) const ACTIVE: u8 = 1;
pub(crate) const INACTIVE: u8 = 2;

/// Every user, by ascending id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct UsersData {
    pub(crate) users: Vec<User>,
}

/// One user. Its password and token hashes never show in `Debug`.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct User {
    pub(crate) id: u32,
    pub(crate) username: String,
    /// Argon2id PHC string.
    pub(crate) password_hash: String,
    /// [`ACTIVE`] or [`INACTIVE`].
    pub(crate) status: u8,
    /// Microseconds since the Unix epoch. With the id it tells this user
    /// from a later one given the same id (ids are reused, as Apache Iggy
    /// reuses them).
    pub(crate) created_at: u64,
    pub(crate) permissions: Option<Permissions>,
    #[serde(default)]
    pub(crate) tokens: Vec<Token>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("permissions", &self.permissions)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// A personal access token: its name, its hash, when it expires.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Token {
    pub(crate) name: String,
    /// BLAKE3 hex digest of the token.
    pub(crate) hash: String,
    /// Microseconds since the Unix epoch; `None`: never.
    pub(crate) expiry_at: Option<u64>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("hash", &"<redacted>")
            .field("expiry_at", &self.expiry_at)
            .finish()
    }
}

/// A new user, its password already hashed.
pub(crate) struct NewUser {
    pub(crate) username: String,
    pub(crate) password_hash: String,
    pub(crate) status: u8,
    pub(crate) permissions: Option<Permissions>,
}

impl UsersData {
    /// The user `id` names (by numeric id or by username).
    pub(crate) fn find(&self, id: &WireIdentifier) -> Option<&User> {
        self.users.iter().find(|u| match id {
            WireIdentifier::Numeric(n) => u.id == *n,
            WireIdentifier::String(name) => u.username == name.as_str(),
        })
    }

    fn find_mut(&mut self, id: &WireIdentifier) -> Result<&mut User, Status> {
        self.users
            .iter_mut()
            .find(|u| match id {
                WireIdentifier::Numeric(n) => u.id == *n,
                WireIdentifier::String(name) => u.username == name.as_str(),
            })
            .ok_or(Status::RESOURCE_NOT_FOUND)
    }

    pub(crate) fn by_id(&self, id: u32) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn by_id_mut(&mut self, id: u32) -> Result<&mut User, Status> {
        self.users
            .iter_mut()
            .find(|u| u.id == id)
            .ok_or(Status::RESOURCE_NOT_FOUND)
    }

    pub(crate) fn by_username(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    /// Adds a user under the lowest free id (Apache Iggy's id slab).
    pub(crate) fn create(&mut self, new: NewUser, now: u64) -> Result<User, Status> {
        if !USERNAME_LENGTH.contains(&new.username.len()) {
            return Err(Status::INVALID_USERNAME);
        }
        if self.by_username(&new.username).is_some() {
            return Err(Status::USER_ALREADY_EXISTS);
        }
        let id = (0..=u32::MAX)
            .zip(
                self.users
                    .iter()
                    .map(|u| u.id)
                    .chain(std::iter::once(u32::MAX)),
            )
            .find(|(free, taken)| free != taken)
            .map_or(u32::MAX, |(free, _)| free);
        let user = User {
            id,
            username: new.username,
            password_hash: new.password_hash,
            // An unknown code is taken as active, as Apache Iggy takes it.
            status: if new.status == INACTIVE {
                INACTIVE
            } else {
                ACTIVE
            },
            created_at: now,
            permissions: new.permissions,
            tokens: Vec::new(),
        };
        let at = self.users.partition_point(|u| u.id < id);
        self.users.insert(at, user.clone());
        Ok(user)
    }

    /// Renames and/or (de)activates a user. An unknown status code changes
    /// nothing, as in Apache Iggy; so does renaming a user to its own name.
    pub(crate) fn update(
        &mut self,
        id: &WireIdentifier,
        username: Option<&str>,
        status: Option<u8>,
    ) -> Result<(), Status> {
        let target = self.find_mut(id)?.id;
        if let Some(name) = username {
            if !USERNAME_LENGTH.contains(&name.len()) {
                return Err(Status::INVALID_USERNAME);
            }
            if self.by_username(name).is_some_and(|u| u.id != target) {
                return Err(Status::USER_ALREADY_EXISTS);
            }
        }
        let user = self.by_id_mut(target)?;
        if let Some(name) = username {
            name.clone_into(&mut user.username);
        }
        if let Some(status @ (ACTIVE | INACTIVE)) = status {
            user.status = status;
        }
        Ok(())
    }

    /// Deletes a user and its tokens; never the root user.
    pub(crate) fn delete(&mut self, id: &WireIdentifier) -> Result<(), Status> {
        let target = self.find_mut(id)?.id;
        if target == ROOT_USER_ID {
            return Err(Status::CANNOT_DELETE_USER);
        }
        self.users.retain(|u| u.id != target);
        Ok(())
    }

    /// Replaces a user's permissions; never the root user's.
    pub(crate) fn set_permissions(
        &mut self,
        id: &WireIdentifier,
        permissions: Option<Permissions>,
    ) -> Result<(), Status> {
        let user = self.find_mut(id)?;
        if user.id == ROOT_USER_ID {
            return Err(Status::CANNOT_CHANGE_PERMISSIONS);
        }
        user.permissions = permissions;
        Ok(())
    }

    /// Replaces the password hash of the user `id` names, if that user's
    /// hash is still `expected` (what the current password was verified
    /// against): a password changed meanwhile makes the check stale, and
    /// the request is refused as a wrong current password.
    pub(crate) fn set_password(
        &mut self,
        id: &WireIdentifier,
        expected: &str,
        new_hash: String,
    ) -> Result<(), Status> {
        let user = self.find_mut(id)?;
        if user.password_hash != expected {
            return Err(Status::INVALID_CREDENTIALS);
        }
        user.password_hash = new_hash;
        Ok(())
    }

    /// Adds a token to a user: at most `max` per user (checked first, as
    /// Apache Iggy checks it), names unique per user.
    pub(crate) fn add_token(
        &mut self,
        user: u32,
        name: &str,
        expiry: u64,
        hash: String,
        now: u64,
        max: u32,
    ) -> Result<(), Status> {
        let owner = self.by_id_mut(user)?;
        if owner.tokens.len() >= max as usize {
            return Err(Status::PERSONAL_ACCESS_TOKENS_LIMIT_REACHED);
        }
        if owner.tokens.iter().any(|t| t.name == name) {
            return Err(Status::PERSONAL_ACCESS_TOKEN_ALREADY_EXISTS);
        }
        let expiry_at = tokens::expiry_at(now, expiry)
            .map_err(|()| Status::INVALID_PERSONAL_ACCESS_TOKEN_EXPIRY)?;
        owner.tokens.push(Token {
            name: name.to_owned(),
            hash,
            expiry_at,
        });
        Ok(())
    }

    /// Deletes a user's token by name.
    pub(crate) fn delete_token(&mut self, user: u32, name: &str) -> Result<(), Status> {
        let owner = self.by_id_mut(user)?;
        let before = owner.tokens.len();
        owner.tokens.retain(|t| t.name != name);
        if owner.tokens.len() == before {
            return Err(Status::RESOURCE_NOT_FOUND);
        }
        Ok(())
    }

    /// Drops every expired token; whether any was dropped.
    pub(crate) fn drop_expired_tokens(&mut self, now: u64) -> bool {
        let mut dropped = false;
        for user in &mut self.users {
            let before = user.tokens.len();
            user.tokens.retain(|t| !tokens::expired(t.expiry_at, now));
            dropped |= user.tokens.len() != before;
        }
        dropped
    }

    /// The user a token belongs to, and the token, by the token's hash.
    pub(crate) fn token_owner(&self, hash: &str) -> Option<(&User, &Token)> {
        self.users
            .iter()
            .find_map(|u| u.tokens.iter().find(|t| t.hash == hash).map(|t| (u, t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> WireIdentifier {
        WireIdentifier::named(s).unwrap()
    }

    fn new_user(username: &str) -> NewUser {
        NewUser {
            username: username.to_owned(),
            password_hash: format!("hash of {username}"),
            status: ACTIVE,
            permissions: None,
        }
    }

    fn with_root() -> UsersData {
        let mut data = UsersData::default();
        data.create(new_user("root"), 1).unwrap();
        data
    }

    #[test]
    fn ids_are_the_lowest_free_ones_and_names_unique() {
        let mut data = with_root();
        assert_eq!(data.create(new_user("alice"), 2).unwrap().id, 1);
        assert_eq!(data.create(new_user("bob"), 3).unwrap().id, 2);
        assert_eq!(
            data.create(new_user("alice"), 4).unwrap_err(),
            Status::USER_ALREADY_EXISTS
        );
        assert_eq!(
            data.create(new_user("ab"), 4).unwrap_err(),
            Status::INVALID_USERNAME
        );
        data.delete(&name("alice")).unwrap();
        let carol = data.create(new_user("carol"), 5).unwrap();
        assert_eq!(carol.id, 1, "Apache Iggy reuses the lowest free id");
        let ids: Vec<u32> = data.users.iter().map(|u| u.id).collect();
        assert_eq!(ids, [0, 1, 2]);
    }

    #[test]
    fn the_root_user_is_not_deleted_nor_its_permissions_changed() {
        let mut data = with_root();
        let root = WireIdentifier::numeric(ROOT_USER_ID);
        assert_eq!(data.delete(&root).unwrap_err(), Status::CANNOT_DELETE_USER);
        assert_eq!(
            data.set_permissions(&root, None).unwrap_err(),
            Status::CANNOT_CHANGE_PERMISSIONS
        );
        // Renaming and deactivating it is allowed, as in Apache Iggy.
        data.update(&root, Some("admin"), Some(INACTIVE)).unwrap();
        assert_eq!(data.by_id(0).unwrap().username, "admin");
        assert_eq!(
            data.delete(&WireIdentifier::numeric(9)).unwrap_err(),
            Status::RESOURCE_NOT_FOUND
        );
    }

    #[test]
    fn updates_check_names_and_ignore_unknown_statuses() {
        let mut data = with_root();
        data.create(new_user("alice"), 2).unwrap();
        let alice = name("alice");
        assert_eq!(
            data.update(&alice, Some("root"), None).unwrap_err(),
            Status::USER_ALREADY_EXISTS
        );
        assert_eq!(
            data.update(&alice, Some(&"x".repeat(51)), None)
                .unwrap_err(),
            Status::INVALID_USERNAME
        );
        data.update(&alice, Some("alice"), Some(9)).unwrap();
        assert_eq!(data.by_id(1).unwrap().status, ACTIVE);
        assert_eq!(
            data.update(&name("nobody"), None, None).unwrap_err(),
            Status::RESOURCE_NOT_FOUND
        );
    }

    #[test]
    fn tokens_are_limited_unique_and_deleted_by_name() {
        let mut data = with_root();
        data.add_token(0, "a", 0, "h1".into(), 10, 2).unwrap();
        assert_eq!(
            data.add_token(0, "a", 0, "h2".into(), 10, 2).unwrap_err(),
            Status::PERSONAL_ACCESS_TOKEN_ALREADY_EXISTS
        );
        assert_eq!(
            data.add_token(0, "b", u64::MAX - 5, "h2".into(), 10, 2)
                .unwrap_err(),
            Status::INVALID_PERSONAL_ACCESS_TOKEN_EXPIRY
        );
        data.add_token(0, "b", 5, "h2".into(), 10, 2).unwrap();
        // At the limit the limit is reported, even for a taken name.
        assert_eq!(
            data.add_token(0, "a", 0, "h3".into(), 10, 2).unwrap_err(),
            Status::PERSONAL_ACCESS_TOKENS_LIMIT_REACHED
        );
        assert_eq!(data.token_owner("h2").unwrap().1.expiry_at, Some(15));
        assert!(!data.drop_expired_tokens(14));
        assert!(data.drop_expired_tokens(15));
        assert!(data.token_owner("h2").is_none());
        data.delete_token(0, "a").unwrap();
        assert_eq!(
            data.delete_token(0, "a").unwrap_err(),
            Status::RESOURCE_NOT_FOUND
        );
    }

    #[test]
    fn hashes_never_show_in_debug() {
        let mut data = with_root();
        data.add_token(0, "t", 0, "tokenhash".into(), 1, 1).unwrap();
        let shown = format!("{data:?}");
        assert!(!shown.contains("hash of root"), "{shown}");
        assert!(!shown.contains("tokenhash"), "{shown}");
    }
}
