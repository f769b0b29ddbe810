//! The conformance harness.

pub mod bench;
pub mod certs;
pub mod collector;
pub mod demo;
pub mod deployment;
pub mod env;
pub mod faults;
pub mod kind;
pub mod local;
pub mod manifests;
pub mod scenario;
pub mod sim;
pub mod tls;
