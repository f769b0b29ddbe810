//! Config of the `loki`, `otlphttp` and `debug` exporters.

use serde::Deserialize;

use super::duration::ConfigDuration;
use super::http::{AuthConfig, OrderedStrings, QueueConfig, RetryConfig, TlsClientConfig};

/// `default_labels_enabled:` of the loki exporter; a missing key means enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultLabelsEnabled {
    pub exporter: bool,
    pub job: bool,
    pub instance: bool,
    pub level: bool,
}

impl Default for DefaultLabelsEnabled {
    fn default() -> Self {
        DefaultLabelsEnabled {
            exporter: true,
            job: true,
            instance: true,
            level: true,
        }
    }
}

/// Wire encoding of Loki push requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LokiEncoding {
    /// Protobuf + snappy, as the OpenTelemetry loki exporter sent it (default).
    #[default]
    Protobuf,
    /// JSON, for gateways that inspect bodies.
    Json,
}

/// Body compression for JSON pushes (protobuf is always snappy-compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// `exporters.loki`: the removed OpenTelemetry loki exporter's keys, plus ours (marked).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiExporterConfig {
    /// Full push URL, e.g. `https://loki.example.com/loki/api/v1/push`.
    pub endpoint: String,
    /// Extra request headers, sent first (e.g. `X-Scope-OrgID`).
    #[serde(default)]
    pub headers: OrderedStrings,
    /// Request timeout (default 30s).
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
    #[serde(default)]
    pub tls: TlsClientConfig,
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub default_labels_enabled: DefaultLabelsEnabled,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    /// Ours: `protobuf` (default) or `json`.
    #[serde(default)]
    pub encoding: LokiEncoding,
    /// Ours: `gzip` for JSON bodies (default none).
    #[serde(default)]
    pub compression: Compression,
    /// Ours: split push requests above this many bytes before compression (default 4 MiB).
    pub max_request_bytes: Option<u64>,
    /// Ours: truncate lines above this many bytes with a marker (default 256 KiB, Loki's limit).
    pub max_line_bytes: Option<u64>,
    /// Ours: also label streams with `k8s_namespace_name` (default false).
    #[serde(default)]
    pub keep_namespace_label: bool,
    /// Ours: in logfmt lines write the body as `msg="..."` instead of the old exporter's
    /// word-by-word parse (default false, for compatibility).
    #[serde(default)]
    pub logfmt_message_field: bool,
}

fn default_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}

/// Encoding of OTLP/HTTP bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OtlpEncoding {
    #[default]
    Proto,
    Json,
}

/// `exporters.otlphttp` (alias `otlp_http`): OTLP/HTTP logs, e.g. to Loki's `/otlp` endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpHttpExporterConfig {
    /// Base URL; `/v1/logs` is appended (e.g. `https://loki.example.com/otlp`).
    pub endpoint: Option<String>,
    /// Full logs URL, used as is (overrides `endpoint`).
    pub logs_endpoint: Option<String>,
    #[serde(default)]
    pub headers: OrderedStrings,
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
    #[serde(default)]
    pub tls: TlsClientConfig,
    pub auth: Option<AuthConfig>,
    /// `gzip` (default, as OpenTelemetry) or `none`.
    #[serde(default = "default_gzip")]
    pub compression: Compression,
    /// `proto` (default) or `json`.
    #[serde(default)]
    pub encoding: OtlpEncoding,
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    #[serde(default)]
    pub sending_queue: QueueConfig,
    /// Ours: move `k8s.namespace.name` from the log to the resource attributes, so Loki's OTLP
    /// endpoint makes it a label (default false).
    #[serde(default)]
    pub namespace_as_resource: bool,
}

fn default_gzip() -> Compression {
    Compression::Gzip
}

/// How much the debug exporter prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Verbosity {
    /// One summary line per batch (default).
    #[default]
    Basic,
    /// One line per record.
    Normal,
    /// Every record with all its attributes.
    Detailed,
}

/// `exporters.debug`: prints what would be sent, to standard output.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DebugExporterConfig {
    pub verbosity: Verbosity,
}
