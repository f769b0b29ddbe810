//! The results: medians over runs, the JSON file (`target/bench/results.json`) and the table.

use serde_json::{Value, json};

use super::floor::FloorResult;
use super::startup::{IdleResult, ListingResult};
use super::stream::{StreamResult, percentile};

/// Everything one bench measured.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub quick: bool,
    /// One per run, at the highest rate the collector reads.
    pub throughput: Vec<StreamResult>,
    pub floor: Vec<FloorResult>,
    /// 1 000 events/s: steady memory.
    pub steady: StreamResult,
    /// 200 events/s: latency.
    pub latency: StreamResult,
    pub listing: ListingResult,
    pub idle: IdleResult,
}

/// The median of `values` (the upper one of an even count); 0 when empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("", |(_, m)| m.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": model,
        "mem_gib": round(mem_kib as f64 / 1024.0 / 1024.0, 1),
    })
}

impl Results {
    pub fn events_per_sec(&self) -> f64 {
        median(self.throughput.iter().map(|r| r.events_per_sec).collect())
    }

    pub fn cpu_us_per_event(&self) -> f64 {
        median(self.throughput.iter().map(|r| r.cpu_us_per_event).collect())
    }

    pub fn floor_events_per_sec(&self) -> f64 {
        median(self.floor.iter().map(|r| r.events_per_sec).collect())
    }

    /// Events per second of collector CPU time (user+sys): what one fully busy core would
    /// take. On a small machine the measured rate is bound by the bench's own event creation.
    pub fn events_per_cpu_sec(&self) -> f64 {
        let us = self.cpu_us_per_event();
        if us > 0.0 { 1e6 / us } else { 0.0 }
    }

    /// Collector efficiency against the floor, both per CPU-second of one core.
    pub fn floor_ratio(&self) -> f64 {
        let floor = self.floor_events_per_sec();
        if floor > 0.0 {
            self.events_per_cpu_sec() / floor
        } else {
            0.0
        }
    }

    fn floor_us(&self) -> f64 {
        median(self.floor.iter().map(|r| r.us_per_event).collect())
    }

    /// The JSON written to `target/bench/results.json`.
    pub fn to_json(&self) -> Value {
        let floor = self.floor_events_per_sec();
        let ratio = |a: f64, b: f64| if b > 0.0 { round(a / b, 3) } else { 0.0 };
        let lat = &self.latency.latencies_ms;
        json!({
            "events_per_sec": round(self.events_per_sec(), 0),
            "cpu_us_per_event": round(self.cpu_us_per_event(), 2),
            "rss_mib_streaming": round(self.steady.rss_steady_mib, 2),
            "rss_mib_listing_100k": round(self.listing.rss_peak_mib, 2),
            "rss_mib_idle": round(self.idle.rss_mib, 2),
            "latency_ms_p50": round(percentile(lat, 50.0), 1),
            "latency_ms_p99": round(percentile(lat, 99.0), 1),
            "floor_events_per_sec": round(floor, 0),
            "floor_ratio": round(self.floor_ratio(), 3),
            "events_per_cpu_sec": round(self.events_per_cpu_sec(), 0),
            "floor_ratio_wall": ratio(self.events_per_sec(), floor),
            "notes": {
                "events_per_sec": "measured wall-clock rate, first event created to last accepted; bound by the bench's own event creation when collector_cpu_cores stays well below 1",
                "events_per_cpu_sec": "1e6 / cpu_us_per_event: the rate of one fully busy core",
                "floor_ratio": "events_per_cpu_sec / floor_events_per_sec (both per CPU-second of one core)",
                "floor_ratio_wall": "events_per_sec / floor_events_per_sec",
                "rss_mib_streaming": "steady VmRSS (median of the last 3/4 of samples) at 1000 events/s",
                "rss_mib_listing_100k": "VmHWM of a collector starting with the backlog (start_from: all) until all of it is accepted",
                "rss_mib_idle": "VmRSS after idle_secs with no events",
            },
            "details": {
                "quick": self.quick,
                "machine": machine(),
                "throughput_runs": self.throughput.iter().map(|r| json!({
                    "events": r.events,
                    "secs": round(r.secs, 3),
                    "events_per_sec": round(r.events_per_sec, 0),
                    "cpu_us_per_event": round(r.cpu_us_per_event, 2),
                    "collector_cpu_cores": round(r.cpu_cores, 2),
                    "bench_cpu_cores": round(r.bench_cpu_cores, 2),
                    "window_wait_secs": round(r.window_wait_secs, 2),
                    "rss_mib_steady": round(r.rss_steady_mib, 2),
                    "rss_mib_peak": round(r.rss_peak_mib, 2),
                    "lists": r.lists,
                })).collect::<Vec<_>>(),
                "floor_runs": self.floor.iter().map(|r| json!({
                    "events": r.events,
                    "events_per_sec": round(r.events_per_sec, 0),
                    "us_per_event": round(r.us_per_event, 2),
                    "push_bytes_per_event": round(r.bytes_per_event, 1),
                })).collect::<Vec<_>>(),
                "floor_us_per_event": round(self.floor_us(), 2),
                "cpu_ratio_floor_over_collector": ratio(self.floor_us(), self.cpu_us_per_event()),
                "streaming_1k_per_sec": {
                    "events": self.steady.events,
                    "rss_mib_steady": round(self.steady.rss_steady_mib, 2),
                    "rss_mib_peak": round(self.steady.rss_peak_mib, 2),
                    "cpu_us_per_event": round(self.steady.cpu_us_per_event, 2),
                    "collector_cpu_cores": round(self.steady.cpu_cores, 3),
                },
                "latency_200_per_sec": {
                    "events": self.latency.events,
                    "measured": lat.len(),
                    "p50_ms": round(percentile(lat, 50.0), 1),
                    "p90_ms": round(percentile(lat, 90.0), 1),
                    "p99_ms": round(percentile(lat, 99.0), 1),
                    "max_ms": round(percentile(lat, 100.0), 1),
                    "rss_mib_steady": round(self.latency.rss_steady_mib, 2),
                    "cpu_us_per_event": round(self.latency.cpu_us_per_event, 2),
                },
                "listing": {
                    "events": self.listing.events,
                    "secs": round(self.listing.secs, 2),
                    "events_per_sec": round(self.listing.events as f64 / self.listing.secs.max(1e-9), 0),
                    "rss_mib_peak": round(self.listing.rss_peak_mib, 2),
                    "rss_mib_steady": round(self.listing.rss_steady_mib, 2),
                    "cpu_us_per_event": round(self.listing.cpu_us_per_event, 2),
                    "list_requests": self.listing.pages,
                },
                "idle": {
                    "secs": self.idle.secs,
                    "rss_mib": round(self.idle.rss_mib, 2),
                    "rss_mib_peak": round(self.idle.rss_peak_mib, 2),
                    "cpu_ms": round(self.idle.cpu_ms, 1),
                    "cpu_percent": round(self.idle.cpu_percent, 3),
                },
            },
        })
    }

    /// The table printed at the end, with issue 7's targets.
    pub fn table(&self) -> String {
        let lat = &self.latency.latencies_ms;
        let floor = self.floor_events_per_sec();
        let cores = median(self.throughput.iter().map(|r| r.cpu_cores).collect());
        let rows: Vec<(String, String, &str)> = vec![
            (
                "throughput measured (events/s)".into(),
                format!("{:.0}", self.events_per_sec()),
                "",
            ),
            (
                "  collector CPU meanwhile (cores)".into(),
                format!("{cores:.2}"),
                "",
            ),
            (
                "CPU per event (µs, user+sys)".into(),
                format!("{:.1}", self.cpu_us_per_event()),
                "",
            ),
            (
                "events per CPU-second (one core)".into(),
                format!("{:.0}", self.events_per_cpu_sec()),
                ">= 50000 on one core",
            ),
            (
                "floor (events/s, pure path, 1 thread)".into(),
                format!("{floor:.0}"),
                "",
            ),
            (
                "collector / floor (per CPU-second)".into(),
                format!("{:.2}", self.floor_ratio()),
                ">= 0.5",
            ),
            (
                "RSS steady at 1k events/s (MiB)".into(),
                format!("{:.1}", self.steady.rss_steady_mib),
                "<= 15",
            ),
            (
                "RSS peak at 1k events/s (MiB)".into(),
                format!("{:.1}", self.steady.rss_peak_mib),
                "",
            ),
            (
                "RSS peak at full rate (MiB)".into(),
                format!(
                    "{:.1}",
                    median(self.throughput.iter().map(|r| r.rss_peak_mib).collect())
                ),
                "",
            ),
            (
                format!("RSS peak listing {} events (MiB)", self.listing.events),
                format!("{:.1}", self.listing.rss_peak_mib),
                "<= 25",
            ),
            (
                format!("RSS idle after {} s (MiB)", self.idle.secs),
                format!("{:.1}", self.idle.rss_mib),
                "<= 10",
            ),
            (
                "CPU idle (% of a core)".into(),
                format!("{:.3}", self.idle.cpu_percent),
                "",
            ),
            (
                "latency p50 at 200/s (ms)".into(),
                format!("{:.1}", percentile(lat, 50.0)),
                "",
            ),
            (
                "latency p99 at 200/s (ms)".into(),
                format!("{:.1}", percentile(lat, 99.0)),
                "<= 250 (200 ms batch timeout + 50)",
            ),
        ];
        let mut out = format!(
            "{:<42} {:>12}  {}\n",
            "measure", "value", "target (issue 7)"
        );
        for (name, value, target) in rows {
            out.push_str(&format!("{name:<42} {value:>12}  {target}\n"));
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_json_has_the_fields_issue_7_asks_for() {
        let json = Results::default().to_json();
        for field in [
            "events_per_sec",
            "cpu_us_per_event",
            "rss_mib_streaming",
            "rss_mib_listing_100k",
            "rss_mib_idle",
            "latency_ms_p50",
            "latency_ms_p99",
            "floor_events_per_sec",
            "floor_ratio",
        ] {
            assert!(json[field].is_number(), "{field}");
        }
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert!(Results::default().table().contains("throughput"));
    }
}
