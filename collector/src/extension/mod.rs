//! Extensions that take part in running the collector (as opposed to the config-only ones):
//! [`leader`], the `k8s_leader_elector` Lease holder, and [`lease`], the Lease object it reads
//! and writes.

pub mod leader;
pub mod lease;

#[cfg(test)]
mod leader_tests;

pub use leader::{LeaderElector, LeaseCheckpoint, LeaseError};
pub use lease::{CHECKPOINT_ANNOTATION, Lease};
