//! The `otlphttp` exporter: records as OTLP/HTTP protobuf logs requests, e.g. to Loki's native
//! OTLP endpoint (`https://loki/otlp`, `/v1/logs` appended).
//!
//! - [`proto`]: the OTLP logs messages, by hand for prost;
//! - [`encode`]: records grouped by resource into a request, and back;
//! - [`send`]: the exporter, delivering through the Loki exporter's client and the shared
//!   [`delivery`](crate::exporter::delivery).

pub mod encode;
pub mod proto;
pub mod send;

pub use send::OtlpHttpExporter;
