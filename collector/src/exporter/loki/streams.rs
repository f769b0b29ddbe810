//! A batch of records turned into one push per tenant: records with the same label set share a
//! stream, streams in order of first appearance, entries in record order.
//!
//! This is the form both payload encoders ([`proto`](super::proto) and
//! [`push_json`](super::push_json)) consume. The old exporter built the same groups in Go maps,
//! so its tenant and stream order was random; ours is deterministic, which keeps payloads (and so
//! Loki's de-duplication of retried entries) stable.

use std::collections::HashMap;

use super::labels::{LabelSet, RecordLabels};
use super::line::{LineError, LineFormat, encode_line};
use super::{EncodeOptions, hints};
use crate::record::{AnyValue, LogRecord};

/// One log entry of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The record's timestamp, else its observed timestamp, else the `now` of the batch.
    pub timestamp_unix_nano: i64,
    pub line: String,
    /// Our addition (`loki.structured_metadata`): name/value pairs sent beside the line.
    pub structured_metadata: Vec<(String, String)>,
    /// The index of the record in the encoded slice, so the caller can tie delivery of this
    /// entry back to the record (and its checkpoint).
    pub record_index: usize,
}

/// Entries sharing one label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub labels: LabelSet<'static>,
    /// `labels` as Loki's labels string, `{a="x", b="y"}`.
    pub labels_string: String,
    pub entries: Vec<Entry>,
}

/// The streams of one tenant: one push request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPush {
    /// The tenant from the records' `loki.tenant` hint; `None` means the configured one (the
    /// `X-Scope-OrgID` header of the exporter's config, if any).
    pub tenant: Option<String>,
    pub streams: Vec<Stream>,
}

impl TenantPush {
    /// The number of entries over all streams.
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }
}

/// Why a record was dropped instead of encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The `loki.format` hint names no known format.
    UnknownFormat,
    /// A JSON line would hold NaN or an infinity.
    UnsupportedJsonValue,
    /// A logfmt line would have an empty key.
    InvalidLogfmtKey,
}

impl DropReason {
    /// A short name for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownFormat => "unknown_format",
            Self::UnsupportedJsonValue => "unsupported_json_value",
            Self::InvalidLogfmtKey => "invalid_logfmt_key",
        }
    }
}

impl From<&LineError> for DropReason {
    fn from(error: &LineError) -> Self {
        match error {
            LineError::UnknownFormat(_) => Self::UnknownFormat,
            LineError::UnsupportedJsonValue => Self::UnsupportedJsonValue,
            LineError::Logfmt(_) => Self::InvalidLogfmtKey,
        }
    }
}

/// Dropped records, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub unknown_format: usize,
    pub unsupported_json_value: usize,
    pub invalid_logfmt_key: usize,
}

impl DropCounts {
    /// Counts one record dropped for `reason`.
    pub fn add(&mut self, reason: DropReason) {
        *match reason {
            DropReason::UnknownFormat => &mut self.unknown_format,
            DropReason::UnsupportedJsonValue => &mut self.unsupported_json_value,
            DropReason::InvalidLogfmtKey => &mut self.invalid_logfmt_key,
        } += 1;
    }

    /// All dropped records.
    pub fn total(&self) -> usize {
        self.unknown_format + self.unsupported_json_value + self.invalid_logfmt_key
    }
}

/// A batch of records, encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedBatch {
    /// One push per tenant, in order of first appearance; only tenants with entries.
    pub pushes: Vec<TenantPush>,
    /// Records that have no entry.
    pub dropped: DropCounts,
    /// Entries whose line was cut to [`EncodeOptions::max_line_bytes`].
    pub truncated_lines: usize,
}

/// The tenant of a record: the `loki.tenant` hint (resource first, then log attributes) names
/// an attribute (resource first) whose string value is the tenant. `None` when there is no hint,
/// no such attribute, or its value is not a non-empty string.
pub fn tenant_of(record: &LogRecord) -> Option<String> {
    let hint = record
        .resource
        .get(hints::TENANT)
        .or_else(|| record.attributes.get(hints::TENANT))?;
    // The old exporter read both with pcommon's `Str()`, which is "" for non-strings.
    let name = hint.as_str().unwrap_or_default();
    let tenant = record
        .resource
        .get(name)
        .or_else(|| record.attributes.get(name))
        .and_then(AnyValue::as_str)?;
    (!tenant.is_empty()).then(|| tenant.to_owned())
}

/// Encodes `records` into per-tenant pushes. `now_unix_nano` stamps records that carry no
/// timestamp at all (passed in to keep this pure).
pub fn encode_records(
    records: &[LogRecord],
    opts: &EncodeOptions,
    now_unix_nano: i64,
) -> EncodedBatch {
    let mut batch = EncodedBatch::default();
    let mut tenants: HashMap<Option<String>, usize> = HashMap::new();
    // Per push: labels -> stream index. Keyed by the label set borrowed from the records (the
    // labels string is one-to-one with it), so a record of an existing stream copies nothing.
    let mut streams: Vec<HashMap<LabelSet<'_>, usize>> = Vec::new();
    // The push and stream of the previous record: records in a row mostly share them, and
    // comparing is cheaper than hashing a label set.
    let mut last: Option<(usize, usize)> = None;

    for (record_index, record) in records.iter().enumerate() {
        let tenant = tenant_of(record);
        let labels = RecordLabels::of(record, opts);
        let line = match LineFormat::of(record).and_then(|f| encode_line(f, record, &labels, opts))
        {
            Ok(line) => line,
            Err(error) => {
                batch.dropped.add(DropReason::from(&error));
                continue;
            }
        };
        let (line, truncated) = truncate_line(line, opts.max_line_bytes);
        batch.truncated_lines += usize::from(truncated);
        let entry = Entry {
            timestamp_unix_nano: entry_timestamp(record, now_unix_nano),
            line,
            structured_metadata: labels.structured_metadata,
            record_index,
        };

        let push_index = match last {
            Some((p, _))
                if batch
                    .pushes
                    .get(p)
                    .is_some_and(|push| push.tenant == tenant) =>
            {
                p
            }
            _ => *tenants.entry(tenant.clone()).or_insert_with(|| {
                batch.pushes.push(TenantPush {
                    tenant,
                    streams: Vec::new(),
                });
                streams.push(HashMap::new());
                batch.pushes.len() - 1
            }),
        };
        let (Some(push), Some(stream_index)) = (
            batch.pushes.get_mut(push_index),
            streams.get_mut(push_index),
        ) else {
            continue; // unreachable: both grow together
        };
        let at = match last {
            Some((p, s))
                if p == push_index
                    && push
                        .streams
                        .get(s)
                        .is_some_and(|st| st.labels == labels.labels) =>
            {
                s
            }
            _ => *stream_index
                .entry(labels.labels)
                .or_insert_with_key(|labels| {
                    let labels = labels.clone().into_owned();
                    push.streams.push(Stream {
                        labels_string: labels.to_string(),
                        labels,
                        entries: Vec::new(),
                    });
                    push.streams.len() - 1
                }),
        };
        last = Some((push_index, at));
        if let Some(stream) = push.streams.get_mut(at) {
            stream.entries.push(entry);
        }
    }
    batch
}

/// The entry timestamp: the record's, else the observed one, else `now` (0 counts as unset,
/// as in OpenTelemetry).
fn entry_timestamp(record: &LogRecord, now_unix_nano: i64) -> i64 {
    [record.timestamp_unix_nano, record.observed_unix_nano]
        .into_iter()
        .flatten()
        .find(|&t| t != 0)
        .unwrap_or(now_unix_nano)
}

/// Cuts `line` to at most `max` bytes (0 = no limit) at a character boundary, ending it with
/// `…[truncated N bytes]` where N counts the bytes cut; a limit too small for the marker cuts
/// without it. Returns whether the line was cut.
fn truncate_line(mut line: String, max: usize) -> (String, bool) {
    if max == 0 || line.len() <= max {
        return (line, false);
    }
    let marker = |cut: usize| format!("…[truncated {cut} bytes]");
    // The marker for the whole length is at least as long as the final one, so this fits...
    let room = max.checked_sub(marker(line.len()).len());
    let mut keep = floor_char_boundary(&line, room.unwrap_or(max));
    // ...and one more step uses the bytes a shorter count frees (cutting less never lengthens
    // the count).
    if room.is_some() {
        let shorter = marker(line.len() - keep).len();
        keep = keep.max(floor_char_boundary(&line, max.saturating_sub(shorter)));
    }
    let cut = line.len() - keep;
    line.truncate(keep);
    if room.is_some() {
        line.push_str(&marker(cut));
    }
    (line, true)
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while at > 0 && !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::exporter::loki::test_support::k8s_event_record;
    use crate::record::{Attributes, SeverityNumber};
    use proptest::prelude::*;

    fn record(body: &str, attrs: &[(&str, &str)], resource: &[(&str, &str)]) -> LogRecord {
        LogRecord {
            body: body.into(),
            attributes: attrs.iter().copied().collect(),
            resource: resource.iter().copied().collect(),
            ..LogRecord::default()
        }
    }

    #[test]
    fn same_labels_share_a_stream_in_first_appearance_order() {
        let records = [
            record("1", &[], &[("loki.resource.labels", "app"), ("app", "b")]),
            record("2", &[], &[("loki.resource.labels", "app"), ("app", "a")]),
            record("3", &[], &[("loki.resource.labels", "app"), ("app", "b")]),
        ];
        let batch = encode_records(&records, &EncodeOptions::default(), 7);
        assert_eq!(batch.pushes.len(), 1);
        let push = &batch.pushes[0];
        assert_eq!(push.tenant, None);
        let streams: Vec<(&str, Vec<&str>)> = push
            .streams
            .iter()
            .map(|s| {
                (
                    s.labels_string.as_str(),
                    s.entries.iter().map(|e| e.line.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            streams,
            [
                (
                    r#"{app="b", exporter="OTLP"}"#,
                    vec![r#"{"body":"1"}"#, r#"{"body":"3"}"#]
                ),
                (r#"{app="a", exporter="OTLP"}"#, vec![r#"{"body":"2"}"#]),
            ]
        );
        assert_eq!(push.entry_count(), 3);
        assert!(
            push.streams[0]
                .entries
                .iter()
                .all(|e| e.timestamp_unix_nano == 7)
        );
    }

    #[test]
    fn tenant_comes_from_the_hint_resource_first() {
        let mut r = record("x", &[("loki.tenant", "t"), ("t", "from-log")], &[]);
        assert_eq!(tenant_of(&r).as_deref(), Some("from-log"));
        r.resource.upsert("t", "from-resource");
        assert_eq!(tenant_of(&r).as_deref(), Some("from-resource"));
        r.resource.upsert("loki.tenant", "other");
        r.resource.upsert("other", "via-resource-hint");
        assert_eq!(tenant_of(&r).as_deref(), Some("via-resource-hint"));
        r.resource.upsert("other", AnyValue::Int(3));
        assert_eq!(
            tenant_of(&r),
            None,
            "non-string tenant values are no tenant"
        );
        r.resource.upsert("loki.tenant", "missing");
        assert_eq!(tenant_of(&r), None);
        assert_eq!(tenant_of(&record("x", &[], &[])), None);
    }

    #[test]
    fn one_push_per_tenant_and_the_tenant_attribute_stays_in_the_line() {
        let records = [
            record("a", &[], &[("loki.tenant", "org"), ("org", "team-a")]),
            record("b", &[], &[]),
            record("c", &[], &[("loki.tenant", "org"), ("org", "team-a")]),
        ];
        let batch = encode_records(&records, &EncodeOptions::default(), 0);
        let tenants: Vec<Option<&str>> = batch.pushes.iter().map(|p| p.tenant.as_deref()).collect();
        assert_eq!(tenants, [Some("team-a"), None]);
        let first = &batch.pushes[0].streams[0];
        assert_eq!(
            first.labels_string, r#"{exporter="OTLP"}"#,
            "the tenant is no label"
        );
        assert_eq!(
            first.entries[1].line,
            r#"{"body":"c","resources":{"org":"team-a"}}"#
        );
        assert_eq!(
            first
                .entries
                .iter()
                .map(|e| e.record_index)
                .collect::<Vec<_>>(),
            [0, 2]
        );
    }

    #[test]
    fn unknown_formats_are_dropped_and_counted() {
        let records = [
            record("a", &[("loki.format", "yaml")], &[]),
            record("b", &[], &[]),
            LogRecord {
                attributes: [("x", AnyValue::Double(f64::INFINITY))]
                    .into_iter()
                    .collect(),
                ..LogRecord::default()
            },
        ];
        let batch = encode_records(&records, &EncodeOptions::default(), 0);
        assert_eq!(batch.dropped.unknown_format, 1);
        assert_eq!(batch.dropped.unsupported_json_value, 1);
        assert_eq!(batch.dropped.total(), 2);
        assert_eq!(batch.pushes[0].entry_count(), 1);
        assert_eq!(DropReason::UnknownFormat.as_str(), "unknown_format");
    }

    #[test]
    fn timestamp_falls_back_to_observed_then_now() {
        let mut r = record("x", &[], &[]);
        assert_eq!(entry_timestamp(&r, 5), 5);
        r.observed_unix_nano = Some(3);
        assert_eq!(entry_timestamp(&r, 5), 3);
        r.timestamp_unix_nano = Some(0);
        assert_eq!(entry_timestamp(&r, 5), 3);
        r.timestamp_unix_nano = Some(2);
        assert_eq!(entry_timestamp(&r, 5), 2);
    }

    #[test]
    fn long_lines_are_truncated_at_a_char_boundary_with_a_marker() {
        assert_eq!(truncate_line("short".into(), 10), ("short".into(), false));
        assert!(!truncate_line("x".repeat(100), 0).1);
        let (cut, truncated) = truncate_line("é".repeat(50), 40);
        assert!(truncated);
        assert_eq!(cut, format!("{}…[truncated 84 bytes]", "é".repeat(8)));
        assert!(cut.len() <= 40);
        assert_eq!(truncate_line("abcdef".into(), 4), ("abcd".into(), true));

        let opts = EncodeOptions {
            max_line_bytes: 64,
            ..EncodeOptions::default()
        };
        let batch = encode_records(&[record(&"y".repeat(100), &[], &[])], &opts, 0);
        assert_eq!(batch.truncated_lines, 1);
        let line = &batch.pushes[0].streams[0].entries[0].line;
        assert_eq!(line.len(), 64);
        assert!(line.ends_with("…[truncated 70 bytes]"), "{line}");
    }

    #[test]
    fn reference_setup_record_encodes_to_one_stream() {
        let batch = encode_records(&[k8s_event_record()], &EncodeOptions::default(), 0);
        let stream = &batch.pushes[0].streams[0];
        assert_eq!(
            stream.labels_string,
            r#"{cluster="tenant-a", exporter="OTLP", level="INFO", node="kind-control-plane", receiver="k8s_event"}"#
        );
        assert_eq!(
            stream.entries[0].timestamp_unix_nano,
            1_714_557_600_000_000_000
        );
        assert!(stream.entries[0].structured_metadata.is_empty());
    }

    fn arb_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            "[a-c,. ]{0,6}".prop_map(AnyValue::Str),
            any::<i64>().prop_map(AnyValue::Int),
            any::<f64>().prop_map(AnyValue::Double),
            any::<bool>().prop_map(AnyValue::Bool),
            proptest::collection::vec(any::<u8>(), 0..4).prop_map(AnyValue::Bytes),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(AnyValue::Array),
                proptest::collection::vec(("[a-c.]{0,3}", inner), 0..4)
                    .prop_map(|kv| AnyValue::Map(kv.into_iter().collect())),
            ]
        })
    }

    fn arb_attributes() -> impl Strategy<Value = Attributes> {
        let key = prop_oneof![
            Just("loki.resource.labels".to_owned()),
            Just("loki.attribute.labels".to_owned()),
            Just("loki.format".to_owned()),
            Just("loki.tenant".to_owned()),
            Just("loki.structured_metadata".to_owned()),
            Just("level".to_owned()),
            "[a-c.]{0,3}",
        ];
        let value = prop_oneof![
            3 => prop_oneof![
                Just("json"), Just("logfmt"), Just("raw"), Just("a,b"), Just("a.b, c"), Just("a"), Just("b")
            ]
            .prop_map(AnyValue::from),
            2 => arb_value(),
        ];
        proptest::collection::vec((key, value), 0..6).prop_map(|kv| kv.into_iter().collect())
    }

    fn arb_record() -> impl Strategy<Value = LogRecord> {
        (
            arb_value(),
            arb_attributes(),
            arb_attributes(),
            0u8..30,
            proptest::option::of(any::<i64>()),
        )
            .prop_map(|(body, attributes, resource, severity, ts)| LogRecord {
                timestamp_unix_nano: ts,
                observed_unix_nano: None,
                severity_number: SeverityNumber(severity),
                severity_text: "t".into(),
                body,
                attributes,
                resource,
            })
    }

    proptest! {
        /// Every record is either dropped or becomes exactly one entry; within a stream, entries
        /// keep record order; and any input encodes without panicking.
        #[test]
        fn grouping_never_loses_duplicates_or_reorders(
            records in proptest::collection::vec(arb_record(), 0..12),
            small_lines in any::<bool>(),
        ) {
            let opts = EncodeOptions {
                keep_namespace_label: small_lines,
                logfmt_message_field: small_lines,
                max_line_bytes: if small_lines { 30 } else { 0 },
                ..EncodeOptions::default()
            };
            let batch = encode_records(&records, &opts, 1);
            let mut seen: Vec<usize> = Vec::new();
            for push in &batch.pushes {
                prop_assert!(push.entry_count() > 0);
                for stream in &push.streams {
                    let indices: Vec<usize> = stream.entries.iter().map(|e| e.record_index).collect();
                    prop_assert!(indices.windows(2).all(|w| w[0] < w[1]));
                    prop_assert_eq!(&stream.labels_string, &stream.labels.to_string());
                    for entry in &stream.entries {
                        let record = &records[entry.record_index];
                        prop_assert_eq!(tenant_of(record), push.tenant.clone());
                        prop_assert_eq!(&RecordLabels::of(record, &opts).labels, &stream.labels);
                        if small_lines {
                            prop_assert!(entry.line.len() <= 30);
                        }
                    }
                    seen.extend(indices);
                }
            }
            let entries = seen.len();
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len(), entries, "an entry was duplicated");
            prop_assert_eq!(entries + batch.dropped.total(), records.len());
        }
    }
}
