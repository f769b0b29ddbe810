//! The log line of a record in the format its `loki.format` hint asks for: `json` (the default),
//! `logfmt` or `raw`, byte for byte as the old exporter wrote it.
//!
//! `json` is Go's `encoding/json` of an object with, in this order and each left out when empty,
//! `body` (kept even when `""`), `traceid`, `spanid`, `severity`, `flags`, `attributes`,
//! `resources`, `instrumentation_scope`; maps with keys sorted at every level, HTML characters
//! escaped. Our records carry no trace context, flags or scope, so those never appear.

use super::labels::RecordLabels;
use super::{EncodeOptions, hints, logfmt};
use crate::gofmt;
use crate::record::{AnyValue, LogRecord};

/// A line format of the `loki.format` hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    Json,
    Logfmt,
    Raw,
}

/// Why a record has no line; the old exporter dropped such records, and so do we.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The `loki.format` hint names no known format.
    #[error("unknown line format {0:?} in the loki.format hint (expected json, logfmt or raw)")]
    UnknownFormat(String),
    /// A `json` line would hold NaN or an infinity, which Go's encoder refuses.
    #[error("the record holds a NaN or infinite number, which a JSON line cannot carry")]
    UnsupportedJsonValue,
    /// A `logfmt` line would have an empty key.
    #[error(transparent)]
    Logfmt(#[from] logfmt::EncodeError),
}

impl LineFormat {
    /// The format the record's `loki.format` hint asks for (resource first, then the log
    /// attributes; the hint's string form, case-sensitive); `json` without a hint.
    pub fn of(record: &LogRecord) -> Result<Self, LineError> {
        let hint = record
            .resource
            .get(hints::FORMAT)
            .or_else(|| record.attributes.get(hints::FORMAT));
        let Some(hint) = hint else {
            return Ok(Self::Json);
        };
        match gofmt::as_string(hint).as_str() {
            "json" => Ok(Self::Json),
            "logfmt" => Ok(Self::Logfmt),
            "raw" => Ok(Self::Raw),
            other => Err(LineError::UnknownFormat(other.to_owned())),
        }
    }
}

/// The line of `record` in `format`, leaving out the attributes `labels` removes.
pub fn encode_line(
    format: LineFormat,
    record: &LogRecord,
    labels: &RecordLabels,
    opts: &EncodeOptions,
) -> Result<String, LineError> {
    match format {
        LineFormat::Json => json_line(
            &record.body,
            &record.severity_text,
            &mut labels.line_attributes(record),
            &mut labels.line_resource(record),
        ),
        LineFormat::Logfmt => Ok(logfmt::logfmt_line(
            &record.body,
            &record.severity_text,
            &labels.line_attributes(record),
            &labels.line_resource(record),
            opts.logfmt_message_field,
        )?),
        // pcommon's `AsString`: the text of a string body, JSON for maps and lists.
        LineFormat::Raw => Ok(gofmt::as_string(&record.body)),
    }
}

fn json_line(
    body: &AnyValue,
    severity_text: &str,
    attributes: &mut [(&str, &AnyValue)],
    resource: &mut [(&str, &AnyValue)],
) -> Result<String, LineError> {
    let unsupported = |_| LineError::UnsupportedJsonValue;
    let mut out = String::with_capacity(
        48 + text_len(body) + severity_text.len() + fields_len(attributes) + fields_len(resource),
    );
    out.push_str("{\"body\":");
    gofmt::write_json_value(&mut out, body).map_err(unsupported)?;
    if !severity_text.is_empty() {
        out.push_str(",\"severity\":");
        gofmt::write_json_string(&mut out, severity_text);
    }
    if !attributes.is_empty() {
        out.push_str(",\"attributes\":");
        gofmt::write_json_fields(&mut out, attributes).map_err(unsupported)?;
    }
    if !resource.is_empty() {
        out.push_str(",\"resources\":");
        gofmt::write_json_fields(&mut out, resource).map_err(unsupported)?;
    }
    out.push('}');
    Ok(out)
}

/// What a JSON line needs for `fields` without escapes: sized once, the line is not grown
/// (and copied) two or three times on the way to its usual 600 to 900 bytes.
fn fields_len(fields: &[(&str, &AnyValue)]) -> usize {
    fields.iter().map(|(k, v)| k.len() + text_len(v) + 6).sum()
}

/// A string value's length; a guess for other values (a number, a short list).
fn text_len(value: &AnyValue) -> usize {
    match value {
        AnyValue::Str(s) => s.len(),
        _ => 16,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::exporter::loki::test_support::k8s_event_record;
    use crate::record::{Attributes, SeverityNumber};

    fn line_of(record: &LogRecord) -> Result<String, LineError> {
        let opts = EncodeOptions::default();
        let labels = RecordLabels::of(record, &opts);
        encode_line(LineFormat::of(record)?, record, &labels, &opts)
    }

    #[test]
    fn reference_setup_record_gives_the_reference_json_line() {
        assert_eq!(
            line_of(&k8s_event_record()).unwrap(),
            concat!(
                r#"{"body":"Container image \"nginx:1.25\" already present on machine","#,
                r#""severity":"Normal","#,
                r#""attributes":{"k8s.event.action":"","k8s.event.count":1,"#,
                r#""k8s.event.name":"web-0.17cb5a1f2e3d4c5b","k8s.event.reason":"Pulled","#,
                r#""k8s.event.start_time":"2024-05-01 10:00:00 +0000 UTC","#,
                r#""k8s.event.uid":"5b8f3c1e-0d2a-4e6b-9f7c-1a2b3c4d5e6f","#,
                r#""k8s.namespace.name":"default"},"#,
                r#""resources":{"k8s.node.name":"kind-worker","k8s.object.api_version":"v1","#,
                r#""k8s.object.fieldpath":"spec.containers{nginx}","k8s.object.kind":"Pod","#,
                r#""k8s.object.name":"web-0","k8s.object.resource_version":"4711","#,
                r#""k8s.object.uid":"0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"}}"#
            )
        );
    }

    #[test]
    fn reference_setup_record_as_logfmt() {
        let mut record = k8s_event_record();
        record.resource.upsert("loki.format", "logfmt");
        assert_eq!(
            line_of(&record).unwrap(),
            concat!(
                r#"msg="Container image \"nginx:1.25\" already present on machine" severity=Normal "#,
                r#"attribute_k8s.event.reason=Pulled attribute_k8s.event.action= "#,
                r#"attribute_k8s.event.start_time="2024-05-01 10:00:00 +0000 UTC" "#,
                r#"attribute_k8s.event.name=web-0.17cb5a1f2e3d4c5b "#,
                r#"attribute_k8s.event.uid=5b8f3c1e-0d2a-4e6b-9f7c-1a2b3c4d5e6f "#,
                r#"attribute_k8s.namespace.name=default attribute_k8s.event.count=1 "#,
                r#"resource_k8s.node.name=kind-worker resource_k8s.object.kind=Pod "#,
                r#"resource_k8s.object.name=web-0 "#,
                r#"resource_k8s.object.uid=0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5 "#,
                r#"resource_k8s.object.fieldpath=spec.containers{nginx} "#,
                r#"resource_k8s.object.api_version=v1 resource_k8s.object.resource_version=4711"#
            )
        );
        record.body = "Successfully assigned default/web-0 to kind-worker".into();
        record.attributes = Attributes::new();
        record.resource = [("loki.format", "logfmt")].into_iter().collect();
        assert_eq!(
            line_of(&record).unwrap(),
            "Successfully= assigned= default/web-0= to= kind-worker= severity=Normal"
        );
    }

    #[test]
    fn json_line_keeps_an_empty_body_and_leaves_out_empty_fields() {
        let record = LogRecord::default();
        assert_eq!(line_of(&record).unwrap(), r#"{"body":""}"#);
        let record = LogRecord {
            body: AnyValue::Map(
                [("z", AnyValue::Int(1)), ("a", "<&>".into())]
                    .into_iter()
                    .collect(),
            ),
            ..LogRecord::default()
        };
        assert_eq!(
            line_of(&record).unwrap(),
            r#"{"body":{"a":"\u003c\u0026\u003e","z":1}}"#
        );
    }

    #[test]
    fn json_line_with_nan_drops_the_record() {
        let record = LogRecord {
            attributes: [("x", AnyValue::Double(f64::NAN))].into_iter().collect(),
            ..LogRecord::default()
        };
        assert_eq!(line_of(&record), Err(LineError::UnsupportedJsonValue));
    }

    #[test]
    fn format_hint_resource_first_and_unknown_formats_drop() {
        let mut record = LogRecord {
            body: AnyValue::Map([("k", "v")].into_iter().collect()),
            severity_number: SeverityNumber::INFO,
            attributes: [("loki.format", "logfmt")].into_iter().collect(),
            ..LogRecord::default()
        };
        assert_eq!(LineFormat::of(&record), Ok(LineFormat::Logfmt));
        record.resource.upsert("loki.format", "raw");
        assert_eq!(LineFormat::of(&record), Ok(LineFormat::Raw));
        assert_eq!(line_of(&record).unwrap(), r#"{"k":"v"}"#);
        record.resource.upsert("loki.format", "JSON");
        assert_eq!(
            line_of(&record),
            Err(LineError::UnknownFormat("JSON".into()))
        );
        record.resource.upsert("loki.format", AnyValue::Int(1));
        assert_eq!(
            LineFormat::of(&record),
            Err(LineError::UnknownFormat("1".into()))
        );
    }

    #[test]
    fn raw_line_is_the_body_text() {
        let record = LogRecord {
            body: "plain <text>".into(),
            resource: [("loki.format", "raw")].into_iter().collect(),
            ..LogRecord::default()
        };
        assert_eq!(line_of(&record).unwrap(), "plain <text>");
    }
}
