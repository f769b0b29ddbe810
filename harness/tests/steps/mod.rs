//! Step definitions: thin wrappers that call into `harness::scenario`, grouped by domain.

mod cluster;
mod collector;
mod config;
mod ha;
mod loki;

#[allow(unused_imports)] // local_env uses it to compare sim's and local's payloads
pub use loki::normalize;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use harness::env::{Environment, Kind};
use harness::scenario::Scenario;
use serde_json::Value;

/// The workspace root (`features/`, `deploy/`, `snapshots/` live there).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// When set, "deployed from \"deploy\"" reads this directory instead: a copy of deploy/ that a
/// test has broken on purpose, to prove the scenarios notice.
pub static DEPLOY_DIR_OVERRIDE: Mutex<Option<String>> = Mutex::new(None);

/// The deploy directory a step names, or the override.
pub fn deploy_dir(requested: &str) -> String {
    DEPLOY_DIR_OVERRIDE
        .lock()
        .ok()
        .and_then(|o| o.clone())
        .unwrap_or_else(|| requested.to_owned())
}

/// When set, the environment of the scenarios that start from now on, whatever `HARNESS_ENV`
/// says: a test that runs the same scenarios on sim and on local sets it.
#[allow(dead_code)] // local_env uses it; the other runners do not
pub static KIND_OVERRIDE: Mutex<Option<Kind>> = Mutex::new(None);

/// The environment the scenarios run in: `HARNESS_ENV=local` for the real servers, else sim.
pub fn kind() -> Kind {
    if let Some(kind) = KIND_OVERRIDE.lock().ok().and_then(|k| *k) {
        return kind;
    }
    match std::env::var("HARNESS_ENV").as_deref() {
        Ok("local") => Kind::Local,
        _ => Kind::Sim,
    }
}

/// The world of one scenario.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct E2e {
    env: Option<Environment>,
    /// RBAC objects a step deleted, to apply again later.
    removed: Vec<Value>,
    /// (namespace, name) of every event the scenario created, in order.
    created: Vec<(String, String)>,
    /// The last one-shot command's exit code and output (validate, print-config): kept here,
    /// not in the environment, since a command on a file needs no servers.
    last_command: Option<(i32, String)>,
    /// When the scenario began, and how long its environment took to start.
    began: std::time::Instant,
    bring_up: Option<Duration>,
}

impl E2e {
    fn new() -> Self {
        E2e {
            env: None,
            removed: Vec::new(),
            created: Vec::new(),
            last_command: None,
            began: std::time::Instant::now(),
            bring_up: None,
        }
    }

    /// The scenario's environment, started on first use.
    pub async fn env(&mut self) -> Result<&mut Environment, String> {
        if self.env.is_none() {
            let start = std::time::Instant::now();
            self.env = Some(Environment::start(kind(), &workspace_root()).await?);
            self.bring_up = Some(start.elapsed());
        }
        self.env.as_mut().ok_or_else(|| "no environment".to_owned())
    }

    /// The environment if it was started.
    pub fn started(&self) -> Result<&Environment, String> {
        self.env.as_ref().ok_or_else(|| "no scenario".to_owned())
    }

    /// The simulator, for steps only it can stage (or not yet ported to `local`).
    pub async fn sc(&mut self) -> Result<&mut Scenario, String> {
        self.env().await?.sim("this step")
    }

    /// After the scenario: stop the collector and remove its files.
    pub async fn finish(&mut self) {
        if let Some(env) = self.env.as_mut() {
            env.finish().await;
        }
    }

    /// Stops the collector and the servers now (they are killed when dropped), for a runner
    /// that exits without dropping the world.
    #[allow(dead_code)] // features.rs uses it; the other runners do not
    pub async fn shut_down(&mut self) {
        self.finish().await;
        drop(self.env.take());
    }

    /// How long the scenario and its environment's start took, for reports.
    #[allow(dead_code)] // features.rs uses it; scenarios_can_fail does not
    pub fn timings(&self) -> String {
        format!(
            "environment: {}\nenvironment start: {:?}\nscenario until now: {:?}\n",
            kind().name(),
            self.bring_up,
            self.began.elapsed()
        )
    }

    /// The diagnostics of the scenario's environment (none if it never started).
    #[allow(dead_code)] // features.rs uses it; scenarios_can_fail does not
    pub async fn diagnostics(&self) -> Vec<(String, String)> {
        match &self.env {
            Some(env) => env.diagnostics().await,
            None => Vec::new(),
        }
    }
}

/// Polls `check` until it returns Ok or `timeout` passes; the error is the last one seen.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("after {timeout:?}: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The last lines of a log, for failure messages.
pub fn tail(lines: &[String], n: usize) -> String {
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}
