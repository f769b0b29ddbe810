//! Exporters: where records leave the collector.

pub mod debug;
pub mod loki;
