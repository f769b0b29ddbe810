//! The `loki` exporter.
