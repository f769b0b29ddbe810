//! `cargo xtask demo`: the product at a glance, on a laptop.
//!
//! The conformance scenarios' environment ([`crate::scenario::Scenario`]: a simulated
//! kube-apiserver enforcing deploy/'s RBAC, a multi-tenant Loki behind TLS and basic auth, the
//! real collector binary started from deploy/'s ConfigMap and Deployment), fed by a
//! [`generator`] of realistic cluster events, with a live [`screen`] of what lands in Loki and
//! of the collector's own metrics.
//!
//! The pieces: [`args`] (the command line), [`generator`] (the events), [`state`] (what is
//! observed), [`screen`] (pure rendering to 80 columns), [`run`](mod@run) (the loop that ties them).

pub mod args;
pub mod generator;
pub mod run;
pub mod screen;
pub mod state;

pub use args::{Options, USAGE, parse_args};
pub use run::run;
pub use state::DemoState;
