//! The mapping from a Kubernetes Event to the log record the OpenTelemetry `k8s_events` receiver
//! produces: same attribute names, order, severity and body, with a better timestamp.
//!
//! Pure: no I/O, no clock. The receiver sets the observed timestamp.
//!
//! What is mapped and what is an error: absent fields map to what the OpenTelemetry receiver
//! makes of Go's zero values (`""`, no count, the zero time in `k8s.event.start_time`), so an
//! event missing fields still ships. A time field whose text is not RFC 3339 is an error
//! ([`EventError::InvalidTime`]), as it is for Go's decoder, which rejects the whole object; so
//! is a newest time outside the years a nanosecond timestamp holds
//! ([`EventError::TimeOutOfRange`]). The caller can still read the event's key to move past it.
//! An empty time string reads as absent (Go would reject it; no API server writes one).
//!
//! Where we differ from the OpenTelemetry receiver, on purpose: the timestamp (the newest time,
//! see [`event_timestamp`]), the count of series events ([`Event::count`]), Error/Critical
//! severities (added by later receivers), and no timestamp rather than Go's year-1 zero time when
//! an event has no time at all.

use crate::record::{AnyValue, Attributes, LogRecord, SeverityNumber};

use super::event::{Event, EventError};
use super::time::Time;

/// `type` (lower-cased) -> severity. Normal and Warning are what Kubernetes emits; Error and
/// Critical are what later OpenTelemetry receivers added (v0.130 left them unspecified).
const SEVERITIES: [(&str, SeverityNumber); 4] = [
    ("normal", SeverityNumber::INFO),
    ("warning", SeverityNumber::WARN),
    ("error", SeverityNumber::ERROR),
    ("critical", SeverityNumber::FATAL),
];

/// The severity for an event `type`, case-insensitively; unspecified for anything else.
pub fn severity(event_type: &str) -> SeverityNumber {
    SEVERITIES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(event_type))
        .map_or(SeverityNumber::UNSPECIFIED, |&(_, severity)| severity)
}

/// The event's timestamp: the newest of its time fields, as Unix nanoseconds, with the wire name
/// of the field it came from; `None` when the event has no time at all.
///
/// Newest rather than OpenTelemetry's "eventTime, else lastTimestamp, else firstTimestamp":
/// a repeated event's latest occurrence is what happened now, and OpenTelemetry's choice dates a
/// series update at its first occurrence. On a tie the earlier field in
/// [`Event::time_fields`] is named.
pub fn event_timestamp(event: &Event<'_>) -> Result<Option<(i64, &'static str)>, EventError> {
    Ok(newest_and_creation(event)?
        .0
        .map(|(nanos, field, _)| (nanos, field)))
}

/// The newest time (nanoseconds, field, text) and the parsed creation time.
#[allow(clippy::type_complexity)]
fn newest_and_creation<'e>(
    event: &'e Event<'_>,
) -> Result<(Option<(i64, &'static str, &'e str)>, Option<Time>), EventError> {
    let mut newest: Option<(Time, &'static str, &'e str)> = None;
    let mut creation = None;
    for (field, text) in event.time_fields() {
        if text.is_empty() {
            continue;
        }
        let time = Time::parse_rfc3339(text).map_err(|source| EventError::InvalidTime {
            field,
            value: text.to_owned(),
            source,
        })?;
        if field == "metadata.creationTimestamp" {
            creation = Some(time);
        }
        if newest.is_none_or(|(best, _, _)| time > best) {
            newest = Some((time, field, text));
        }
    }
    let newest = match newest {
        None => None,
        Some((time, field, text)) => {
            let nanos = time
                .unix_nanos()
                .ok_or_else(|| EventError::TimeOutOfRange {
                    field,
                    value: text.to_owned(),
                })?;
            Some((nanos, field, text))
        }
    };
    Ok((newest, creation))
}

/// Maps one event to its log record, as the OpenTelemetry `k8s_events` receiver does.
///
/// - Resource attributes, in order, all strings, empty kept: `k8s.node.name`, `k8s.object.kind`,
///   `k8s.object.name`, `k8s.object.uid`, `k8s.object.fieldpath`, `k8s.object.api_version`,
///   `k8s.object.resource_version` (from `involvedObject`/`regarding`).
/// - Attributes, in order: `k8s.event.reason`, `k8s.event.action`, `k8s.event.start_time`
///   (`metadata.creationTimestamp` as Go's `time.Time.String()` in UTC, Go's zero time when
///   absent), `k8s.event.name`, `k8s.event.uid`, `k8s.namespace.name` (the regarded object's
///   namespace), then `k8s.event.count` (int) when [`Event::count`] is not 0.
/// - Body: the message (`note`), always a string. Severity from `type` ([`severity`]), with
///   the original `type` as text when it maps, else unspecified and `""`.
/// - Timestamp: see [`event_timestamp`]. Observed timestamp: unset.
pub fn to_log_record(event: &Event<'_>) -> Result<LogRecord, EventError> {
    let (newest, creation) = newest_and_creation(event)?;

    let object = event.regarding();
    let mut resource = Attributes::with_capacity(7);
    resource.push_unique("k8s.node.name", event.node_name());
    resource.push_unique("k8s.object.kind", &*object.kind);
    resource.push_unique("k8s.object.name", &*object.name);
    resource.push_unique("k8s.object.uid", &*object.uid);
    resource.push_unique("k8s.object.fieldpath", &*object.field_path);
    resource.push_unique("k8s.object.api_version", &*object.api_version);
    resource.push_unique("k8s.object.resource_version", &*object.resource_version);

    let count = event.count();
    let mut attributes = Attributes::with_capacity(if count != 0 { 7 } else { 6 });
    attributes.push_unique("k8s.event.reason", &*event.reason);
    attributes.push_unique("k8s.event.action", &*event.action);
    attributes.push_unique(
        "k8s.event.start_time",
        creation.unwrap_or(Time::GO_ZERO).to_go_string(),
    );
    attributes.push_unique("k8s.event.name", event.name());
    attributes.push_unique("k8s.event.uid", event.uid());
    attributes.push_unique("k8s.namespace.name", &*object.namespace);
    if count != 0 {
        attributes.push_unique("k8s.event.count", count);
    }

    let severity_number = severity(&event.type_);
    let severity_text = if severity_number == SeverityNumber::UNSPECIFIED {
        String::new()
    } else {
        event.type_.clone().into_owned()
    };

    Ok(LogRecord {
        timestamp_unix_nano: newest.map(|(nanos, _, _)| nanos),
        observed_unix_nano: None,
        severity_number,
        severity_text,
        body: AnyValue::Str(event.note().to_owned()),
        attributes,
        resource,
    })
}

impl Event<'_> {
    /// The event's log record; see [`to_log_record`].
    pub fn to_log_record(&self) -> Result<LogRecord, EventError> {
        to_log_record(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::gofmt;

    fn record(json: &str) -> LogRecord {
        Event::from_json(json).unwrap().to_log_record().unwrap()
    }

    #[test]
    fn severity_is_case_insensitive_and_keeps_the_original_text() {
        for (ty, number) in [
            ("Normal", SeverityNumber::INFO),
            ("NORMAL", SeverityNumber::INFO),
            ("warning", SeverityNumber::WARN),
            ("Error", SeverityNumber::ERROR),
            ("CRITICAL", SeverityNumber::FATAL),
        ] {
            let r = record(&format!(r#"{{"type":"{ty}"}}"#));
            assert_eq!(r.severity_number, number);
            assert_eq!(r.severity_text, ty);
        }
        for ty in ["", "Info", "normal ", "Warn"] {
            let r = record(&format!(r#"{{"type":"{ty}"}}"#));
            assert_eq!(r.severity_number, SeverityNumber::UNSPECIFIED);
            assert_eq!(r.severity_text, "");
        }
    }

    #[test]
    fn an_empty_object_maps_to_the_zero_record() {
        let r = record("{}");
        assert_eq!(r.timestamp_unix_nano, None);
        assert_eq!(r.body, AnyValue::Str(String::new()));
        assert_eq!(
            r.resource.keys().collect::<Vec<_>>(),
            [
                "k8s.node.name",
                "k8s.object.kind",
                "k8s.object.name",
                "k8s.object.uid",
                "k8s.object.fieldpath",
                "k8s.object.api_version",
                "k8s.object.resource_version",
            ]
        );
        assert!(r.resource.iter().all(|(_, v)| v.as_str() == Some("")));
        let attrs: Vec<_> = r
            .attributes
            .iter()
            .map(|(k, v)| (k, gofmt::as_string(v)))
            .collect();
        assert_eq!(
            attrs,
            [
                ("k8s.event.reason", String::new()),
                ("k8s.event.action", String::new()),
                (
                    "k8s.event.start_time",
                    "0001-01-01 00:00:00 +0000 UTC".into()
                ),
                ("k8s.event.name", String::new()),
                ("k8s.event.uid", String::new()),
                ("k8s.namespace.name", String::new()),
            ]
        );
    }

    #[test]
    fn the_newest_time_wins() {
        let r = record(
            r#"{"metadata":{"creationTimestamp":"2024-05-01T10:00:00Z"},
                "firstTimestamp":"2024-05-01T10:00:00Z","lastTimestamp":"2024-05-01T10:05:00Z",
                "eventTime":"2024-05-01T10:01:00.250000Z",
                "series":{"count":3,"lastObservedTime":"2024-05-01T10:03:00.000000Z"}}"#,
        );
        assert_eq!(r.timestamp_unix_nano, Some(1_714_557_900_000_000_000));
        let ev = Event::from_json(r#"{"eventTime":"2024-05-01T10:01:00.250000Z"}"#).unwrap();
        assert_eq!(
            event_timestamp(&ev).unwrap(),
            Some((1_714_557_660_250_000_000, "eventTime"))
        );
    }

    #[test]
    fn bad_times_are_errors_that_name_the_field() {
        let ev = Event::from_json(r#"{"lastTimestamp":"yesterday"}"#).unwrap();
        let err = ev.to_log_record().unwrap_err();
        assert!(
            matches!(&err, EventError::InvalidTime { field: "lastTimestamp", value, .. } if value == "yesterday"),
            "{err}"
        );
        assert!(err.to_string().contains("lastTimestamp"), "{err}");

        let ev = Event::from_json(
            r#"{"apiVersion":"events.k8s.io/v1","deprecatedFirstTimestamp":"2024-13-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert!(matches!(
            ev.to_log_record(),
            Err(EventError::InvalidTime {
                field: "deprecatedFirstTimestamp",
                ..
            })
        ));

        let ev = Event::from_json(r#"{"eventTime":"3000-01-01T00:00:00.000000Z"}"#).unwrap();
        assert!(matches!(
            ev.to_log_record(),
            Err(EventError::TimeOutOfRange {
                field: "eventTime",
                ..
            })
        ));
    }

    #[test]
    fn an_old_creation_time_out_of_nanosecond_range_is_an_error_only_when_newest() {
        let ev = Event::from_json(
            r#"{"metadata":{"creationTimestamp":"1000-01-01T00:00:00Z"},"lastTimestamp":"2024-05-01T10:00:00Z"}"#,
        )
        .unwrap();
        let r = ev.to_log_record().unwrap();
        assert_eq!(r.timestamp_unix_nano, Some(1_714_557_600_000_000_000));
        assert_eq!(
            r.attributes.get("k8s.event.start_time"),
            Some(&AnyValue::from("1000-01-01 00:00:00 +0000 UTC"))
        );
        let ev = Event::from_json(r#"{"metadata":{"creationTimestamp":"1000-01-01T00:00:00Z"}}"#)
            .unwrap();
        assert!(matches!(
            ev.to_log_record(),
            Err(EventError::TimeOutOfRange {
                field: "metadata.creationTimestamp",
                ..
            })
        ));
    }
}
