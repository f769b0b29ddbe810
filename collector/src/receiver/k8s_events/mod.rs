//! The `k8s_events` receiver.
//!
//! Its pure core, with no network I/O: [`event`] reads a Kubernetes Event (core/v1 or
//! events.k8s.io/v1) from the API server's JSON, [`mapping`] turns it into the [`LogRecord`] the
//! OpenTelemetry `k8s_events` receiver produces, [`time`] parses and renders Kubernetes times,
//! and [`wire`] reads LIST pages, watch lines and `Status` errors.
//!
//! [`LogRecord`]: crate::record::LogRecord

pub mod event;
pub mod mapping;
pub mod time;
pub mod wire;

#[cfg(test)]
mod tests;

pub use event::{Event, EventApi, EventError, EventKey};
pub use mapping::to_log_record;
pub use wire::{EventList, Status, WatchEvent, WireError};
