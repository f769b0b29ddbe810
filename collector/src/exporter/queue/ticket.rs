//! A batch's claim on acknowledgement. The pipeline gives every exporter (and, behind a queue,
//! every request) a clone; the batch counts as settled once every clone was settled. A clone
//! dropped unsettled (shutdown interrupted it, or a queue kept only in memory was dropped)
//! abandons the batch, so its position is never acknowledged and a restart reads it again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

/// See the module documentation. Settling the last clone sends the batch's sequence number on
/// the channel the ticket was made with.
#[derive(Debug)]
pub struct Ticket {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    seq: u64,
    done: mpsc::UnboundedSender<u64>,
    abandoned: AtomicBool,
}

impl Ticket {
    /// The ticket of batch `seq`; its settlement is reported on `done`.
    pub fn new(seq: u64, done: mpsc::UnboundedSender<u64>) -> Ticket {
        Ticket {
            inner: Some(Arc::new(Inner {
                seq,
                done,
                abandoned: AtomicBool::new(false),
            })),
        }
    }

    /// This part of the batch is delivered, permanently rejected, or durably queued.
    pub fn settle(mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if let Some(last) = Arc::into_inner(inner)
            && !last.abandoned.load(Ordering::Acquire)
        {
            // The pipeline may be gone already (shutdown): nothing left to acknowledge then.
            let _ = last.done.send(last.seq);
        }
    }
}

impl Clone for Ticket {
    fn clone(&self) -> Self {
        Ticket {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(inner) = &self.inner {
            inner.abandoned.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_once_every_clone_is_settled() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ticket = Ticket::new(7, tx);
        let part = ticket.clone();
        ticket.settle();
        assert!(rx.try_recv().is_err());
        part.settle();
        assert_eq!(rx.try_recv().ok(), Some(7));
    }

    #[test]
    fn one_clone_dropped_unsettled_abandons_the_batch() {
        for drop_first in [true, false] {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let ticket = Ticket::new(1, tx);
            let part = ticket.clone();
            if drop_first {
                drop(part);
                ticket.settle();
            } else {
                ticket.settle();
                drop(part);
            }
            assert!(rx.try_recv().is_err(), "drop_first: {drop_first}");
        }
    }
}
