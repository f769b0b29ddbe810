//! Counters of an exporter (records and bytes sent, requests by status class, retries, drops by
//! reason, send latency), kept in atomics and rendered as Prometheus text.
//!
//! Names start with `k8s_event_collector_exporter_` and carry `exporter="<id>"`. Nothing here
//! ever holds a header, URL or credential, so `/metrics` cannot leak one.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why records were not delivered (the `reason` label of `dropped_records_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The `loki.format` hint names no known format (encoding).
    UnknownFormat,
    /// A JSON line would hold NaN or an infinity (encoding).
    UnsupportedJsonValue,
    /// A logfmt line would have an empty key (encoding).
    InvalidLogfmtKey,
    /// The push body could not be built.
    EncodeFailed,
    /// 400: Loki refused the data (label names, too old, too far behind, line too long, ...).
    BadRequest,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 413: the request was larger than the server accepts.
    TooLarge,
    /// Any other 4xx but 429.
    Other4xx,
    /// A status that is neither success, retryable nor 4xx (1xx, 3xx).
    UnexpectedStatus,
    /// Retrying stopped (`max_elapsed_time` reached, or `retry_on_failure` disabled).
    RetriesExhausted,
}

impl DropReason {
    /// Every reason, in the order they are rendered.
    pub const ALL: [DropReason; 11] = [
        Self::UnknownFormat,
        Self::UnsupportedJsonValue,
        Self::InvalidLogfmtKey,
        Self::EncodeFailed,
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::TooLarge,
        Self::Other4xx,
        Self::UnexpectedStatus,
        Self::RetriesExhausted,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownFormat => "unknown_format",
            Self::UnsupportedJsonValue => "unsupported_json_value",
            Self::InvalidLogfmtKey => "invalid_logfmt_key",
            Self::EncodeFailed => "encode_failed",
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::TooLarge => "too_large",
            Self::Other4xx => "other_4xx",
            Self::UnexpectedStatus => "unexpected_status",
            Self::RetriesExhausted => "retries_exhausted",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// The outcome class of one request attempt (the `status_class` label of `requests_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    ClientError,
    ServerError,
    /// No HTTP answer: connection, TLS or timeout.
    Transport,
    /// 1xx or 3xx.
    Other,
}

impl StatusClass {
    const ALL: [StatusClass; 5] = [
        Self::Success,
        Self::ClientError,
        Self::ServerError,
        Self::Transport,
        Self::Other,
    ];

    /// The class of an HTTP status code.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Success,
            400..=499 => Self::ClientError,
            500..=599 => Self::ServerError,
            _ => Self::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "2xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
            Self::Transport => "transport",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// Upper bounds of the send latency buckets, in seconds (requests up to the 30 s timeout).
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The counters of one exporter; shared with `/metrics` through an `Arc`.
#[derive(Debug)]
pub struct ExporterStats {
    id: String,
    records_sent: AtomicU64,
    bytes_sent: AtomicU64,
    requests: [AtomicU64; StatusClass::ALL.len()],
    retries: AtomicU64,
    truncated_lines: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    /// Per bucket (not cumulative), plus one for above the last bound.
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_nanos: AtomicU64,
    /// `sending_queue`: requests waiting or being sent, and the most it holds (0: no queue).
    queue_size: AtomicU64,
    queue_capacity: AtomicU64,
    /// Records the persistent queue could not write to disk (kept in memory instead).
    enqueue_failed: AtomicU64,
}

impl ExporterStats {
    /// Zeroed counters of exporter `id` (e.g. `loki` or `loki/tenant-a`).
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            records_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            requests: Default::default(),
            retries: AtomicU64::new(0),
            truncated_lines: AtomicU64::new(0),
            dropped: Default::default(),
            latency_buckets: Default::default(),
            latency_sum_nanos: AtomicU64::new(0),
            queue_size: AtomicU64::new(0),
            queue_capacity: AtomicU64::new(0),
            enqueue_failed: AtomicU64::new(0),
        }
    }

    /// The exporter id the counters are labelled with.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// One accepted request carrying `records` records in `bytes` body bytes (as sent).
    pub fn add_sent(&self, records: usize, bytes: usize) {
        add(&self.records_sent, records);
        add(&self.bytes_sent, bytes);
    }

    /// One request attempt that ended in `class` after `elapsed`.
    pub fn add_request(&self, class: StatusClass, elapsed: Duration) {
        if let Some(c) = self.requests.get(class.index()) {
            add(c, 1);
        }
        let secs = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Some(b) = self.latency_buckets.get(bucket) {
            add(b, 1);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// One wait before a new attempt.
    pub fn add_retry(&self) {
        add(&self.retries, 1);
    }

    /// `records` records not delivered, for `reason`.
    pub fn add_dropped(&self, reason: DropReason, records: usize) {
        if let Some(c) = self.dropped.get(reason.index()) {
            add(c, records);
        }
    }

    /// Lines cut to the maximum line size.
    pub fn add_truncated_lines(&self, lines: usize) {
        add(&self.truncated_lines, lines);
    }

    /// The sending queue now holds `requests` (waiting or being sent).
    pub fn set_queue_size(&self, requests: usize) {
        store(&self.queue_size, requests);
    }

    /// The sending queue holds at most `requests`.
    pub fn set_queue_capacity(&self, requests: usize) {
        store(&self.queue_capacity, requests);
    }

    /// `records` could not be written to the persistent queue.
    pub fn add_enqueue_failed(&self, records: usize) {
        add(&self.enqueue_failed, records);
    }

    /// Requests in the sending queue now.
    pub fn queue_size(&self) -> u64 {
        self.queue_size.load(Ordering::Relaxed)
    }

    /// Records the persistent queue could not write to disk so far.
    pub fn enqueue_failed(&self) -> u64 {
        self.enqueue_failed.load(Ordering::Relaxed)
    }

    /// Records Loki accepted so far.
    pub fn records_sent(&self) -> u64 {
        self.records_sent.load(Ordering::Relaxed)
    }

    /// Request attempts that ended in `class` so far.
    pub fn requests(&self, class: StatusClass) -> u64 {
        self.requests
            .get(class.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Retry waits so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Records dropped for `reason` so far.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped
            .get(reason.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// This exporter's counters as Prometheus text (with `# HELP`/`# TYPE` lines).
    pub fn render_prometheus(&self) -> String {
        Self::render_all(&[self])
    }

    /// The counters of several exporters as one Prometheus text, each metric family once.
    pub fn render_all(all: &[&ExporterStats]) -> String {
        let mut out = String::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let plain: [(&str, &str, Counter); 4] = [
            ("sent_records_total", "Records the backend accepted.", |s| {
                &s.records_sent
            }),
            (
                "sent_bytes_total",
                "Request body bytes the backend accepted, as sent (compressed).",
                |s| &s.bytes_sent,
            ),
            (
                "retries_total",
                "Waits before a new attempt after a retryable failure.",
                |s| &s.retries,
            ),
            (
                "truncated_lines_total",
                "Lines cut to the maximum line size.",
                |s| &s.truncated_lines,
            ),
        ];
        for (name, help, counter) in plain {
            header(&mut out, name, "counter", help);
            for s in all {
                sample(&mut out, name, s, &[], load(counter(s)));
            }
        }
        let gauges: [(&str, &str, Counter); 2] = [
            (
                "queue_size",
                "Requests in the sending queue, waiting or being sent (otelcol_exporter_queue_size).",
                |s| &s.queue_size,
            ),
            (
                "queue_capacity",
                "Requests the sending queue holds at most; 0 without a queue (otelcol_exporter_queue_capacity).",
                |s| &s.queue_capacity,
            ),
        ];
        for (name, help, gauge) in gauges {
            header(&mut out, name, "gauge", help);
            for s in all {
                sample(&mut out, name, s, &[], load(gauge(s)));
            }
        }
        let name = "enqueue_failed_records_total";
        let help = "Records the persistent sending queue could not write to disk; they were kept in memory and acknowledged only once delivered.";
        header(&mut out, name, "counter", help);
        for s in all {
            sample(&mut out, name, s, &[], load(&s.enqueue_failed));
        }
        let name = "requests_total";
        let help = "Request attempts by outcome: HTTP status class, or transport for no answer.";
        header(&mut out, name, "counter", help);
        for s in all {
            for class in StatusClass::ALL {
                let n = s.requests.get(class.index()).map_or(0, load);
                sample(&mut out, name, s, &[("status_class", class.as_str())], n);
            }
        }
        let name = "dropped_records_total";
        header(
            &mut out,
            name,
            "counter",
            "Records not delivered, by reason.",
        );
        for s in all {
            for reason in DropReason::ALL {
                let n = s.dropped.get(reason.index()).map_or(0, load);
                sample(&mut out, name, s, &[("reason", reason.as_str())], n);
            }
        }
        let name = "send_duration_seconds";
        header(&mut out, name, "histogram", "Duration of request attempts.");
        for s in all {
            let mut cumulative = 0;
            let bucket = "send_duration_seconds_bucket";
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                cumulative += s.latency_buckets.get(i).map_or(0, load);
                sample(
                    &mut out,
                    bucket,
                    s,
                    &[("le", &bound.to_string())],
                    cumulative,
                );
            }
            cumulative += s.latency_buckets.last().map_or(0, load);
            sample(&mut out, bucket, s, &[("le", "+Inf")], cumulative);
            let sum = Duration::from_nanos(load(&s.latency_sum_nanos)).as_secs_f64();
            let _ = writeln!(out, "{PREFIX}{name}_sum{} {sum}", labels(s, &[]));
            sample(&mut out, "send_duration_seconds_count", s, &[], cumulative);
        }
        out
    }
}

/// Picks one counter of the stats.
type Counter = fn(&ExporterStats) -> &AtomicU64;

const PREFIX: &str = "k8s_event_collector_exporter_";

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

fn store(gauge: &AtomicU64, n: usize) {
    gauge.store(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {PREFIX}{name} {help}");
    let _ = writeln!(out, "# TYPE {PREFIX}{name} {kind}");
}

fn sample(out: &mut String, name: &str, stats: &ExporterStats, extra: &[(&str, &str)], value: u64) {
    let _ = writeln!(out, "{PREFIX}{name}{} {value}", labels(stats, extra));
}

fn labels(stats: &ExporterStats, extra: &[(&str, &str)]) -> String {
    let mut out = format!("{{exporter=\"{}\"", escape_label(&stats.id));
    for (k, v) in extra {
        let _ = write!(out, ",{k}=\"{}\"", escape_label(v));
    }
    out.push('}');
    out
}

/// Prometheus label value escaping: backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_family_once_with_the_exporter_label() {
        let a = ExporterStats::new("loki");
        let b = ExporterStats::new("loki/\"b\"");
        a.add_sent(3, 120);
        a.add_request(StatusClass::Success, Duration::from_millis(20));
        a.add_request(StatusClass::ServerError, Duration::from_secs(60));
        a.add_retry();
        a.add_dropped(DropReason::BadRequest, 2);
        a.set_queue_capacity(1000);
        a.set_queue_size(4);
        a.add_enqueue_failed(5);
        let text = ExporterStats::render_all(&[&a, &b]);
        assert_eq!(
            text.matches("# TYPE k8s_event_collector_exporter_sent_records_total counter")
                .count(),
            1
        );
        for line in [
            "k8s_event_collector_exporter_sent_records_total{exporter=\"loki\"} 3",
            "k8s_event_collector_exporter_sent_bytes_total{exporter=\"loki\"} 120",
            "k8s_event_collector_exporter_requests_total{exporter=\"loki\",status_class=\"2xx\"} 1",
            "k8s_event_collector_exporter_requests_total{exporter=\"loki\",status_class=\"5xx\"} 1",
            "k8s_event_collector_exporter_retries_total{exporter=\"loki\"} 1",
            "k8s_event_collector_exporter_dropped_records_total{exporter=\"loki\",reason=\"bad_request\"} 2",
            "k8s_event_collector_exporter_send_duration_seconds_bucket{exporter=\"loki\",le=\"0.025\"} 1",
            "k8s_event_collector_exporter_send_duration_seconds_bucket{exporter=\"loki\",le=\"30\"} 1",
            "k8s_event_collector_exporter_send_duration_seconds_bucket{exporter=\"loki\",le=\"+Inf\"} 2",
            "k8s_event_collector_exporter_send_duration_seconds_sum{exporter=\"loki\"} 60.02",
            "k8s_event_collector_exporter_send_duration_seconds_count{exporter=\"loki\"} 2",
            "k8s_event_collector_exporter_sent_records_total{exporter=\"loki/\\\"b\\\"\"} 0",
            "k8s_event_collector_exporter_queue_size{exporter=\"loki\"} 4",
            "k8s_event_collector_exporter_queue_capacity{exporter=\"loki\"} 1000",
            "k8s_event_collector_exporter_enqueue_failed_records_total{exporter=\"loki\"} 5",
            "# TYPE k8s_event_collector_exporter_queue_size gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert_eq!(a.render_prometheus().matches("exporter=\"loki/").count(), 0);
    }
}
