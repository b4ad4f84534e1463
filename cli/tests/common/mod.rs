//! Running the `rustok-iggy` binary as a subprocess, shared by the CLI's
//! integration tests.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

/// Runs the CLI with `--config config` and `args`: (exit code, stdout,
/// stderr). `RUST_LOG` is removed so the output is what a user sees.
pub fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback address nothing listens on (it was free a moment ago).
pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `path` as a TOML string (quoted and escaped).
pub fn toml_str(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// `text` as JSON, or a panic that shows it.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Runs the CLI with `args` in directory `cwd` with the extra environment
/// `env`: (exit code, stdout, stderr).
pub fn cli_in(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"));
    command.current_dir(cwd).args(args).env_remove("RUST_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file and directory under `dir`, relative, sorted: what a command
/// created shows as a difference.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `rustok-iggy serve` as a subprocess on a free loopback port, with its
/// data in `data`, the user `(username, password)` and the extra
/// environment `env`; killed if a test fails before stopping it.
pub struct Serve {
    child: Child,
    /// Where it listens (`host:port`).
    pub address: String,
}

impl Serve {
    pub fn start(data: &Path, (username, password): (&str, &str), env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rustok-iggy"));
        command
            .arg("serve")
            .env("IGGY_TCP_ADDRESS", "127.0.0.1:0")
            .env("IGGY_SYSTEM_PATH", data)
            .env("IGGY_ROOT_USERNAME", username)
            .env("IGGY_ROOT_PASSWORD", password)
            .env_remove("RUSTOK_IGGY_CONFIG")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let address = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, address }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit status (a graceful stop exits 0).
    pub fn stop(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
