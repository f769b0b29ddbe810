//! Exporters: where records leave the collector.

pub mod loki;
