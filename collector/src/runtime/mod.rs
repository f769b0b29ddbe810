//! The running collector: builds receivers, pipelines and exporters from a validated config,
//! serves its own telemetry, and shuts down without losing what was read (SIGTERM flushes;
//! anything not delivered by the end of the grace period is read again on the next start).

mod acks;
mod checkpoint;
mod exporters;
mod leading;
mod logging;
mod pipeline;
mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::{Config, ExtensionConfig, LoadedConfig, ProcessorConfig, ReceiverConfig};
use crate::exporter::stats::ExporterStats;
use crate::extension::LeaderElector;
use crate::processor::{self, Batcher, Stage};
use crate::receiver::k8s_events::{K8sEventsReceiver, Position, ReceiverStats};
use checkpoint::CheckpointStore;
use exporters::Exporter;
use leading::{Elected, LeaderStatus};
use pipeline::{Pipeline, Signals};
use telemetry::{Observed, PipelineStats};

/// How long SIGTERM waits for in-flight records to be delivered before giving up on them
/// (Kubernetes' default termination grace period is 30 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Records queued between a receiver and its pipeline: small, so back-pressure reaches the
/// watch quickly and memory stays flat when Loki is slow.
const RECEIVER_QUEUE: usize = 4;

/// Why the collector could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Build(String),
    #[error("cannot listen on {address} for {what}: {source}")]
    Listen {
        address: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Stopped(String),
}

/// Runs the collector until SIGTERM or Ctrl-C. Blocks.
pub fn run(loaded: &LoadedConfig) -> Result<(), RunError> {
    logging::init(&loaded.config.service.telemetry.logs);
    for d in &loaded.diagnostics {
        match d.severity {
            crate::config::Severity::Warning => tracing::warn!("{d}"),
            _ => tracing::info!("{d}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    runtime.block_on(run_async(&loaded.config))
}

/// Everything the telemetry endpoints read.
struct Collector {
    receivers: Vec<Arc<ReceiverStats>>,
    pipelines: Vec<Arc<PipelineStats>>,
    exporters: Vec<Arc<ExporterStats>>,
    /// Pipelines under leader election: leadership and the current term's receiver.
    leaders: Vec<Arc<LeaderStatus>>,
}

impl Observed for Collector {
    fn metrics(&self) -> String {
        let mut out = String::new();
        for r in &self.receivers {
            r.render_prometheus(&mut out);
        }
        for p in &self.pipelines {
            p.render_prometheus(&mut out);
        }
        for e in &self.exporters {
            out.push_str(&e.render_prometheus());
        }
        for l in &self.leaders {
            l.render_prometheus(&mut out);
        }
        out
    }

    fn ready(&self) -> bool {
        self.receivers.iter().all(|r| r.is_ready()) && self.leaders.iter().all(|l| l.ready())
    }
}

/// A pipeline and the receiver that feeds it, built and not yet started.
struct Wired {
    receiver: K8sEventsReceiver,
    pipeline: Pipeline,
    checkpoint: Option<CheckpointStore>,
    /// With `k8s_leader_elector`: `receiver` only checked the config; each term of leadership
    /// builds its own (see `leading`).
    elected: Option<Elected>,
}

fn build(config: &Config) -> Result<Vec<Wired>, RunError> {
    let mut wired = Vec::new();
    let mut electors = Vec::new();
    for p in &config.service.pipelines {
        let id = p.id.to_string();
        let [receiver_id] = p.config.receivers.as_slice() else {
            return Err(RunError::Build(format!(
                "service.pipelines.{id}: exactly one receiver per pipeline is supported (found {}): define one pipeline per k8s_events receiver",
                p.config.receivers.len()
            )));
        };
        let Some(receiver) = config.receiver(receiver_id) else {
            return Err(RunError::Build(format!(
                "receivers.{receiver_id} is not defined"
            )));
        };
        let ReceiverConfig::K8sEvents(receiver_config) = &receiver.config;
        let checkpoint = match receiver_config
            .storage
            .as_deref()
            .and_then(|s| config.extension(s))
        {
            Some(c) => match &c.config {
                ExtensionConfig::FileStorage(storage) => Some(
                    CheckpointStore::open(storage, &format!("{id}__{receiver_id}"))
                        .map_err(|e| RunError::Build(format!("extensions.{}: {e}", c.id)))?,
                ),
                _ => None,
            },
            None => None,
        };
        let resume_from = checkpoint.as_ref().and_then(CheckpointStore::load);
        if let Some(position) = &resume_from {
            tracing::info!(pipeline = %id, resource_version = %position.resource_version, "resuming from the checkpoint");
        }
        let receiver = K8sEventsReceiver::new(receiver_config, resume_from)
            .map_err(|e| RunError::Build(format!("receivers.{receiver_id}: {e}")))?;
        let elected = elector(config, receiver_config, &id, &mut electors)?;

        let mut processors = Vec::new();
        let mut batcher = None;
        for processor_id in &p.config.processors {
            let Some(c) = config.processor(processor_id) else {
                continue;
            };
            match processor::build(&c.config) {
                Stage::Record(proc) => processors.push(*proc),
                Stage::Batch(b) => batcher = Some(b),
            }
        }
        let batcher = batcher.unwrap_or_else(|| {
            let default = ProcessorConfig::Batch(Default::default());
            match processor::build(&default) {
                Stage::Batch(b) => b,
                Stage::Record(_) => Batcher::new(&Default::default()),
            }
        });
        let exporters = p
            .config
            .exporters
            .iter()
            .map(|e| Exporter::build(config, &id, e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RunError::Build(e.to_string()))?;
        wired.push(Wired {
            checkpoint,
            elected,
            receiver,
            pipeline: Pipeline {
                stats: Arc::new(PipelineStats::new(&id)),
                id,
                processors,
                batcher,
                exporters,
            },
        });
    }
    Ok(wired)
}

/// The elector of a receiver that names `k8s_leader_elector`. One pipeline per elector: the
/// Lease holds one checkpoint (`electors` collects the ids used so far).
fn elector(
    config: &Config,
    receiver: &crate::config::receivers::K8sEventsConfig,
    pipeline: &str,
    electors: &mut Vec<String>,
) -> Result<Option<Elected>, RunError> {
    let Some(id) = receiver.k8s_leader_elector.as_deref() else {
        return Ok(None);
    };
    let Some(ExtensionConfig::K8sLeaderElector(c)) = config.extension(id).map(|e| &e.config) else {
        return Err(RunError::Build(format!(
            "extensions.{id} is not a k8s_leader_elector extension"
        )));
    };
    if electors.iter().any(|e| e == id) {
        return Err(RunError::Build(format!(
            "extensions.{id}: one k8s_leader_elector serves one pipeline (its Lease holds one checkpoint); define one per pipeline"
        )));
    }
    electors.push(id.to_owned());
    let elector =
        LeaderElector::new(c).map_err(|e| RunError::Build(format!("extensions.{id}: {e}")))?;
    Ok(Some(Elected {
        elector,
        receiver: receiver.clone(),
        status: Arc::new(LeaderStatus::new(pipeline)),
    }))
}

async fn listen(address: &str, what: &'static str) -> Result<TcpListener, RunError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| RunError::Listen {
            address: address.to_owned(),
            what,
            source,
        })
}

async fn run_async(config: &Config) -> Result<(), RunError> {
    let wired = build(config)?;
    let observed = Arc::new(Collector {
        receivers: wired
            .iter()
            .filter(|w| w.elected.is_none())
            .map(|w| w.receiver.stats())
            .collect(),
        pipelines: wired
            .iter()
            .map(|w| Arc::clone(&w.pipeline.stats))
            .collect(),
        exporters: wired
            .iter()
            .flat_map(|w| w.pipeline.exporters.iter())
            .filter_map(Exporter::stats)
            .collect(),
        leaders: wired
            .iter()
            .filter_map(|w| w.elected.as_ref().map(|e| Arc::clone(&e.status)))
            .collect(),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let (abort_tx, abort_rx) = watch::channel(false);

    let telemetry = &config.service.telemetry.metrics;
    if !telemetry.address.is_empty() && telemetry.level.as_deref() != Some("none") {
        let listener = listen(&telemetry.address, "metrics").await?;
        tracing::info!(address = %telemetry.address, "serving /metrics, /healthz and /readyz");
        tokio::spawn(telemetry::serve(
            listener,
            observed.clone(),
            None,
            stop_rx.clone(),
        ));
    }
    for extension in &config.extensions {
        if let ExtensionConfig::HealthCheck(h) = &extension.config
            && config
                .service
                .extensions
                .iter()
                .any(|e| *e == extension.id.to_string())
        {
            let listener = listen(&h.endpoint, "health_check").await?;
            tracing::info!(address = %h.endpoint, path = %h.path, "serving health checks");
            tokio::spawn(telemetry::serve(
                listener,
                observed.clone(),
                Some(h.path.clone()),
                stop_rx.clone(),
            ));
        }
    }

    let mut receivers = Vec::new();
    let mut pipelines = Vec::new();
    let mut savers = Vec::new();
    for Wired {
        receiver,
        pipeline,
        checkpoint,
        elected,
    } in wired
    {
        let (tx, rx) = mpsc::channel(RECEIVER_QUEUE);
        let (acked_tx, acked_rx) = watch::channel(None);
        let id = pipeline.id.clone();
        let receiver_stop = stop_rx.clone();
        if let Some(elected) = elected {
            // Leader election: the elector keeps acknowledged positions in the Lease, and
            // ends (releasing it) after the pipeline; it is awaited with the savers.
            let started = leading::start(
                elected,
                id,
                tx,
                acked_rx.clone(),
                checkpoint.clone(),
                receiver_stop,
            );
            receivers.push(started.receiver);
            savers.push(started.elector);
        } else {
            receivers.push(tokio::spawn(async move {
                receiver
                    .run(tx, receiver_stop)
                    .await
                    .map_err(|e| format!("pipeline {id}: the receiver stopped: {e}"))
            }));
        }
        if let Some(store) = checkpoint {
            savers.push(tokio::spawn(save_checkpoints(store, acked_rx)));
        }
        let signals = Signals {
            abort: abort_rx.clone(),
        };
        pipelines.push(tokio::spawn(pipeline.run(rx, signals, acked_tx)));
    }
    tracing::info!("collector started");

    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(grace = ?SHUTDOWN_GRACE, "shutting down: delivering what was read");
        stop_tx.send_replace(true);
        tokio::select! {
            () = tokio::time::sleep(SHUTDOWN_GRACE) => {
                tracing::warn!("grace period over: records not yet delivered will be read again on the next start");
            }
            () = shutdown_signal() => tracing::warn!("second signal: stopping now"),
        }
        abort_tx.send_replace(true);
    });

    let mut failures = Vec::new();
    for task in receivers {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!("{e}");
                failures.push(e);
            }
            Err(e) => failures.push(format!("a receiver task failed: {e}")),
        }
    }
    for task in pipelines {
        let _ = task.await;
    }
    // The pipelines are done: their acknowledgement senders are gone, so the savers write the
    // last position and end.
    for task in savers {
        let _ = task.await;
    }
    tracing::info!("collector stopped");
    if failures.is_empty() {
        Ok(())
    } else {
        Err(RunError::Stopped(failures.join("; ")))
    }
}

/// Writes each newly acknowledged position, until the pipeline ends.
async fn save_checkpoints(store: CheckpointStore, mut acked: watch::Receiver<Option<Position>>) {
    let mut failing = false;
    while acked.changed().await.is_ok() {
        let Some(position) = acked.borrow_and_update().clone() else {
            continue;
        };
        match store.save(&position) {
            Ok(()) if failing => {
                failing = false;
                tracing::info!(path = %store.path().display(), "checkpoint written again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::error!(
                    "{e}: a restart will re-read events since the last checkpoint written"
                );
            }
            Err(_) => {}
        }
    }
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
