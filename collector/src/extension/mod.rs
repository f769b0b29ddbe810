//! Extensions that take part in running the collector (as opposed to the config-only ones):
//! [`leader`], the `k8s_leader_elector` Lease holder (its loop in `term`, its requests in
//! `lease_api`), and [`lease`], the Lease object it reads and writes.

pub mod leader;
pub mod lease;
mod lease_api;
mod term;

#[cfg(test)]
mod leader_tests;

pub use leader::{LeaderElector, LeaseCheckpoint};
pub use lease::{CHECKPOINT_ANNOTATION, Lease};
pub use lease_api::LeaseError;
