//! The `otlphttp` exporter at work: a batch of records as one OTLP/HTTP protobuf request,
//! `POST`ed to `logs_endpoint` or `<endpoint>/v1/logs` (Loki's `/otlp/v1/logs`).
//!
//! Transport (TLS, auth, headers, timeout) is the Loki exporter's client and delivery
//! (backoff, `Retry-After`, problem logging, counters) is [`Delivery`], shared with it; what
//! differs is the body and which answers are retried: per the OTLP/HTTP spec 429, 502, 503 and
//! 504 (and, as in the Loki exporter, 401 and 403: credentials get fixed while the events
//! wait), never any other 5xx.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use super::encode::{EncodeOptions, encode_protobuf};
use crate::config::ExtensionConfig;
use crate::config::exporters::{
    Compression, LokiEncoding, LokiExporterConfig, OtlpEncoding, OtlpHttpExporterConfig,
};
use crate::exporter::delivery::{Delivery, ExportOutcome};
use crate::exporter::loki::client::{Answer, BodyError, ExporterError, LokiClient, Verdict, gzip};
use crate::exporter::queue::{Backend, Request};
use crate::exporter::stats::{DropReason, ExporterStats};
use crate::record::LogRecord;

/// The path OTLP/HTTP appends to `endpoint`.
pub const LOGS_PATH: &str = "/v1/logs";

/// The `otlphttp` exporter.
#[derive(Debug)]
pub struct OtlpHttpExporter {
    delivery: Delivery,
    encode: EncodeOptions,
    gzip: bool,
}

impl OtlpHttpExporter {
    /// Builds the HTTP client (TLS, auth, headers) of exporter `id` from its config; `auth` is
    /// the extension named by `auth.authenticator`, already looked up. No network yet.
    pub fn new(
        id: &str,
        config: &OtlpHttpExporterConfig,
        auth: Option<&ExtensionConfig>,
    ) -> Result<Self, ExporterError> {
        if config.encoding == OtlpEncoding::Json {
            return Err(ExporterError::Unsupported {
                id: id.to_owned(),
                reason: "encoding: json is not supported yet; use encoding: proto (the default)"
                    .into(),
            });
        }
        let url = logs_url(config).ok_or_else(|| ExporterError::Endpoint {
            id: id.to_owned(),
            reason: "neither endpoint nor logs_endpoint is set".into(),
        })?;
        let client = LokiClient::new(id, &transport_config(config, url), auth)?;
        Ok(Self {
            delivery: Delivery::new(
                id,
                client,
                &config.retry_on_failure,
                verdict,
                "the OTLP endpoint",
            ),
            encode: EncodeOptions {
                namespace_as_resource: config.namespace_as_resource,
            },
            gzip: config.compression == Compression::Gzip,
        })
    }

    /// Encodes `records` as one request and delivers it: returns when it was accepted or
    /// permanently rejected, or when `shutdown` turns true and retrying must stop (then
    /// [`ExportOutcome::interrupted`] is set).
    pub async fn export(
        &self,
        records: &[LogRecord],
        shutdown: &mut watch::Receiver<bool>,
    ) -> ExportOutcome {
        if records.is_empty() {
            return ExportOutcome::default();
        }
        self.delivery
            .deliver(
                None,
                vec![records],
                |r| r.len(),
                |r| self.body(r),
                shutdown.clone(),
            )
            .await
    }

    /// The counters of this exporter, for `/metrics`.
    pub fn stats(&self) -> Arc<ExporterStats> {
        Arc::clone(self.delivery.stats())
    }

    /// `records` as the one request a sending queue keeps (none for no records).
    pub fn requests(&self, records: &[LogRecord]) -> Vec<Request> {
        if records.is_empty() {
            return Vec::new();
        }
        match self.body(records) {
            Ok(body) => vec![Request {
                tenant: None,
                records: records.len(),
                body,
            }],
            Err(error) => {
                tracing::error!(exporter = %self.delivery.id(), "cannot encode a request of {} records: {error}", records.len());
                self.delivery
                    .stats()
                    .add_dropped(DropReason::EncodeFailed, records.len());
                Vec::new()
            }
        }
    }

    fn body(&self, records: &[LogRecord]) -> Result<Bytes, BodyError> {
        let encoded = encode_protobuf(records, self.encode);
        if self.gzip {
            Ok(gzip(&encoded)?)
        } else {
            Ok(Bytes::from(encoded))
        }
    }
}

impl Backend for OtlpHttpExporter {
    fn requests(&self, records: &[LogRecord]) -> Vec<Request> {
        OtlpHttpExporter::requests(self, records)
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
        OtlpHttpExporter::export(self, records, abort)
    }

    fn stats(&self) -> Arc<ExporterStats> {
        OtlpHttpExporter::stats(self)
    }
}

/// `logs_endpoint` as is, else `endpoint` with `/v1/logs` appended (once, whether or not it
/// ends with a slash), as OpenTelemetry's otlphttp exporter does.
pub fn logs_url(config: &OtlpHttpExporterConfig) -> Option<String> {
    if let Some(url) = config.logs_endpoint.as_deref().map(str::trim) {
        return Some(url.to_owned());
    }
    let base = config.endpoint.as_deref()?.trim();
    Some(format!("{}{LOGS_PATH}", base.trim_end_matches('/')))
}

/// The transport settings of `config` in the form the shared client takes: protobuf content
/// type, no Loki encoding of its own (bodies are built here), gzip announced when configured.
fn transport_config(config: &OtlpHttpExporterConfig, url: String) -> LokiExporterConfig {
    LokiExporterConfig {
        endpoint: url,
        headers: config.headers.clone(),
        timeout: config.timeout,
        tls: config.tls.clone(),
        auth: config.auth.clone(),
        default_labels_enabled: Default::default(),
        retry_on_failure: config.retry_on_failure.clone(),
        sending_queue: config.sending_queue.clone(),
        // Sends `Content-Type: application/x-protobuf`, OTLP/HTTP's protobuf type too.
        encoding: LokiEncoding::Protobuf,
        compression: config.compression,
        max_request_bytes: None,
        max_line_bytes: None,
        keep_namespace_label: false,
        logfmt_message_field: false,
    }
}

/// OTLP/HTTP's retry rules on top of the Loki exporter's: 500, 501 and 505-599 are final.
fn verdict(answer: &Answer) -> Verdict {
    match answer.status {
        500 | 501 | 505..=599 => Verdict::Reject(DropReason::UnexpectedStatus),
        _ => answer.verdict(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "send_tests.rs"]
mod tests;
