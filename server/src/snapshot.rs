//! `GetSnapshotFile` (`iggy snapshot`): a zip of the server's diagnostics,
//! one `<type>.txt` entry per requested section, named as Apache Iggy names
//! them.
//!
//! What each section holds here, and how it differs from Apache Iggy (which
//! shells out to `ls`, `ps` and `top`; this server reads the same facts
//! itself, so a snapshot needs no tools on the host):
//!
//! - `filesystem_overview`: the data directory's tree, each file's size and
//!   modification time (Apache Iggy lists `/tmp` and `/proc`; the data
//!   directory is what an operator of this server needs).
//! - `process_list`: every process the OS shows: pid, parent, state, name,
//!   memory, CPU, run time. Not their command lines, which may carry
//!   secrets (`ps aux` shows them).
//! - `resource_usage`: the figures of `GetStats` for this process and host.
//! - `test`: `test`.
//! - `server_logs`: this server logs to standard error, not to files: the
//!   entry says so (Apache Iggy copies its log directory).
//! - `server_config`: the server's settings and the application's
//!   configuration as [`ServerBuilder::snapshot_config`] gave it (already
//!   redacted by the caller: secrets show as `***`).
//!
//! Compression `stored` and `deflated` are served (`deflated` is the CLI's
//! default); `bzip2`, `zstd`, `lzma` and `xz`, which Apache Iggy also writes,
//! are refused with `FeatureUnavailable` rather than pull four more codecs
//! into the server. One snapshot is collected at a time; a second request
//! meanwhile gets `SnapshotFileCompletionFailed`, as on Apache Iggy.
//!
//! [`ServerBuilder::snapshot_config`]: crate::ServerBuilder::snapshot_config

use std::{
    fmt::Write as _,
    io::{Cursor, Write as _},
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use iggy_binary_protocol::{requests::system::GetSnapshotRequest, WireDecode};
use sysinfo::{ProcessesToUpdate, System};
use zip::{write::SimpleFileOptions, CompressionMethod, ZipWriter};

use crate::{error::Status, host::HostFigures};

/// Iggy's codes for the sections, in the order `all` expands to.
const SECTIONS: [(u8, &str); 6] = [
    (1, "filesystem_overview"),
    (2, "process_list"),
    (3, "resource_usage"),
    (4, "test"),
    (5, "server_logs"),
    (6, "server_config"),
];
const ALL: u8 = 100;
const STORED: u8 = 1;
const DEFLATED: u8 = 2;
/// The codes Apache Iggy knows but this server does not write.
const OTHER_COMPRESSIONS: std::ops::RangeInclusive<u8> = 3..=6;

/// What a snapshot is collected from, and the one-at-a-time latch.
#[derive(Debug)]
pub(crate) struct Snapshots {
    running: AtomicBool,
    data_dir: Option<PathBuf>,
    config: String,
}

/// Releases the latch when a collection ends, however it ends.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A decoded request: the compression and the sections, `all` expanded.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: CompressionMethod,
    sections: Vec<&'static str>,
}

/// Apache Iggy's checks: unknown codes are `InvalidCommand`, and `all` may
/// not be combined with another section.
fn decode(body: &[u8]) -> Result<Request, Status> {
    let request = GetSnapshotRequest::decode_from(body).map_err(|_| Status::INVALID_COMMAND)?;
    let method = match request.compression {
        STORED => CompressionMethod::Stored,
        DEFLATED => CompressionMethod::Deflated,
        code if OTHER_COMPRESSIONS.contains(&code) => return Err(Status::FEATURE_UNAVAILABLE),
        _ => return Err(Status::INVALID_COMMAND),
    };
    let mut sections = Vec::new();
    for code in &request.snapshot_types {
        if *code == ALL {
            if request.snapshot_types.len() > 1 {
                return Err(Status::INVALID_COMMAND);
            }
            sections.extend(SECTIONS.iter().map(|(_, name)| *name));
        } else {
            let (_, name) = SECTIONS
                .iter()
                .find(|(c, _)| c == code)
                .ok_or(Status::INVALID_COMMAND)?;
            sections.push(*name);
        }
    }
    Ok(Request { method, sections })
}

impl Snapshots {
    /// Snapshots of a server whose files are under `data_dir`, configured
    /// as `config` says (shown as `server_config`; redacted by the caller).
    pub(crate) fn new(data_dir: Option<PathBuf>, config: String) -> Self {
        Self {
            running: AtomicBool::new(false),
            data_dir,
            config,
        }
    }

    /// Collects the snapshot `body` asks for, with `host` for the
    /// resource figures; the zip's bytes are the reply.
    pub(crate) async fn collect(&self, body: &[u8], host: HostFigures) -> Result<Bytes, Status> {
        let request = decode(body)?;
        if self
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Status::SNAPSHOT_FILE_COMPLETION_FAILED);
        }
        let _running = Running(&self.running);
        let data_dir = self.data_dir.clone();
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || {
            let entries: Vec<(&str, String)> = request
                .sections
                .iter()
                .map(|section| {
                    let text = match *section {
                        "filesystem_overview" => filesystem_overview(data_dir.as_deref()),
                        "process_list" => process_list(),
                        "resource_usage" => resource_usage(&host),
                        "test" => "test\n".to_owned(),
                        "server_logs" => "rustok-iggy serve writes its log to standard error \
                                          (tracing; RUST_LOG sets the level), not to files: \
                                          there are no log files to include.\n"
                            .to_owned(),
                        _ => config.clone(),
                    };
                    (*section, text)
                })
                .collect();
            zip(&entries, request.method)
        })
        .await
        .map_err(|error| {
            tracing::warn!(%error, "the snapshot collection did not finish");
            Status::SNAPSHOT_FILE_COMPLETION_FAILED
        })?
    }
}

/// The zip of `entries`, each as `<name>.txt`.
fn zip(entries: &[(&str, String)], method: CompressionMethod) -> Result<Bytes, Status> {
    let failed = |error: &dyn std::fmt::Display| {
        tracing::warn!(%error, "writing the snapshot zip failed");
        Status::SNAPSHOT_FILE_COMPLETION_FAILED
    };
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, text) in entries {
        writer
            .start_file(format!("{name}.txt"), options)
            .map_err(|e| failed(&e))?;
        writer.write_all(text.as_bytes()).map_err(|e| failed(&e))?;
    }
    let cursor = writer.finish().map_err(|e| failed(&e))?;
    Ok(Bytes::from(cursor.into_inner()))
}

/// Seconds since the Unix epoch of `time`, 0 if unknown.
fn epoch_seconds(time: std::io::Result<SystemTime>) -> u64 {
    time.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// The data directory's tree: `size  modified  path`, directories first
/// in name order.
fn filesystem_overview(data_dir: Option<&Path>) -> String {
    let Some(root) = data_dir else {
        return "no data directory: the backend keeps no files this server knows of\n".to_owned();
    };
    let mut out = format!(
        "data directory {}\nbytes modified(unix s) path\n",
        root.display()
    );
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.flatten().collect::<Vec<_>>(),
            Err(error) => {
                let _ = writeln!(out, "cannot list {}: {error}", dir.display());
                continue;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries.iter().rev() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let relative = path.strip_prefix(root).unwrap_or(&path).display();
            if meta.is_dir() {
                let _ = writeln!(
                    out,
                    "{:>12} {:>12} {relative}/",
                    "-",
                    epoch_seconds(meta.modified())
                );
                stack.push(path);
            } else {
                let _ = writeln!(
                    out,
                    "{:>12} {:>12} {relative}",
                    meta.len(),
                    epoch_seconds(meta.modified())
                );
            }
        }
    }
    out
}

/// Every process: pid, parent, state, memory, CPU, run time, name.
fn process_list() -> String {
    let mut system = System::new();
    system.refresh_processes(ProcessesToUpdate::All, true);
    let mut processes: Vec<_> = system.processes().values().collect();
    processes.sort_by_key(|p| p.pid());
    let mut out = String::from("pid ppid state rss_bytes cpu_percent run_time_s name\n");
    for p in processes {
        let _ = writeln!(
            out,
            "{} {} {} {} {:.1} {} {}",
            p.pid(),
            p.parent()
                .map_or_else(|| "-".to_owned(), |pid| pid.to_string()),
            p.status(),
            p.memory(),
            p.cpu_usage(),
            p.run_time(),
            p.name().to_string_lossy(),
        );
    }
    out
}

/// The `GetStats` figures of this process and host, one per line.
fn resource_usage(host: &HostFigures) -> String {
    format!(
        "process_id {}\ncpu_usage_percent_of_one_core {:.2}\ntotal_cpu_usage_percent {:.2}\n\
         memory_usage_bytes {}\ntotal_memory_bytes {}\navailable_memory_bytes {}\n\
         read_bytes {}\nwritten_bytes {}\nthreads {}\nfree_disk_space_bytes {}\n\
         total_disk_space_bytes {}\nhostname {}\nos {} {}\nkernel {}\n",
        host.process_id,
        host.cpu_usage,
        host.total_cpu_usage,
        host.memory_usage,
        host.total_memory,
        host.available_memory,
        host.read_bytes,
        host.written_bytes,
        host.threads_count,
        host.free_disk_space,
        host.total_disk_space,
        host.identity.hostname,
        host.identity.os_name,
        host.identity.os_version,
        host.identity.kernel_version,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(compression: u8, types: &[u8]) -> Vec<u8> {
        let mut out = vec![compression, u8::try_from(types.len()).unwrap()];
        out.extend_from_slice(types);
        out
    }

    #[test]
    fn requests_are_checked_as_apache_iggy_checks_them() {
        let all = decode(&body(DEFLATED, &[ALL])).unwrap();
        assert_eq!(all.sections.len(), 6);
        assert_eq!(all.method, CompressionMethod::Deflated);
        assert_eq!(
            decode(&body(STORED, &[4, 1])).unwrap().sections,
            ["test", "filesystem_overview"]
        );
        assert_eq!(
            decode(&body(STORED, &[ALL, 4])),
            Err(Status::INVALID_COMMAND)
        );
        assert_eq!(decode(&body(STORED, &[7])), Err(Status::INVALID_COMMAND));
        assert_eq!(decode(&body(9, &[4])), Err(Status::INVALID_COMMAND));
        assert_eq!(decode(&body(4, &[4])), Err(Status::FEATURE_UNAVAILABLE));
        assert_eq!(decode(&[STORED]), Err(Status::INVALID_COMMAND));
    }
}
