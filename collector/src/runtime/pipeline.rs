//! One running pipeline: received batches -> processors -> batching -> every exporter, and
//! the acknowledged receiver position once all exporters have settled the records.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::acks::AckTracker;
use super::exporters::Exporter;
use super::telemetry::PipelineStats;
use crate::processor::{Batcher, Outcome, Processor};
use crate::receiver::k8s_events::{EventBatch, Position};
use crate::record::LogRecord;

/// A pipeline's processing stages, built from its config.
#[derive(Debug)]
pub struct Pipeline {
    pub id: String,
    pub processors: Vec<Processor>,
    pub batcher: Batcher<LogRecord>,
    pub exporters: Vec<Exporter>,
    pub stats: Arc<PipelineStats>,
}

/// Signals the pipeline obeys: `abort` turns true when the shutdown grace period is over and
/// exporters must stop retrying.
#[derive(Debug, Clone)]
pub struct Signals {
    pub abort: watch::Receiver<bool>,
}

impl Pipeline {
    /// Runs until `input` closes (the receiver stopped), then flushes what is pending.
    /// Publishes every newly acknowledged position on `acked`.
    pub async fn run(
        mut self,
        mut input: mpsc::Receiver<EventBatch>,
        mut signals: Signals,
        acked: watch::Sender<Option<Position>>,
    ) {
        let mut acks = AckTracker::default();
        loop {
            let deadline = self.batcher.deadline();
            let next = tokio::select! {
                batch = input.recv() => batch,
                () = sleep_until(deadline) => {
                    let due = self.batcher.poll(Instant::now());
                    self.deliver(due, &mut acks, &mut signals, &acked).await;
                    continue;
                }
            };
            let Some(batch) = next else { break };
            let kept = self.process(batch.records);
            acks.received(kept.len(), batch.position);
            self.stats
                .in_flight
                .store(acks.in_flight(), std::sync::atomic::Ordering::Relaxed);
            let ready = self.batcher.extend(kept, Instant::now());
            self.deliver(ready, &mut acks, &mut signals, &acked).await;
        }
        let rest = self.batcher.flush();
        self.deliver(rest, &mut acks, &mut signals, &acked).await;
        tracing::info!(pipeline = %self.id, "pipeline stopped");
    }

    /// Applies the processors in order; returns the records they kept.
    fn process(&self, records: Vec<LogRecord>) -> Vec<LogRecord> {
        let mut kept = Vec::with_capacity(records.len());
        'records: for mut record in records {
            self.stats.records_in.inc();
            for processor in &self.processors {
                if let Outcome::Drop(reason) = processor.process(&mut record) {
                    self.stats.dropped(reason);
                    continue 'records;
                }
            }
            kept.push(record);
        }
        kept
    }

    /// Sends each batch to every exporter; a batch counts as settled when no exporter was
    /// interrupted (accepted or permanently rejected: retrying cannot help those).
    async fn deliver(
        &mut self,
        batches: Vec<Vec<LogRecord>>,
        acks: &mut AckTracker,
        signals: &mut Signals,
        acked: &watch::Sender<Option<Position>>,
    ) {
        for batch in batches {
            if batch.is_empty() {
                continue;
            }
            let mut interrupted = false;
            for exporter in &self.exporters {
                interrupted |= exporter.export(&batch, &mut signals.abort).await;
            }
            if interrupted {
                // Not settled: the next start resumes before these records.
                tracing::warn!(pipeline = %self.id, records = batch.len(), "shutdown before delivery finished; these records will be read again on restart");
                return;
            }
            self.stats.records_out.add(batch.len() as u64);
            acks.settled(batch.len());
            self.stats
                .in_flight
                .store(acks.in_flight(), std::sync::atomic::Ordering::Relaxed);
            if let Some(position) = acks.acked() {
                self.stats.acked(position);
                acked.send_replace(Some(position.clone()));
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
