//! `sending_queue`: a bounded queue between a pipeline and one `loki` or `otlphttp` exporter.
//!
//! - [`lanes`]: per-tenant FIFO lanes and the capacity, pure;
//! - [`consumer`]: the `num_consumers` tasks that send what the lanes hand out;
//! - [`store`]: the optional on-disk copy (`sending_queue.storage`), one file per request;
//! - [`ticket`]: how a batch tells the pipeline it may be acknowledged.
//!
//! A batch is encoded into requests (bodies as sent) when it enters the queue. The queue holds
//! at most `queue_size` requests, waiting or being sent; a batch that does not fit waits
//! (back-pressure: the pipeline stops, so the receiver stops reading), nothing is dropped.
//!
//! Acknowledgement: in memory, a request keeps its batch's [`Ticket`] until it is delivered or
//! permanently rejected, so the checkpoint only passes records that are done. With storage, the
//! ticket is settled as soon as the batch's files are written and fsynced: the records are safe
//! on disk, the checkpoint moves on, and the files are sent before anything new after a restart.

pub mod consumer;
pub mod lanes;
pub mod store;
pub mod ticket;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::http::QueueConfig;
use crate::exporter::delivery::ExportOutcome;
use crate::exporter::stats::ExporterStats;
use crate::record::LogRecord;
use lanes::Lanes;
pub use store::{Store, StoreError};
pub use ticket::Ticket;

/// One request as the queue keeps it: where it goes, what it carries, and its body as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The Loki tenant (`None`: the configured `X-Scope-OrgID`, if any). Also the lane.
    pub tenant: Option<String>,
    pub records: usize,
    pub body: Bytes,
}

/// What the queue needs of an exporter.
pub trait Backend: Send + Sync + 'static {
    /// Encodes `records` into requests (what cannot be encoded is counted and left out).
    fn requests(&self, records: &[LogRecord]) -> Vec<Request>;
    /// Sends one request, retrying as `retry_on_failure` says, until it is accepted,
    /// rejected for good, or `abort` stops the retrying.
    fn send(
        &self,
        request: &Request,
        abort: watch::Receiver<bool>,
    ) -> impl Future<Output = ExportOutcome> + Send;
    /// Encodes and sends `records` without a queue (`sending_queue.enabled: false`).
    fn export(
        &self,
        records: &[LogRecord],
        abort: &mut watch::Receiver<bool>,
    ) -> impl Future<Output = ExportOutcome> + Send;
    /// The exporter's counters (the queue sets its gauges there).
    fn stats(&self) -> Arc<ExporterStats>;
}

/// A queued request: its body in memory or in a file, and, while it holds up an
/// acknowledgement, its batch's ticket.
#[derive(Debug)]
struct Entry {
    payload: Payload,
    ticket: Option<Ticket>,
}

#[derive(Debug)]
enum Payload {
    Memory(Request),
    Disk { path: PathBuf, records: usize },
}

/// State shared by the pipeline side and the consumers.
#[derive(Debug)]
struct Shared {
    lanes: Mutex<Lanes<Entry>>,
    /// Set by [`SendingQueue::shutdown`]: consumers end once the queue is empty.
    closed: std::sync::atomic::AtomicBool,
    /// Wakes whoever waits for a request, a free lane, or room.
    changed: Notify,
    stats: Arc<ExporterStats>,
}

impl Shared {
    fn lanes(&self) -> MutexGuard<'_, Lanes<Entry>> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update_gauge(&self, lanes: &Lanes<Entry>) {
        self.stats.set_queue_size(lanes.len());
    }
}

/// A running `sending_queue` in front of exporter `B`.
#[derive(Debug)]
pub struct SendingQueue<B: Backend> {
    backend: Arc<B>,
    shared: Arc<Shared>,
    store: Option<Store>,
    consumers: usize,
    tasks: Vec<JoinHandle<()>>,
    /// A failing disk is logged once, and again when it works again.
    disk_failing: std::sync::atomic::AtomicBool,
}

impl<B: Backend> SendingQueue<B> {
    /// The queue of `backend` as `config` says, with what `store` kept from the last run
    /// already in it (to be sent first). No task runs until [`SendingQueue::start`].
    pub fn new(backend: Arc<B>, config: &QueueConfig, store: Option<Store>) -> Self {
        let mut lanes = Lanes::new(usize::try_from(config.queue_size).unwrap_or(usize::MAX));
        if let Some(store) = &store {
            let restored = store.restore();
            if !restored.is_empty() {
                let records: usize = restored.iter().map(|r| r.records).sum();
                tracing::info!(dir = %store.dir().display(), requests = restored.len(), records, "sending what the queue kept on disk first");
            }
            for r in restored {
                let payload = Payload::Disk {
                    path: r.path,
                    records: r.records,
                };
                let entry = Entry {
                    payload,
                    ticket: None,
                };
                lanes.push(r.lane, r.seq, entry);
            }
        }
        let stats = backend.stats();
        stats.set_queue_capacity(lanes.capacity());
        stats.set_queue_size(lanes.len());
        SendingQueue {
            backend,
            shared: Arc::new(Shared {
                lanes: Mutex::new(lanes),
                closed: Default::default(),
                changed: Notify::new(),
                stats,
            }),
            store,
            consumers: usize::try_from(config.num_consumers).unwrap_or(1).max(1),
            tasks: Vec::new(),
            disk_failing: Default::default(),
        }
    }

    /// Starts the consumers; `abort` turning true makes them stop after the request at hand.
    pub fn start(&mut self, abort: &watch::Receiver<bool>) {
        for _ in 0..self.consumers {
            self.tasks.push(tokio::spawn(consumer::run(
                Arc::clone(&self.shared),
                Arc::clone(&self.backend),
                abort.clone(),
            )));
        }
    }

    /// Requests queued or being sent.
    pub fn len(&self) -> usize {
        self.shared.lanes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Encodes `records` and queues the requests, waiting for room for all of them. Returns
    /// true when `abort` came first (nothing queued; `ticket` is dropped unsettled).
    pub async fn push(
        &self,
        records: &[LogRecord],
        ticket: Ticket,
        abort: &mut watch::Receiver<bool>,
    ) -> bool {
        let requests = self.backend.requests(records);
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.shared.lanes().has_room(requests.len()) {
                break;
            }
            if *abort.borrow() {
                return true;
            }
            tokio::select! {
                () = changed => {}
                () = aborted(abort) => {}
            }
        }
        {
            let mut lanes = self.shared.lanes();
            for request in requests {
                let seq = lanes.next_seq();
                let lane = request.tenant.clone();
                let entry = self.entry(seq, request, &ticket);
                lanes.push(lane, seq, entry);
            }
            self.shared.update_gauge(&lanes);
        }
        self.shared.changed.notify_waiters();
        ticket.settle();
        false
    }

    /// The queue entry of `request`: written to disk (then it no longer holds up the ticket),
    /// or kept in memory with a share of the ticket, also when the disk fails.
    fn entry(&self, seq: u64, request: Request, ticket: &Ticket) -> Entry {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(store) = &self.store else {
            return Entry {
                payload: Payload::Memory(request),
                ticket: Some(ticket.clone()),
            };
        };
        match store.write(seq, &request) {
            Ok(path) => {
                if self.disk_failing.swap(false, Relaxed) {
                    tracing::info!(dir = %store.dir().display(), "the sending queue writes to disk again");
                }
                Entry {
                    payload: Payload::Disk {
                        path,
                        records: request.records,
                    },
                    ticket: None,
                }
            }
            Err(e) => {
                self.shared.stats.add_enqueue_failed(request.records);
                if !self.disk_failing.swap(true, Relaxed) {
                    tracing::error!(dir = %store.dir().display(), "cannot write to the sending queue directory; keeping requests in memory, acknowledged only once delivered: {e}");
                }
                Entry {
                    payload: Payload::Memory(request),
                    ticket: Some(ticket.clone()),
                }
            }
        }
    }

    /// Lets the consumers send what is queued and waits for them: they end once the queue is
    /// empty, or after `abort` (what is on disk then stays there for the next start).
    pub async fn shutdown(self) {
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.shared.changed.notify_waiters();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Resolves once `abort` is true; never, if its sender is gone without saying so.
async fn aborted(abort: &mut watch::Receiver<bool>) {
    if abort.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "tests.rs"]
mod tests;
