//! The Loki exporter at work: a batch of records encoded, split per tenant into requests, and
//! delivered, each tenant on its own with its own backoff, so a tenant Loki accepted is never
//! sent again because another one failed (the old exporter re-sent the whole batch).
//!
//! Requests of one tenant go one after the other, keeping each stream's entries in order;
//! tenants go concurrently. A 2xx accepts a request; 429, 5xx and transport failures are retried
//! until `retry_on_failure.max_elapsed_time`; any other answer drops the request, counted by
//! reason. Shutdown stops the retrying, not the first attempts: a final flush still goes out
//! when Loki is up. The retry loop itself is [`Delivery`], shared with the otlphttp exporter.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use super::client::{Answer, LokiClient};
use super::split::{DEFAULT_MAX_REQUEST_BYTES, split};
use super::streams::{DropCounts, TenantPush, encode_records};
use super::{DEFAULT_MAX_LINE_BYTES, DefaultLabelsEnabled, EncodeOptions};
use crate::config::ExtensionConfig;
use crate::config::exporters::LokiExporterConfig;
// What the delivery tests name through `super::*` since the retry loop moved to `delivery`.
use crate::exporter::delivery::Delivery;
use crate::exporter::queue::{Backend, Request};
use crate::exporter::stats::{DropReason, ExporterStats};
use crate::record::LogRecord;
#[cfg(test)]
use {
    super::client::PushError,
    crate::config::http::RetryConfig,
    crate::exporter::problem::{Context, Problem},
    crate::exporter::stats::StatusClass,
    std::time::Duration,
};

pub use super::client::ExporterError;
pub use crate::exporter::delivery::ExportOutcome;

/// The `loki` exporter: encodes records as the removed OpenTelemetry exporter did and delivers
/// them to Loki's push API.
#[derive(Debug)]
pub struct LokiExporter {
    delivery: Delivery,
    encode: EncodeOptions,
    max_request_bytes: usize,
}

/// The encoding settings of a loki exporter config.
pub fn encode_options(config: &LokiExporterConfig) -> EncodeOptions {
    let d = config.default_labels_enabled;
    EncodeOptions {
        default_labels_enabled: DefaultLabelsEnabled {
            exporter: d.exporter,
            job: d.job,
            instance: d.instance,
            level: d.level,
        },
        keep_namespace_label: config.keep_namespace_label,
        logfmt_message_field: config.logfmt_message_field,
        max_line_bytes: config
            .max_line_bytes
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_LINE_BYTES),
    }
}

impl LokiExporter {
    /// Builds the HTTP client (TLS, auth, headers) of exporter `id` from its config; `auth` is
    /// the extension named by `auth.authenticator`, already looked up. No network yet; secret
    /// and certificate files are read now, so a missing one fails here.
    pub fn new(
        id: &str,
        config: &LokiExporterConfig,
        auth: Option<&ExtensionConfig>,
    ) -> Result<Self, ExporterError> {
        let client = LokiClient::new(id, config, auth)?;
        Ok(Self {
            delivery: Delivery::new(
                id,
                client,
                &config.retry_on_failure,
                Answer::verdict,
                "Loki",
            ),
            encode: encode_options(config),
            max_request_bytes: config
                .max_request_bytes
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
        })
    }

    /// Encodes `records` and delivers them: returns when every tenant's push was accepted or
    /// permanently rejected, or when `shutdown` turns true and retrying must stop (then
    /// [`ExportOutcome::interrupted`] is set).
    pub async fn export(
        &self,
        records: &[LogRecord],
        shutdown: &mut watch::Receiver<bool>,
    ) -> ExportOutcome {
        let batch = encode_records(records, &self.encode, now_unix_nano());
        self.count_encoding_drops(&batch.dropped);
        self.delivery
            .stats()
            .add_truncated_lines(batch.truncated_lines);
        let mut outcome = ExportOutcome {
            rejected: batch.dropped.total(),
            ..ExportOutcome::default()
        };
        let deliveries = batch
            .pushes
            .into_iter()
            .map(|push| self.deliver(push, shutdown.clone()));
        for delivered in futures_util::future::join_all(deliveries).await {
            outcome.add(delivered);
        }
        outcome
    }

    /// The counters of this exporter, for `/metrics`.
    pub fn stats(&self) -> Arc<ExporterStats> {
        Arc::clone(self.delivery.stats())
    }

    /// Encodes `records` into the requests a sending queue keeps: per tenant (in order of first
    /// appearance), split under `max_request_bytes`, bodies built as they will be sent.
    pub fn requests(&self, records: &[LogRecord]) -> Vec<Request> {
        let batch = encode_records(records, &self.encode, now_unix_nano());
        self.count_encoding_drops(&batch.dropped);
        let stats = self.delivery.stats();
        stats.add_truncated_lines(batch.truncated_lines);
        let client = self.delivery.client();
        let mut out = Vec::new();
        for push in batch.pushes {
            for request in split(push, self.max_request_bytes) {
                let records = request.entry_count();
                match client.body(&request) {
                    Ok(body) => out.push(Request {
                        tenant: request.tenant,
                        records,
                        body,
                    }),
                    Err(error) => {
                        let tenant = request.tenant.as_deref();
                        tracing::error!(exporter = %self.delivery.id(), tenant, "cannot encode a push of {records} records: {error}");
                        stats.add_dropped(DropReason::EncodeFailed, records);
                    }
                }
            }
        }
        out
    }

    fn count_encoding_drops(&self, dropped: &DropCounts) {
        for (reason, n) in [
            (DropReason::UnknownFormat, dropped.unknown_format),
            (
                DropReason::UnsupportedJsonValue,
                dropped.unsupported_json_value,
            ),
            (DropReason::InvalidLogfmtKey, dropped.invalid_logfmt_key),
        ] {
            self.delivery.stats().add_dropped(reason, n);
        }
    }

    /// Delivers one tenant's push, split into requests, request after request.
    async fn deliver(&self, push: TenantPush, shutdown: watch::Receiver<bool>) -> ExportOutcome {
        let tenant = push.tenant.clone();
        let requests = split(push, self.max_request_bytes);
        let client = self.delivery.client();
        self.delivery
            .deliver(
                tenant.as_deref(),
                requests,
                TenantPush::entry_count,
                |request| client.body(request),
                shutdown,
            )
            .await
    }
}

impl Backend for LokiExporter {
    fn requests(&self, records: &[LogRecord]) -> Vec<Request> {
        LokiExporter::requests(self, records)
    }

    fn send(
        &self,
        request: &Request,
        abort: watch::Receiver<bool>,
    ) -> impl Future<Output = ExportOutcome> + Send {
        self.delivery.send(request, abort)
    }

    fn export(
        &self,
        records: &[LogRecord],
        abort: &mut watch::Receiver<bool>,
    ) -> impl Future<Output = ExportOutcome> + Send {
        LokiExporter::export(self, records, abort)
    }

    fn stats(&self) -> Arc<ExporterStats> {
        LokiExporter::stats(self)
    }
}

fn now_unix_nano() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "send_tests.rs"]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "tls_tests.rs"]
mod tls_tests;
