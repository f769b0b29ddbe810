//! Step definitions: thin wrappers that call into `harness::scenario`, grouped by domain.

mod cluster;
mod collector;
mod config;
mod ha;
mod loki;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

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

/// The world of one scenario.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct E2e {
    scenario: Option<Scenario>,
    /// RBAC objects a step deleted, to apply again later.
    removed: Vec<Value>,
    /// (namespace, name) of every event the scenario created, in order.
    created: Vec<(String, String)>,
}

impl E2e {
    fn new() -> Self {
        E2e {
            scenario: None,
            removed: Vec::new(),
            created: Vec::new(),
        }
    }

    /// The scenario's environment, started on first use.
    pub async fn sc(&mut self) -> Result<&mut Scenario, String> {
        if self.scenario.is_none() {
            self.scenario = Some(Scenario::start(&workspace_root()).await?);
        }
        self.scenario
            .as_mut()
            .ok_or_else(|| "no scenario".to_owned())
    }

    /// After the scenario: stop the collector and remove its files.
    pub async fn finish(&mut self) {
        if let Some(sc) = self.scenario.as_mut() {
            let _ = sc.kill_collector().await;
            sc.cleanup();
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
