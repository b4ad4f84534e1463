//! `GetStats`: the server's figures in Apache Iggy's layout, which its own
//! tools read (`iggy stats`, `iggy-bench`'s report).
//!
//! The log's figures add up what topic details report per partition
//! ([`topics::header`]): the same streams, topics, partitions, segments,
//! bytes and messages a client listing them sees. Process and machine
//! figures come from [`HostProbe`](crate::host::HostProbe).

use iggy_binary_protocol::{responses::system::StatsResponse, WireEncode};

use super::{resolve, system::SERVER_VERSION, topics, Reply};
use crate::{error::Status, shared::Shared};

/// Sums over the whole log, as `GetStats` reports them.
#[derive(Debug, Default)]
struct LogTotals {
    streams: u32,
    topics: u32,
    partitions: u32,
    segments: u32,
    size_bytes: u64,
    messages: u64,
    consumer_groups: u32,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Every stream the catalog lists and every topic the backend holds in it.
/// A topic deleted while the totals are taken is left out, not an error.
async fn log_totals(shared: &Shared) -> Result<LogTotals, Status> {
    let mut totals = LogTotals::default();
    for stream in shared.catalog.streams() {
        totals.streams = totals.streams.saturating_add(1);
        for (ids, info) in resolve::topics(shared, &stream).await? {
            let (header, partitions) = match topics::header(shared, &ids, &info).await {
                Ok(figures) => figures,
                Err(Status::RESOURCE_NOT_FOUND) => continue,
                Err(status) => return Err(status),
            };
            totals.topics = totals.topics.saturating_add(1);
            totals.partitions = totals.partitions.saturating_add(header.partitions_count);
            totals.size_bytes = totals.size_bytes.saturating_add(header.size_bytes);
            totals.messages = totals.messages.saturating_add(header.messages_count);
            for partition in &partitions {
                totals.segments = totals.segments.saturating_add(partition.segments_count);
            }
            let groups = shared.catalog.groups(stream.id, ids.id).len();
            totals.consumer_groups = totals.consumer_groups.saturating_add(count(groups));
        }
    }
    Ok(totals)
}

/// This server's version as Apache Iggy encodes its own: `major`, then
/// `minor` and `patch` in three digits each (0.1.0 is 1000); `None` (sent as
/// 0) if a part does not fit.
fn numeric_version(major: &str, minor: &str, patch: &str) -> Option<u32> {
    let part = |s: &str| s.parse::<u32>().ok().filter(|n| *n < 1000);
    let (minor, patch) = (part(minor)?, part(patch)?);
    major
        .parse::<u32>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(minor * 1000 + patch)
}

/// `GetStats` (logged-in users only, as on Apache Iggy, where every user
/// allowed to see server info may: here, the one user).
pub(crate) async fn get(shared: &Shared) -> Reply {
    let log = log_totals(shared).await?;
    let host = shared.host.sample().await?;
    let (start_time, run_time) = shared.uptime();
    Ok(StatsResponse {
        process_id: host.process_id,
        cpu_usage: host.cpu_usage,
        total_cpu_usage: host.total_cpu_usage,
        memory_usage: host.memory_usage,
        total_memory: host.total_memory,
        available_memory: host.available_memory,
        run_time,
        start_time,
        read_bytes: host.read_bytes,
        written_bytes: host.written_bytes,
        messages_size_bytes: log.size_bytes,
        streams_count: log.streams,
        topics_count: log.topics,
        partitions_count: log.partitions,
        segments_count: log.segments,
        messages_count: log.messages,
        clients_count: shared.clients.count(),
        consumer_groups_count: log.consumer_groups,
        hostname: host.identity.hostname,
        os_name: host.identity.os_name,
        os_version: host.identity.os_version,
        kernel_version: host.identity.kernel_version,
        iggy_server_version: SERVER_VERSION.to_owned(),
        iggy_server_semver: numeric_version(
            env!("CARGO_PKG_VERSION_MAJOR"),
            env!("CARGO_PKG_VERSION_MINOR"),
            env!("CARGO_PKG_VERSION_PATCH"),
        ),
        // Apache Iggy 0.9 sends none either: its per-partition cache
        // counters are gone, and the embedded log has no cache of its own
        // (reads go through the OS page cache).
        cache_metrics: Vec::new(),
        threads_count: host.threads_count,
        free_disk_space: host.free_disk_space,
        total_disk_space: host.total_disk_space,
    }
    .to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_numbered_as_apache_iggy_numbers_its_own() {
        assert_eq!(numeric_version("0", "9", "0"), Some(9_000));
        assert_eq!(numeric_version("0", "1", "0"), Some(1_000));
        assert_eq!(numeric_version("1", "2", "3"), Some(1_002_003));
        assert_eq!(numeric_version("0", "1000", "0"), None);
        assert_eq!(numeric_version("5000", "0", "0"), None);
        assert_eq!(numeric_version("0", "1", "x"), None);
    }
}
