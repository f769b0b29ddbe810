//! The exporters a pipeline runs, built from their config, behind one `export` call.

use std::io::Write;

use tokio::sync::watch;

use crate::config::exporters::Verbosity;
use crate::config::{Config, ExporterConfig};
use crate::exporter::debug;
use crate::exporter::loki::send::LokiExporter;
use crate::record::LogRecord;

/// A running exporter.
#[derive(Debug)]
pub enum Exporter {
    Loki(Box<LokiExporter>),
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
        match &component.config {
            ExporterConfig::Loki(loki) => {
                let auth = loki
                    .auth
                    .as_ref()
                    .and_then(|a| config.extension(&a.authenticator))
                    .map(|c| &c.config);
                LokiExporter::new(id, loki, auth)
                    .map(|e| Exporter::Loki(Box::new(e)))
                    .map_err(|e| fail(e.to_string()))
            }
            ExporterConfig::Debug(d) => Ok(Exporter::Debug {
                verbosity: d.verbosity,
            }),
            ExporterConfig::OtlpHttp(_) => Err(fail(
                "the otlphttp exporter can be validated and replayed, but sending is not built yet: use the loki exporter".into(),
            )),
        }
    }

    /// Delivers `records`; returns true when shutdown interrupted delivery (not settled).
    pub async fn export(&self, records: &[LogRecord], abort: &mut watch::Receiver<bool>) -> bool {
        match self {
            Exporter::Loki(loki) => loki.export(records, abort).await.interrupted,
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
