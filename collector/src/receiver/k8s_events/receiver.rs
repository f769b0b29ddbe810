//! The `k8s_events` receiver as the pipeline runs it: one list/watch loop per configured
//! namespace (or one cluster-wide), all sending [`EventBatch`]es into the pipeline's channel.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use crate::config::receivers::{EventsApi, K8sEventsConfig};

use super::api::{Scope, is_namespace_name};
use super::batch::{Board, EventBatch, Position, Sink};
use super::client::Connection;
use super::stats::ReceiverStats;
use super::watcher::{State, Tuning, Watcher};

/// Why the receiver cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The API server cannot be reached as configured; the message says what is missing
    /// (`serviceAccount auth needs KUBERNETES_SERVICE_HOST; is this running in a pod?`).
    #[error("{0}")]
    Connection(String),
    /// A configured namespace is not a namespace name.
    #[error(
        "namespaces: {0:?} is not a namespace name (lowercase letters, digits and '-', at most 63 characters)"
    )]
    Namespace(String),
}

/// The `k8s_events` receiver: lists and watches Kubernetes Events and sends one log record per
/// occurrence, each batch with the [`Position`] to checkpoint once it is delivered.
///
/// - Reads core/v1 `events` (or events.k8s.io/v1 with `api`), cluster-wide or one independent
///   loop per namespace in `namespaces`.
/// - Starts from `resume_from` when given (watching from its resourceVersion), else as
///   `start_from` says: `now` ships only what happens from now on, `all` ships every event the
///   API server still holds, a LIST page of `page_size` at a time.
/// - Survives watch expiry (410 Gone: lists again and skips what it shipped), API errors (capped
///   exponential backoff) and a full channel (waits: the API server keeps events about an hour).
///
/// Leader election and checkpoint storage are the caller's: pass the stored position as
/// `resume_from`, run only while leading.
#[derive(Debug)]
pub struct K8sEventsReceiver {
    connection: Connection,
    watchers: Vec<Watcher>,
    board: Board,
    stats: Arc<ReceiverStats>,
}

impl K8sEventsReceiver {
    /// Builds the API client's configuration from the config and the environment (no network
    /// yet): `auth_type` `serviceAccount` reads the pod's service account
    /// (`K8S_EVENT_COLLECTOR_SERVICEACCOUNT_DIR` overrides its directory) and
    /// `KUBERNETES_SERVICE_HOST`/`PORT`; `kubeConfig` reads `$KUBECONFIG` or `~/.kube/config` and
    /// `context`; `none` uses `K8S_EVENT_COLLECTOR_API_SERVER` or the in-cluster address,
    /// without credentials. Errors say what is missing.
    ///
    /// The client itself is made when [`K8sEventsReceiver::run`] starts: kube's client spawns a
    /// task, so it needs the Tokio runtime, which `new` does not.
    pub fn new(
        config: &K8sEventsConfig,
        resume_from: Option<Position>,
    ) -> Result<Self, ReceiverError> {
        let connection = Connection::from_env(config, |name| std::env::var(name).ok())?;
        Self::with_connection(config, resume_from, connection, Tuning::default())
    }

    /// [`K8sEventsReceiver::new`] with the connection and timings given (tests).
    pub(crate) fn with_connection(
        config: &K8sEventsConfig,
        resume_from: Option<Position>,
        connection: Connection,
        tuning: Tuning,
    ) -> Result<Self, ReceiverError> {
        let namespaces = namespaces(config)?;
        let stats = Arc::new(ReceiverStats::new(namespaces.len()));
        let credentials: Arc<str> = connection.credentials.as_str().into();
        let mut loops = Vec::new();
        let watchers: Vec<Watcher> = namespaces
            .into_iter()
            .map(|namespace| {
                let resume = resume_from
                    .as_ref()
                    .and_then(|p| p.resume_point(namespace.as_deref()))
                    .map(str::to_owned);
                loops.push((namespace.clone(), resume.clone()));
                let scope = Scope {
                    namespace,
                    api: config.api,
                };
                Watcher::new(
                    scope,
                    config,
                    resume,
                    Arc::clone(&credentials),
                    Arc::clone(&stats),
                    tuning.clone(),
                )
            })
            .collect();
        Ok(K8sEventsReceiver {
            connection,
            watchers,
            board: Board::new(loops),
            stats,
        })
    }

    /// Lists and watches until `shutdown` turns true (or its sender is dropped, or `out` is
    /// closed); sends batches, waiting when the channel is full (back-pressure: the API server
    /// keeps events about an hour). Returns `Ok` on shutdown; `Err` only when the API client
    /// cannot be set up. API errors never end it: they are retried, counted and logged.
    pub async fn run(
        self,
        out: mpsc::Sender<EventBatch>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), ReceiverError> {
        let client = self.connection.into_client().await?;
        let board = Arc::new(Mutex::new(self.board));
        let loops = self
            .watchers
            .into_iter()
            .enumerate()
            .map(|(index, watcher)| {
                log_start(&watcher);
                let sink = Sink::new(
                    out.clone(),
                    Arc::clone(&board),
                    index,
                    shutdown.clone(),
                    Arc::clone(&self.stats),
                );
                watcher.run(client.clone(), sink)
            });
        futures_util::future::join_all(loops).await;
        Ok(())
    }

    /// Shared counters and readiness for `/metrics` and `/readyz`.
    pub fn stats(&self) -> Arc<ReceiverStats> {
        Arc::clone(&self.stats)
    }
}

/// The namespaces of the loops: `[None]` for one cluster-wide loop, else each configured one
/// once, in order.
fn namespaces(config: &K8sEventsConfig) -> Result<Vec<Option<String>>, ReceiverError> {
    if config.namespaces.is_empty() {
        return Ok(vec![None]);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for ns in &config.namespaces {
        if !is_namespace_name(ns) {
            return Err(ReceiverError::Namespace(ns.clone()));
        }
        // The same namespace twice would ship its events twice.
        if seen.insert(ns.as_str()) {
            out.push(Some(ns.clone()));
        }
    }
    Ok(out)
}

fn log_start(watcher: &Watcher) {
    let scope = watcher.scope();
    let api = match scope.api {
        EventsApi::CoreV1 => "v1",
        EventsApi::EventsV1 => "events.k8s.io/v1",
    };
    let from = match (watcher.position(), watcher.state()) {
        (Some(rv), _) => format!("resuming at resourceVersion {rv}"),
        (None, State::Positioning) => "shipping events from now on (start_from: now)".into(),
        (None, _) => {
            "shipping every event the API server holds, then new ones (start_from: all)".into()
        }
    };
    tracing::info!(
        "k8s_events: watching {api} events {} ({from})",
        scope.where_()
    );
}
