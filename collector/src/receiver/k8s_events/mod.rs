//! The `k8s_events` receiver.
//!
//! Its pure core, with no network I/O: [`event`] reads a Kubernetes Event (core/v1 or
//! events.k8s.io/v1) from the API server's JSON, [`mapping`] turns it into the [`LogRecord`] the
//! OpenTelemetry `k8s_events` receiver produces, [`time`] parses and renders Kubernetes times,
//! and [`wire`] reads LIST pages, watch lines and `Status` errors.
//!
//! Its network side: [`K8sEventsReceiver`] ([`receiver`]) runs one list/watch loop per namespace
//! (`watcher`, an explicit state machine) over kube's client (`client` connects, `api` builds
//! the requests, `lines` reads watch responses), de-duplicates with bounded memory (`dedup`, `coverage`),
//! explains 401/403 (`access`), backs off (`retry`), sends [`EventBatch`]es with the
//! [`Position`] to checkpoint ([`batch`]), and counts what happens in [`ReceiverStats`]
//! ([`stats`]).
//!
//! [`LogRecord`]: crate::record::LogRecord

pub(crate) mod access;
pub(crate) mod api;
pub mod batch;
pub(crate) mod client;
pub(crate) mod coverage;
pub(crate) mod dedup;
pub mod event;
pub(crate) mod lines;
pub mod mapping;
pub mod receiver;
pub(crate) mod retry;
pub mod stats;
pub mod time;
pub(crate) mod watcher;
pub mod wire;

#[cfg(test)]
mod receiver_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod watcher_tests;

pub use batch::{EventBatch, Position};
pub use client::{API_SERVER_ENV, DEFAULT_SERVICEACCOUNT_DIR, SERVICEACCOUNT_DIR_ENV};
pub use event::{Event, EventApi, EventError, EventKey};
pub use mapping::to_log_record;
pub use receiver::{K8sEventsReceiver, ReceiverError};
pub use stats::{ErrorClass, ReceiverStats, ReceiverStatsSnapshot, WatchType};
pub use wire::{EventList, Status, WatchEvent, WireError};
