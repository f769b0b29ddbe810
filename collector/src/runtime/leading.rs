//! A pipeline under leader election (`k8s_leader_elector` named by its receiver): only the
//! Lease holder runs the receiver.
//!
//! The pipeline itself runs all the time (so its exporters, batcher and counters live once);
//! the receiver runs per term of leadership. On gaining the Lease the receiver resumes from the
//! newer (by resourceVersion) of the Lease's checkpoint annotation and the `file_storage` one;
//! on losing it the receiver stops at once while the pipeline delivers what was read.
//! Acknowledged positions go to the elector, which keeps them in the Lease.
//!
//! Readiness: a standby answers `/readyz` with 200 (it is healthy and ready to take over; a
//! standby reported not ready would stall every rollout of the `ha` overlay, which probes
//! `/healthz` anyway); the leader is ready when its receiver is.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::receivers::K8sEventsConfig;
use crate::extension::lease::newer;
use crate::extension::{LeaderElector, LeaseCheckpoint};
use crate::receiver::k8s_events::{EventBatch, K8sEventsReceiver, Position, ReceiverStats};

use super::checkpoint::CheckpointStore;

/// A pipeline's receiver config and elector, built and not yet started.
#[derive(Debug)]
pub(super) struct Elected {
    pub(super) elector: LeaderElector,
    pub(super) receiver: K8sEventsConfig,
    pub(super) status: Arc<LeaderStatus>,
}

/// Leadership and the current term's receiver counters, for `/metrics` and `/readyz`.
#[derive(Debug)]
pub(super) struct LeaderStatus {
    /// The pipeline id, the metric's label.
    pipeline: String,
    leader: watch::Sender<bool>,
    /// The running receiver's counters (a new receiver, and new counters, each term).
    receiver: Mutex<Option<Arc<ReceiverStats>>>,
}

impl LeaderStatus {
    pub(super) fn new(pipeline: &str) -> LeaderStatus {
        LeaderStatus {
            pipeline: pipeline.to_owned(),
            leader: watch::channel(false).0,
            receiver: Mutex::new(None),
        }
    }

    fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    fn set_receiver(&self, stats: Option<Arc<ReceiverStats>>) {
        *self.receiver.lock().unwrap_or_else(PoisonError::into_inner) = stats;
    }

    fn current_receiver(&self) -> Option<Arc<ReceiverStats>> {
        self.receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Standby: ready (see the module documentation). Leader: when its receiver is.
    pub(super) fn ready(&self) -> bool {
        !self.is_leader() || self.current_receiver().is_none_or(|r| r.is_ready())
    }

    /// `k8s_event_collector_leader` (1 leader, 0 standby) and the running receiver's counters.
    pub(super) fn render_prometheus(&self, out: &mut String) {
        let name = "k8s_event_collector_leader";
        let _ = writeln!(
            out,
            "# HELP {name} 1 while this replica holds the Lease and ships events, 0 on standby."
        );
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(
            out,
            "{name}{{pipeline=\"{}\"}} {}",
            self.pipeline,
            u8::from(self.is_leader())
        );
        if let Some(stats) = self.current_receiver() {
            stats.render_prometheus(out);
        }
    }
}

/// The tasks of an elected pipeline's receiver side.
pub(super) struct Started {
    /// Runs receivers while leading; ends on shutdown (dropping the pipeline's input).
    pub(super) receiver: JoinHandle<Result<(), String>>,
    /// The elector; ends once it released the Lease (after the pipeline is done).
    pub(super) elector: JoinHandle<()>,
}

/// Starts the elector and the receiver loop feeding `out`. `acked` are the pipeline's
/// acknowledged positions; `store` the `file_storage` checkpoint, if any.
pub(super) fn start(
    elected: Elected,
    id: String,
    out: mpsc::Sender<EventBatch>,
    acked: watch::Receiver<Option<Position>>,
    store: Option<CheckpointStore>,
    stop: watch::Receiver<bool>,
) -> Started {
    let Elected {
        mut elector,
        receiver,
        status,
    } = elected;
    elector.publish_checkpoints(acked);
    let lease = elector.lease_checkpoint();
    let is_leader = status.leader.subscribe();
    let leader_tx = status.leader.clone();
    let elector_stop = stop.clone();
    let elector_id = id.clone();
    let elector = tokio::spawn(async move {
        if let Err(e) = elector.run(leader_tx, elector_stop).await {
            tracing::error!(pipeline = %elector_id, "leader election stopped: {e}");
        }
    });
    let receiver = tokio::spawn(async move {
        run_while_leading(&receiver, &id, out, is_leader, &lease, store, stop, &status)
            .await
            .map_err(|e| format!("pipeline {id}: the receiver stopped: {e}"))
    });
    Started { receiver, elector }
}

/// Waits for leadership, runs a receiver for the term, and again, until `stop`.
#[allow(clippy::too_many_arguments)]
async fn run_while_leading(
    config: &K8sEventsConfig,
    id: &str,
    out: mpsc::Sender<EventBatch>,
    mut is_leader: watch::Receiver<bool>,
    lease: &LeaseCheckpoint,
    store: Option<CheckpointStore>,
    mut stop: watch::Receiver<bool>,
    status: &LeaderStatus,
) -> Result<(), String> {
    loop {
        tokio::select! {
            biased;
            () = turned(&mut stop, true) => return Ok(()),
            () = turned(&mut is_leader, true) => {}
        }
        let from_lease = lease.checkpoint_from_lease();
        let from_file = store.as_ref().and_then(CheckpointStore::load);
        let resume_from = newer(from_lease.clone(), from_file);
        tracing::info!(
            pipeline = %id,
            lease = ?from_lease.as_ref().map(|p| p.resource_version.as_str()),
            resume = ?resume_from.as_ref().map(|p| p.resource_version.as_str()),
            "leader: starting the receiver"
        );
        let receiver = K8sEventsReceiver::new(config, resume_from).map_err(|e| e.to_string())?;
        status.set_receiver(Some(receiver.stats()));
        let (term_stop, term_rx) = watch::channel(false);
        let run = receiver.run(out.clone(), term_rx);
        tokio::pin!(run);
        let lost = tokio::select! {
            result = &mut run => {
                // The receiver only returns by itself when its client cannot be set up.
                result.map_err(|e| e.to_string())?;
                false
            }
            () = turned(&mut stop, true) => false,
            () = turned(&mut is_leader, false) => true,
        };
        term_stop.send_replace(true);
        // Stops at once; the pipeline keeps delivering what was read.
        let _ = run.await;
        status.set_receiver(None);
        if lost {
            tracing::warn!(pipeline = %id, "standby: no longer the leader, the receiver stopped");
        } else {
            return Ok(());
        }
    }
}

/// Resolves once `flag` is `value` (or, for `true`, once its sender is gone: nothing will
/// ever change it again, and stopping is the safe reading).
async fn turned(flag: &mut watch::Receiver<bool>, value: bool) {
    if flag.wait_for(|v| *v == value).await.is_err() && !value {
        std::future::pending::<()>().await;
    }
}
