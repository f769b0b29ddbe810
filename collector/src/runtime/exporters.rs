//! The exporters a pipeline runs, built from their config, behind one `export` call: sent
//! inline, or through a `sending_queue` (in memory, or on disk with `storage`).

use std::io::Write;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::exporters::Verbosity;
use crate::config::http::{AuthConfig, QueueConfig};
use crate::config::{Config, ExporterConfig, ExtensionConfig};
use crate::exporter::debug;
use crate::exporter::loki::send::LokiExporter;
use crate::exporter::otlp::OtlpHttpExporter;
use crate::exporter::queue::{Backend, SendingQueue, Store, Ticket};
use crate::exporter::stats::ExporterStats;
use crate::record::LogRecord;

/// A running exporter.
#[derive(Debug)]
pub enum Exporter {
    Loki(Http<LokiExporter>),
    OtlpHttp(Http<OtlpHttpExporter>),
    /// Prints records to standard output.
    Debug {
        verbosity: Verbosity,
    },
}

/// An HTTP exporter, with its queue unless `sending_queue.enabled` is false.
#[derive(Debug)]
pub struct Http<B: Backend> {
    exporter: Arc<B>,
    queue: Option<SendingQueue<B>>,
}

/// Why the exporters could not be built.
#[derive(Debug, thiserror::Error)]
#[error("exporters.{id}: {message}")]
pub struct BuildError {
    pub id: String,
    pub message: String,
}

impl Exporter {
    /// Builds exporter `id` of `config` (validated: the id and its authenticator exist) for
    /// pipeline `pipeline`; a persistent queue is restored from disk now.
    pub fn build(config: &Config, pipeline: &str, id: &str) -> Result<Self, BuildError> {
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
        let key = format!("{pipeline}__{id}");
        match &component.config {
            ExporterConfig::Loki(loki) => {
                let exporter = LokiExporter::new(id, loki, auth_of(loki.auth.as_ref()))
                    .map_err(|e| fail(e.to_string()))?;
                Http::new(exporter, &loki.sending_queue, config, &key)
                    .map(Exporter::Loki)
                    .map_err(fail)
            }
            ExporterConfig::Debug(d) => Ok(Exporter::Debug {
                verbosity: d.verbosity,
            }),
            ExporterConfig::OtlpHttp(otlp) => {
                let exporter = OtlpHttpExporter::new(id, otlp, auth_of(otlp.auth.as_ref()))
                    .map_err(|e| fail(e.to_string()))?;
                Http::new(exporter, &otlp.sending_queue, config, &key)
                    .map(Exporter::OtlpHttp)
                    .map_err(fail)
            }
        }
    }

    /// The exporter's counters, for `/metrics` (none for `debug`).
    pub fn stats(&self) -> Option<Arc<ExporterStats>> {
        match self {
            Exporter::Loki(h) => Some(h.exporter.stats()),
            Exporter::OtlpHttp(h) => Some(h.exporter.stats()),
            Exporter::Debug { .. } => None,
        }
    }

    /// Starts the queue's consumers, if there is a queue.
    pub fn start(&mut self, abort: &watch::Receiver<bool>) {
        match self {
            Exporter::Loki(h) => h.start(abort),
            Exporter::OtlpHttp(h) => h.start(abort),
            Exporter::Debug { .. } => {}
        }
    }

    /// Delivers or queues `records`, settling `ticket` when they are delivered (or durably
    /// queued); returns true when shutdown interrupted it (`ticket` then stays unsettled).
    pub async fn export(
        &self,
        records: &[LogRecord],
        ticket: Ticket,
        abort: &mut watch::Receiver<bool>,
    ) -> bool {
        match self {
            Exporter::Loki(h) => h.export(records, ticket, abort).await,
            Exporter::OtlpHttp(h) => h.export(records, ticket, abort).await,
            Exporter::Debug { verbosity } => {
                let text = debug::render(records, *verbosity);
                let mut out = std::io::stdout().lock();
                if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                    tracing::warn!("debug exporter cannot write to stdout: {e}");
                }
                ticket.settle();
                false
            }
        }
    }

    /// Waits until the queue is sent (or, after abort, until its consumers stopped).
    pub async fn shutdown(self) {
        match self {
            Exporter::Loki(h) => h.shutdown().await,
            Exporter::OtlpHttp(h) => h.shutdown().await,
            Exporter::Debug { .. } => {}
        }
    }
}

impl<B: Backend> Http<B> {
    /// `exporter` behind the queue `config` describes; `key` names its directory on disk.
    fn new(exporter: B, config: &QueueConfig, all: &Config, key: &str) -> Result<Self, String> {
        let exporter = Arc::new(exporter);
        if !config.enabled {
            return Ok(Http {
                exporter,
                queue: None,
            });
        }
        let store = match config.storage.as_deref().and_then(|s| all.extension(s)) {
            Some(c) => match &c.config {
                ExtensionConfig::FileStorage(storage) => Some(
                    Store::open(storage, key)
                        .map_err(|e| format!("sending_queue.storage: extensions.{}: {e}", c.id))?,
                ),
                _ => None,
            },
            None => None,
        };
        let queue = SendingQueue::new(Arc::clone(&exporter), config, store);
        Ok(Http {
            exporter,
            queue: Some(queue),
        })
    }

    fn start(&mut self, abort: &watch::Receiver<bool>) {
        if let Some(queue) = &mut self.queue {
            queue.start(abort);
        }
    }

    async fn export(
        &self,
        records: &[LogRecord],
        ticket: Ticket,
        abort: &mut watch::Receiver<bool>,
    ) -> bool {
        if let Some(queue) = &self.queue {
            return queue.push(records, ticket, abort).await;
        }
        let interrupted = self.exporter.export(records, abort).await.interrupted;
        if !interrupted {
            ticket.settle();
        }
        interrupted
    }

    async fn shutdown(self) {
        if let Some(queue) = self.queue {
            queue.shutdown().await;
        }
    }
}
