//! `service:`: which extensions run, the pipelines, and the collector's own telemetry.

use serde::Deserialize;

/// One `service.pipelines.logs[/name]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    pub receivers: Vec<String>,
    /// Applied in this order.
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

/// Log level of the collector's own logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum LogLevel {
    #[serde(rename = "debug", alias = "DEBUG")]
    Debug,
    #[default]
    #[serde(rename = "info", alias = "INFO")]
    Info,
    #[serde(rename = "warn", alias = "WARN")]
    Warn,
    #[serde(rename = "error", alias = "ERROR")]
    Error,
}

/// Format of the collector's own logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogEncoding {
    #[default]
    Console,
    Json,
}

/// `service.telemetry.logs`.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryLogs {
    pub level: LogLevel,
    pub encoding: LogEncoding,
}

/// `service.telemetry.metrics`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryMetrics {
    /// Prometheus `/metrics` listen address (default `localhost:8888`, as OpenTelemetry);
    /// empty disables it.
    pub address: String,
    /// `none` turns metrics off; other levels are accepted for compatibility.
    pub level: Option<String>,
}

impl Default for TelemetryMetrics {
    fn default() -> Self {
        TelemetryMetrics {
            address: "localhost:8888".into(),
            level: None,
        }
    }
}

/// `service.telemetry`.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub logs: TelemetryLogs,
    pub metrics: TelemetryMetrics,
}
