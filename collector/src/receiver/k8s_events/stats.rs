//! The receiver's counters and readiness, shared with `/metrics` and `/readyz`: atomics only, so
//! the watch loop never waits on a reader.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The watch line types counted, in the order of [`ReceiverStats`]' array and of the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchType {
    Added,
    Modified,
    Deleted,
    Bookmark,
}

impl WatchType {
    const ALL: [WatchType; 4] = [
        WatchType::Added,
        WatchType::Modified,
        WatchType::Deleted,
        WatchType::Bookmark,
    ];

    fn label(self) -> &'static str {
        match self {
            WatchType::Added => "added",
            WatchType::Modified => "modified",
            WatchType::Deleted => "deleted",
            WatchType::Bookmark => "bookmark",
        }
    }
}

/// A failed API call, grouped by the HTTP code that matters for what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 401: the credentials were not accepted.
    Unauthorized,
    /// 403: the identity lacks RBAC permission.
    Forbidden,
    /// 404: no such API (an old cluster without events.k8s.io/v1, a namespace path typo).
    NotFound,
    /// 410: the resourceVersion is too old; the receiver re-lists.
    Gone,
    /// 429: the API server is throttling.
    TooManyRequests,
    /// 500-599.
    ServerError,
    /// Any other error code, or a Status without one.
    Other,
    /// No HTTP answer at all: connection, TLS, timeout, a body cut short.
    Transport,
}

impl ErrorClass {
    const ALL: [ErrorClass; 8] = [
        ErrorClass::Unauthorized,
        ErrorClass::Forbidden,
        ErrorClass::NotFound,
        ErrorClass::Gone,
        ErrorClass::TooManyRequests,
        ErrorClass::ServerError,
        ErrorClass::Other,
        ErrorClass::Transport,
    ];

    /// The class of an HTTP status code.
    pub fn of_code(code: i32) -> ErrorClass {
        match code {
            401 => ErrorClass::Unauthorized,
            403 => ErrorClass::Forbidden,
            404 => ErrorClass::NotFound,
            410 => ErrorClass::Gone,
            429 => ErrorClass::TooManyRequests,
            500..=599 => ErrorClass::ServerError,
            _ => ErrorClass::Other,
        }
    }

    /// The metric's `code` label.
    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::Unauthorized => "401",
            ErrorClass::Forbidden => "403",
            ErrorClass::NotFound => "404",
            ErrorClass::Gone => "410",
            ErrorClass::TooManyRequests => "429",
            ErrorClass::ServerError => "5xx",
            ErrorClass::Other => "other",
            ErrorClass::Transport => "none",
        }
    }
}

/// Counters and readiness of one `k8s_events` receiver, for `/metrics` and `/readyz`.
///
/// Updated by the receiver with relaxed atomics; read at any time with [`ReceiverStats::snapshot`],
/// [`ReceiverStats::is_ready`] or [`ReceiverStats::render_prometheus`].
#[derive(Debug)]
pub struct ReceiverStats {
    received: [AtomicU64; 4],
    listed: AtomicU64,
    emitted: AtomicU64,
    relists: AtomicU64,
    watch_restarts: AtomicU64,
    api_errors: [AtomicU64; 8],
    malformed: AtomicU64,
    /// How many list/watch loops are not ready (not yet answered, or refused access).
    not_ready: AtomicUsize,
    last_resource_version: AtomicU64,
    last_success_unix: AtomicU64,
}

/// The values of [`ReceiverStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverStatsSnapshot {
    /// Watch lines received: added, modified, deleted, bookmark.
    pub received: [u64; 4],
    /// Events read from LIST pages.
    pub listed: u64,
    /// Records sent to the pipeline.
    pub emitted: u64,
    /// LISTs started again after the watch position expired (410, or a watch that closed at once).
    pub relists: u64,
    /// Watches opened again from the last resourceVersion after one ended.
    pub watch_restarts: u64,
    /// Failed API calls by [`ErrorClass`], in its order.
    pub api_errors: [u64; 8],
    /// Objects or lines that could not be read, skipped.
    pub malformed: u64,
    /// See [`ReceiverStats::is_ready`].
    pub ready: bool,
    /// The newest resourceVersion seen (0 before any, or when they are not numbers).
    pub last_resource_version: u64,
    /// Unix time (seconds) of the last successful API answer; 0 before any.
    pub last_success_unix: u64,
}

impl ReceiverStatsSnapshot {
    /// Watch lines received of one type.
    pub fn received(&self, kind: WatchType) -> u64 {
        self.received[kind as usize]
    }

    /// Failed API calls of one class.
    pub fn api_errors(&self, class: ErrorClass) -> u64 {
        self.api_errors[class as usize]
    }
}

impl ReceiverStats {
    /// Stats for a receiver running `streams` list/watch loops (one per namespace, or one).
    pub fn new(streams: usize) -> Self {
        ReceiverStats {
            received: Default::default(),
            listed: AtomicU64::new(0),
            emitted: AtomicU64::new(0),
            relists: AtomicU64::new(0),
            watch_restarts: AtomicU64::new(0),
            api_errors: Default::default(),
            malformed: AtomicU64::new(0),
            not_ready: AtomicUsize::new(streams),
            last_resource_version: AtomicU64::new(0),
            last_success_unix: AtomicU64::new(0),
        }
    }

    /// Ready: every list/watch loop has had a successful answer from the API server (its first
    /// LIST, or its first watch when resuming) and none has an access error (401/403) pending.
    pub fn is_ready(&self) -> bool {
        self.not_ready.load(Relaxed) == 0
    }

    /// All values at once.
    pub fn snapshot(&self) -> ReceiverStatsSnapshot {
        let load = |a: &AtomicU64| a.load(Relaxed);
        ReceiverStatsSnapshot {
            received: self.received.each_ref().map(load),
            listed: load(&self.listed),
            emitted: load(&self.emitted),
            relists: load(&self.relists),
            watch_restarts: load(&self.watch_restarts),
            api_errors: self.api_errors.each_ref().map(load),
            malformed: load(&self.malformed),
            ready: self.is_ready(),
            last_resource_version: load(&self.last_resource_version),
            last_success_unix: load(&self.last_success_unix),
        }
    }

    /// Appends the stats as Prometheus text, metric names prefixed
    /// `k8s_event_collector_receiver_`, each with `# HELP` and `# TYPE`.
    pub fn render_prometheus(&self, out: &mut String) {
        let s = self.snapshot();
        let types = WatchType::ALL.map(|t| (t.label(), s.received(t)));
        let mut received = vec![("type", types.as_slice())];
        let listed = [("listed", s.listed)];
        received.push(("type", &listed));
        family(
            out,
            "events_received_total",
            "counter",
            "Events received from the API server: watch lines by type, and LIST items (type=\"listed\").",
            &received,
        );
        let single = |out: &mut String, name, kind, help, value| {
            family(out, name, kind, help, &[("", &[("", value)])]);
        };
        single(
            out,
            "records_emitted_total",
            "counter",
            "Log records sent to the pipeline (one per event occurrence).",
            s.emitted,
        );
        single(
            out,
            "relists_total",
            "counter",
            "LISTs done again because the watch position expired (410 Gone, or a watch that closed at once).",
            s.relists,
        );
        single(
            out,
            "watch_restarts_total",
            "counter",
            "Watches opened again from the last resourceVersion after one ended.",
            s.watch_restarts,
        );
        let errors = ErrorClass::ALL.map(|c| (c.label(), s.api_errors(c)));
        family(
            out,
            "api_errors_total",
            "counter",
            "Failed Kubernetes API calls by HTTP code (5xx: any server error; none: no HTTP answer).",
            &[("code", &errors)],
        );
        single(
            out,
            "malformed_objects_total",
            "counter",
            "Objects or watch lines that could not be read and were skipped.",
            s.malformed,
        );
        single(
            out,
            "ready",
            "gauge",
            "1 once every list/watch loop has listed (or resumed watching) and no access error is pending.",
            u64::from(s.ready),
        );
        single(
            out,
            "last_resource_version",
            "gauge",
            "The newest resourceVersion seen (0 before any).",
            s.last_resource_version,
        );
        single(
            out,
            "last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful answer from the API server (0 before any).",
            s.last_success_unix,
        );
    }

    pub(crate) fn received(&self, kind: WatchType) {
        self.received[kind as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn listed(&self, items: usize) {
        self.listed.fetch_add(items as u64, Relaxed);
    }

    pub(crate) fn emitted(&self, records: usize) {
        self.emitted.fetch_add(records as u64, Relaxed);
    }

    pub(crate) fn relisted(&self) {
        self.relists.fetch_add(1, Relaxed);
    }

    pub(crate) fn watch_restarted(&self) {
        self.watch_restarts.fetch_add(1, Relaxed);
    }

    pub(crate) fn api_error(&self, class: ErrorClass) {
        self.api_errors[class as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn malformed(&self) {
        self.malformed.fetch_add(1, Relaxed);
    }

    /// A loop's readiness changed (`ready`: it became ready; else it stopped being ready).
    pub(crate) fn stream_ready(&self, ready: bool) {
        if ready {
            self.not_ready.fetch_sub(1, Relaxed);
        } else {
            self.not_ready.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn resource_version(&self, rv: u64) {
        self.last_resource_version.fetch_max(rv, Relaxed);
    }

    pub(crate) fn answered(&self, unix_seconds: u64) {
        self.last_success_unix.store(unix_seconds, Relaxed);
    }
}

/// One metric family: `# HELP`, `# TYPE`, then one sample per label value (`""` label name: no
/// labels).
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(&str, &[(&str, u64)])],
) {
    let name = format!("k8s_event_collector_receiver_{name}");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (label, values) in samples {
        for (value_label, value) in *values {
            if label.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{label}=\"{value_label}\"}} {value}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_every_stream() {
        let stats = ReceiverStats::new(2);
        assert!(!stats.is_ready());
        stats.stream_ready(true);
        assert!(!stats.is_ready());
        stats.stream_ready(true);
        assert!(stats.is_ready());
        stats.stream_ready(false);
        assert!(!stats.snapshot().ready);
    }

    #[test]
    fn prometheus_text() {
        let stats = ReceiverStats::new(1);
        stats.received(WatchType::Added);
        stats.received(WatchType::Added);
        stats.received(WatchType::Deleted);
        stats.listed(4);
        stats.emitted(6);
        stats.api_error(ErrorClass::of_code(403));
        stats.api_error(ErrorClass::of_code(503));
        stats.api_error(ErrorClass::Transport);
        stats.resource_version(422);
        stats.resource_version(395);
        stats.stream_ready(true);
        let mut out = String::new();
        stats.render_prometheus(&mut out);
        for line in [
            "# HELP k8s_event_collector_receiver_events_received_total Events received from the API server: watch lines by type, and LIST items (type=\"listed\").",
            "# TYPE k8s_event_collector_receiver_events_received_total counter",
            "k8s_event_collector_receiver_events_received_total{type=\"added\"} 2",
            "k8s_event_collector_receiver_events_received_total{type=\"modified\"} 0",
            "k8s_event_collector_receiver_events_received_total{type=\"deleted\"} 1",
            "k8s_event_collector_receiver_events_received_total{type=\"listed\"} 4",
            "k8s_event_collector_receiver_records_emitted_total 6",
            "# TYPE k8s_event_collector_receiver_api_errors_total counter",
            "k8s_event_collector_receiver_api_errors_total{code=\"403\"} 1",
            "k8s_event_collector_receiver_api_errors_total{code=\"5xx\"} 1",
            "k8s_event_collector_receiver_api_errors_total{code=\"none\"} 1",
            "k8s_event_collector_receiver_api_errors_total{code=\"410\"} 0",
            "# TYPE k8s_event_collector_receiver_ready gauge",
            "k8s_event_collector_receiver_ready 1",
            "k8s_event_collector_receiver_last_resource_version 422",
            "k8s_event_collector_receiver_last_success_timestamp_seconds 0",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        let families = out.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(
            families,
            out.lines().filter(|l| l.starts_with("# HELP")).count()
        );
        assert_eq!(families, 9);
    }
}
