//! The collector's own telemetry: counters of each pipeline, and a small HTTP server for
//! `/metrics` (Prometheus text), `/healthz` (alive) and `/readyz` (receiving).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::processor::DropReason;
use crate::receiver::k8s_events::Position;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one pipeline.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub id: String,
    pub records_in: Counter,
    pub records_out: Counter,
    pub dropped_not_included: Counter,
    pub dropped_excluded: Counter,
    /// Records received and not yet settled (gauge).
    pub in_flight: AtomicU64,
    /// Unix seconds of the last acknowledged position (0 = none yet).
    pub acked_at: AtomicU64,
    pub acked_resource_version: Mutex<String>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl PipelineStats {
    pub fn new(id: &str) -> Self {
        PipelineStats {
            id: id.to_owned(),
            ..Self::default()
        }
    }

    pub fn dropped(&self, reason: DropReason) {
        match reason {
            DropReason::NotIncluded => self.dropped_not_included.inc(),
            DropReason::Excluded => self.dropped_excluded.inc(),
        }
    }

    pub fn acked(&self, position: &Position) {
        self.acked_at.store(unix_now(), Ordering::Relaxed);
        if let Ok(mut rv) = self.acked_resource_version.lock() {
            rv.clone_from(&position.resource_version);
        }
    }

    /// Appends this pipeline's metrics in Prometheus text format.
    pub fn render_prometheus(&self, out: &mut String) {
        let p = &self.id;
        let acked_at = self.acked_at.load(Ordering::Relaxed);
        let age = if acked_at == 0 {
            -1.0
        } else {
            unix_now().saturating_sub(acked_at) as f64
        };
        let _ = write!(
            out,
            "# HELP k8s_event_collector_pipeline_records_total Records entering the pipeline's processors.\n\
             # TYPE k8s_event_collector_pipeline_records_total counter\n\
             k8s_event_collector_pipeline_records_total{{pipeline=\"{p}\"}} {}\n\
             # HELP k8s_event_collector_pipeline_records_settled_total Records delivered or permanently rejected by every exporter.\n\
             # TYPE k8s_event_collector_pipeline_records_settled_total counter\n\
             k8s_event_collector_pipeline_records_settled_total{{pipeline=\"{p}\"}} {}\n\
             # HELP k8s_event_collector_pipeline_dropped_total Records dropped by processors, by reason.\n\
             # TYPE k8s_event_collector_pipeline_dropped_total counter\n\
             k8s_event_collector_pipeline_dropped_total{{pipeline=\"{p}\",reason=\"not_included\"}} {}\n\
             k8s_event_collector_pipeline_dropped_total{{pipeline=\"{p}\",reason=\"excluded\"}} {}\n\
             # HELP k8s_event_collector_pipeline_records_in_flight Records received and not yet delivered.\n\
             # TYPE k8s_event_collector_pipeline_records_in_flight gauge\n\
             k8s_event_collector_pipeline_records_in_flight{{pipeline=\"{p}\"}} {}\n\
             # HELP k8s_event_collector_checkpoint_age_seconds Seconds since the last acknowledged receiver position (-1: none yet).\n\
             # TYPE k8s_event_collector_checkpoint_age_seconds gauge\n\
             k8s_event_collector_checkpoint_age_seconds{{pipeline=\"{p}\"}} {age}\n",
            self.records_in.get(),
            self.records_out.get(),
            self.dropped_not_included.get(),
            self.dropped_excluded.get(),
            self.in_flight.load(Ordering::Relaxed),
        );
    }
}

/// What the HTTP endpoints report.
pub trait Observed: Send + Sync + 'static {
    /// Prometheus text of every metric.
    fn metrics(&self) -> String;
    /// Whether the collector is receiving events (for `/readyz`).
    fn ready(&self) -> bool;
}

/// Serves `/metrics`, `/healthz`, `/readyz` (and `extra_health_path`, OpenTelemetry's
/// health_check path) on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    observed: Arc<dyn Observed>,
    extra_health_path: Option<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let observed = Arc::clone(&observed);
        let extra = extra_health_path.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(
                std::time::Duration::from_secs(5),
                stream.read(&mut buf),
            )
            .await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request
                .lines()
                .next()
                .and_then(|line| line.split_whitespace().nth(1))
                .unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path);
            let (status, content_type, body) = respond(path, extra.as_deref(), observed.as_ref());
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

fn respond(
    path: &str,
    extra: Option<&str>,
    observed: &dyn Observed,
) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    match path {
        "/metrics" => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            observed.metrics(),
        ),
        "/healthz" => ("200 OK", TEXT, "ok\n".into()),
        "/readyz" if observed.ready() => ("200 OK", TEXT, "ready\n".into()),
        "/readyz" => (
            "503 Service Unavailable",
            TEXT,
            "not ready: not receiving events (see the log)\n".into(),
        ),
        p if Some(p) == extra => {
            if observed.ready() {
                (
                    "200 OK",
                    "application/json",
                    "{\"status\":\"Server available\"}".into(),
                )
            } else {
                (
                    "503 Service Unavailable",
                    "application/json",
                    "{\"status\":\"Server not available\"}".into(),
                )
            }
        }
        _ => (
            "404 Not Found",
            TEXT,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(bool);
    impl Observed for Fixed {
        fn metrics(&self) -> String {
            "m 1\n".into()
        }
        fn ready(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn endpoints_answer_as_probes_expect() {
        assert_eq!(respond("/metrics", None, &Fixed(true)).2, "m 1\n");
        assert_eq!(respond("/healthz", None, &Fixed(false)).0, "200 OK");
        assert_eq!(
            respond("/readyz", None, &Fixed(false)).0,
            "503 Service Unavailable"
        );
        assert_eq!(respond("/readyz", None, &Fixed(true)).0, "200 OK");
        assert_eq!(respond("/", Some("/"), &Fixed(true)).0, "200 OK");
        assert_eq!(respond("/nope", None, &Fixed(true)).0, "404 Not Found");
    }

    #[test]
    fn pipeline_metrics_are_prometheus_text() {
        let s = PipelineStats::new("logs");
        s.records_in.add(3);
        s.dropped(DropReason::Excluded);
        let mut out = String::new();
        s.render_prometheus(&mut out);
        assert!(
            out.contains("k8s_event_collector_pipeline_records_total{pipeline=\"logs\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("reason=\"excluded\"} 1\n"), "{out}");
        assert!(
            out.contains("k8s_event_collector_checkpoint_age_seconds{pipeline=\"logs\"} -1\n"),
            "{out}"
        );
    }
}
