//! The conformance harness.

pub mod manifests;
