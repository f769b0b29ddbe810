//! Processors: synchronous transforms between receiver and exporter, applied in pipeline order.
