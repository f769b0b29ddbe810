//! Receivers: where records enter the collector.

pub mod k8s_events;
