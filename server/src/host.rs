//! The process and machine figures of `GetStats`, taken the way Apache Iggy's
//! server takes them: `sysinfo` for the process (CPU, memory, disk I/O,
//! threads) and the host (CPU, memory, names), memory scoped to the
//! process's cgroup when one caps it below the host's; `statvfs` of the
//! data directory for disk space.
//!
//! Reading them means reading `/proc` (and a `statvfs`), so a sample runs on
//! tokio's blocking pool, like every other file access of the server.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
};

use sysinfo::{Pid, ProcessesToUpdate, System};

use crate::error::Status;

/// One sample of the process and the machine.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostFigures {
    pub(crate) process_id: u32,
    /// Percent of one core, over the time since the previous sample.
    pub(crate) cpu_usage: f32,
    /// Percent of all cores, over the same time.
    pub(crate) total_cpu_usage: f32,
    /// Resident memory of the process, in bytes.
    pub(crate) memory_usage: u64,
    pub(crate) total_memory: u64,
    pub(crate) available_memory: u64,
    /// Bytes the process read from and wrote to storage since it started.
    pub(crate) read_bytes: u64,
    pub(crate) written_bytes: u64,
    pub(crate) threads_count: u32,
    pub(crate) free_disk_space: u64,
    pub(crate) total_disk_space: u64,
    pub(crate) identity: Identity,
}

/// What names the machine; read once, it does not change while serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) hostname: String,
    pub(crate) os_name: String,
    pub(crate) os_version: String,
    pub(crate) kernel_version: String,
}

impl Identity {
    /// With Apache Iggy's placeholders for what the OS does not tell.
    fn read() -> Self {
        Self {
            hostname: System::host_name().unwrap_or_else(|| "unknown_hostname".to_owned()),
            os_name: System::name().unwrap_or_else(|| "unknown_os_name".to_owned()),
            os_version: System::long_os_version()
                .unwrap_or_else(|| "unknown_os_version".to_owned()),
            kernel_version: System::kernel_version()
                .unwrap_or_else(|| "unknown_kernel_version".to_owned()),
        }
    }
}

/// Takes samples. CPU usage is a difference between two readings, so the
/// `sysinfo` state is kept from one sample to the next (and
/// [`prime`](Self::prime)d at start, so the first `GetStats` reports the use
/// since the server started rather than 0).
#[derive(Debug, Clone)]
pub(crate) struct HostProbe {
    system: Arc<Mutex<System>>,
    identity: Arc<OnceLock<Identity>>,
    /// The file system whose space is reported; none: 0 and 0, as Apache
    /// Iggy reports before it knows its data path.
    data_dir: Option<PathBuf>,
}

impl HostProbe {
    /// A probe reporting the disk space of `data_dir`'s file system. Reads
    /// nothing yet.
    pub(crate) fn new(data_dir: Option<PathBuf>) -> Self {
        Self {
            system: Arc::new(Mutex::new(System::new())),
            identity: Arc::new(OnceLock::new()),
            data_dir,
        }
    }

    /// Takes the first reading the next sample's CPU usage is measured
    /// from.
    pub(crate) async fn prime(&self) {
        if let Err(status) = self.sample().await {
            tracing::debug!(?status, "the first process sample failed");
        }
    }

    /// Samples the process and the machine (on the blocking pool).
    pub(crate) async fn sample(&self) -> Result<HostFigures, Status> {
        let probe = self.clone();
        tokio::task::spawn_blocking(move || probe.sample_now())
            .await
            .map_err(|error| {
                tracing::warn!(%error, "the process sample did not finish");
                Status::ERROR
            })
    }

    fn sample_now(&self) -> HostFigures {
        let identity = self.identity.get_or_init(Identity::read).clone();
        let (free_disk_space, total_disk_space) =
            self.data_dir.as_deref().map_or((0, 0), disk_space);
        let process_id = std::process::id();
        let pid = Pid::from_u32(process_id);
        let mut system = self.system.lock().unwrap_or_else(|p| p.into_inner());
        system.refresh_cpu_all();
        system.refresh_memory();
        system.refresh_processes(ProcessesToUpdate::Some(&[pid]), true);
        let mut figures = HostFigures {
            process_id,
            cpu_usage: 0.0,
            total_cpu_usage: system.global_cpu_usage(),
            memory_usage: 0,
            total_memory: system.total_memory(),
            available_memory: system.available_memory(),
            read_bytes: 0,
            written_bytes: 0,
            threads_count: 0,
            free_disk_space,
            total_disk_space,
            identity,
        };
        if let Some(process) = system.process(pid) {
            figures.cpu_usage = process.cpu_usage();
            figures.memory_usage = process.memory();
            let io = process.disk_usage();
            figures.read_bytes = io.total_read_bytes;
            figures.written_bytes = io.total_written_bytes;
            figures.threads_count = process
                .tasks()
                .map_or(0, |tasks| u32::try_from(tasks.len()).unwrap_or(u32::MAX));
            // A container or systemd unit capping memory: its cap is what
            // the process can use, not the host's total.
            if let Some(limits) = process
                .cgroup_limits()
                .filter(|limits| limits.total_memory < figures.total_memory)
            {
                figures.total_memory = limits.total_memory;
                figures.available_memory = limits.free_memory.min(limits.total_memory);
            }
        }
        figures
    }
}

/// Free (for unprivileged users) and total bytes of the file system holding
/// `dir`; 0 and 0 when it cannot be read.
#[cfg(unix)]
fn disk_space(dir: &std::path::Path) -> (u64, u64) {
    match rustix::fs::statvfs(dir) {
        Ok(fs) => (
            fs.f_bavail.saturating_mul(fs.f_frsize),
            fs.f_blocks.saturating_mul(fs.f_frsize),
        ),
        Err(error) => {
            tracing::debug!(dir = %dir.display(), %error, "statvfs failed");
            (0, 0)
        }
    }
}

#[cfg(not(unix))]
fn disk_space(_dir: &std::path::Path) -> (u64, u64) {
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn samples_this_process_and_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let probe = HostProbe::new(Some(dir.path().to_owned()));
        probe.prime().await;
        let figures = probe.sample().await.unwrap();
        assert_eq!(figures.process_id, std::process::id());
        assert!(figures.memory_usage > 0);
        assert!(figures.total_memory >= figures.available_memory);
        assert!(figures.threads_count >= 1);
        assert!(figures.total_disk_space >= figures.free_disk_space);
        assert!(figures.total_disk_space > 0);
        assert!(!figures.identity.os_name.is_empty());

        let without = HostProbe::new(None).sample().await.unwrap();
        assert_eq!((without.free_disk_space, without.total_disk_space), (0, 0));
    }
}
