//! The `loki` exporter: its pure encoding core, which turns log records into Loki push payloads
//! byte for byte like the OpenTelemetry Collector's removed `loki` exporter (v0.130 and before).
//!
//! The path of a batch, one module per concern:
//! - [`labels`]: the label set of a record (default labels, `loki.*.labels` hints, `level`) and
//!   the attributes that promoting them removes from the line;
//! - [`line`] (with [`logfmt`]): the log line in the `loki.format` the record asks for;
//! - [`streams`]: records grouped per tenant into streams of entries, the form both payload
//!   encoders consume;
//! - [`proto`] and [`push_json`]: the push request as protobuf + snappy (what the old exporter
//!   sent) or as JSON, and back again for the harness.
//!
//! Nothing here does I/O: the sender owns HTTP, retries, Loki's 15-label limit and the tenant
//! header. The Go formatting rules the old output depends on live in the crate's `gofmt`
//! (`encoding/json`, pcommon's `AsString`, shared with the processors) and, for what only labels
//! need (`strconv.Quote`, `fmt`'s `%v`), in `golabel`.

pub mod client;
mod golabel;
pub mod labels;
pub mod line;
pub mod logfmt;
pub mod proto;
pub mod push_json;
pub mod retry;
pub mod send;
pub mod split;
pub mod streams;
#[cfg(test)]
pub(crate) mod test_support;

pub use labels::{LabelSet, RecordLabels, normalize_label_name};
pub use line::{LineError, LineFormat, encode_line};
pub use proto::{
    CONTENT_TYPE_PROTOBUF, DecodeError, EncodeError, EntryAdapter, LabelPairAdapter, PushRequest,
    StreamAdapter, Timestamp, decode_protobuf, encode_protobuf, to_push_request,
};
pub use push_json::{CONTENT_TYPE_JSON, decode_json, encode_json};
pub use streams::{
    DropCounts, DropReason, EncodedBatch, Entry, Stream, TenantPush, encode_records, tenant_of,
};

/// The attribute names the old exporter reads as instructions ("hints") rather than data. All of
/// them are removed from the line before it is encoded.
pub mod hints {
    /// Resource attribute names to promote to labels (comma-separated string or list); read on
    /// the resource and on the log record, always looked up in the resource.
    pub const RESOURCE_LABELS: &str = "loki.resource.labels";
    /// Log attribute names to promote to labels; read on the log record, looked up there.
    pub const ATTRIBUTE_LABELS: &str = "loki.attribute.labels";
    /// The line format: `json` (default), `logfmt` or `raw`; resource first, then log record.
    pub const FORMAT: &str = "loki.format";
    /// The name of the attribute (resource first) whose string value is the record's tenant.
    pub const TENANT: &str = "loki.tenant";
    /// Our addition: attribute names sent as Loki structured metadata instead of line fields.
    pub const STRUCTURED_METADATA: &str = "loki.structured_metadata";

    /// Every hint, in the order the old exporter listed its four plus ours.
    pub const ALL: [&str; 5] = [
        RESOURCE_LABELS,
        ATTRIBUTE_LABELS,
        TENANT,
        FORMAT,
        STRUCTURED_METADATA,
    ];
}

/// Loki's default maximum line size (`max_line_size`, 256 KiB): longer lines are rejected with
/// 400, so we truncate them instead.
pub const DEFAULT_MAX_LINE_BYTES: usize = 256 * 1024;

/// Which of the old exporter's default labels are added (`default_labels_enabled`); a key missing
/// from the user's config means enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultLabelsEnabled {
    /// `exporter="OTLP"`.
    pub exporter: bool,
    /// `job` from `service.namespace`/`service.name`.
    pub job: bool,
    /// `instance` from `service.instance.id`.
    pub instance: bool,
    /// `level` from the severity number (or a `level` log attribute).
    pub level: bool,
}

impl Default for DefaultLabelsEnabled {
    /// All enabled, as in the old exporter.
    fn default() -> Self {
        Self {
            exporter: true,
            job: true,
            instance: true,
            level: true,
        }
    }
}

/// How records are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// The old exporter's `default_labels_enabled`.
    pub default_labels_enabled: DefaultLabelsEnabled,
    /// Our addition: promote the `k8s.namespace.name` attribute to the label
    /// `k8s_namespace_name` (and drop it from the line), as Loki's OTLP endpoint would.
    pub keep_namespace_label: bool,
    /// Our addition: in `logfmt` lines, always write the whole body as `msg=<quoted body>`
    /// instead of the old exporter's quirk of parsing the body's first line as logfmt.
    pub logfmt_message_field: bool,
    /// Lines longer than this many bytes are truncated at a character boundary with a
    /// `…[truncated N bytes]` marker (0 = never truncate).
    pub max_line_bytes: usize,
}

impl Default for EncodeOptions {
    /// The old exporter's output: all default labels, no namespace label, the logfmt quirk
    /// reproduced; plus truncation at Loki's default line limit ([`DEFAULT_MAX_LINE_BYTES`]),
    /// where the old exporter let Loki reject the line.
    fn default() -> Self {
        Self {
            default_labels_enabled: DefaultLabelsEnabled::default(),
            keep_namespace_label: false,
            logfmt_message_field: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}
