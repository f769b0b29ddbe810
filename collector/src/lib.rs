//! `k8s-event-collector`: ships Kubernetes Events to Grafana Loki, configured with the same
//! OpenTelemetry-Collector-shaped YAML users already run (`k8s_events` receiver -> processors ->
//! `loki` exporter).
//!
//! Data flows one way: [`config`] is parsed and validated first, then the running pipeline is
//! built from it: receiver -> [`processor`]s -> exporter, all exchanging [`record::LogRecord`]s.

pub mod commands;
pub mod config;
pub mod exporter;
pub mod extension;
pub(crate) mod gofmt;
pub mod processor;
pub mod receiver;
pub mod record;
pub mod replay;
pub mod runtime;
