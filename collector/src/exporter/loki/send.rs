//! The Loki exporter at work: a batch of records encoded, split per tenant into requests, and
//! delivered, each tenant on its own with its own backoff, so a tenant Loki accepted is never
//! sent again because another one failed (the old exporter re-sent the whole batch).
//!
//! Requests of one tenant go one after the other, keeping each stream's entries in order;
//! tenants go concurrently. A 2xx accepts a request; 429, 5xx and transport failures are retried
//! until `retry_on_failure.max_elapsed_time`; any other answer drops the request, counted by
//! reason. Shutdown stops the retrying, not the first attempts: a final flush still goes out
//! when Loki is up.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::watch;

use super::client::{Answer, LokiClient, PushError, Verdict};
use super::retry::Backoff;
use super::split::{DEFAULT_MAX_REQUEST_BYTES, split};
use super::streams::{DropCounts, TenantPush, encode_records};
use super::{DEFAULT_MAX_LINE_BYTES, DefaultLabelsEnabled, EncodeOptions};
use crate::config::ExtensionConfig;
use crate::config::exporters::LokiExporterConfig;
use crate::config::http::RetryConfig;
use crate::exporter::problem::{Context, Problem, ProblemLog};
use crate::exporter::stats::{DropReason, ExporterStats, StatusClass};
use crate::record::LogRecord;

pub use super::client::ExporterError;

/// The `loki` exporter: encodes records as the removed OpenTelemetry exporter did and delivers
/// them to Loki's push API.
#[derive(Debug)]
pub struct LokiExporter {
    id: String,
    client: LokiClient,
    encode: EncodeOptions,
    retry: RetryConfig,
    max_request_bytes: usize,
    stats: Arc<ExporterStats>,
    problems: ProblemLog,
}

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportOutcome {
    /// Records Loki accepted.
    pub accepted: usize,
    /// Records dropped for good: not encodable, refused by Loki (4xx), or retries exhausted.
    pub rejected: usize,
    /// Shutdown came before delivery ended: some records are neither accepted nor rejected,
    /// so the caller must not checkpoint this batch.
    pub interrupted: bool,
}

impl ExportOutcome {
    fn add(&mut self, other: ExportOutcome) {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.interrupted |= other.interrupted;
    }
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

/// How one attempt ended.
enum Step {
    Accepted,
    Rejected(DropReason),
    Retry(Option<Duration>),
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
        Ok(Self {
            id: id.to_owned(),
            client: LokiClient::new(id, config, auth)?,
            encode: encode_options(config),
            retry: config.retry_on_failure.clone(),
            max_request_bytes: config
                .max_request_bytes
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
            stats: Arc::new(ExporterStats::new(id)),
            problems: ProblemLog::new(id),
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
        self.stats.add_truncated_lines(batch.truncated_lines);
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
        Arc::clone(&self.stats)
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
            self.stats.add_dropped(reason, n);
        }
    }

    /// Delivers one tenant's push, request after request.
    async fn deliver(
        &self,
        push: TenantPush,
        mut shutdown: watch::Receiver<bool>,
    ) -> ExportOutcome {
        let tenant = push.tenant.clone();
        let tenant = tenant.as_deref();
        let mut requests = split(push, self.max_request_bytes).into_iter();
        let mut backoff = Backoff::new(&self.retry);
        let mut outcome = ExportOutcome::default();
        while let Some(request) = requests.next() {
            let records = request.entry_count();
            let body = match self.client.body(&request) {
                Ok(body) => body,
                Err(error) => {
                    tracing::error!(exporter = %self.id, tenant, "cannot encode a push of {records} records: {error}");
                    self.reject(&mut outcome, DropReason::EncodeFailed, records);
                    continue;
                }
            };
            loop {
                match self.attempt(tenant, &body, records).await {
                    Step::Accepted => {
                        outcome.accepted += records;
                        backoff.reset();
                        break;
                    }
                    Step::Rejected(reason) => {
                        self.reject(&mut outcome, reason, records);
                        break;
                    }
                    Step::Retry(retry_after) => {
                        let Some(wait) = backoff.next(retry_after) else {
                            let rest = records + requests.map(|r| r.entry_count()).sum::<usize>();
                            self.give_up(tenant, rest);
                            self.reject(&mut outcome, DropReason::RetriesExhausted, rest);
                            return outcome;
                        };
                        if *shutdown.borrow() {
                            outcome.interrupted = true;
                            return outcome;
                        }
                        self.stats.add_retry();
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = shutdown_requested(&mut shutdown) => {
                                outcome.interrupted = true;
                                return outcome;
                            }
                        }
                    }
                }
            }
        }
        outcome
    }

    /// Sends one request once; counts and logs what happened.
    async fn attempt(&self, tenant: Option<&str>, body: &Bytes, records: usize) -> Step {
        let started = std::time::Instant::now();
        let result = self.client.push(tenant, body.clone()).await;
        let elapsed = started.elapsed();
        let key = tenant.unwrap_or_default();
        let answer = match result {
            Ok(answer) => answer,
            Err(PushError::Transport(error)) => {
                self.stats.add_request(StatusClass::Transport, elapsed);
                let problem = Problem::of_transport(&error);
                self.problems
                    .failed(key, &problem, &problem.message(&self.context()));
                return Step::Retry(None);
            }
            Err(error @ (PushError::Auth(_) | PushError::Tenant)) => {
                tracing::error!(exporter = %self.id, tenant, "dropping {records} records: {error}");
                let reason = match error {
                    PushError::Auth(_) => DropReason::Unauthorized,
                    _ => DropReason::EncodeFailed,
                };
                return Step::Rejected(reason);
            }
        };
        self.stats
            .add_request(StatusClass::of_status(answer.status), elapsed);
        let problem = Problem::of_answer(answer.status, &answer.body);
        match answer.verdict() {
            Verdict::Accepted => {
                self.stats.add_sent(records, body.len());
                self.problems.succeeded(key);
                Step::Accepted
            }
            Verdict::Retry { retry_after } => {
                if let Some(problem) = problem {
                    let message = with_answer(problem.message(&self.context()), &answer);
                    self.problems.failed(key, &problem, &message);
                }
                Step::Retry(retry_after)
            }
            Verdict::Reject(reason) => {
                match problem {
                    // Credentials, tenant, client certificate: the same for every request.
                    Some(problem) => {
                        let message = format!(
                            "{}; dropped {records} records",
                            with_answer(problem.message(&self.context()), &answer)
                        );
                        self.problems.failed(key, &problem, &message);
                    }
                    None => self.log_rejection(tenant, &answer, reason, records),
                }
                Step::Rejected(reason)
            }
        }
    }

    fn log_rejection(
        &self,
        tenant: Option<&str>,
        answer: &Answer,
        reason: DropReason,
        records: usize,
    ) {
        tracing::warn!(
            exporter = %self.id,
            tenant,
            status = answer.status,
            reason = reason.as_str(),
            "Loki refused {records} records (not retried): {}",
            Some(answer.reason())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "(no reason given)".into())
        );
    }

    fn give_up(&self, tenant: Option<&str>, records: usize) {
        let why = if self.retry.enabled {
            format!(
                "still failing after retry_on_failure.max_elapsed_time ({})",
                self.retry.max_elapsed_time
            )
        } else {
            "retry_on_failure is disabled".to_owned()
        };
        tracing::error!(
            exporter = %self.id,
            tenant,
            "dropping {records} records for {}: {why}",
            self.client.shown_endpoint()
        );
    }

    fn reject(&self, outcome: &mut ExportOutcome, reason: DropReason, records: usize) {
        outcome.rejected += records;
        self.stats.add_dropped(reason, records);
    }

    fn context(&self) -> Context<'_> {
        Context {
            endpoint: self.client.shown_endpoint(),
            credentials: self.client.credentials(),
            timeout: self.client.timeout(),
        }
    }
}

/// `message` with the start of the answer's body, when it has one.
fn with_answer(message: String, answer: &Answer) -> String {
    match answer.reason() {
        reason if reason.is_empty() => message,
        reason => format!("{message} (answer: {reason})"),
    }
}

/// Resolves once `shutdown` is true; never, if its sender is gone without saying so.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
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
