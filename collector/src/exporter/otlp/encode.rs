//! Log records to an OTLP `ExportLogsServiceRequest` and back.
//!
//! Records with identical resource attributes share one `ResourceLogs` (one `ScopeLogs` with an
//! empty scope, as the receiver has no instrumentation scope); resources keep the order they
//! first appear in, and records keep their order within a resource.

use prost::Message;

use super::proto::{
    self, ArrayValue, ExportLogsServiceRequest, KeyValue, KeyValueList, Resource, ResourceLogs,
    ScopeLogs, Value,
};
use crate::record::{AnyValue, Attributes, LogRecord, SeverityNumber};

/// The log attribute `namespace_as_resource` moves to the resource: Loki's OTLP endpoint makes
/// only resource attributes labels.
pub const NAMESPACE: &str = "k8s.namespace.name";

/// How records are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Move `k8s.namespace.name` from the log to the resource attributes.
    pub namespace_as_resource: bool,
}

/// The request carrying `records`.
pub fn to_request(records: &[LogRecord], options: EncodeOptions) -> ExportLogsServiceRequest {
    let mut groups: Vec<(Attributes, Vec<proto::LogRecord>)> = Vec::new();
    for record in records {
        let mut resource = record.resource.clone();
        let mut attributes = record.attributes.clone();
        if options.namespace_as_resource
            && let Some(namespace) = attributes.remove(NAMESPACE)
        {
            resource.upsert(NAMESPACE, namespace);
        }
        let log = to_log_record(record, attributes);
        // Linear search: a batch has few distinct resources, and order must be kept.
        match groups.iter_mut().find(|(r, _)| *r == resource) {
            Some((_, logs)) => logs.push(log),
            None => groups.push((resource, vec![log])),
        }
    }
    ExportLogsServiceRequest {
        resource_logs: groups
            .into_iter()
            .map(|(resource, log_records)| ResourceLogs {
                resource: Some(Resource {
                    attributes: key_values(resource),
                    dropped_attributes_count: 0,
                }),
                scope_logs: vec![ScopeLogs {
                    scope: None,
                    log_records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// The protobuf body of `records` (uncompressed).
pub fn encode_protobuf(records: &[LogRecord], options: EncodeOptions) -> Vec<u8> {
    to_request(records, options).encode_to_vec()
}

/// The records of a protobuf request, resource by resource: the inverse of
/// [`encode_protobuf`], for tests and the harness.
pub fn decode_protobuf(body: &[u8]) -> Result<Vec<LogRecord>, prost::DecodeError> {
    let request = ExportLogsServiceRequest::decode(body)?;
    let mut records = Vec::new();
    for resource_logs in request.resource_logs {
        let resource = attributes(
            resource_logs
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        for log in resource_logs
            .scope_logs
            .into_iter()
            .flat_map(|s| s.log_records)
        {
            records.push(LogRecord {
                timestamp_unix_nano: unix_nano(log.time_unix_nano),
                observed_unix_nano: unix_nano(log.observed_time_unix_nano),
                severity_number: SeverityNumber(
                    u8::try_from(log.severity_number).unwrap_or_default(),
                ),
                severity_text: log.severity_text,
                body: log.body.map(from_any_value).unwrap_or_default(),
                attributes: attributes(log.attributes),
                resource: resource.clone(),
            });
        }
    }
    Ok(records)
}

fn to_log_record(record: &LogRecord, attributes: Attributes) -> proto::LogRecord {
    proto::LogRecord {
        // 0 is OTLP's "unknown"; a time before the epoch cannot be sent either.
        time_unix_nano: nanos(record.timestamp_unix_nano),
        observed_time_unix_nano: nanos(record.observed_unix_nano),
        severity_number: i32::from(record.severity_number.0),
        severity_text: record.severity_text.clone(),
        body: Some(to_any_value(&record.body)),
        attributes: key_values(attributes),
        dropped_attributes_count: 0,
        flags: 0,
        trace_id: Vec::new(),
        span_id: Vec::new(),
    }
}

fn nanos(t: Option<i64>) -> u64 {
    t.and_then(|t| u64::try_from(t).ok()).unwrap_or_default()
}

fn unix_nano(t: u64) -> Option<i64> {
    Some(t)
        .filter(|&t| t != 0)
        .and_then(|t| i64::try_from(t).ok())
}

fn key_values(attributes: Attributes) -> Vec<KeyValue> {
    attributes
        .into_iter()
        .map(|(key, value)| KeyValue {
            key,
            value: Some(to_any_value(&value)),
        })
        .collect()
}

fn attributes(key_values: Vec<KeyValue>) -> Attributes {
    key_values
        .into_iter()
        .map(|kv| (kv.key, kv.value.map(from_any_value).unwrap_or_default()))
        .collect()
}

fn to_any_value(value: &AnyValue) -> proto::AnyValue {
    let value = match value {
        AnyValue::Str(s) => Value::StringValue(s.clone()),
        AnyValue::Int(i) => Value::IntValue(*i),
        AnyValue::Double(d) => Value::DoubleValue(*d),
        AnyValue::Bool(b) => Value::BoolValue(*b),
        AnyValue::Bytes(b) => Value::BytesValue(b.clone()),
        AnyValue::Array(values) => Value::ArrayValue(ArrayValue {
            values: values.iter().map(to_any_value).collect(),
        }),
        AnyValue::Map(map) => Value::KvlistValue(KeyValueList {
            values: key_values(map.clone()),
        }),
    };
    proto::AnyValue { value: Some(value) }
}

fn from_any_value(value: proto::AnyValue) -> AnyValue {
    match value.value {
        // An empty AnyValue has no counterpart in our records: the nearest is "".
        None => AnyValue::default(),
        Some(Value::StringValue(s)) => AnyValue::Str(s),
        Some(Value::IntValue(i)) => AnyValue::Int(i),
        Some(Value::DoubleValue(d)) => AnyValue::Double(d),
        Some(Value::BoolValue(b)) => AnyValue::Bool(b),
        Some(Value::BytesValue(b)) => AnyValue::Bytes(b),
        Some(Value::ArrayValue(a)) => {
            AnyValue::Array(a.values.into_iter().map(from_any_value).collect())
        }
        Some(Value::KvlistValue(l)) => AnyValue::Map(attributes(l.values)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "encode_tests.rs"]
mod tests;
