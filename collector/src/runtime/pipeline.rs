//! One running pipeline: received batches -> processors -> batching -> every exporter, and
//! the acknowledged receiver position once all exporters have settled the records.
//!
//! Exporters settle a batch through its [`Ticket`]: inline ones before `export` returns,
//! queued ones later and possibly out of order (see `acks::InOrder`). Settlements come back on
//! a channel the pipeline reads between batches.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::acks::{AckTracker, InOrder};
use super::exporters::Exporter;
use super::telemetry::PipelineStats;
use crate::exporter::queue::Ticket;
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

/// What the pipeline knows about acknowledgement.
struct Acks {
    tracker: AckTracker,
    order: InOrder,
    /// Tickets report here once settled.
    settled_tx: mpsc::UnboundedSender<u64>,
    acked: watch::Sender<Option<Position>>,
}

impl Pipeline {
    /// Runs until `input` closes (the receiver stopped), then flushes what is pending and
    /// waits for the queues to be sent (or the grace period to end).
    /// Publishes every newly acknowledged position on `acked`.
    pub async fn run(
        mut self,
        mut input: mpsc::Receiver<EventBatch>,
        mut signals: Signals,
        acked: watch::Sender<Option<Position>>,
    ) {
        let (settled_tx, mut settled_rx) = mpsc::unbounded_channel();
        let mut acks = Acks {
            tracker: AckTracker::default(),
            order: InOrder::default(),
            settled_tx,
            acked,
        };
        for exporter in &mut self.exporters {
            exporter.start(&signals.abort);
        }
        loop {
            let deadline = self.batcher.deadline();
            let next = tokio::select! {
                batch = input.recv() => batch,
                () = sleep_until(deadline) => {
                    let due = self.batcher.poll(Instant::now());
                    self.deliver(due, &mut acks, &mut signals).await;
                    continue;
                }
                Some(seq) = settled_rx.recv() => {
                    self.settled(seq, &mut acks);
                    continue;
                }
            };
            let Some(batch) = next else { break };
            let kept = self.process(batch.records);
            acks.tracker.received(kept.len(), batch.position);
            self.publish(&mut acks);
            let ready = self.batcher.extend(kept, Instant::now());
            self.deliver(ready, &mut acks, &mut signals).await;
        }
        let rest = self.batcher.flush();
        self.deliver(rest, &mut acks, &mut signals).await;
        // Drain the queues, acknowledging as they go; their consumers end when empty or
        // aborted, and every ticket is then settled or dropped.
        let exporters = std::mem::take(&mut self.exporters);
        let drained = futures_util::future::join_all(exporters.into_iter().map(Exporter::shutdown));
        tokio::pin!(drained);
        loop {
            tokio::select! {
                _ = &mut drained => break,
                Some(seq) = settled_rx.recv() => self.settled(seq, &mut acks),
            }
        }
        while let Ok(seq) = settled_rx.try_recv() {
            self.settled(seq, &mut acks);
        }
        if acks.order.outstanding() > 0 {
            tracing::warn!(pipeline = %self.id, records = acks.tracker.in_flight(), "shutdown before delivery finished; these records will be read again on restart");
        }
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

    /// Hands each batch to every exporter (inline: delivered; queued: enqueued, waiting for
    /// room). Stops at the first batch shutdown interrupted: it stays unacknowledged.
    async fn deliver(
        &mut self,
        batches: Vec<Vec<LogRecord>>,
        acks: &mut Acks,
        signals: &mut Signals,
    ) {
        for batch in batches {
            if batch.is_empty() {
                continue;
            }
            let ticket = Ticket::new(acks.order.issue(batch.len()), acks.settled_tx.clone());
            let mut interrupted = false;
            for exporter in &self.exporters {
                interrupted |= exporter
                    .export(&batch, ticket.clone(), &mut signals.abort)
                    .await;
            }
            if interrupted {
                // The ticket drops unsettled: the next start resumes before these records.
                tracing::warn!(pipeline = %self.id, records = batch.len(), "shutdown before delivery finished; these records will be read again on restart");
                return;
            }
            ticket.settle();
        }
    }

    /// Batch `seq` is settled by every exporter: acknowledge what that completes.
    fn settled(&self, seq: u64, acks: &mut Acks) {
        let records = acks.order.settle(seq);
        if records > 0 {
            self.stats.records_out.add(records as u64);
            acks.tracker.settled(records);
        }
        self.publish(acks);
    }

    /// Publishes the in-flight gauge, and the acknowledged position when it moved.
    fn publish(&self, acks: &mut Acks) {
        self.stats
            .in_flight
            .store(acks.tracker.in_flight(), Ordering::Relaxed);
        if let Some(position) = acks.tracker.acked()
            && acks.acked.borrow().as_ref() != Some(position)
        {
            self.stats.acked(position);
            acks.acked.send_replace(Some(position.clone()));
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
