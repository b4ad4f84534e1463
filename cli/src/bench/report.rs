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
    /// Events per second (over several runs, the median).
    pub events_per_sec: f64,
    /// The slowest run's events per second (one run: `events_per_sec`).
    pub min_events_per_sec: f64,
    /// The fastest run's events per second (one run: `events_per_sec`).
    pub max_events_per_sec: f64,
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
            min_events_per_sec: figure.per_sec(),
            max_events_per_sec: figure.per_sec(),
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
    /// Runs the figures are the medians of (`--runs`).
    pub runs: u32,
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
    /// The report of `first` and further runs of the same measurement: each
    /// figure the median of the runs', each ratio the median of the runs'
    /// own ratios (each against the baseline of its run, never a baseline
    /// of another), events/s with its range.
    ///
    /// Peak RSS stays the first run's: only that run starts in a fresh
    /// process. A later run starts with what the allocator kept of the runs
    /// before it (their baselines' prebuilt messages among it), which a
    /// reset of the peak cannot tell from the workload's own memory.
    pub fn median_of(mut first: Report, rest: Vec<Report>) -> Report {
        if rest.is_empty() {
            return first;
        }
        for row in &mut first.workloads {
            let same: Vec<&Row> = rest
                .iter()
                .flat_map(|r| r.workloads.iter())
                .filter(|r| r.workload == row.workload)
                .collect();
            let all = || std::iter::once(&*row).chain(same.iter().copied());
            let rates: Vec<f64> = all().map(|r| r.events_per_sec).collect();
            let seconds = median(all().map(|r| r.seconds));
            let mb_per_sec = median(all().map(|r| r.mb_per_sec));
            let ratio = row.ratio.map(|_| median(all().filter_map(|r| r.ratio)));
            let base = row.baseline.as_ref().map(|_| {
                let bases = || all().filter_map(|r| r.baseline.as_ref());
                (
                    median(bases().map(|b| b.events_per_sec)),
                    median(bases().map(|b| b.mb_per_sec)),
                )
            });
            row.events_per_sec = median(rates.iter().copied());
            row.min_events_per_sec = rates.iter().copied().fold(f64::INFINITY, f64::min);
            row.max_events_per_sec = rates.iter().copied().fold(0.0, f64::max);
            row.seconds = seconds;
            row.mb_per_sec = mb_per_sec;
            row.ratio = ratio;
            if let (Some(b), Some((rate, mb))) = (row.baseline.as_mut(), base) {
                b.events_per_sec = rate;
                b.mb_per_sec = mb;
            }
        }
        let latencies: Vec<Latency> = std::iter::once(first.latency)
            .chain(rest.iter().map(|r| r.latency))
            .collect();
        let pick = |f: fn(&Latency) -> u64| median(latencies.iter().map(|l| f(l) as f64)) as u64;
        first.latency = Latency {
            samples: first.latency.samples,
            p50_us: pick(|l| l.p50_us),
            p90_us: pick(|l| l.p90_us),
            p99_us: pick(|l| l.p99_us),
            max_us: latencies.iter().map(|l| l.max_us).max().unwrap_or(0),
        };
        first.runs += rest.iter().map(|r| r.runs).sum::<u32>();
        first
    }

    /// Prints the table.
    pub fn print(&self) {
        println!(
            "rustok-iggy bench: backend {}{}, codec {}, fsync {}, {} B body ({} B message), batch {}, {} producer(s), {} consumer(s), {} partition(s){}",
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
            if self.runs > 1 {
                format!("; medians of {} runs", self.runs)
            } else {
                String::new()
            },
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
                if self.runs > 1 {
                    // The median, then the slowest and fastest run.
                    format!(
                        "{:.0} ({:.0}-{:.0})",
                        row.events_per_sec, row.min_events_per_sec, row.max_events_per_sec
                    )
                } else {
                    format!("{:.0}", row.events_per_sec)
                },
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

/// The median (of an even count, the mean of the middle two); 0 of none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn rss(mib: Option<f64>) -> String {
    mib.map_or("n/a".to_owned(), |m| format!("{m:.1} MiB"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A run whose publish moved 1,000 events in `ms` against a baseline
    /// that took `base_ms`, with a latency p99 of `p99`.
    fn run(ms: u64, base_ms: u64, p99: u64) -> Report {
        let figure = |ms| Figure {
            events: 1_000,
            bytes: 100_000,
            elapsed: Duration::from_millis(ms),
        };
        Report {
            backend: BackendKind::Memory,
            served: false,
            codec: "json".into(),
            fsync: None,
            payload_bytes: 100,
            message_bytes: 100,
            batch: 10,
            producers: 1,
            consumers: 1,
            partitions: 1,
            runs: 1,
            workloads: vec![
                Row::new(
                    "publish",
                    figure(ms),
                    Some(("base".into(), figure(base_ms))),
                    Some(ms as f64),
                ),
                Row::new("consume", figure(2 * ms), None, None),
            ],
            latency: Latency {
                samples: 10,
                p50_us: p99 / 2,
                p90_us: p99 - 1,
                p99_us: p99,
                max_us: p99 * 2,
            },
            latency_rate: 100,
            latency_peak_rss_mib: Some(p99 as f64),
        }
    }

    #[test]
    fn one_run_is_reported_as_it_is() {
        let report = Report::median_of(run(10, 5, 100), Vec::new());
        assert_eq!(report.runs, 1);
        let publish = &report.workloads[0];
        assert_eq!(publish.events_per_sec, 100_000.0);
        assert_eq!(publish.min_events_per_sec, publish.max_events_per_sec);
        assert_eq!(publish.ratio, Some(0.5));
    }

    #[test]
    fn runs_give_medians_ranges_and_the_median_of_their_own_ratios() {
        // Publish at 100k, 50k and 25k/s against baselines at 400k, 100k
        // and 50k/s: ratios 0.25, 0.5 and 0.5.
        let report = Report::median_of(run(10, 2, 300), vec![run(20, 10, 100), run(40, 20, 200)]);
        assert_eq!(report.runs, 3);
        let publish = &report.workloads[0];
        assert_eq!(publish.events_per_sec, 50_000.0);
        assert_eq!(publish.min_events_per_sec, 25_000.0);
        assert_eq!(publish.max_events_per_sec, 100_000.0);
        assert_eq!(publish.seconds, 0.02);
        // The median of the runs' ratios, not the ratio of the medians
        // (50k over 100k is also 0.5 here; the next case tells them apart).
        assert_eq!(publish.ratio, Some(0.5));
        let base = publish.baseline.as_ref().unwrap();
        assert_eq!(base.events_per_sec, 100_000.0);
        assert_eq!(publish.peak_rss_mib, Some(10.0), "the first run's");
        let consume = &report.workloads[1];
        assert_eq!((consume.events_per_sec, consume.ratio), (25_000.0, None));
        assert_eq!(report.latency.p99_us, 200);
        assert_eq!(report.latency.max_us, 600, "the slowest event of all runs");
        assert_eq!(report.latency_peak_rss_mib, Some(300.0), "the first run's");

        // Two runs: medians are means of the middle two. Ratios 1.0 and 0.1
        // give 0.55; the ratio of the median rates would be 75k / 255k.
        let report = Report::median_of(run(10, 10, 100), vec![run(20, 2, 100)]);
        let publish = &report.workloads[0];
        assert_eq!(publish.events_per_sec, 75_000.0);
        assert!((publish.ratio.unwrap() - 0.55).abs() < 1e-9);
    }
}
