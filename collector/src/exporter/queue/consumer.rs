//! One of the `num_consumers` senders of a queue: takes the oldest request of a free lane,
//! sends it with the exporter's retries, and settles it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::lanes::Taken;
use super::{Backend, Entry, Payload, Shared, aborted, store};

/// Runs until the queue is closed and empty, or `abort` is set.
pub(super) async fn run<B: Backend>(
    shared: Arc<Shared>,
    backend: Arc<B>,
    mut abort: watch::Receiver<bool>,
) {
    while let Some(Taken { lane, item, .. }) = next(&shared, &mut abort).await {
        let Entry { payload, ticket } = item;
        let (request, path) = match payload {
            Payload::Memory(request) => (request, None),
            Payload::Disk { path, records } => match store::read(&path) {
                Ok(request) => (request, Some(path)),
                Err(why) => {
                    // Damaged since start: reported by name, counted nowhere else; move on.
                    store::set_aside(&path, &format!("{why} ({records} records)"));
                    finish(&shared, &lane);
                    continue;
                }
            },
        };
        let outcome = backend.send(&request, abort.clone()).await;
        if outcome.interrupted {
            // Shutdown: the lane stays busy so nothing overtakes this request. In memory, its
            // dropped ticket keeps the batch unacknowledged; on disk, the file stays.
            return;
        }
        if let Some(path) = path {
            store::remove(&path);
        }
        if let Some(ticket) = ticket {
            ticket.settle();
        }
        finish(&shared, &lane);
    }
}

/// Hands `lane` back and wakes the others (a waiting request of that lane, or a full queue).
fn finish(shared: &Shared, lane: &super::lanes::LaneKey) {
    {
        let mut lanes = shared.lanes();
        lanes.done(lane);
        shared.update_gauge(&lanes);
    }
    shared.changed.notify_waiters();
}

/// The next request to send; `None` when the consumer should end.
async fn next(shared: &Shared, abort: &mut watch::Receiver<bool>) -> Option<Taken<Entry>> {
    loop {
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if *abort.borrow() {
            return None;
        }
        {
            let mut lanes = shared.lanes();
            if let Some(taken) = lanes.take() {
                return Some(taken);
            }
            if lanes.is_empty() && shared.closed.load(Ordering::Acquire) {
                return None;
            }
        }
        tokio::select! {
            () = changed => {}
            () = aborted(abort) => {}
        }
    }
}
