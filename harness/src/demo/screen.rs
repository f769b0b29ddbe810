//! The demo's screen: a [`DemoState`] rendered to plain text lines of at most [`WIDTH`]
//! columns (ASCII for everything the demo writes itself), so it reads in an 80-column terminal
//! and in a CI log alike.

use std::fmt::Write as _;
use std::time::Duration;

use super::state::{CollectorMetrics, DemoState, LineView, Setup, StreamCount, label};

/// The widest line the demo prints.
pub const WIDTH: usize = 80;
/// Rows of the per-reason and per-namespace table.
const TABLE_ROWS: usize = 4;
/// Streams listed one per line; more are summed up in one line.
const STREAM_ROWS: usize = 3;

/// The 4-line header: what runs.
pub fn header(setup: &Setup) -> Vec<String> {
    fit_all(vec![
        "k8s-event-collector demo: a cluster's Events, shipped live to Grafana Loki".into(),
        format!(
            "API server  simulated, over TLS; deploy/'s RBAC grants {}",
            setup.rbac
        ),
        format!(
            "Loki        simulated, TLS + basic auth as {}, tenant {}",
            setup.loki_user, setup.tenant
        ),
        format!(
            "Collector   {} on {}",
            shorten_middle(&setup.binary, 36),
            setup.config
        ),
    ])
}

/// The whole screen: header and live panel.
pub fn frame(state: &DemoState) -> Vec<String> {
    let mut lines = header(&state.setup);
    lines.extend(panel(state));
    lines
}

/// The live panel: progress, Loki's streams, counts, last lines, the collector's metrics.
pub fn panel(state: &DemoState) -> Vec<String> {
    let mut out = vec![progress(state)];
    out.push(format!(
        "Loki, tenant {}: {}, {} stored, {} received",
        state.setup.tenant,
        plural(state.streams.len(), "stream"),
        plural(state.stored, "entry"),
        state.received
    ));
    out.extend(streams(&state.streams));
    out.extend(table(state));
    out.push("Last lines in Loki, newest last (level, namespace, object, reason, count)".into());
    if state.last_lines.is_empty() {
        out.push("  (none yet)".into());
    }
    out.extend(state.last_lines.iter().map(line));
    if let Some(newest) = state.last_lines.last() {
        out.push(format!("  as stored: {}", newest.raw));
    }
    out.extend(metrics(state.metrics.as_ref(), state.collector_exit));
    fit_all(out)
}

/// A few lines for logs (stdout not a terminal): printed every few seconds instead of frames.
pub fn status_block(state: &DemoState) -> Vec<String> {
    let mut out = vec![progress(state)];
    out.push(format!(
        "  Loki: {}, {} stored, {} received",
        plural(state.streams.len(), "stream"),
        plural(state.stored, "entry"),
        state.received
    ));
    if let Some(l) = state.last_lines.last() {
        out.push(format!("  newest:{}", &line(l)[1..]));
    }
    out.extend(
        metrics(state.metrics.as_ref(), state.collector_exit)
            .into_iter()
            .map(|l| format!("  {l}")),
    );
    fit_all(out)
}

/// The final summary.
pub fn summary(state: &DemoState) -> Vec<String> {
    let duplicates = state.received.saturating_sub(state.stored);
    let mut out = vec![
        format!("Summary after {}", human(state.elapsed)),
        format!(
            "  events generated        {:>6}  ({} occurrences, counting count bumps)",
            state.events, state.occurrences
        ),
        format!(
            "  occurrences shipped     {:>6}  (entries Loki accepted)",
            state.received
        ),
        format!("  entries stored in Loki  {:>6}", state.stored),
        format!("  duplicates              {duplicates:>6}  (received - stored)"),
    ];
    out.push(if state.stored == 0 {
        "Nothing arrived in Loki: see the collector log above.".into()
    } else if state.received as u64 >= state.occurrences {
        "Every occurrence reached Loki. Deploy it: kubectl apply -k deploy/".into()
    } else {
        format!(
            "{} occurrences were still on their way when the demo stopped.",
            state.occurrences - state.received as u64
        )
    });
    fit_all(out)
}

fn progress(state: &DemoState) -> String {
    let time = match state.duration {
        // Past the end, the demo only waits for the last deliveries.
        Some(d) => format!("{} of {}", human(state.elapsed.min(d)), human(d)),
        None => human(state.elapsed),
    };
    format!(
        "-- {time} -- the cluster wrote {} events, {} occurrences -- Ctrl-C stops",
        state.events, state.occurrences
    )
}

/// Labels every stream shares, once; then each stream's own labels and entry count.
fn streams(streams: &[StreamCount]) -> Vec<String> {
    let Some(first) = streams.first() else {
        return vec!["  (no stream yet)".into()];
    };
    let common: Vec<&(String, String)> = first
        .labels
        .iter()
        .filter(|(n, v)| streams.iter().all(|s| label(&s.labels, n) == v))
        .collect();
    let pair = |(n, v): &(String, String)| format!("{n}=\"{v}\"");
    let mut out = wrap(
        "  every stream  ",
        &common.iter().map(|p| pair(p)).collect::<Vec<_>>(),
    );
    for s in streams.iter().take(STREAM_ROWS) {
        let own: Vec<String> = s
            .labels
            .iter()
            .filter(|p| !common.contains(p))
            .map(pair)
            .collect();
        let own = if own.is_empty() {
            "(no other label)".to_owned()
        } else {
            own.join(", ")
        };
        let own = shorten_end(&format!("{{{own}}}"), WIDTH - 24);
        out.push(format!(
            "  {own:<width$} {:>7} entries",
            s.entries,
            width = WIDTH - 24
        ));
    }
    if streams.len() > STREAM_ROWS {
        let rest: usize = streams[STREAM_ROWS..].iter().map(|s| s.entries).sum();
        out.push(format!(
            "  ... {} more streams, {rest} entries",
            streams.len() - STREAM_ROWS
        ));
    }
    out
}

/// `prefix a b c`, wrapped under the first item.
fn wrap(prefix: &str, items: &[String]) -> Vec<String> {
    let indent = " ".repeat(prefix.len());
    let mut out = Vec::new();
    let mut current = prefix.to_owned();
    let mut empty = true;
    for item in items {
        if !empty && current.len() + 1 + item.len() > WIDTH {
            out.push(std::mem::replace(&mut current, indent.clone()));
            empty = true;
        }
        if !empty {
            current.push(' ');
        }
        current.push_str(item);
        empty = false;
    }
    out.push(current);
    out
}

/// Stored entries by reason and by namespace, side by side.
fn table(state: &DemoState) -> Vec<String> {
    const HALF: usize = WIDTH / 2;
    let cell = |row: Option<&(String, usize)>| match row {
        Some((name, n)) => format!("  {:<26}{n:>6}", shorten_end(name, 26)),
        None => String::new(),
    };
    let mut out = vec![format!(
        "{:<HALF$}{}",
        "By reason                   entries", "By namespace                entries"
    )];
    let rows = state
        .by_reason
        .len()
        .max(state.by_namespace.len())
        .min(TABLE_ROWS);
    for i in 0..rows {
        let left = cell(state.by_reason.get(i));
        let right = cell(state.by_namespace.get(i));
        out.push(format!("{left:<HALF$}{right}").trim_end().to_owned());
    }
    out
}

/// One stored line, readable: `  WARN shop Pod/web-7 BackOff x3: Back-off ...`.
fn line(l: &LineView) -> String {
    if l.reason.is_empty() {
        return format!("  {:<4} {}", l.level, l.raw);
    }
    format!(
        "  {:<4} {} {} {} x{}: {}",
        l.level, l.namespace, l.object, l.reason, l.count, l.message
    )
}

fn metrics(m: Option<&CollectorMetrics>, exit: Option<i32>) -> Vec<String> {
    let mut out = match m {
        None => vec!["Collector /metrics: not answering yet".to_owned()],
        Some(m) => {
            let mut pushes = String::new();
            for (class, n) in &m.pushes {
                let _ = write!(pushes, "{class} {n}, ");
            }
            let age = m
                .checkpoint_age
                .map_or_else(|| "none yet".to_owned(), |a| format!("{a:.0}s"));
            vec![
                format!(
                    "Collector /metrics: records in {}, settled {}, in flight {}, retries {}",
                    m.records_in, m.settled, m.in_flight, m.retries
                ),
                format!(
                    "  pushes by status: {}; checkpoint age {age}",
                    pushes.trim_end_matches(", ")
                ),
            ]
        }
    };
    if let Some(code) = exit {
        out.push(format!("  the collector has exited (code {code})"));
    }
    out
}

/// `1 stream`, `2 streams`, `0 entries`.
fn plural(n: usize, word: &str) -> String {
    match (n, word.strip_suffix('y')) {
        (1, _) => format!("{n} {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {word}s"),
    }
}

/// `12s`, `2m05s`, `1h02m`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
    }
}

/// `text` in lines of at most [`WIDTH`] characters, broken at spaces where it can: the first
/// line starts with `first`, the others with `rest`.
pub fn wrap_text(text: &str, first: &str, rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = first.to_owned();
    let mut fresh = true;
    for word in text.split_whitespace() {
        let room = WIDTH.saturating_sub(line.chars().count() + usize::from(!fresh));
        if !fresh && word.chars().count() > room {
            out.push(std::mem::replace(&mut line, rest.to_owned()));
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        let mut chars: Vec<char> = word.chars().collect();
        // A word longer than a line is cut into line-sized pieces.
        loop {
            let room = WIDTH.saturating_sub(line.chars().count()).max(1);
            if chars.len() <= room {
                line.extend(chars);
                break;
            }
            line.extend(chars.drain(..room));
            out.push(std::mem::replace(&mut line, rest.to_owned()));
        }
        fresh = false;
    }
    out.push(line);
    out
}

/// At most `width` characters; longer text ends with `...`.
pub fn shorten_end(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let kept: String = s.chars().take(width.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// At most `width` characters, keeping both ends (a path's file name stays visible).
pub fn shorten_middle(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_owned();
    }
    let tail = (width.saturating_sub(3)) * 2 / 3;
    let head = width.saturating_sub(3 + tail);
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}...{end}")
}

/// Every line cut to [`WIDTH`]: a safety net for text the demo does not control.
fn fit_all(lines: Vec<String>) -> Vec<String> {
    lines.iter().map(|l| shorten_end(l, WIDTH)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::state::{CollectorMetrics, line_view, parse_labels};
    use super::*;

    fn state() -> DemoState {
        let line = r#"{"body":"Back-off restarting failed container app in pod checkout-7d9f8c6b4-x2x4q","severity":"Warning","attributes":{"k8s.event.count":12,"k8s.event.reason":"BackOff","k8s.namespace.name":"shop"},"resources":{"k8s.object.kind":"Pod","k8s.object.name":"checkout-7d9f8c6b4-x2x4q"}}"#;
        let common = r#"cluster="tenant-a", exporter="OTLP", node="sim-node-1", receiver="k8s_event", service_name="unknown_service""#;
        DemoState {
            setup: Setup {
                rbac: "events: get, list, watch".into(),
                loki_user: "k8s-event-collector".into(),
                tenant: "tenant-a".into(),
                binary: "/very/long/shared/build/directory/target/debug/k8s-event-collector".into(),
                config: "deploy/base/configmap.yaml".into(),
            },
            elapsed: Duration::from_secs(12),
            duration: Some(Duration::from_secs(20)),
            events: 31,
            occurrences: 57,
            streams: vec![
                StreamCount {
                    labels: parse_labels(&format!("{{{common}, level=\"INFO\"}}")),
                    entries: 30,
                },
                StreamCount {
                    labels: parse_labels(&format!("{{{common}, level=\"WARN\"}}")),
                    entries: 25,
                },
            ],
            received: 57,
            stored: 55,
            by_reason: vec![
                ("BackOff".into(), 12),
                ("AVeryLongReasonThatDoesNotFitInItsColumnAtAll".into(), 9),
                ("Started".into(), 5),
                ("Created".into(), 5),
                ("Pulled".into(), 4),
            ],
            by_namespace: vec![("shop".into(), 20), ("web".into(), 18)],
            last_lines: vec![line_view("WARN", line), line_view("INFO", "plain text")],
            metrics: Some(CollectorMetrics {
                records_in: 57,
                settled: 55,
                in_flight: 2,
                pushes: vec![
                    ("2xx".into(), 14),
                    ("4xx".into(), 0),
                    ("5xx".into(), 1),
                    ("transport".into(), 0),
                ],
                retries: 1,
                checkpoint_age: Some(0.0),
            }),
            ..DemoState::default()
        }
    }

    fn assert_fits(lines: &[String]) {
        for l in lines {
            assert!(
                l.chars().count() <= WIDTH,
                "{} columns: {l}",
                l.chars().count()
            );
        }
    }

    #[test]
    fn every_screen_fits_80_columns_and_a_24_line_terminal() {
        let s = state();
        let full = frame(&s);
        assert_fits(&full);
        assert!(
            full.len() <= 24,
            "{} lines:\n{}",
            full.len(),
            full.join("\n")
        );
        assert_fits(&status_block(&s));
        assert_fits(&summary(&s));
        let empty = DemoState::default();
        assert_fits(&frame(&empty));
        assert_fits(&summary(&empty));
    }

    #[test]
    fn the_frame_says_what_runs_and_what_landed() {
        let text = frame(&state()).join("\n");
        assert!(
            text.contains("deploy/'s RBAC grants events: get, list, watch"),
            "{text}"
        );
        assert!(text.contains("tenant tenant-a"));
        assert!(
            text.contains("k8s-event-collector on deploy/base/configmap.yaml"),
            "{text}"
        );
        assert!(text.contains("12s of 20s"));
        assert!(
            text.contains("every stream  cluster=\"tenant-a\""),
            "{text}"
        );
        assert!(text.contains("{level=\"WARN\"}"), "{text}");
        assert!(text.contains("BackOff x12: Back-off restarting"), "{text}");
        assert!(text.contains("as stored: plain text"), "{text}");
        assert!(
            text.contains("records in 57, settled 55, in flight 2"),
            "{text}"
        );
        assert!(
            text.contains("2xx 14, 4xx 0, 5xx 1, transport 0; checkpoint age 0s"),
            "{text}"
        );
    }

    #[test]
    fn the_summary_counts_duplicates_and_says_what_happened() {
        let text = summary(&state()).join("\n");
        assert!(
            text.contains("events generated            31  (57 occurrences"),
            "{text}"
        );
        assert!(text.contains("duplicates                   2"), "{text}");
        assert!(text.contains("Every occurrence reached Loki"), "{text}");
        let nothing = summary(&DemoState {
            occurrences: 3,
            ..DemoState::default()
        })
        .join("\n");
        assert!(nothing.contains("Nothing arrived in Loki"), "{nothing}");
    }

    #[test]
    fn shortening_and_durations() {
        assert_eq!(shorten_end("abcdef", 5), "ab...");
        assert_eq!(shorten_end("abc", 5), "abc");
        assert_eq!(shorten_middle("/a/b/c/d/e/f/binary", 12), "/a/...binary");
        assert_eq!(human(Duration::from_secs(125)), "2m05s");
        assert_eq!(plural(1, "entry"), "1 entry");
        assert_eq!(plural(2, "entry"), "2 entries");
        assert_eq!(plural(0, "stream"), "0 streams");
        assert_eq!(human(Duration::from_secs(3720)), "1h02m");
        let log = format!("WARN Loki said {} and more", "x".repeat(100));
        let wrapped = wrap_text(&log, "  ", "      ");
        assert_fits(&wrapped);
        assert_eq!(wrapped.len(), 3, "{wrapped:?}");
        assert_eq!(wrapped[0], "  WARN Loki said");
        assert_eq!(wrapped[1].len(), WIDTH);
        assert!(wrapped[2].starts_with("      xxx"));
        assert!(wrapped[2].ends_with(" and more"));
        let wrapped = wrap("  x ", &["a".repeat(50), "b".repeat(50)]);
        assert_eq!(wrapped.len(), 2);
        assert!(wrapped[1].starts_with("    b"));
    }
}
