//! [`Secret`]: a password or token read from a config, never shown.

use std::fmt;

use secrecy::{zeroize::Zeroize, ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret string (password, token): `Debug` and `Display` print `***`,
/// `Serialize` writes `***`, and the text is zeroed when the last copy is
/// dropped (it is a [`secrecy::SecretString`] inside).
///
/// ```
/// use rustok_iggy::config::Secret;
///
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "*** ***");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, Default)]
pub struct Secret(SecretString);

impl<'de> Deserialize<'de> for Secret {
    /// Accepts a string, or a number or boolean taken as the text it is
    /// written as: an environment override of a numeric password
    /// (`RUSTOK_IGGY__PLUGINS__REMOTE__PASSWORD=123456`) arrives as an
    /// integer, and its decimal form is exactly what was set (overrides are
    /// typed only when the value is the canonical form of its type). Never
    /// echoes the value in an error.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (value not shown)")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Secret, E> {
                Ok(Secret::copied(v))
            }

            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<Secret, E> {
                Ok(Secret::new(v))
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }

            fn visit_char<E: serde::de::Error>(self, v: char) -> std::result::Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }
        }

        deserializer.deserialize_string(Visitor)
    }
}

impl Secret {
    /// Wraps a secret. The string handed over is copied into the secret's own
    /// allocation and then zeroed.
    pub fn new(secret: impl Into<String>) -> Self {
        let mut secret = secret.into();
        let wrapped = Self::copied(&secret);
        secret.zeroize();
        wrapped
    }

    /// The secret itself; call only where it is used (a login), never to log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    /// A secret holding a copy of `secret`, in an allocation of exactly its
    /// length (so `SecretString` never reallocates and leaves a copy behind).
    fn copied(secret: &str) -> Self {
        Self(SecretString::from(secret))
    }
}

impl PartialEq for Secret {
    /// Compares the texts. Not constant-time: a check of credentials a
    /// client sent uses `subtle` (as the server does), not `==`.
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    /// Serializes as `***`, so dumping a config never leaks it.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::config::PluginConfig;

    #[test]
    fn a_secret_is_text_and_errors_never_show_it() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct WithSecret {
            password: Secret,
        }
        for (value, text) in [
            ("\"s3cret\"", "s3cret"),
            ("73914562", "73914562"),
            ("7391.4562", "7391.4562"),
            ("true", "true"),
        ] {
            let table: toml::Table = toml::from_str(&format!("password = {value}")).unwrap();
            let ok: WithSecret = PluginConfig::new("plugins.x", table).parse().unwrap();
            assert_eq!(ok.password.expose(), text);
        }
        for value in ["[\"73914562\"]", "{ a = \"73914562\" }"] {
            let table: toml::Table = toml::from_str(&format!("password = {value}")).unwrap();
            let err = PluginConfig::new("plugins.x", table)
                .parse::<WithSecret>()
                .unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("7391"), "{shown}");
            assert!(shown.contains("value not shown"), "{shown}");
            assert_eq!(err.context("key"), Some("plugins.x.password"));
        }
    }

    #[test]
    fn a_secret_compares_by_text_and_serializes_as_stars() {
        let s = Secret::new(String::from("hunter2"));
        assert_eq!(s.clone(), Secret::new("hunter2"));
        assert_ne!(s, Secret::new("hunter3"));
        assert!(Secret::default().is_empty());
        assert!(!s.is_empty());
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(format!("{s:?} {s} {:?}", Some(&s)), "*** *** Some(***)");
    }
}
