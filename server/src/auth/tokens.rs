//! Personal access tokens: minted from the OS's random source, handed to
//! their owner once, and stored only as a hash.
//!
//! A token is 50 random bytes as standard, padded base64, as Apache Iggy
//! mints them. (URL-safe base64 would spare the escaping of `+`, `/` and
//! `=` in a connection string, but a token starting with `-` is then read
//! as a flag by command lines such as the official CLI's `--token`.)
//! The stored hash is BLAKE3's hex digest, Apache Iggy's token hash: a
//! token carries 400 bits of entropy, so a fast hash is as good as a slow
//! one against guessing, and a login can find its token by hash directly.

use base64::{engine::general_purpose::STANDARD, Engine};

/// Random bytes per token.
const TOKEN_BYTES: usize = 50;

/// `expiry` on the wire: never expires.
pub(crate) const NEVER_EXPIRE: u64 = u64::MAX;
/// `expiry` on the wire: the server's default, which is never, as in
/// Apache Iggy.
pub(crate) const SERVER_DEFAULT: u64 = 0;

/// A new token and its hash. Fails only if the OS's random source does.
pub(crate) fn mint() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    let token = STANDARD.encode(bytes);
    let hash = hash(&token);
    Ok((token, hash))
}

/// The stored form of `token`.
pub(crate) fn hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// When a token created at `now` (microseconds since the epoch) with the
/// wire `expiry` (a duration in microseconds, or one of the two special
/// values) expires: `Ok(None)` for never, `Err(())` when that moment is not
/// after `now` or not representable (Apache Iggy's "invalid expiry").
pub(crate) fn expiry_at(now: u64, expiry: u64) -> Result<Option<u64>, ()> {
    match expiry {
        NEVER_EXPIRE | SERVER_DEFAULT => Ok(None),
        duration => match now.checked_add(duration) {
            Some(at) if at > now => Ok(Some(at)),
            _ => Err(()),
        },
    }
}

/// Whether a token expiring at `expiry_at` is expired at `now`.
pub(crate) fn expired(expiry_at: Option<u64>, now: u64) -> bool {
    expiry_at.is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_standard_base64_and_hashed() {
        let (a, hash_a) = mint().unwrap();
        let (b, _) = mint().unwrap();
        assert_ne!(a, b);
        assert_eq!(STANDARD.decode(&a).unwrap().len(), TOKEN_BYTES);
        // Never read as a flag by a command line.
        for _ in 0..200 {
            assert!(!mint().unwrap().0.starts_with('-'));
        }
        assert_eq!(hash_a, hash(&a));
        assert_eq!(hash_a.len(), 64);
        assert!(!hash_a.contains(&a));
    }

    #[test]
    fn expiry_follows_apache_iggy() {
        assert_eq!(expiry_at(1_000, NEVER_EXPIRE), Ok(None));
        assert_eq!(expiry_at(1_000, SERVER_DEFAULT), Ok(None));
        assert_eq!(expiry_at(1_000, 5), Ok(Some(1_005)));
        assert_eq!(expiry_at(1_000, u64::MAX - 1), Err(()));
        assert!(!expired(None, u64::MAX));
        assert!(!expired(Some(1_005), 1_004));
        assert!(expired(Some(1_005), 1_005));
    }
}
