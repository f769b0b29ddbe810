//! The `sim` environment's servers: a Kubernetes API server and a Loki, in-process, with
//! every fault at will.

pub mod apiserver;
pub mod loki;
