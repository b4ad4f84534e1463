//! What a workload measured: throughput figures, latency percentiles and the
//! process's peak memory.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Events (and their bytes) moved in some time.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    /// Events moved.
    pub events: u64,
    /// Bytes they add up to (message payload and headers, or record bytes).
    pub bytes: u64,
    /// Wall-clock time they took.
    pub elapsed: Duration,
}

impl Figure {
    /// Events per second.
    pub fn per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Megabytes (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Publish-to-handler latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Events measured.
    pub samples: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest.
    pub max_us: u64,
}

impl Latency {
    /// The percentiles of a histogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        Self {
            samples: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }
}

/// Resets the kernel's peak-RSS mark (VmHWM) so the next reading is the
/// next workload's own peak. Linux only; elsewhere a no-op.
pub fn reset_peak_rss() {
    // Best effort: without it the reading is the peak of the run so far.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size (VmHWM) in MiB; `None` where /proc is not there.
pub fn peak_rss_mib() -> Option<f64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(parse_vm_hwm_kib)
        .map(|kib| kib as f64 / 1024.0)
}

/// The `VmHWM:` value (kB) of a /proc/PID/status text.
fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_rates() {
        let f = Figure {
            events: 1_000,
            bytes: 2_000_000,
            elapsed: Duration::from_millis(500),
        };
        assert_eq!(f.per_sec().round(), 2_000.0);
        assert_eq!(f.mb_per_sec().round(), 4.0);
    }

    #[test]
    fn vm_hwm_parsed_from_status() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(2048));
        assert_eq!(parse_vm_hwm_kib("Name:\tx\n"), None);
    }

    #[test]
    fn latency_percentiles_from_histogram() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in 1..=100 {
            h.record(v).unwrap();
        }
        let l = Latency::from_histogram(&h);
        assert_eq!(
            (l.samples, l.p50_us, l.p90_us, l.p99_us, l.max_us),
            (100, 50, 90, 99, 100)
        );
    }
}
