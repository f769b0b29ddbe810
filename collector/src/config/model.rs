//! The typed, validated config: components by id, and the service that wires them.

use std::fmt;

use super::exporters::{DebugExporterConfig, LokiExporterConfig, OtlpHttpExporterConfig};
use super::extensions::{
    BasicAuthConfig, BearerTokenAuthConfig, FileStorageConfig, HealthCheckConfig,
    LeaderElectorConfig,
};
use super::processors::{
    AttributesProcessorConfig, BatchProcessorConfig, FilterProcessorConfig, ResourceProcessorConfig,
};
use super::receivers::K8sEventsConfig;
use super::service::{PipelineConfig, TelemetryConfig};

/// A component id, `type[/name]`, e.g. `basicauth/client`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    pub kind: String,
    pub name: Option<String>,
}

impl ComponentId {
    /// Parses `type[/name]`; the type is non-empty letters, digits and `_`.
    pub fn parse(id: &str) -> Result<Self, String> {
        let (kind, name) = match id.split_once('/') {
            Some((kind, name)) => (kind, Some(name)),
            None => (id, None),
        };
        let kind_ok =
            !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !kind_ok {
            return Err(format!(
                "`{id}` is not a component id: write `type` or `type/name` (letters, digits, _)"
            ));
        }
        if name.is_some_and(|n| n.trim().is_empty()) {
            return Err(format!("`{id}` has an empty name after `/`"));
        }
        Ok(ComponentId {
            kind: kind.to_owned(),
            name: name.map(str::to_owned),
        })
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.kind, name),
            None => f.write_str(&self.kind),
        }
    }
}

/// A configured component: its id and typed settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Component<T> {
    pub id: ComponentId,
    pub config: T,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverConfig {
    K8sEvents(K8sEventsConfig),
}

#[derive(Debug, Clone)]
pub enum ProcessorConfig {
    Resource(ResourceProcessorConfig),
    Attributes(AttributesProcessorConfig),
    Filter(FilterProcessorConfig),
    Batch(BatchProcessorConfig),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExporterConfig {
    Loki(Box<LokiExporterConfig>),
    OtlpHttp(Box<OtlpHttpExporterConfig>),
    Debug(DebugExporterConfig),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExtensionConfig {
    BasicAuth(BasicAuthConfig),
    BearerTokenAuth(BearerTokenAuthConfig),
    HealthCheck(HealthCheckConfig),
    FileStorage(FileStorageConfig),
    K8sLeaderElector(LeaderElectorConfig),
}

impl ExtensionConfig {
    /// Whether exporters can name this extension in `auth.authenticator`.
    pub fn is_authenticator(&self) -> bool {
        matches!(self, Self::BasicAuth(_) | Self::BearerTokenAuth(_))
    }
}

/// A named pipeline (`logs` or `logs/<name>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub id: ComponentId,
    pub config: PipelineConfig,
}

/// `service:`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceConfig {
    pub extensions: Vec<String>,
    pub pipelines: Vec<Pipeline>,
    pub telemetry: TelemetryConfig,
}

/// A whole collector config, typed. Built only by [`super::load`], which validates it.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub receivers: Vec<Component<ReceiverConfig>>,
    pub processors: Vec<Component<ProcessorConfig>>,
    pub exporters: Vec<Component<ExporterConfig>>,
    pub extensions: Vec<Component<ExtensionConfig>>,
    pub service: ServiceConfig,
}

impl Config {
    pub fn receiver(&self, id: &str) -> Option<&Component<ReceiverConfig>> {
        self.receivers.iter().find(|c| c.id.to_string() == id)
    }

    pub fn processor(&self, id: &str) -> Option<&Component<ProcessorConfig>> {
        self.processors.iter().find(|c| c.id.to_string() == id)
    }

    pub fn exporter(&self, id: &str) -> Option<&Component<ExporterConfig>> {
        self.exporters.iter().find(|c| c.id.to_string() == id)
    }

    pub fn extension(&self, id: &str) -> Option<&Component<ExtensionConfig>> {
        self.extensions.iter().find(|c| c.id.to_string() == id)
    }
}

/// The component types of each section, for "unknown type" errors.
pub const RECEIVER_TYPES: &[&str] = &["k8s_events"];
pub const PROCESSOR_TYPES: &[&str] = &["resource", "attributes", "filter", "batch"];
pub const EXPORTER_TYPES: &[&str] = &["loki", "otlphttp", "otlp_http", "debug"];
pub const EXTENSION_TYPES: &[&str] = &[
    "basicauth",
    "bearertokenauth",
    "health_check",
    "file_storage",
    "k8s_leader_elector",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_ids() {
        let id = ComponentId::parse("basicauth/client").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id.kind, "basicauth");
        assert_eq!(id.name.as_deref(), Some("client"));
        assert_eq!(id.to_string(), "basicauth/client");
        assert!(ComponentId::parse("loki").is_ok_and(|id| id.name.is_none()));
        assert!(ComponentId::parse("lo ki").is_err());
        assert!(ComponentId::parse("/x").is_err());
        assert!(ComponentId::parse("loki/").is_err());
    }
}
