//! The `k8s_events` receiver.
