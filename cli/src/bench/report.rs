//! The benchmark's result: a table for people, one JSON document for
//! scripts.

use serde::Serialize;

use super::{
    args::{BackendKind, Fsync},
    measure::{Figure, Latency},
};
use crate::output::Table;

/// One throughput workload and its same-run baseline.
#[derive(Debug, Serialize)]
pub struct Row {
    /// `publish`, `consume` or `codec`.
    pub workload: &'static str,
    /// Events it moved.
    pub events: u64,
    /// Seconds it took.
    pub seconds: f64,
    /// Events per second.
    pub events_per_sec: f64,
    /// MB (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// The baseline measured in this run, if the backend or codec has one.
    pub baseline: Option<Baseline>,
    /// `events_per_sec` over the baseline's (above 1: faster than it).
    pub ratio: Option<f64>,
    /// Peak RSS of the process during the workload, MiB (`None`: unknown
    /// on this OS).
    pub peak_rss_mib: Option<f64>,
}

/// A baseline's figures.
#[derive(Debug, Serialize)]
pub struct Baseline {
    /// What it is, e.g. `plain file write_all`.
    pub name: String,
    /// Events per second.
    pub events_per_sec: f64,
    /// MB per second.
    pub mb_per_sec: f64,
}

impl Row {
    /// A row for `figure`, compared with `baseline` when there is one.
    pub fn new(
        workload: &'static str,
        figure: Figure,
        baseline: Option<(String, Figure)>,
        peak_rss_mib: Option<f64>,
    ) -> Self {
        let ratio = baseline
            .as_ref()
            .map(|(_, base)| figure.per_sec() / base.per_sec().max(1e-9));
        Self {
            workload,
            events: figure.events,
            seconds: figure.elapsed.as_secs_f64(),
            events_per_sec: figure.per_sec(),
            mb_per_sec: figure.mb_per_sec(),
            baseline: baseline.map(|(name, base)| Baseline {
                name,
                events_per_sec: base.per_sec(),
                mb_per_sec: base.mb_per_sec(),
            }),
            ratio,
            peak_rss_mib,
        }
    }
}

/// Everything one `bench` run measured, and with what.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Backend measured.
    pub backend: BackendKind,
    /// Whether the remote server was the in-process one of `--serve`.
    pub served: bool,
    /// Codec published with.
    pub codec: String,
    /// Fsync policy of the embedded log and the plain-file baseline (`None`
    /// when no embedded log is measured).
    pub fsync: Option<Fsync>,
    /// Event body bytes.
    pub payload_bytes: u64,
    /// Bytes of one message (payload and headers) as the transport writes it.
    pub message_bytes: u64,
    /// Events per batch.
    pub batch: u64,
    /// Publishing tasks.
    pub producers: u64,
    /// Members of the consuming group.
    pub consumers: u64,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Throughput workloads.
    pub workloads: Vec<Row>,
    /// Publish-to-handler latency.
    pub latency: Latency,
    /// Events per second the latency workload was published at.
    pub latency_rate: u64,
    /// Peak RSS during the latency workload, MiB.
    pub latency_peak_rss_mib: Option<f64>,
}

impl Report {
    /// Prints the table.
    pub fn print(&self) {
        println!(
            "rustok-iggy bench: backend {}{}, codec {}, fsync {}, {} B body ({} B message), batch {}, {} producer(s), {} consumer(s), {} partition(s)",
            self.backend.name(),
            if self.served { " (in-process server)" } else { "" },
            self.codec,
            self.fsync.map_or("-", Fsync::name),
            self.payload_bytes,
            self.message_bytes,
            self.batch,
            self.producers,
            self.consumers,
            self.partitions,
        );
        let mut table = Table::new([
            "workload",
            "events",
            "events/s",
            "MB/s",
            "baseline",
            "baseline events/s",
            "ratio",
            "peak RSS",
        ]);
        for row in &self.workloads {
            let (name, base) = match &row.baseline {
                Some(b) => (b.name.clone(), format!("{:.0}", b.events_per_sec)),
                None => ("-".to_owned(), "-".to_owned()),
            };
            table.row([
                row.workload.to_owned(),
                row.events.to_string(),
                format!("{:.0}", row.events_per_sec),
                format!("{:.1}", row.mb_per_sec),
                name,
                base,
                row.ratio.map_or("-".to_owned(), |r| format!("{r:.2}x")),
                rss(row.peak_rss_mib),
            ]);
        }
        table.print();
        let l = &self.latency;
        println!(
            "latency (publish -> handler, {} events one at a time, {}/s): p50 {} us, p90 {} us, p99 {} us, max {} us; peak RSS {}",
            l.samples,
            self.latency_rate,
            l.p50_us,
            l.p90_us,
            l.p99_us,
            l.max_us,
            rss(self.latency_peak_rss_mib)
        );
    }
}

fn rss(mib: Option<f64>) -> String {
    mib.map_or("n/a".to_owned(), |m| format!("{m:.1} MiB"))
}
