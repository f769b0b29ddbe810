//! Config of the `resource`, `attributes`, `filter` and `batch` processors.
