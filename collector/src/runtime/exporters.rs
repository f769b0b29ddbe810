//! The exporters a pipeline runs, built from their config, behind one `export` call.

use std::io::Write;

use tokio::sync::watch;

use crate::config::exporters::Verbosity;
use crate::config::http::AuthConfig;
use crate::config::{Config, ExporterConfig};
use crate::exporter::debug;
use crate::exporter::loki::send::LokiExporter;
use crate::exporter::otlp::OtlpHttpExporter;
use crate::record::LogRecord;

/// A running exporter.
#[derive(Debug)]
pub enum Exporter {
    Loki(Box<LokiExporter>),
    OtlpHttp(Box<OtlpHttpExporter>),
    /// Prints records to standard output.
    Debug {
        verbosity: Verbosity,
    },
}

/// Why the exporters could not be built.
#[derive(Debug, thiserror::Error)]
#[error("exporters.{id}: {message}")]
pub struct BuildError {
    pub id: String,
    pub message: String,
}

impl Exporter {
    /// Builds exporter `id` of `config` (validated: the id and its authenticator exist).
    pub fn build(config: &Config, id: &str) -> Result<Self, BuildError> {
        let fail = |message: String| BuildError {
            id: id.to_owned(),
            message,
        };
        let component = config
            .exporter(id)
            .ok_or_else(|| fail("is not defined".into()))?;
        // The extension `auth.authenticator` names (validated to exist).
        let auth_of = |auth: Option<&AuthConfig>| {
            auth.and_then(|a| config.extension(&a.authenticator))
                .map(|c| &c.config)
        };
        match &component.config {
            ExporterConfig::Loki(loki) => LokiExporter::new(id, loki, auth_of(loki.auth.as_ref()))
                .map(|e| Exporter::Loki(Box::new(e)))
                .map_err(|e| fail(e.to_string())),
            ExporterConfig::Debug(d) => Ok(Exporter::Debug {
                verbosity: d.verbosity,
            }),
            ExporterConfig::OtlpHttp(otlp) => {
                OtlpHttpExporter::new(id, otlp, auth_of(otlp.auth.as_ref()))
                    .map(|e| Exporter::OtlpHttp(Box::new(e)))
                    .map_err(|e| fail(e.to_string()))
            }
        }
    }

    /// Delivers `records`; returns true when shutdown interrupted delivery (not settled).
    pub async fn export(&self, records: &[LogRecord], abort: &mut watch::Receiver<bool>) -> bool {
        match self {
            Exporter::Loki(loki) => loki.export(records, abort).await.interrupted,
            Exporter::OtlpHttp(otlp) => otlp.export(records, abort).await.interrupted,
            Exporter::Debug { verbosity } => {
                let text = debug::render(records, *verbosity);
                let mut out = std::io::stdout().lock();
                if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                    tracing::warn!("debug exporter cannot write to stdout: {e}");
                }
                false
            }
        }
    }
}
