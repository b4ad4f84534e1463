//! Password hashing: Argon2id with a random salt, kept as a PHC string —
//! what Apache Iggy stores, so the cost of guessing a password from a
//! stolen users file is the same.
//!
//! Hashing and verifying cost tens of milliseconds of CPU on purpose: call
//! them on the blocking pool, never on an async worker.

use std::sync::LazyLock;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

/// Verified against when a login names no known user, so that such a
/// login costs what a wrong password costs and answers alike: the reply's
/// timing does not tell which usernames exist.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash("no such user: timing guard").ok());

/// The PHC string of `password` with a fresh random salt. Fails only if
/// the operating system's random source does.
pub(crate) fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
}

/// Whether `password` matches the PHC string `hash` (a malformed hash
/// matches nothing).
pub(crate) fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Spends what [`verify`] spends, for a login naming no known user.
pub(crate) fn verify_nothing(password: &str) {
    if let Some(hash) = DUMMY_HASH.as_deref() {
        let _ = verify(password, hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify_only_their_password() {
        let a = hash("s3cret").unwrap();
        let b = hash("s3cret").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(!a.contains("s3cret"));
        assert!(verify("s3cret", &a) && verify("s3cret", &b));
        assert!(!verify("s3cre", &a));
        assert!(!verify("s3cret", "not a hash"));
    }
}
