//! Delivery of request bodies with retries, shared by the `loki` and `otlphttp` exporters.
//!
//! Requests of one delivery go one after the other (keeping entries in order). A 2xx accepts a
//! request; what is retried is the exporter's [`Classify`]; retries wait for the backoff (or a
//! longer `Retry-After`) until `retry_on_failure.max_elapsed_time`. Shutdown stops the
//! retrying, not the first attempts: a final flush still goes out when the server is up.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::config::http::RetryConfig;
use crate::exporter::loki::client::{Answer, BodyError, LokiClient, PushError, Verdict};
use crate::exporter::loki::retry::Backoff;
use crate::exporter::problem::{Context, Problem, ProblemLog};
use crate::exporter::queue::Request;
use crate::exporter::stats::{DropReason, ExporterStats, StatusClass};

/// What an answer means for a request, per protocol.
pub type Classify = fn(&Answer) -> Verdict;

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportOutcome {
    /// Records the server accepted.
    pub accepted: usize,
    /// Records dropped for good: not encodable, refused (4xx), or retries exhausted.
    pub rejected: usize,
    /// Shutdown came before delivery ended: some records are neither accepted nor rejected,
    /// so the caller must not checkpoint this batch.
    pub interrupted: bool,
}

impl ExportOutcome {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: ExportOutcome) {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.interrupted |= other.interrupted;
    }
}

/// The sending half of an exporter: client, retry policy, counters and problem log.
#[derive(Debug)]
pub struct Delivery {
    id: String,
    client: LokiClient,
    retry: RetryConfig,
    stats: Arc<ExporterStats>,
    problems: ProblemLog,
    classify: Classify,
    /// How log lines name the server ("Loki", "the OTLP endpoint").
    server: &'static str,
}

/// How one attempt ended.
enum Step {
    Accepted,
    Rejected(DropReason),
    Retry(Option<Duration>),
}

impl Delivery {
    /// The delivery of exporter `id` through `client`, answers read with `classify`.
    pub fn new(
        id: &str,
        client: LokiClient,
        retry: &RetryConfig,
        classify: Classify,
        server: &'static str,
    ) -> Self {
        Self {
            id: id.to_owned(),
            client,
            retry: retry.clone(),
            stats: Arc::new(ExporterStats::new(id)),
            problems: ProblemLog::new(id),
            classify,
            server,
        }
    }

    /// The exporter's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client requests go through.
    pub fn client(&self) -> &LokiClient {
        &self.client
    }

    /// The counters of this exporter, for `/metrics`.
    pub fn stats(&self) -> &Arc<ExporterStats> {
        &self.stats
    }

    /// Delivers `requests` for `tenant`, one after the other; `records` counts a request's
    /// records and `body` builds its body (lazily: a body is built just before it is sent).
    pub async fn deliver<R>(
        &self,
        tenant: Option<&str>,
        requests: Vec<R>,
        records: impl Fn(&R) -> usize,
        body: impl Fn(&R) -> Result<Bytes, BodyError>,
        mut shutdown: watch::Receiver<bool>,
    ) -> ExportOutcome {
        let mut requests = requests.into_iter();
        let mut backoff = Backoff::new(&self.retry);
        let mut outcome = ExportOutcome::default();
        while let Some(request) = requests.next() {
            let count = records(&request);
            let body = match body(&request) {
                Ok(body) => body,
                Err(error) => {
                    tracing::error!(exporter = %self.id, tenant, "cannot encode a push of {count} records: {error}");
                    self.reject(&mut outcome, DropReason::EncodeFailed, count);
                    continue;
                }
            };
            loop {
                match self.attempt(tenant, &body, count).await {
                    Step::Accepted => {
                        outcome.accepted += count;
                        backoff.reset();
                        break;
                    }
                    Step::Rejected(reason) => {
                        self.reject(&mut outcome, reason, count);
                        break;
                    }
                    Step::Retry(retry_after) => {
                        let Some(wait) = backoff.next(retry_after) else {
                            let rest =
                                count + requests.by_ref().map(|r| records(&r)).sum::<usize>();
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

    /// Sends one request built beforehand (by a sending queue), retrying as configured.
    pub async fn send(&self, request: &Request, shutdown: watch::Receiver<bool>) -> ExportOutcome {
        self.deliver(
            request.tenant.as_deref(),
            vec![request.body.clone()],
            |_| request.records,
            |body| Ok(body.clone()),
            shutdown,
        )
        .await
    }

    /// Counts `records` dropped for `reason`.
    pub fn reject(&self, outcome: &mut ExportOutcome, reason: DropReason, records: usize) {
        outcome.rejected += records;
        self.stats.add_dropped(reason, records);
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
        match (self.classify)(&answer) {
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
            "{} refused {records} records (not retried): {}",
            self.server,
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
