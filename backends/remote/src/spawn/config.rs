//! `[plugins.remote.spawn]`: which server to start and how to supervise it.

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

use rustok_iggy::{config::Secret, Error, Result};
use serde::Deserialize;

/// Environment variables the backend sets on the child itself (the ones both
/// `iggy-server` and `rustok-iggy serve` read); `env` must not set them too,
/// or which value wins would depend on the order they are applied in.
pub(crate) const TCP_ADDRESS: &str = "IGGY_TCP_ADDRESS";
pub(crate) const SYSTEM_PATH: &str = "IGGY_SYSTEM_PATH";
pub(crate) const ROOT_USERNAME: &str = "IGGY_ROOT_USERNAME";
pub(crate) const ROOT_PASSWORD: &str = "IGGY_ROOT_PASSWORD";

const KEY: &str = "plugins.remote.spawn";

/// Managed mode, `[plugins.remote.spawn]`: the backend starts the Iggy
/// server itself, waits until it answers, restarts it when it dies (a
/// bounded number of times) and stops it on shutdown. See the crate's
/// `docs/managed-mode.md`.
///
/// Address, data directory and root credentials reach the child through
/// `IGGY_TCP_ADDRESS`, `IGGY_SYSTEM_PATH`, `IGGY_ROOT_USERNAME` and
/// `IGGY_ROOT_PASSWORD`, which `iggy-server` and `rustok-iggy serve` both
/// read; the password is never on the command line (visible in `ps`), and
/// never in `Debug` output (nor are `env` values).
///
/// ```
/// use rustok_iggy_remote::RemoteConfig;
///
/// let config: RemoteConfig = toml::from_str(r#"
///     url = "iggy+tcp://app:s3cret@127.0.0.1:8090"
///     [spawn]
///     executable = "rustok-iggy"
///     args = ["serve"]
///     data_dir = "/var/lib/app/iggy"
///     restart_max = 3
/// "#).unwrap();
/// let spawn = config.spawn.as_ref().unwrap();
/// assert_eq!(spawn.ready_timeout_ms, 30_000);
/// assert!(spawn.address.is_none(), "the URL's first address by default");
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpawnConfig {
    /// The server executable: a name looked up on `PATH`, or a path.
    /// Default `iggy-server`.
    pub executable: String,
    /// Its arguments (default none). Never put credentials here.
    pub args: Vec<String>,
    /// Extra environment variables of the child (it inherits this process's
    /// environment too). The four `IGGY_*` variables the backend sets are
    /// refused here: use `address`, `data_dir` and the root credentials.
    pub env: BTreeMap<String, String>,
    /// The server's data directory, created if missing and passed as
    /// `IGGY_SYSTEM_PATH`; absent: the server's own default.
    pub data_dir: Option<PathBuf>,
    /// The TCP address the server is told to bind (`IGGY_TCP_ADDRESS`); it
    /// must be one of the URL's addresses. Default: the URL's first.
    pub address: Option<String>,
    /// The root user the server is started with (`IGGY_ROOT_USERNAME`).
    /// Default: the user the backend logs in as.
    pub root_username: Option<String>,
    /// Its password (`IGGY_ROOT_PASSWORD`). Default: the backend's password.
    pub root_password: Option<Secret>,
    /// A file the running server's process id is written to (replaced at
    /// every restart, removed when the server stops for good); default none.
    pub pid_file: Option<PathBuf>,
    /// Longest wait for the first successful ping after a start, in ms
    /// (default 30000); then the child is killed and the start fails with
    /// `Timeout`.
    pub ready_timeout_ms: u64,
    /// How many restarts are allowed within `restart_window_ms` (default 5);
    /// one more death and the backend gives up (health `Unhealthy`,
    /// requests `Unavailable`). 0: never restart.
    pub restart_max: u32,
    /// The window `restart_max` counts restarts in, in ms (default 600000).
    pub restart_window_ms: u64,
    /// How long a stop waits after SIGTERM before SIGKILL, in ms (default
    /// 10000).
    pub stop_timeout_ms: u64,
}

impl Default for SpawnConfig {
    fn default() -> Self {
        Self {
            executable: "iggy-server".to_owned(),
            args: Vec::new(),
            env: BTreeMap::new(),
            data_dir: None,
            address: None,
            root_username: None,
            root_password: None,
            pid_file: None,
            ready_timeout_ms: 30_000,
            restart_max: 5,
            restart_window_ms: 600_000,
            stop_timeout_ms: 10_000,
        }
    }
}

impl fmt::Debug for SpawnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `env` may hold secrets of the server's own: keys only.
        f.debug_struct("SpawnConfig")
            .field("executable", &self.executable)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("data_dir", &self.data_dir)
            .field("address", &self.address)
            .field("root_username", &self.root_username)
            .field("root_password", &self.root_password)
            .field("pid_file", &self.pid_file)
            .field("ready_timeout_ms", &self.ready_timeout_ms)
            .field("restart_max", &self.restart_max)
            .field("restart_window_ms", &self.restart_window_ms)
            .field("stop_timeout_ms", &self.stop_timeout_ms)
            .finish()
    }
}

/// A checked [`SpawnConfig`] with its defaults resolved against the
/// connection settings.
#[derive(Clone)]
pub(crate) struct Plan {
    pub executable: String,
    pub args: Vec<String>,
    /// Every variable set on the child, the backend's own included.
    pub env: Vec<(String, Secret)>,
    pub data_dir: Option<PathBuf>,
    pub address: String,
    pub pid_file: Option<PathBuf>,
    pub ready_timeout: Duration,
    pub restart_max: u32,
    pub restart_window: Duration,
    pub stop_timeout: Duration,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("executable", &self.executable)
            .field("args", &self.args)
            .field("address", &self.address)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl SpawnConfig {
    /// Checks the section and resolves its defaults: `addresses` are the
    /// URL's, `username`/`password` the credentials the backend logs in with.
    pub(crate) fn plan(
        &self,
        addresses: &[String],
        username: &str,
        password: &Secret,
    ) -> Result<Plan> {
        if self.executable.trim().is_empty() {
            return Err(Error::config(
                format!("{KEY}.executable"),
                "must not be empty",
            ));
        }
        for (key, value) in [
            ("ready_timeout_ms", self.ready_timeout_ms),
            ("restart_window_ms", self.restart_window_ms),
            ("stop_timeout_ms", self.stop_timeout_ms),
        ] {
            if value == 0 {
                return Err(Error::config(format!("{KEY}.{key}"), "must be above 0"));
            }
        }
        let address = match &self.address {
            Some(address) if addresses.contains(address) => address.clone(),
            Some(address) => {
                return Err(Error::config(
                    format!("{KEY}.address"),
                    format!(
                        "`{address}` is not one of the URL's addresses ({}): the backend would never connect to the server it starts",
                        addresses.join(", ")
                    ),
                ))
            }
            None => addresses
                .first()
                .cloned()
                .ok_or_else(|| Error::config("plugins.remote.url", "no address"))?,
        };
        let mut own = vec![TCP_ADDRESS, ROOT_USERNAME, ROOT_PASSWORD];
        if self.data_dir.is_some() {
            own.push(SYSTEM_PATH);
        }
        if let Some(clash) = own.iter().find(|name| self.env.contains_key(**name)) {
            return Err(Error::config(
                format!("{KEY}.env.{clash}"),
                "the backend sets this variable itself; use `address`, `data_dir`, `root_username` or `root_password`",
            ));
        }
        let mut env: Vec<(String, Secret)> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
            .collect();
        env.push((TCP_ADDRESS.to_owned(), Secret::new(address.clone())));
        env.push((
            ROOT_USERNAME.to_owned(),
            Secret::new(self.root_username.as_deref().unwrap_or(username)),
        ));
        env.push((
            ROOT_PASSWORD.to_owned(),
            self.root_password
                .clone()
                .unwrap_or_else(|| password.clone()),
        ));
        if let Some(dir) = &self.data_dir {
            env.push((
                SYSTEM_PATH.to_owned(),
                Secret::new(dir.display().to_string()),
            ));
        }
        Ok(Plan {
            executable: self.executable.clone(),
            args: self.args.clone(),
            env,
            data_dir: self.data_dir.clone(),
            address,
            pid_file: self.pid_file.clone(),
            ready_timeout: Duration::from_millis(self.ready_timeout_ms),
            restart_max: self.restart_max,
            restart_window: Duration::from_millis(self.restart_window_ms),
            stop_timeout: Duration::from_millis(self.stop_timeout_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses() -> Vec<String> {
        vec!["127.0.0.1:8090".to_owned(), "10.0.0.2:8090".to_owned()]
    }

    fn parse(text: &str) -> SpawnConfig {
        toml::from_str(text).unwrap()
    }

    fn value<'a>(plan: &'a Plan, name: &str) -> Option<&'a str> {
        plan.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.expose())
    }

    #[test]
    fn defaults_come_from_the_connection() {
        let plan = parse("")
            .plan(&addresses(), "app", &Secret::new("pw"))
            .unwrap();
        assert_eq!(plan.executable, "iggy-server");
        assert_eq!(plan.address, "127.0.0.1:8090");
        assert_eq!(value(&plan, TCP_ADDRESS), Some("127.0.0.1:8090"));
        assert_eq!(value(&plan, ROOT_USERNAME), Some("app"));
        assert_eq!(value(&plan, ROOT_PASSWORD), Some("pw"));
        assert_eq!(value(&plan, SYSTEM_PATH), None);
        assert_eq!(plan.ready_timeout, Duration::from_secs(30));
    }

    #[test]
    fn explicit_keys_win_and_reach_the_environment() {
        let plan = parse(
            r#"
            address = "10.0.0.2:8090"
            data_dir = "/data"
            root_username = "root"
            root_password = "rootpw"
            env = { IGGY_HTTP_ENABLED = "false" }
            "#,
        )
        .plan(&addresses(), "app", &Secret::new("pw"))
        .unwrap();
        assert_eq!(value(&plan, TCP_ADDRESS), Some("10.0.0.2:8090"));
        assert_eq!(value(&plan, SYSTEM_PATH), Some("/data"));
        assert_eq!(value(&plan, ROOT_USERNAME), Some("root"));
        assert_eq!(value(&plan, ROOT_PASSWORD), Some("rootpw"));
        assert_eq!(value(&plan, "IGGY_HTTP_ENABLED"), Some("false"));
    }

    #[test]
    fn bad_values_are_config_errors_naming_the_key() {
        let err = parse("address = \"127.0.0.1:9999\"")
            .plan(&addresses(), "app", &Secret::new("pw"))
            .unwrap_err();
        assert_eq!(err.context("key"), Some("plugins.remote.spawn.address"));
        let err = parse("env = { IGGY_ROOT_PASSWORD = \"x\" }")
            .plan(&addresses(), "app", &Secret::new("pw"))
            .unwrap_err();
        assert_eq!(
            err.context("key"),
            Some("plugins.remote.spawn.env.IGGY_ROOT_PASSWORD")
        );
        // Without `data_dir` the data path may come from `env`.
        assert!(parse("env = { IGGY_SYSTEM_PATH = \"/d\" }")
            .plan(&addresses(), "app", &Secret::new("pw"))
            .is_ok());
        let err = parse("data_dir = \"/d\"\nenv = { IGGY_SYSTEM_PATH = \"/d\" }")
            .plan(&addresses(), "app", &Secret::new("pw"))
            .unwrap_err();
        assert_eq!(
            err.context("key"),
            Some("plugins.remote.spawn.env.IGGY_SYSTEM_PATH")
        );
        let err = parse("ready_timeout_ms = 0")
            .plan(&addresses(), "app", &Secret::new("pw"))
            .unwrap_err();
        assert!(err.to_string().contains("above 0"), "{err}");
        let err = parse("executable = \" \"")
            .plan(&addresses(), "app", &Secret::new("pw"))
            .unwrap_err();
        assert_eq!(err.context("key"), Some("plugins.remote.spawn.executable"));
        assert!(toml::from_str::<SpawnConfig>("exectuable = \"x\"").is_err());
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let config = parse("root_password = \"hunter2\"\nenv = { TOKEN = \"correct-horse\" }");
        let plan = config
            .plan(&addresses(), "app", &Secret::new("pw"))
            .unwrap();
        let shown = format!("{config:?} {plan:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("correct-horse"),
            "{shown}"
        );
        assert!(shown.contains("TOKEN"), "{shown}");
    }
}
