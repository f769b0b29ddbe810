//! Exporters: where records leave the collector.

pub mod auth;
pub mod debug;
pub mod delivery;
pub mod loki;
pub mod otlp;
pub mod problem;
pub mod queue;
pub mod stats;
pub mod tls;
