//! The `debug` exporter: prints records as the OpenTelemetry Collector's debug exporter does,
//! so users can see what a pipeline produces before pointing it at Loki.

use std::fmt::Write;

use crate::config::exporters::Verbosity;
use crate::receiver::k8s_events::time::Time;
use crate::record::{AnyValue, Attributes, LogRecord};

/// The text the debug exporter prints for one batch of records.
pub fn render(records: &[LogRecord], verbosity: Verbosity) -> String {
    let mut out = String::new();
    match verbosity {
        Verbosity::Basic => {
            let _ = writeln!(out, "LogsExporter {{\"log records\": {}}}", records.len());
        }
        Verbosity::Normal => {
            for r in records {
                let _ = write!(
                    out,
                    "{} {} {}",
                    timestamp(r.timestamp_unix_nano),
                    r.severity_text,
                    r.body
                );
                for (k, v) in r.attributes.iter() {
                    let _ = write!(out, " {k}={v}");
                }
                out.push('\n');
            }
        }
        Verbosity::Detailed => {
            for (i, r) in records.iter().enumerate() {
                let _ = writeln!(out, "ResourceLog #{i}");
                write_attributes(&mut out, "Resource attributes", &r.resource);
                let _ = writeln!(out, "LogRecord #0");
                let _ = writeln!(
                    out,
                    "ObservedTimestamp: {}",
                    timestamp(r.observed_unix_nano)
                );
                let _ = writeln!(out, "Timestamp: {}", timestamp(r.timestamp_unix_nano));
                let _ = writeln!(out, "SeverityText: {}", r.severity_text);
                let _ = writeln!(
                    out,
                    "SeverityNumber: {}({})",
                    severity_title(r.severity_number.name()),
                    r.severity_number.0
                );
                let _ = writeln!(out, "Body: {}", typed(&r.body));
                write_attributes(&mut out, "Attributes", &r.attributes);
            }
        }
    }
    out
}

fn write_attributes(out: &mut String, title: &str, attrs: &Attributes) {
    let _ = writeln!(out, "{title}:");
    for (k, v) in attrs.iter() {
        let _ = writeln!(out, "     -> {k}: {}", typed(v));
    }
}

/// `Str(x)`, `Int(3)`: the value with its type, as pcommon prints it.
fn typed(v: &AnyValue) -> String {
    let kind = match v {
        AnyValue::Str(_) => "Str",
        AnyValue::Int(_) => "Int",
        AnyValue::Double(_) => "Double",
        AnyValue::Bool(_) => "Bool",
        AnyValue::Bytes(_) => "Bytes",
        AnyValue::Array(_) => "Slice",
        AnyValue::Map(_) => "Map",
    };
    format!("{kind}({v})")
}

/// `INFO` -> `Info`, `DEBUG4` -> `Debug4`, as OpenTelemetry names severity numbers in text.
fn severity_title(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_string() + &chars.as_str().to_ascii_lowercase(),
        None => String::new(),
    }
}

fn timestamp(ns: Option<i64>) -> String {
    const NANOS_PER_SEC: i64 = 1_000_000_000;
    let ns = ns.unwrap_or(0);
    let nanos = u32::try_from(ns.rem_euclid(NANOS_PER_SEC)).unwrap_or(0);
    Time::from_unix(ns.div_euclid(NANOS_PER_SEC), nanos)
        .map(Time::to_go_string)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SeverityNumber;

    fn record() -> LogRecord {
        LogRecord {
            timestamp_unix_nano: Some(1_714_557_600_000_000_000),
            severity_number: SeverityNumber::WARN,
            severity_text: "Warning".into(),
            body: "Back-off restarting failed container".into(),
            attributes: [
                ("k8s.event.reason", AnyValue::from("BackOff")),
                ("k8s.event.count", AnyValue::Int(3)),
            ]
            .into_iter()
            .collect(),
            resource: [("k8s.object.kind", "Pod")].into_iter().collect(),
            ..LogRecord::default()
        }
    }

    #[test]
    fn detailed_shows_every_attribute_with_its_type() {
        let out = render(&[record()], Verbosity::Detailed);
        assert_eq!(
            out,
            "ResourceLog #0\nResource attributes:\n     -> k8s.object.kind: Str(Pod)\nLogRecord #0\n\
             ObservedTimestamp: 1970-01-01 00:00:00 +0000 UTC\nTimestamp: 2024-05-01 10:00:00 +0000 UTC\n\
             SeverityText: Warning\nSeverityNumber: Warn(13)\nBody: Str(Back-off restarting failed container)\n\
             Attributes:\n     -> k8s.event.reason: Str(BackOff)\n     -> k8s.event.count: Int(3)\n"
        );
    }

    #[test]
    fn basic_and_normal_are_short() {
        assert_eq!(
            render(&[record(), record()], Verbosity::Basic),
            "LogsExporter {\"log records\": 2}\n"
        );
        assert_eq!(
            render(&[record()], Verbosity::Normal),
            "2024-05-01 10:00:00 +0000 UTC Warning Back-off restarting failed container k8s.event.reason=BackOff k8s.event.count=3\n"
        );
    }
}
