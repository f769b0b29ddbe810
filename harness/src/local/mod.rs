//! The `local` environment: the real servers as processes on loopback, envtest-style — etcd,
//! kube-apiserver (RBAC, TokenRequest, audit log), Loki 3 (multi-tenant) behind nginx (basic
//! auth, TLS) — with `deploy/` applied through the real API and the real collector binary
//! started with a real service-account token.
//!
//! One [`LocalScenario`] per scenario: its own temp directory, certificates, ports and servers,
//! all killed when it is dropped (also on a panic).
//!
//! | module | its one job |
//! |---|---|
//! | [`tools`] | finds the binaries (`cargo xtask tools`' directory) and their versions |
//! | [`process`] | a server process: log file, kill on drop, STOP/CONT/KILL, restart |
//! | [`etcd`], [`apiserver`], [`loki`], [`nginx`] | start one server each and wait until it is ready |
//! | [`gateway`] | nginx changed while it runs (credentials, reload); the TLS clients it refused |
//! | [`secret`] | the Secret read back from the API, as the kubelet reads it for env |
//! | [`faults`] | the faults of `resilience.feature` on the real servers, and extra replicas |
//! | [`kube`] | the admin's requests: server-side apply, delete, TokenRequest, events |
//! | [`reach`] | `--keep-on-failure`: how to reach a failed scenario's servers |
//! | [`scenario`] | one scenario: the servers, `deploy/` applied, the collector, Loki read back |

pub mod apiserver;
pub mod etcd;
pub mod faults;
pub mod gateway;
pub mod kube;
pub mod loki;
pub mod nginx;
pub mod process;
pub mod reach;
pub mod scenario;
pub mod secret;
pub mod tools;

pub use scenario::LocalScenario;
pub use tools::Tools;
