//! What the receiver hands the pipeline: batches of records, each with the position to checkpoint
//! once they are delivered, and the sink that builds those positions from every list/watch loop.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::record::LogRecord;

use super::dedup::parse_resource_version;
use super::stats::ReceiverStats;

/// Records of one API response (a LIST page or a run of watch lines), with the position to
/// checkpoint once they are delivered.
///
/// `records` may be empty: the position moved without an occurrence to ship (a BOOKMARK, a
/// DELETED event, an update held back by `dedup_interval`, the first LIST of `start_from: now`).
/// Checkpointing those keeps a restart from resuming at a resourceVersion the API server has
/// already compacted.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch {
    pub records: Vec<LogRecord>,
    pub position: Position,
}

/// Where the receiver stands: resuming from it ships nothing twice and loses nothing (for what
/// the API server still holds).
///
/// Batches are sent in the order their positions were taken, and each position covers only
/// batches sent before it, so the position of the last delivered batch is always safe to resume
/// from, whatever the number of namespaces.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    /// The cluster-wide watch's resourceVersion. With `namespaces` configured: the oldest of
    /// theirs (numerically), or `""` until each has one, so that resuming a cluster-wide watch
    /// from it may ship again but never skips. `""`: no position yet.
    pub resource_version: String,
    /// With `namespaces` configured: each namespace's own resourceVersion (a namespace's watch
    /// moves on its own; resuming all of them from one value would ship some events twice).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespaces: BTreeMap<String, String>,
}

impl Position {
    /// The position of a cluster-wide watch at `resource_version`.
    pub fn at(resource_version: impl Into<String>) -> Position {
        Position {
            resource_version: resource_version.into(),
            namespaces: BTreeMap::new(),
        }
    }

    /// Where the loop of `namespace` (`None`: cluster-wide) resumes: the namespace's own entry;
    /// for a position written by a cluster-wide receiver (no entries), its `resource_version`
    /// (resourceVersions are cluster-wide, so it is right for every namespace); `None` for a
    /// namespace added to the config since, which starts as `start_from` says.
    pub fn resume_point(&self, namespace: Option<&str>) -> Option<&str> {
        let own = match namespace {
            Some(ns) if !self.namespaces.is_empty() => self.namespaces.get(ns).map(String::as_str),
            _ => Some(self.resource_version.as_str()),
        };
        own.filter(|rv| !rv.is_empty())
    }
}

/// The resourceVersion of every list/watch loop, from which each batch's [`Position`] is built.
#[derive(Debug, Clone)]
pub(crate) struct Board {
    /// `(namespace, resourceVersion)` per loop; a single loop with no namespace is cluster-wide.
    loops: Vec<(Option<String>, Option<String>)>,
}

impl Board {
    pub(crate) fn new(loops: Vec<(Option<String>, Option<String>)>) -> Self {
        Board { loops }
    }

    /// Records loop `index` at `resource_version` and returns the position of all loops.
    pub(crate) fn moved(&mut self, index: usize, resource_version: Option<&str>) -> Position {
        if let Some((_, rv)) = self.loops.get_mut(index) {
            *rv = resource_version.map(str::to_owned);
        }
        self.position()
    }

    pub(crate) fn position(&self) -> Position {
        if let [(None, rv)] = self.loops.as_slice() {
            return Position::at(rv.clone().unwrap_or_default());
        }
        let namespaces: BTreeMap<String, String> = self
            .loops
            .iter()
            .filter_map(|(ns, rv)| Some((ns.clone()?, rv.clone()?)))
            .collect();
        let oldest = self
            .loops
            .iter()
            .map(|(_, rv)| {
                rv.as_deref()
                    .and_then(|rv| Some((parse_resource_version(rv)?, rv)))
            })
            .collect::<Option<Vec<_>>>()
            .and_then(|rvs| rvs.into_iter().min_by_key(|&(n, _)| n))
            .map_or(String::new(), |(_, rv)| rv.to_owned());
        Position {
            resource_version: oldest,
            namespaces,
        }
    }
}

/// The receiver was told to stop (or the pipeline is gone): unwind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopped;

/// One loop's way out: sends batches (waiting while the channel is full) and watches for
/// shutdown around every wait.
#[derive(Debug)]
pub(crate) struct Sink {
    out: mpsc::Sender<EventBatch>,
    board: Arc<Mutex<Board>>,
    index: usize,
    shutdown: watch::Receiver<bool>,
    stats: Arc<ReceiverStats>,
}

impl Sink {
    pub(crate) fn new(
        out: mpsc::Sender<EventBatch>,
        board: Arc<Mutex<Board>>,
        index: usize,
        shutdown: watch::Receiver<bool>,
        stats: Arc<ReceiverStats>,
    ) -> Self {
        Sink {
            out,
            board,
            index,
            shutdown,
            stats,
        }
    }

    /// Runs `work` unless a reason to stop comes first: shutdown turning true, its sender
    /// dropped, or the pipeline's end of the channel closed (nothing could be delivered).
    pub(crate) async fn until_shutdown<F: Future>(
        &mut self,
        work: F,
    ) -> Result<F::Output, Stopped> {
        tokio::select! {
            biased;
            _ = self.shutdown.wait_for(|stop| *stop) => Err(Stopped),
            () = self.out.closed() => Err(Stopped),
            output = work => Ok(output),
        }
    }

    pub(crate) async fn sleep(&mut self, delay: Duration) -> Result<(), Stopped> {
        self.until_shutdown(tokio::time::sleep(delay)).await
    }

    /// Sends `records` with the position of every loop, this one now at `resource_version`.
    /// Waits while the channel is full: the API server keeps events for about an hour, so
    /// reading slower loses nothing.
    pub(crate) async fn send(
        &mut self,
        resource_version: Option<&str>,
        records: Vec<LogRecord>,
    ) -> Result<(), Stopped> {
        let permit = tokio::select! {
            biased;
            _ = self.shutdown.wait_for(|stop| *stop) => return Err(Stopped),
            permit = self.out.reserve() => permit.map_err(|_| Stopped)?,
        };
        // Taking the position and sending under one lock keeps channel order and position
        // order the same across loops.
        let mut board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        let position = board.moved(self.index, resource_version);
        self.stats.emitted(records.len());
        permit.send(EventBatch { records, position });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(loops: &[(Option<&str>, Option<&str>)]) -> Board {
        Board::new(
            loops
                .iter()
                .map(|(ns, rv)| (ns.map(str::to_owned), rv.map(str::to_owned)))
                .collect(),
        )
    }

    #[test]
    fn cluster_wide_position() {
        let mut b = board(&[(None, None)]);
        assert_eq!(b.position(), Position::default());
        assert_eq!(b.moved(0, Some("422")), Position::at("422"));
    }

    #[test]
    fn namespaced_positions() {
        let mut b = board(&[(Some("shop"), Some("500")), (Some("payments"), None)]);
        let p = b.position();
        assert_eq!(p.resource_version, "");
        assert_eq!(p.namespaces.len(), 1);
        let p = b.moved(1, Some("450"));
        assert_eq!(p.resource_version, "450");
        assert_eq!(p.namespaces["shop"], "500");
        assert_eq!(p.namespaces["payments"], "450");
        assert_eq!(p.resume_point(Some("shop")), Some("500"));
        assert_eq!(p.resume_point(Some("added-later")), None);
        assert_eq!(p.resume_point(None), Some("450"));
        // A cluster-wide checkpoint is valid for any namespace.
        assert_eq!(Position::at("7").resume_point(Some("shop")), Some("7"));
        assert_eq!(Position::at("").resume_point(None), None);
    }
}
