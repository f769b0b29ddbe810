//! What the demo screen shows, as plain data: gathered from the fake Loki and the collector's
//! `/metrics`, rendered by [`super::screen`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::sim::loki::{FakeLoki, RecordedPush, StoredStream};

/// What runs, for the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// The RBAC the API server enforces, e.g. `events: get, list, watch`.
    pub rbac: String,
    /// The basic-auth user and the tenant Loki requires (from deploy/'s Secret example).
    pub loki_user: String,
    pub tenant: String,
    /// The collector binary and the deploy/ file its config comes from (workspace-relative).
    pub binary: String,
    pub config: String,
}

/// One stored stream: Loki's labels, as `(name, value)` pairs, and its entry count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamCount {
    pub labels: Vec<(String, String)>,
    pub entries: usize,
}

/// One line as it landed in Loki, and what it says when it is the exporter's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineView {
    /// The stream's `level` label (`WARN`, `INFO`).
    pub level: String,
    pub namespace: String,
    /// `kind/name` of the involved object, e.g. `Pod/checkout-7d9f8c6b4-x2x4q`.
    pub object: String,
    pub reason: String,
    /// `k8s.event.count`: how often the event happened so far.
    pub count: u64,
    pub message: String,
    /// The line exactly as stored.
    pub raw: String,
}

/// The collector's own metrics, from its `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectorMetrics {
    /// Records that entered the pipeline (one per event occurrence).
    pub records_in: u64,
    /// Records delivered (or permanently rejected) by the exporter.
    pub settled: u64,
    pub in_flight: u64,
    /// Push attempts by status class (`2xx`, `4xx`, `5xx`, `transport`), in that order.
    pub pushes: Vec<(String, u64)>,
    pub retries: u64,
    /// Seconds since Loki last acknowledged a position; `None` before the first one.
    pub checkpoint_age: Option<f64>,
}

/// Everything one frame shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemoState {
    pub setup: Setup,
    pub elapsed: Duration,
    /// `--duration`, when given.
    pub duration: Option<Duration>,
    /// Distinct Events the generator created, and their occurrences (creations + count bumps).
    pub events: u64,
    pub occurrences: u64,
    /// The stored streams of the tenant, sorted by labels.
    pub streams: Vec<StreamCount>,
    /// Entries Loki accepted (duplicates included), and entries it holds once.
    pub received: usize,
    pub stored: usize,
    /// Pushes Loki answered, by status code.
    pub loki_answers: BTreeMap<u16, usize>,
    /// Stored entries by `k8s.event.reason` and by `k8s.namespace.name`, largest first.
    pub by_reason: Vec<(String, usize)>,
    pub by_namespace: Vec<(String, usize)>,
    /// The newest accepted lines, oldest first.
    pub last_lines: Vec<LineView>,
    /// The last metrics read (kept when the collector stops answering).
    pub metrics: Option<CollectorMetrics>,
    /// The collector's exit code once it has exited.
    pub collector_exit: Option<i32>,
}

/// How many recent lines the state keeps.
pub const LAST_LINES: usize = 4;

impl DemoState {
    /// Reads what `loki` holds for `tenant` and received so far.
    pub fn observe_loki(&mut self, loki: &FakeLoki, tenant: &str) {
        let stored = loki.stored(tenant);
        let (received, held) = loki.entry_counts();
        self.received = received;
        self.stored = held;
        self.observe_streams(&stored);
        self.observe_pushes(&loki.pushes());
    }

    /// Streams and per-reason/namespace counts of what is stored.
    pub fn observe_streams(&mut self, stored: &[StoredStream]) {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut namespaces: BTreeMap<String, usize> = BTreeMap::new();
        self.streams = stored
            .iter()
            .map(|s| {
                for entry in &s.entries {
                    let view = line_view("", &entry.line);
                    *reasons.entry(or_unknown(view.reason)).or_default() += 1;
                    *namespaces.entry(or_unknown(view.namespace)).or_default() += 1;
                }
                StreamCount {
                    labels: parse_labels(&s.labels),
                    entries: s.entries.len(),
                }
            })
            .collect();
        self.by_reason = largest_first(reasons);
        self.by_namespace = largest_first(namespaces);
    }

    /// Loki's answers, and the last lines it accepted, in arrival order.
    pub fn observe_pushes(&mut self, pushes: &[RecordedPush]) {
        self.loki_answers.clear();
        for p in pushes {
            *self.loki_answers.entry(p.status).or_default() += 1;
        }
        let mut last: Vec<LineView> = Vec::new();
        for push in pushes.iter().rev().filter(|p| p.accepted()) {
            // Within a push, entries are grouped by stream; newest push first.
            for stream in push.streams.iter().rev() {
                let labels = parse_labels(&stream.labels);
                let level = label(&labels, "level");
                for entry in stream.entries.iter().rev() {
                    last.push(line_view(level, &entry.line));
                    if last.len() == LAST_LINES {
                        break;
                    }
                }
                if last.len() == LAST_LINES {
                    break;
                }
            }
            if last.len() == LAST_LINES {
                break;
            }
        }
        last.reverse();
        self.last_lines = last;
    }
}

fn or_unknown(s: String) -> String {
    if s.is_empty() { "?".into() } else { s }
}

/// What the screen calls the namespace of a cluster-scoped object (a Node).
pub const CLUSTER_SCOPED: &str = "(cluster)";

fn largest_first(counts: BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    // Stable sort: equal counts stay in name order.
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    v
}

/// The value of label `name`, or `""`.
pub fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// `{a="x", b="y \"q\""}` to `[(a, x), (b, y "q")]`; what does not parse is skipped.
pub fn parse_labels(text: &str) -> Vec<(String, String)> {
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    let mut out = Vec::new();
    let mut chars = inner.chars();
    loop {
        let name: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if name.is_empty() || chars.next() != Some('"') {
            return out;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '"' => break,
                c => value.push(c),
            }
        }
        out.push((name.trim().to_owned(), value));
    }
}

/// A line's fields, when it is the loki exporter's JSON (`body`, `attributes`, `resources`);
/// otherwise just the raw line.
pub fn line_view(level: &str, line: &str) -> LineView {
    let mut view = LineView {
        level: level.to_owned(),
        raw: line.to_owned(),
        ..LineView::default()
    };
    let Ok(json) = serde_json::from_str::<Value>(line) else {
        return view;
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let attributes = json.get("attributes").cloned().unwrap_or_default();
    let resources = json.get("resources").cloned().unwrap_or_default();
    view.message = text(&json, "body");
    view.reason = text(&attributes, "k8s.event.reason");
    view.namespace = text(&attributes, "k8s.namespace.name");
    if view.namespace.is_empty() {
        // The exporter writes the involved object's namespace: none for a Node.
        CLUSTER_SCOPED.clone_into(&mut view.namespace);
    }
    view.count = attributes
        .get("k8s.event.count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let kind = text(&resources, "k8s.object.kind");
    let name = text(&resources, "k8s.object.name");
    view.object = if kind.is_empty() {
        name
    } else {
        format!("{kind}/{name}")
    };
    if view.level.is_empty() {
        view.level = text(&json, "severity");
    }
    view
}

/// The metrics the screen shows, from Prometheus text; `None` when there are none (the
/// collector does not answer).
pub fn parse_metrics(text: &str) -> Option<CollectorMetrics> {
    let samples: Vec<(&str, &str, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.trim().parse().ok()?;
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            Some((name, labels, value))
        })
        .collect();
    if samples.is_empty() {
        return None;
    }
    let sum = |name: &str| -> f64 {
        samples
            .iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, _, v)| v)
            .sum()
    };
    // Counters are integral; `as` saturates, and a negative gauge means "none yet".
    let count = |name: &str| sum(name).max(0.0) as u64;
    let prefix = "k8s_event_collector_";
    let pushes = ["2xx", "4xx", "5xx", "transport"]
        .into_iter()
        .map(|class| {
            let needle = format!("status_class=\"{class}\"");
            let n: f64 = samples
                .iter()
                .filter(|(n, l, _)| {
                    *n == "k8s_event_collector_exporter_requests_total" && l.contains(&needle)
                })
                .map(|(_, _, v)| v)
                .sum();
            (class.to_owned(), n.max(0.0) as u64)
        })
        .collect();
    let age = samples
        .iter()
        .find(|(n, _, _)| *n == "k8s_event_collector_checkpoint_age_seconds")
        .map(|(_, _, v)| *v)
        .filter(|v| *v >= 0.0);
    Some(CollectorMetrics {
        records_in: count(&format!("{prefix}pipeline_records_total")),
        settled: count(&format!("{prefix}pipeline_records_settled_total")),
        in_flight: count(&format!("{prefix}pipeline_records_in_flight")),
        pushes,
        retries: count(&format!("{prefix}exporter_retries_total")),
        checkpoint_age: age,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sim::loki::{LogEntry, LogStream};

    const LINE: &str = r#"{"body":"Back-off restarting failed container app in pod web-7","severity":"Warning","attributes":{"k8s.event.count":3,"k8s.event.reason":"BackOff","k8s.namespace.name":"shop"},"resources":{"k8s.object.kind":"Pod","k8s.object.name":"web-7"}}"#;

    #[test]
    fn labels_parse_with_escapes() {
        assert_eq!(
            parse_labels(r#"{cluster="a", level="WARN", q="x \"y\", z"}"#),
            vec![
                ("cluster".into(), "a".into()),
                ("level".into(), "WARN".into()),
                ("q".into(), "x \"y\", z".into()),
            ]
        );
        assert!(parse_labels("{}").is_empty());
    }

    #[test]
    fn a_json_line_is_read_and_anything_else_kept_raw() {
        let v = line_view("WARN", LINE);
        assert_eq!(v.reason, "BackOff");
        assert_eq!(v.namespace, "shop");
        assert_eq!(v.object, "Pod/web-7");
        assert_eq!(v.count, 3);
        assert!(v.message.starts_with("Back-off"));
        let raw = line_view("", "level=info msg=x");
        assert_eq!(raw.raw, "level=info msg=x");
        assert!(raw.reason.is_empty());
    }

    #[test]
    fn streams_are_counted_by_reason_and_namespace() {
        let entry = |line: &str| LogEntry {
            timestamp_unix_nano: 1,
            line: line.into(),
            structured_metadata: vec![],
        };
        let other = LINE.replace("BackOff", "Pulled").replace("shop", "web");
        let mut s = DemoState::default();
        s.observe_streams(&[
            LogStream {
                labels: r#"{level="WARN"}"#.into(),
                entries: vec![entry(LINE), entry(LINE)],
            },
            LogStream {
                labels: r#"{level="INFO"}"#.into(),
                entries: vec![entry(&other)],
            },
        ]);
        assert_eq!(s.streams[0].entries, 2);
        assert_eq!(
            s.by_reason,
            vec![("BackOff".into(), 2), ("Pulled".into(), 1)]
        );
        assert_eq!(s.by_namespace, vec![("shop".into(), 2), ("web".into(), 1)]);
    }

    #[test]
    fn metrics_are_read_from_prometheus_text() {
        let text = "# HELP x\n\
            k8s_event_collector_pipeline_records_total{pipeline=\"logs\"} 12\n\
            k8s_event_collector_pipeline_records_settled_total{pipeline=\"logs\"} 10\n\
            k8s_event_collector_pipeline_records_in_flight{pipeline=\"logs\"} 2\n\
            k8s_event_collector_checkpoint_age_seconds{pipeline=\"logs\"} 1\n\
            k8s_event_collector_exporter_requests_total{exporter=\"loki\",status_class=\"2xx\"} 4\n\
            k8s_event_collector_exporter_requests_total{exporter=\"loki\",status_class=\"5xx\"} 1\n\
            k8s_event_collector_exporter_retries_total{exporter=\"loki\"} 1\n";
        let m = parse_metrics(text).unwrap();
        assert_eq!(
            (m.records_in, m.settled, m.in_flight, m.retries),
            (12, 10, 2, 1)
        );
        assert_eq!(m.pushes[0], ("2xx".into(), 4));
        assert_eq!(m.pushes[2], ("5xx".into(), 1));
        assert_eq!(m.checkpoint_age, Some(1.0));
        let none = parse_metrics("k8s_event_collector_checkpoint_age_seconds{p=\"l\"} -1\n");
        assert_eq!(none.unwrap().checkpoint_age, None);
        assert!(parse_metrics("").is_none());
    }
}
