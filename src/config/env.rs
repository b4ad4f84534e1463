//! `RUSTOK_IGGY__SECTION__KEY` environment overrides, applied to the parsed
//! TOML table before it is deserialized.

use crate::{Error, Result};

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "RUSTOK_IGGY__";

/// Applies the `vars` (name, value) pairs whose name starts with
/// [`ENV_PREFIX`] to `table`, in name order; other names are ignored.
pub(super) fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<()> {
    let mut overrides: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    overrides.sort();
    for (name, value) in overrides {
        apply_override(table, &name, &value)?;
    }
    Ok(())
}

/// Sets the key that variable `name` (starting with [`ENV_PREFIX`]) names to
/// `raw`, creating the sections on its way.
fn apply_override(table: &mut toml::Table, name: &str, raw: &str) -> Result<()> {
    let path: Vec<String> = name
        .strip_prefix(ENV_PREFIX)
        .unwrap_or(name)
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if path.iter().any(String::is_empty) {
        return Err(Error::config(
            name,
            "environment override has an empty key segment",
        ));
    }
    let (last, parents) = path
        .split_last()
        .ok_or_else(|| Error::config(name, "environment override names no key"))?;
    let mut current = table;
    for (depth, segment) in parents.iter().enumerate() {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| {
            Error::config(
                name,
                format!("`{}` is a value, not a section", path[..=depth].join(".")),
            )
        })?;
    }
    current.insert(last.clone(), env_value(raw));
    Ok(())
}

/// The TOML value of an environment override. A value is typed only when it
/// is the canonical text of its type (`16`, `0.5`, `true`), so that its text
/// can always be recovered exactly: `007` or `1e3` stay strings, and a
/// [`Secret`](super::Secret) given as `123456` reads back as `"123456"`.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        if i.to_string() == raw {
            return toml::Value::Integer(i);
        }
    }
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(f) = raw.parse::<f64>() {
        if f.is_finite() && f.to_string() == raw {
            return toml::Value::Float(f);
        }
    }
    if raw.starts_with('[') {
        if let Ok(mut t) = toml::from_str::<toml::Table>(&format!("v = {raw}")) {
            if let Some(v) = t.remove("v") {
                return v;
            }
        }
    }
    toml::Value::String(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::config::{Secret, TransportConfig};

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_overrides_nested_keys_with_types() {
        let c = TransportConfig::from_toml_and_env(
            "backend = \"memory\"\n[plugins.embedded]\nfsync = \"always\"\n",
            env(&[
                ("RUSTOK_IGGY__ROUTING__PARTITIONS", "16"),
                ("RUSTOK_IGGY__CODEC", "postcard"),
                ("RUSTOK_IGGY__CONSUMER__RETRY__JITTER", "0.5"),
                ("RUSTOK_IGGY__PLUGINS__EMBEDDED__DATA_DIR", "/var/lib/app"),
                ("OTHER__BACKEND", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(c.routing.partitions, 16);
        assert_eq!(c.codec, "postcard");
        assert_eq!(c.consumer.retry.jitter, 0.5);
        let section = c.plugin("embedded");
        #[derive(Deserialize)]
        struct Embedded {
            data_dir: String,
            fsync: String,
        }
        let e: Embedded = section.parse().unwrap();
        assert_eq!(
            (e.data_dir.as_str(), e.fsync.as_str()),
            ("/var/lib/app", "always")
        );
    }

    #[test]
    fn env_overrides_keep_the_exact_text_of_secrets_and_non_canonical_numbers() {
        #[derive(Deserialize)]
        struct Vault {
            token: Secret,
            pin: Secret,
            flag: Secret,
            label: String,
        }
        let c = TransportConfig::from_toml_and_env(
            "",
            env(&[
                ("RUSTOK_IGGY__PLUGINS__VAULT__TOKEN", "123456"),
                ("RUSTOK_IGGY__PLUGINS__VAULT__PIN", "007"),
                ("RUSTOK_IGGY__PLUGINS__VAULT__FLAG", "true"),
                ("RUSTOK_IGGY__PLUGINS__VAULT__LABEL", "1e3"),
            ]),
        )
        .unwrap();
        let v: Vault = c.plugin("vault").parse().unwrap();
        assert_eq!(v.token.expose(), "123456");
        assert_eq!(v.pin.expose(), "007");
        assert_eq!(v.flag.expose(), "true");
        assert_eq!(v.label, "1e3");
        assert_eq!(env_value("16"), toml::Value::Integer(16));
        assert_eq!(env_value("0.5"), toml::Value::Float(0.5));
        assert_eq!(env_value("+5"), toml::Value::String("+5".to_owned()));
    }
}
